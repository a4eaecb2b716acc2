"""The results fixtures (tests/support/results_fixtures.py) follow lm-eval 0.4.13's on-disk layout."""

from __future__ import annotations

import json
from pathlib import Path

from support.results_fixtures import EMOREALM_TASKS, make_run


def test_fixture_follows_lm_eval_layout(tmp_path):
    path = make_run(tmp_path, n=10)
    doc = json.loads(path.read_text())
    for key in ("results", "groups", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better",
                "n-samples", "config", "emorealm"):
        assert key in doc
    assert doc["results"]["dfew"]["acc,none"] == sum(s["acc"][0] == s["acc"][1] for s in _read(path, "dfew")) / 10
    assert doc["groups"]["emorealm"]["acc,none"] == sum(doc["results"][t]["acc,none"] for t in EMOREALM_TASKS) / 5
    rec = _read(path, "modality_agreement")[0]
    for key in ("doc_id", "doc", "target", "arguments", "resps", "filtered_resps", "filter", "metrics",
                "doc_hash", "prompt_hash", "target_hash", "acc"):
        assert key in rec


def _read(results: Path, task: str) -> list[dict]:
    ts = results.stem.removeprefix("results_")
    return [json.loads(x) for x in (results.parent / f"samples_{task}_{ts}.jsonl").read_text().splitlines()]
