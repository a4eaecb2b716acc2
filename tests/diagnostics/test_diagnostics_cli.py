"""``emorealm diagnose`` end to end on tiny-omni and the sample data (two tasks, two docs each)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from emorealm.cli import main

# a generation task (likelihood by probe) and a 2-option log-likelihood task (likelihood from its samples)
TASKS = ["modality_agreement", "reasoning_stress_audio_ll"]
# every ablation's effect on the inputs is checked in test_diagnostics_model.py; here one removal and
# one swap keep the run short
CONDS = ["intact", "no_audio", "swap_both"]


@pytest.fixture(scope="module")
def out(tmp_path_factory):
    folder = tmp_path_factory.mktemp("diag")
    rc = main(["diagnose", "--model", "tiny-omni", "--tasks", ",".join(TASKS), "--limit", "2",
               "--output", str(folder), "--bootstrap-iters", "200", "--conditions", ",".join(CONDS)])
    assert rc == 0
    return folder / "tiny-omni"


def _report(out):
    (folder,) = out.glob("diagnostics_*")
    return folder, json.loads((folder / "report.json").read_text())


@pytest.mark.slow
def test_report_plots_and_summary_are_written(out):
    folder, report = _report(out)
    assert report["tasks"] == TASKS and list(report["conditions"]) == CONDS
    assert report["emorealm"]["smoke_test"] is True
    for task in TASKS:
        assert list(report["accuracy"][task]) == CONDS
        for cell in report["accuracy"][task].values():
            assert cell["n"] == 2 and 0.0 <= cell["value"] <= 1.0
            lo, hi = cell["ci"]
            assert lo <= cell["value"] + 1e-12 and cell["value"] <= hi + 1e-12
            base = report["accuracy"][task]["intact"]["value"]
            assert cell["delta"] == pytest.approx(cell["value"] - base)
    assert "mean over tasks" in report["accuracy"]
    pngs = sorted(p.name for p in folder.glob("*.png"))
    assert pngs == sorted(["accuracy.png"] + [f"likelihood_shift_{t}.png" for t in TASKS]
                          + [f"attention_{t}.png" for t in TASKS])
    for png in folder.glob("*.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        from matplotlib.image import imread

        img = imread(png)
        assert img.shape[0] > 100 and img.shape[1] > 100 and np.ptp(img) > 0  # not blank
    summary = (folder / "summary.md").read_text()
    assert "## Accuracy under each condition" in summary and "swap_both" in summary and "no_audio" in summary
    for task in TASKS:
        att = report["attention"][task]
        assert att["supported"] and att["n_docs"] == 2
        assert sum(att["share"].values()) == pytest.approx(1.0, abs=1e-5)
        for row in att["per_layer"]:
            assert sum(row.values()) == pytest.approx(1.0, abs=1e-5)


@pytest.mark.slow
def test_swaps_use_another_clip(out):
    _, report = _report(out)
    swap = report["swap_map"]
    # the pool is every clip of the two tasks (not only the evaluated docs): 1, 3, 5, 6, 7, 8
    assert sorted(swap) == [f"part_1/{i:05d}.mp4" for i in (1, 3, 5, 6, 7, 8)]
    assert all(k != v for k, v in swap.items())
    assert sorted(swap.values()) == sorted(swap)


@pytest.mark.slow
def test_likelihood_shift_matches_the_task_samples(out):
    """For the log-likelihood task the intact log p(correct) is the very number in the samples log."""
    _, report = _report(out)
    (samples,) = out.glob("samples_reasoning_stress_audio_ll_*.jsonl")
    logged = {}
    for line in samples.read_text().splitlines():
        rec = json.loads(line)
        logged[rec["doc_id"]] = float(rec["filtered_resps"][int(rec["target"])][0])
    info = report["likelihood_shift"]["reasoning_stress_audio_ll"]
    assert info["source"] == "task log-likelihoods"
    for cond in CONDS[1:]:
        stats = info["conditions"][cond]
        assert stats["n"] == 2
        shifts = []
        for d in stats["per_doc"]:
            assert d["logp_intact"] == pytest.approx(logged[d["doc_id"]], abs=1e-5)
            assert d["shift"] == pytest.approx(d["logp_intact"] - d["logp_ablated"], abs=1e-9)
            shifts.append(d["shift"])
        assert stats["mean"] == pytest.approx(float(np.mean(shifts)))
    gen = report["likelihood_shift"]["modality_agreement"]
    assert gen["source"].startswith("probe") and gen["conditions"]["swap_both"]["n"] == 2
    assert any(abs(d["shift"]) > 0 for d in gen["conditions"]["swap_both"]["per_doc"])


@pytest.mark.slow
def test_intact_results_file_has_clustered_stderr(out):
    (path,) = out.glob("results_*.json")
    results = json.loads(path.read_text())
    for task in TASKS:
        res = results["results"][task]
        assert "acc_stderr,none" in res and "acc_stderr_clustered,none" in res
        # sample data ask one question per clip within a task: clustered equals lm-eval's stderr
        se, cl = res["acc_stderr,none"], res["acc_stderr_clustered,none"]
        assert (math.isclose(se, cl, rel_tol=1e-9, abs_tol=1e-12))


def test_bad_condition_is_a_clear_error(capsys):
    assert main(["diagnose", "--model", "tiny-omni", "--conditions", "no_smell"]) == 2
    assert "unknown condition" in capsys.readouterr().err
