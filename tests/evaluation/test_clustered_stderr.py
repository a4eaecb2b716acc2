"""Clip-clustered standard errors (emorealm.evaluation.clustered_stderr) against independent computations."""

from __future__ import annotations

import math
import types

import numpy as np
import pytest
from lm_eval.api.metrics import mean_stderr

from emorealm.evaluation.clustered_stderr import (
    add_clustered_stderr,
    cluster_bootstrap_se,
    cluster_key,
    clustered_se,
    task_clustered,
)
from emorealm.scoring.aggregations import f1_yes_no


def sandwich_se(values, clusters, tasks=None, weights=None):
    """Independent reference: OLS on task dummies with the cluster-robust sandwich covariance
    (X'X)^-1 [sum_g X_g'u_g u_g'X_g] (X'X)^-1 * G/(G-1), then se(w'beta)."""
    y = np.asarray(values, dtype=float)
    tasks = tasks or ["t"] * len(y)
    names = sorted(set(tasks))
    X = np.array([[1.0 if t == n else 0.0 for n in names] for t in tasks])
    bread = np.linalg.inv(X.T @ X)
    beta = bread @ X.T @ y
    u = y - X @ beta
    meat = np.zeros((len(names), len(names)))
    groups = sorted(set(clusters))
    for g in groups:
        idx = [i for i, c in enumerate(clusters) if c == g]
        s = X[idx].T @ u[idx]
        meat += np.outer(s, s)
    G = len(groups)
    V = bread @ meat @ bread * G / (G - 1)
    w = np.asarray(weights if weights is not None else [1.0 / len(names)] * len(names))
    return math.sqrt(w @ V @ w)


def test_hand_computed_value():
    # mean .75, influences (x - .75)/4; cluster sums -.125, .0625, .0625 -> sqrt(3/2 * .0234375) = .1875
    assert clustered_se([(1.0, [1, 0, 1, 1], ["a", "a", "b", "c"])]) == pytest.approx(0.1875, abs=1e-12)


def test_singleton_clusters_equal_lm_eval_stderr():
    rng = np.random.default_rng(3)
    x = rng.integers(0, 2, 37).astype(float).tolist()
    got = clustered_se([(1.0, x, [str(i) for i in range(len(x))])])
    assert got == pytest.approx(mean_stderr(x), rel=1e-12)


def test_matches_sandwich_reference_single_task():
    rng = np.random.default_rng(0)
    clusters = [f"c{rng.integers(0, 9)}" for _ in range(60)]
    x = rng.random(60).round(2).tolist()
    assert clustered_se([(1.0, x, clusters)]) == pytest.approx(sandwich_se(x, clusters), rel=1e-10)


def test_matches_sandwich_reference_group_with_shared_clips():
    rng = np.random.default_rng(1)
    parts, allx, allc, allt = [], [], [], []
    for t, n in (("a", 20), ("b", 13), ("c", 31)):
        x = rng.integers(0, 2, n).astype(float).tolist()
        c = [f"clip{rng.integers(0, 12)}" for _ in range(n)]  # clips shared across tasks
        parts.append((1 / 3, x, c))
        allx += x
        allc += c
        allt += [t] * n
    assert clustered_se(parts) == pytest.approx(sandwich_se(allx, allc, allt), rel=1e-10)
    sizes = np.array([20, 13, 31]) / 64
    weighted = [(w, x, c) for w, (_, x, c) in zip(sizes, parts, strict=True)]
    assert clustered_se(weighted) == pytest.approx(sandwich_se(allx, allc, allt, sizes), rel=1e-10)


def test_clustering_widens_when_questions_of_a_clip_agree():
    # perfectly correlated questions within a clip: the clustered SE is larger than the naive one
    x = [1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0]
    clusters = [str(i // 3) for i in range(12)]
    assert clustered_se([(1.0, x, clusters)]) > 1.5 * mean_stderr(x)


def test_one_cluster_is_nan():
    assert math.isnan(clustered_se([(1.0, [1.0, 0.0, 1.0], ["a", "a", "a"])]))


def test_cluster_key_falls_back_to_the_doc():
    assert cluster_key({"doc": {"clip_id": "x.mp4", "id": "q1"}}) == "clip::x.mp4"
    assert cluster_key({"doc_id": 4, "doc": {"id": "q1", "_task": "t"}}) == "doc::t::q1"


def _records(rows):
    return [{"doc_id": i, "doc": {"id": f"q{i}", "clip_id": clip, "_task": "t"}, "filter": "none", **m}
            for i, (clip, m) in enumerate(rows)]


MEAN_DEFINED = "def mean_defined(values: Sequence[float | None]) -> float:\n    ..."
TOTAL = "def total(values):\n    return float(sum(values))\n"
F1 = "def f1_yes_no(values: Sequence[Any]) -> float:\n    ..."


def test_task_clustered_per_aggregation():
    rows = [("a", {"acc": 1.0, "acc_yes": 1.0, "n_errors": 0.0, "f1_yes_no": [True, 1.0]}),
            ("a", {"acc": 0.0, "acc_yes": None, "n_errors": 0.0, "f1_yes_no": [False, 0.0]}),
            ("b", {"acc": 1.0, "acc_yes": 0.0, "n_errors": 1.0, "f1_yes_no": [True, 0.0]}),
            ("c", {"acc": 1.0, "acc_yes": 1.0, "n_errors": 0.0, "f1_yes_no": [False, 1.0]}),
            ("d", {"acc": 0.0, "acc_yes": None, "n_errors": 0.0, "f1_yes_no": [True, 1.0]})]
    recs = _records(rows)
    metric_list = [{"metric": "acc", "aggregation": "mean"}, {"metric": "acc_yes", "aggregation": MEAN_DEFINED},
                   {"metric": "n_errors", "aggregation": TOTAL}, {"metric": "f1_yes_no", "aggregation": F1}]
    out = task_clustered(recs, metric_list, seed=5)
    assert out["acc"] == pytest.approx(sandwich_se([1, 0, 1, 1, 0], ["a", "a", "b", "c", "d"]), rel=1e-12)
    # None = not applicable: only the three defined values, clusters a, b, c
    assert out["acc_yes"] == pytest.approx(sandwich_se([1, 0, 1], ["a", "b", "c"]), rel=1e-12)
    assert out["n_errors"] == "N/A"
    clusters = ["clip::" + c for c, _ in rows]
    expected = cluster_bootstrap_se([m["f1_yes_no"] for _, m in rows], clusters, f1_yes_no, seed=5)
    assert out["f1_yes_no"] == pytest.approx(expected) and out["f1_yes_no"] > 0


def test_cluster_bootstrap_se_of_mean_is_close_to_analytic():
    rng = np.random.default_rng(7)
    clusters = [f"c{i // 2}" for i in range(80)]
    x = rng.integers(0, 2, 80).astype(float).tolist()
    boot = cluster_bootstrap_se(x, clusters, lambda v: float(np.mean(v)), iters=4000, seed=0)
    assert boot == pytest.approx(clustered_se([(1.0, x, clusters)]), rel=0.1)


def test_add_clustered_stderr_on_a_results_dict():
    a = _records([("c1", {"acc": 1.0}), ("c1", {"acc": 1.0}), ("c2", {"acc": 0.0})])
    b = _records([("c1", {"acc": 1.0}), ("c3", {"acc": 0.0}), ("c2", {"acc": 0.0}), ("c3", {"acc": 1.0})])
    ma, mb = 2 / 3, 0.5
    results = {
        "results": {"ta": {"acc,none": ma, "acc_stderr,none": 0.1}, "tb": {"acc,none": mb, "acc_stderr,none": 0.1}},
        "groups": {"g": {"acc,none": (ma + mb) / 2, "acc_stderr,none": 0.1}},
        "group_subtasks": {"g": ["ta", "tb"]},
        "configs": {"ta": {"metric_list": [{"metric": "acc", "aggregation": "mean"}]},
                    "tb": {"metric_list": [{"metric": "acc", "aggregation": "mean"}]}},
        "n-samples": {"ta": {"effective": 3}, "tb": {"effective": 4}},
        "samples": {"ta": a, "tb": b},
    }
    add_clustered_stderr(results)
    assert results["results"]["ta"]["acc_stderr_clustered,none"] == pytest.approx(
        sandwich_se([1, 1, 0], ["c1", "c1", "c2"]))
    assert results["results"]["ta"]["acc_stderr,none"] == 0.1  # lm-eval's own value kept, side by side
    assert results["groups"]["g"]["acc_stderr_clustered,none"] == pytest.approx(
        sandwich_se([1, 1, 0, 1, 0, 0, 1], ["c1", "c1", "c2", "c1", "c3", "c2", "c3"], ["a"] * 3 + ["b"] * 4))
    # a group value neither unweighted nor size-weighted: no SE rather than a wrong one
    results["groups"]["g"]["acc,none"] = 0.99
    add_clustered_stderr(results)
    assert results["groups"]["g"]["acc_stderr_clustered,none"] == "N/A"


def test_add_clustered_stderr_without_samples_is_a_no_op():
    results = {"results": {"t": {"acc,none": 0.5}}}
    add_clustered_stderr(results)
    assert results == {"results": {"t": {"acc,none": 0.5}}}


def test_run_adds_clustered_stderr_to_the_results(monkeypatch, tmp_path):
    """emorealm.evaluation.runner.evaluate computes the clustered SEs from lm-eval's samples before writing."""
    import lm_eval

    import emorealm.evaluation.results
    import emorealm.evaluation.runner as runner

    recs = _records([("c1", {"acc": 1.0}), ("c1", {"acc": 0.0}), ("c2", {"acc": 1.0}), ("c3", {"acc": 1.0})])
    fake = {"results": {"modality_agreement": {"acc,none": 0.75, "acc_stderr,none": 0.25}},
            "configs": {"modality_agreement": {"metric_list": [{"metric": "acc", "aggregation": "mean"}]}},
            "samples": {"modality_agreement": recs}}
    written = {}
    monkeypatch.setattr(lm_eval, "simple_evaluate", lambda **kw: fake)
    monkeypatch.setattr(runner, "build_model", lambda cfg: (types.SimpleNamespace(), "hf", {}))
    monkeypatch.setattr(emorealm.evaluation.results, "add_metadata", lambda *a, **k: None)
    monkeypatch.setattr(emorealm.evaluation.results, "write_results",
                        lambda results, *a, **k: written.update(results) or tmp_path / "r.json")
    runner.evaluate(runner.RunConfig(model="tiny-omni", tasks=["modality_agreement"], output=str(tmp_path)))
    res = written["results"]["modality_agreement"]
    assert res["acc_stderr,none"] == 0.25
    assert res["acc_stderr_clustered,none"] == pytest.approx(sandwich_se([1, 0, 1, 1], ["c1", "c1", "c2", "c3"]))
