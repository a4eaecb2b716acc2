"""End to end on real output of ``python -m emorealm run`` (tiny-omni, sample data): submit, show, html."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


def _cli(*args, check=False):
    return subprocess.run([sys.executable, "-m", "emorealm", *map(str, args)], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "250"}, check=check, timeout=900)


@pytest.fixture(scope="module")
def real_run(tmp_path_factory, tiny_omni_dir, sample_root):
    out = tmp_path_factory.mktemp("run")
    _cli("run", "--model", "tiny-omni", "--tasks", "emorealm", "--limit", "2", "--output", out, check=True)
    (results,) = sorted((out / "tiny-omni").glob("results_*.json"))
    return results


def test_submit_show_html_on_real_results(real_run, tmp_path):
    lb = tmp_path / "leaderboard.json"
    doc = json.loads(real_run.read_text())
    # --limit 2 of the sample data: a partial run, refused unless marked so
    proc = _cli("submit", real_run, "--leaderboard", lb, "--allow-smoke")
    assert proc.returncode == 2 and "--partial" in proc.stderr and not lb.exists()
    proc = _cli("submit", real_run, "--leaderboard", lb)
    assert proc.returncode == 2 and "smoke-test model" in proc.stderr

    proc = _cli("submit", real_run, "--leaderboard", lb, "--allow-smoke", "--partial", "--submitter", "ci")
    assert proc.returncode == 0, proc.stderr
    entry = json.loads(lb.read_text())["entries"][0]
    accs = [doc["results"][t]["acc,none"] for t in ("reasoning_basic_audio", "reasoning_basic_video",
                                                     "modality_agreement", "reasoning_stress_audio",
                                                     "reasoning_stress_video")]
    assert entry["average_accuracy"] == pytest.approx(sum(accs) / 5)
    assert entry["average_accuracy"] == pytest.approx(doc["groups"]["emorealm"]["acc,none"])
    assert entry["model"]["sha256"] == doc["emorealm"]["model_sha256"]
    assert entry["partial"] and entry["tasks"]["modality_agreement"]["n_samples"] == 2
    assert all(entry["tasks"][t]["recomputed"] for t in entry["tasks"])

    proc = _cli("leaderboard", "show", "--leaderboard", lb)
    assert proc.returncode == 0 and "tiny-omni" in proc.stdout and "partial" in proc.stdout
    proc = _cli("leaderboard", "html", "--leaderboard", lb, "--out", tmp_path / "site")
    assert proc.returncode == 0
    page = (tmp_path / "site" / "index.html").read_text()
    assert "tiny-omni" in page
    assert json.loads((tmp_path / "site" / "leaderboard.json").read_text())["entries"][0]["entry_id"] == entry["entry_id"]

    # a tampered score in the real results file is caught by the recomputation
    before = lb.read_bytes()
    doc["results"]["reasoning_basic_video"]["acc,none"] = 0.97
    forged = real_run.with_name("results_forged.json")
    forged.write_text(json.dumps(doc))
    for f in real_run.parent.glob(f"samples_*_{real_run.stem.removeprefix('results_')}.jsonl"):
        Path(str(f).replace(real_run.stem.removeprefix("results_"), "forged")).write_bytes(f.read_bytes())
    proc = _cli("submit", forged, "--leaderboard", lb, "--allow-smoke", "--partial", "--replace")
    assert proc.returncode == 2 and "disagree with the samples log" in proc.stderr
    assert lb.read_bytes() == before
