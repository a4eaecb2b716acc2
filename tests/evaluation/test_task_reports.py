"""Reports added to results (confusion matrices, load reports) and adapters skipping unloadable rows."""

from __future__ import annotations

import math

from lm_eval.api.instance import Instance

from emorealm.benchmarks.common import LoadResult, announce
from emorealm.errors import parse_error_response, sample_error
from emorealm.evaluation.reports import add_task_reports, write_task_figures
from emorealm.model_adapters.base import EmorealmLM
from emorealm.run_state import run_scope

SEVEN = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


def _sample(gold, rel, strict):
    return {"doc": {"labels": SEVEN}, "uar": [gold, rel, False], "uar_strict": [gold, strict]}


def test_reports_and_figures(tmp_path):
    results = {"configs": {"dfew": {}}, "samples": {"dfew": [
        _sample("happiness", "happiness", "happiness"), _sample("sadness", "happiness", None),
        _sample("anger", "anger", "anger"), _sample(None, None, None)]}}
    with run_scope() as state:
        announce("dfew", LoadResult(docs=[{}], problems=["clip 7 missing"], source={"split_file": "set_1.csv"}))
        reports = add_task_reports(results)
    block = results["emorealm"]
    rel = block["classification"]["dfew"]["released"]
    assert rel["n"] == 3 and rel["acc"] == 2 / 3 and rel["per_class_recall"]["sadness"] == 0.0
    assert block["classification"]["dfew"]["strict"]["invalid_rate"] == 1 / 3
    assert block["load_reports"]["dfew"]["problems"] == ["clip 7 missing"]
    assert state.load_reports["dfew"]["n_docs"] == 1
    (png,) = write_task_figures(reports, tmp_path / "results_2026-01-01T00-00-00.json")
    assert png.name == "confusion_dfew_2026-01-01T00-00-00.png" and png.stat().st_size > 0


class _NeverRun(EmorealmLM):
    adapter_name = "never"

    def _generate_one(self, doc, context, gen_kwargs):
        raise AssertionError("a row with _load_error must not be run")

    def _loglikelihood_group(self, doc, context, continuations):
        raise AssertionError("a row with _load_error must not be run")


def test_adapter_skips_rows_with_load_error():
    lm = _NeverRun()
    doc = {"id": "9", "_task": "dfew", "media": {"video": "/nope.mp4", "audio": None, "audio_source": "video"},
           "_load_error": {"kind": "MediaError", "message": "clip 9 not found"}}
    (out,) = lm.generate_until([Instance("generate_until", doc, ("prompt", {"until": []}), 0)])
    assert parse_error_response(out).kind == "MediaError"
    assert sample_error(doc, [out]).message == "clip 9 not found"
    lls = lm.loglikelihood([Instance("loglikelihood", doc, ("prompt", "Fear"), 0)])
    assert math.isnan(lls[0][0]) and lm.n_errors == 2
