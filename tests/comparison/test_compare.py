"""``emorealm compare`` / ``power``: paired statistics checked against hand-computed values."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import pytest
from scipy import stats

from emorealm.cli import main
from emorealm.comparison.compare_runs import compare_all, load_run
from emorealm.comparison.power import power_rows
from emorealm.errors import DataError
from emorealm.evaluation.clustered_stderr import cluster_bootstrap_se
from emorealm.evaluation.paired import holm, mcnemar_exact, mde

from support.results_fixtures import make_run

FP = "sha256:" + "0" * 64


def toy_run(folder: Path, values: list[float], clips: list[str | None], *, task: str = "toy", fp: str = FP,
            version: float = 1.0, sha: str = "a" * 64, name: str = "model-a", seed: int = 0,
            shuffle: int | None = None, original: int | None = None, doc_ids: list[int] | None = None) -> Path:
    """A results file + samples log of one per-sample-mean task (aggregation ``mean`` in its config)."""
    folder.mkdir(parents=True, exist_ok=True)
    ids = doc_ids or list(range(len(values)))
    recs = []
    for i, v, c in zip(ids, values, clips, strict=True):
        doc = {"id": f"d{i}", "_task": task, **({"clip_id": c} if c is not None else {})}
        recs.append({"doc_id": i, "doc": doc, "filter": "none", "acc": v, "doc_hash": f"h{i}"})
    if shuffle is not None:
        random.Random(shuffle).shuffle(recs)
    n = len(values)
    results = {
        "results": {task: {"acc,none": sum(values) / n, "acc_stderr,none": "N/A"}},
        "versions": {task: version},
        "configs": {task: {"metric_list": [{"metric": "acc", "aggregation": "mean"}]}},
        "n-samples": {task: {"original": original or n, "effective": n}},
        "emorealm": {"model": name, "model_sha256": sha, "data_fingerprint": {task: fp}, "protocol": {"seed": seed}},
    }
    path = folder / "results_2026-01-01T00-00-00.json"
    path.write_text(json.dumps(results))
    (folder / f"samples_{task}_2026-01-01T00-00-00.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path


A = [1, 0, 1, 1, 0, 0]
B = [1, 1, 1, 0, 1, 1]
CLIPS = ["c0", "c0", "c1", "c1", "c2", "c2"]


def _one(tmp_path, a=A, b=B, clips_a=CLIPS, clips_b=CLIPS, **kw):
    pa = toy_run(tmp_path / "a", a, clips_a)
    pb = toy_run(tmp_path / "b", b, clips_b, **kw)
    (comp,) = compare_all([pa, pb])
    return comp


def test_delta_ci_p_and_mcnemar_equal_hand_computed_values(tmp_path):
    e = _one(tmp_path, name="model-b", sha="b" * 64).estimates[("toy", "acc")]
    # d = B − A = [0, 1, 0, −1, 1, 1]: Δ = 1/3; cluster sums of ψ = (d − Δ)/6 are 1/18, −5/18, 4/18
    se = math.sqrt(3 / 2 * (1 + 25 + 16) / 18**2)  # = sqrt(63)/18
    assert e.delta == pytest.approx(1 / 3) and e.baseline == pytest.approx(0.5) and e.value == pytest.approx(5 / 6)
    assert e.relative_gain == pytest.approx(2 / 3)
    assert e.stderr == pytest.approx(se, rel=1e-12)
    t975_df2 = 4.302652729911275  # Student's t, 2 degrees of freedom (3 clips)
    assert e.ci_low == pytest.approx(1 / 3 - t975_df2 * se) and e.ci_high == pytest.approx(1 / 3 + t975_df2 * se)
    # t with 2 df has a closed form: two-sided p = 1 − |t| / sqrt(2 + t²); here t² = 4/7, so p = 1 − √2/3
    assert e.p_value == pytest.approx(1 - math.sqrt(2) / 3, rel=1e-10)
    # discordant pairs: A right B wrong 1 (doc 3), A wrong B right 3 (docs 1, 4, 5): p = 2 · (1 + 4) / 2⁴
    assert e.discordant == (1, 3) and e.mcnemar_p == pytest.approx(10 / 16)
    assert (e.n_pairs, e.n_clusters, e.method) == (6, 3, "clustered")
    assert e.mde == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * se)


def test_identical_runs_give_zero_delta_and_p_one_and_shuffled_order_changes_nothing(tmp_path):
    e = _one(tmp_path, b=A).estimates[("toy", "acc")]
    assert (e.delta, e.stderr, e.p_value, e.mcnemar_p) == (0.0, 0.0, 1.0, 1.0)
    base = _one(tmp_path / "x", name="model-b").estimates[("toy", "acc")]
    shuffled = _one(tmp_path / "y", name="model-b", shuffle=7).estimates[("toy", "acc")]
    assert shuffled.as_dict() == base.as_dict()


def test_clustering_widens_the_interval_when_questions_share_clips(tmp_path):
    clustered = _one(tmp_path / "c").estimates[("toy", "acc")]
    alone = _one(tmp_path / "i", clips_a=[None] * 6, clips_b=[None] * 6).estimates[("toy", "acc")]
    d = [y - x for x, y in zip(A, B, strict=True)]
    # one question per clip: the clustered SE is the plain paired SE, sd(d) / sqrt(n)
    assert alone.stderr == pytest.approx(stats.tstd(d) / math.sqrt(6))
    assert clustered.stderr > alone.stderr and clustered.ci_high - clustered.ci_low > alone.ci_high - alone.ci_low


def test_mcnemar_holm_and_mde_formulas():
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(5, 5) == 1.0
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    assert mde(0.01) == pytest.approx(0.01 * (1.959963984540054 + 0.8416212335729143))


def test_bootstrap_metrics_are_seeded_paired_and_match_the_generic_bootstrap(tmp_path):
    pa = make_run(tmp_path / "a", model="base", n=30, seed=1)
    pb = make_run(tmp_path / "b", model="tuned", n=30, seed=2)
    (c1,) = compare_all([pa, pb], seed=5, iters=200)
    (c2,) = compare_all([pa, pb], seed=5, iters=200)
    e = c1.estimates[("dfew", "uar")]
    assert e.method == "cluster_bootstrap" and e.mcnemar_p is None
    assert e.as_dict() == c2.estimates[("dfew", "uar")].as_dict()
    ra, rb = load_run(pa), load_run(pb)
    from emorealm.benchmarks.recognition import agg_uar
    from emorealm.evaluation.clustered_stderr import cluster_key

    keys = sorted(ra.samples["dfew"])
    pairs = [(ra.samples["dfew"][k]["uar"], rb.samples["dfew"][k]["uar"]) for k in keys]
    clusters = [cluster_key(ra.samples["dfew"][k]) for k in keys]
    se = cluster_bootstrap_se(pairs, clusters, lambda s: agg_uar([y for _, y in s]) - agg_uar([x for x, _ in s]),
                              iters=200, seed=5)
    assert e.stderr == pytest.approx(se, rel=1e-9)
    assert e.delta == pytest.approx(agg_uar([y for _, y in pairs]) - agg_uar([x for x, _ in pairs]))
    # the EmoReAlM group average: the mean of the five tasks' paired Δ
    g = c1.estimates[("emorealm", "acc")]
    tasks = ["reasoning_basic_audio", "reasoning_basic_video", "modality_agreement", "reasoning_stress_audio",
             "reasoning_stress_video"]
    assert g.delta == pytest.approx(sum(c1.estimates[(t, "acc")].delta for t in tasks) / 5)


def test_refusals_and_notes_for_bad_input(tmp_path):
    pa = toy_run(tmp_path / "a", A, CLIPS)
    with pytest.raises(DataError, match="different data"):
        compare_all([pa, toy_run(tmp_path / "fp", B, CLIPS, fp="sha256:" + "1" * 64)])
    with pytest.raises(DataError, match="task version"):
        compare_all([pa, toy_run(tmp_path / "v", B, CLIPS, version=2.0)])
    missing = toy_run(tmp_path / "m", B, CLIPS)
    next(missing.parent.glob("samples_*")).unlink()
    with pytest.raises(DataError, match="samples log .* is missing"):
        compare_all([pa, missing])
    with pytest.raises(DataError, match="at least two"):
        compare_all([pa])
    same_hash = _one(tmp_path / "h", name="renamed").notes
    assert any("same checkpoint hash" in n for n in same_hash)
    seeds = _one(tmp_path / "s", seed=3).notes
    assert any("measures seed variance" in n for n in seeds)
    limited = _one(tmp_path / "l", a=A, b=B[:4], clips_b=CLIPS[:4], original=6)
    assert any("--limit run" in n for n in limited.notes)
    assert limited.left_out["toy"] == {"only_baseline": 2, "only_other": 0}
    assert any("4 documents in both runs compared; left out 2" in n for n in limited.notes)
    assert limited.estimates[("toy", "acc")].n_pairs == 4


def test_several_runs_get_holm_adjusted_p_values(tmp_path):
    pa = toy_run(tmp_path / "a", A, CLIPS)
    pb = toy_run(tmp_path / "b", B, CLIPS, name="b", sha="b" * 64)
    pc = toy_run(tmp_path / "c", [1, 1, 1, 1, 1, 0], CLIPS, name="c", sha="c" * 64)
    cb, cc = compare_all([pa, pb, pc])
    p = [cb.estimates[("toy", "acc")].p_value, cc.estimates[("toy", "acc")].p_value]
    assert [cb.estimates[("toy", "acc")].p_holm, cc.estimates[("toy", "acc")].p_holm] == pytest.approx(holm(p))


def test_cli_writes_json_and_png_and_power_prints_the_mde(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    pa = toy_run(tmp_path / "a", A, CLIPS)
    pb = toy_run(tmp_path / "b", B, CLIPS, name="b", sha="b" * 64)
    assert main(["compare", str(pa), str(pb), "--output", str(tmp_path / "out"), "--seed", "3",
                 "--bootstrap", "50"]) == 0
    (js,) = (tmp_path / "out").glob("compare_*.json")
    doc = json.loads(js.read_text())
    assert doc["bootstrap"] == {"seed": 3, "replicates": 50}
    row = doc["comparisons"][0]["results"]["toy"]["acc"]
    for key in ("baseline", "value", "delta", "relative_gain", "stderr", "ci_low", "ci_high", "p_value", "n_pairs",
                "n_clusters", "mcnemar_p"):
        assert key in row
    assert row["delta"] == pytest.approx(1 / 3)
    assert js.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    out = capsys.readouterr().out
    assert "b vs model-a" in out and "+33.3" in out
    assert main(["power", str(pa)]) == 0
    (row,) = power_rows(load_run(pa))
    assert f"{100 * row.mde:.1f}" in capsys.readouterr().out
    assert row.mde == pytest.approx((stats.norm.ppf(0.975) + stats.norm.ppf(0.8)) * math.sqrt(2) * row.stderr)
    capsys.readouterr()
    assert main(["compare", str(pa), str(toy_run(tmp_path / "v", B, CLIPS, version=2.0))]) == 2
    assert "task version" in capsys.readouterr().err
