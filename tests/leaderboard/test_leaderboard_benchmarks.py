"""Every benchmark the harness runs reaches the leaderboard: real `emorealm run` output (tiny-omni, the
sample data) of ``--tasks all`` and of each single benchmark is submitted, shown and rendered."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.slow

RUNS = {"all": "all", "dfew": "dfew", "ravdess": "ravdess", "emer": "emer", "ll": "emorealm_ll,dfew_ll,ravdess_ll"}


def _cli(*args, check=False):
    return subprocess.run([sys.executable, "-m", "emorealm", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "80"}, check=check, timeout=900)


@pytest.fixture(scope="module")
def real_runs(tmp_path_factory, tiny_omni_dir, sample_root):
    out = {}
    for name, tasks in RUNS.items():
        folder = tmp_path_factory.mktemp(name)
        _cli("run", "--model", "tiny-omni", "--tasks", tasks, "--output", folder, check=True)
        (out[name],) = sorted((folder / "tiny-omni").glob("results_*.json"))
    return out


def test_every_benchmark_is_submitted_validated_and_shown(real_runs, tmp_path):
    lb = tmp_path / "lb.json"
    for name, results in real_runs.items():
        proc = _cli("submit", results, "--leaderboard", lb, "--allow-smoke", "--model-name", f"tiny-{name}")
        assert proc.returncode == 0, proc.stderr
        assert "stderr_clustered" not in proc.stderr and "recomputed from the samples logs and matched" in proc.stderr
    board = json.loads(lb.read_text())
    entries = {e["model"]["name"]: e for e in board["entries"]}
    assert set(entries) == {f"tiny-{n}" for n in RUNS}
    everything = entries["tiny-all"]["tasks"]
    assert {"dfew", "ravdess", "emer", "reasoning_basic_audio", "modality_agreement"} <= set(everything)
    for task in ("dfew", "ravdess"):
        metrics = everything[task]["metrics"]
        assert {"uar", "war", "macro_f1", "uar_strict", "war_strict", "macro_f1_strict"} <= set(metrics)
        assert set(everything[task]["recomputed"]) >= {"uar", "war", "macro_f1", "uar_strict"}
        # the recomputed values are the run's own
        doc = json.loads(real_runs["all"].read_text())["results"][task]
        assert metrics["uar"]["value"] == pytest.approx(doc["uar,none"])
        assert metrics["uar"]["ci95"] is not None
    assert {"dfew_ll", "ravdess_ll"} <= set(entries["tiny-ll"]["tasks"])
    assert entries["tiny-ll"]["groups"]["emorealm_ll"]["acc"]["ci95"] is not None
    assert everything["emer"]["metrics"]["judge_skipped"]["value"] == 1  # no judge configured: "not judged"

    show = _cli("leaderboard", "show", "--leaderboard", lb, "--sort", "dfew.uar")
    assert show.returncode == 0, show.stderr
    assert max(len(line) for line in show.stdout.splitlines()) <= 80 and "smoke" in show.stdout
    wide = _cli("leaderboard", "show", "--leaderboard", lb, "--wide")
    assert "not judged" in wide.stdout and "DFEW LL" in wide.stdout
    page = _cli("leaderboard", "html", "--leaderboard", lb, "--out", tmp_path / "site")
    assert page.returncode == 0, page.stderr
    html = (tmp_path / "site" / "index.html").read_text()
    for name in RUNS:
        assert f"tiny-{name}" in html
    assert "dfew_ll.uar" in html and "emer.cue_overlap" in html
