"""The dfew/ravdess lm-eval hooks: per-sample values, errors, released quirks, aggregation."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
import yaml
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from emorealm.benchmarks.recognition import (
    agg_acc,
    agg_macro_f1,
    agg_uar,
    doc_to_choice,
    doc_to_target_index,
    process_results,
    process_results_ll,
)
from emorealm.errors import SampleError, error_response

ROOT = Path(__file__).resolve().parents[2]
SEVEN = ["happiness", "sadness", "neutral", "anger", "surprise", "disgust", "fear"]


def doc(i, gold, **extra):
    return {"id": str(i), "_task": "dfew", "labels": SEVEN, "answer": gold, **extra}


def test_yaml_lists_every_metric():
    for task, fn, args in (("dfew", process_results, ["Happy"]), ("dfew_ll", process_results_ll, [(0.0, True)] * 7)):
        tmpl = "_ll_template" if task.endswith("_ll") else "_gen_template"
        for folder in ("dfew", "ravdess"):
            cfg = yaml.safe_load((ROOT / "tasks" / folder / tmpl).read_text().replace("!function", ""))
            listed = {m["metric"] for m in cfg["metric_list"]}
            assert set(fn(doc(0, "fear"), args)) <= listed


def test_released_and_strict_values():
    out = process_results(doc(0, "sadness"), ["Sad."])
    assert out["acc"] == ["sadness", "happiness", False]  # released quirk: 'sad' falls back
    assert out["uar_strict"] == ["sadness", "sadness"]
    assert out["fallback_rate"] == 1.0 and out["invalid_rate"] == 0.0 and out["n_errors"] == 0.0
    out = process_results(doc(1, "anger"), [""])
    assert out["acc"] == ["anger", None, True] and out["released_dropped"] == 1.0
    assert out["invalid_rate"] == 1.0


def test_errors_score_wrong_and_are_counted():
    d = doc(2, "fear")
    out = process_results(d, [error_response(SampleError("MediaError", "no such file"))])
    assert out["acc"] == ["fear", None, False] and out["n_errors"] == 1.0 and out["invalid_rate"] == 0.0
    assert d["_error"]["kind"] == "MediaError"
    d = doc(3, None, _load_error={"kind": "DataError", "message": "label 9 is not 1-7"})
    out = process_results(d, ["Fear"])
    assert out["acc"] == [None, None, False] and out["n_errors"] == 1.0
    assert d["_error"]["message"] == "label 9 is not 1-7"


def test_aggregations_match_sklearn():
    answers = ["Happy.", "Sadness", "anger", "Serious", "", "neutral", "Surprised!", "fear", "The", "disgusted"]
    golds = ["happiness", "sadness", "anger", "neutral", "fear", "neutral", "surprise", "disgust", "fear", "disgust"]
    rows = [process_results(doc(i, g), [a]) for i, (g, a) in enumerate(zip(golds, answers, strict=True))]
    rows.append(process_results(doc(99, "sadness"), [error_response(SampleError("MediaError", "x"))]))
    golds.append("sadness")
    # released: the empty answer is dropped (as the released code did); the failed sample is wrong
    kept = [(g, r["acc"][1] or "<none>") for g, r in zip(golds, rows, strict=True) if not r["acc"][2]]
    g, p = zip(*kept, strict=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert agg_acc([r["acc"] for r in rows]) == pytest.approx(accuracy_score(g, p))
        assert agg_uar([r["uar"] for r in rows]) == pytest.approx(balanced_accuracy_score(g, p))
        labels = sorted(set(g) | set(p) - {"<none>"})
        assert agg_macro_f1([r["macro_f1"] for r in rows]) == pytest.approx(
            f1_score(g, p, labels=labels, average="macro", zero_division=0))
    # strict: nothing dropped; '', 'Serious', 'The' are invalid
    sp = [r["uar_strict"][1] or "<none>" for r in rows]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert agg_acc([r["war_strict"] for r in rows]) == pytest.approx(accuracy_score(golds, sp))
        assert agg_uar([r["uar_strict"] for r in rows]) == pytest.approx(balanced_accuracy_score(golds, sp))
    assert sum(r["invalid_rate"] for r in rows) == 3


def test_loglikelihood_variant():
    d = doc(0, "anger")
    assert doc_to_choice(d) == ["Happiness", "Sadness", "Neutral", "Anger", "Surprise", "Disgust", "Fear"]
    assert doc_to_target_index(d) == 3 and doc_to_target_index(doc(1, None)) == 0
    lls = [(-5.0, False), (-4.0, False), (-3.0, False), (-1.0, True), (-9.0, False), (-2.0, False), (-7.0, False)]
    assert process_results_ll(d, lls)["acc"] == ["anger", "anger"]
    nan = [(math.nan, False)] * 7
    out = process_results_ll(doc(2, "fear"), nan)
    assert out["acc"] == ["fear", None] and out["n_errors"] == 1.0
    assert math.isnan(agg_uar([[None, None]]))


@pytest.mark.slow
def test_cli_classification_tasks(tmp_path):
    """tiny-omni on the sample DFEW/RAVDESS: the results file's reports equal sklearn on the logged samples."""
    from emorealm.cli import main
    from emorealm.sample_data.other_benchmarks import write_dfew, write_ravdess

    write_dfew(tmp_path)
    write_ravdess(tmp_path)
    assert main(["run", "--model", "tiny-omni", "--tasks", "dfew,ravdess_ll", "--data-root", str(tmp_path),
                 "--limit", "3", "--output", str(tmp_path / "out")]) == 0
    folder = next((tmp_path / "out").iterdir())
    res = json.loads(next(folder.glob("results_*.json")).read_text())
    assert res["results"]["dfew"]["n_errors,none"] == 0
    assert res["results"]["ravdess_ll"]["n_errors,none"] == 0
    rep = res["emorealm"]["classification"]["dfew"]["released"]
    samples = [json.loads(x) for x in next(folder.glob("samples_dfew_*.jsonl")).read_text().splitlines()]
    assert len(samples) == 3 and rep["n"] == 3
    g = [s["uar"][0] for s in samples]
    p = [s["uar"][1] or "<none>" for s in samples]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert rep["uar"] == pytest.approx(balanced_accuracy_score(g, p))
        assert res["results"]["dfew"]["uar,none"] == pytest.approx(balanced_accuracy_score(g, p))
        assert rep["acc"] == pytest.approx(accuracy_score(g, p))
    assert len(res["emorealm"]["classification"]["ravdess_ll"]["loglikelihood"]["confusion_matrix"]) == 7
    assert res["results"]["ravdess_ll"]["acc,none"] == pytest.approx(
        res["emorealm"]["classification"]["ravdess_ll"]["loglikelihood"]["acc"])
    assert sorted(p.name.split("_2")[0] for p in folder.glob("confusion_*.png")) == ["confusion_dfew", "confusion_ravdess_ll"]
    assert res["emorealm"]["data_fingerprint"]["dfew"].startswith("sha256:")
