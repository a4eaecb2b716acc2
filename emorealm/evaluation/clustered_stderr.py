"""Cluster-robust standard errors of task metrics, clustered by clip.

EmoReAlM asks several questions about the same clip, so per-question scores are not independent and
lm-eval's ``<metric>_stderr`` (which assumes they are) is too small. :func:`add_clustered_stderr`
adds ``<metric>_stderr_clustered,<filter>`` next to every ``<metric>_stderr,<filter>`` of a results
dict, computed from its per-sample records grouped by the doc's ``clip_id``.

Formula (the linearised / sandwich estimator Stata's ``mean, vce(cluster)`` uses). An estimate
``θ = Σ_t w_t · mean_t`` over tasks ``t`` (one task: ``w = 1``; a group: its aggregation weights)
has per-sample influence ``ψ_i = w_t (x_i − mean_t) / n_t``. With ``S_g = Σ_{i in clip g} ψ_i``
over the ``G`` clips::

    SE_clustered = sqrt( G / (G − 1) · Σ_g S_g² )

A sample whose doc has no ``clip_id`` is its own cluster. With one question per clip this equals
lm-eval's ``sample std (ddof=1) / sqrt(n)`` exactly. Clusters span tasks, so a group's clustered SE
accounts for the same clip appearing in several of its tasks (lm-eval's pooled group stderr does not).

Metrics aggregated by ``mean`` or :func:`emorealm.scoring.aggregations.mean_defined` (``None`` = not applicable)
get the formula above; other aggregations from :mod:`emorealm.scoring.aggregations` except sums (``f1_yes_no``)
get a seeded cluster bootstrap (standard deviation of the replicates); anything else gets ``"N/A"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

SUFFIX = "_stderr_clustered"
BOOTSTRAP_ITERS = 1000
_NOT_APPLICABLE = {"total"}  # sums (counts): no standard error


def cluster_key(record: dict[str, Any]) -> str:
    """Cluster of one samples record: its doc's ``clip_id`` (else the doc itself)."""
    doc = record.get("doc") or {}
    clip = doc.get("clip_id")
    if clip is not None:
        return f"clip::{clip}"
    return f"doc::{doc.get('_task', '')}::{doc.get('id', record.get('doc_id'))}"


def clustered_se(parts: Sequence[tuple[float, Sequence[float], Sequence[str]]]) -> float:
    """Clustered SE of ``Σ_t w_t · mean(x_t)`` for parts ``(w_t, x_t, clusters_t)`` (module docstring)."""
    sums: dict[str, float] = {}
    for weight, values, clusters in parts:
        x = np.asarray(values, dtype=float)
        if x.size == 0:
            continue
        psi = weight * (x - x.mean()) / x.size
        for c, p in zip(clusters, psi, strict=True):
            sums[c] = sums.get(c, 0.0) + float(p)
    g = len(sums)
    if g < 2:
        return math.nan
    s = np.fromiter(sums.values(), dtype=float)
    return math.sqrt(g / (g - 1) * float(np.sum(s * s)))


def cluster_bootstrap_se(values: Sequence[Any], clusters: Sequence[str], agg: Callable[[list[Any]], float],
                         iters: int = BOOTSTRAP_ITERS, seed: int = 0) -> float:
    """Standard deviation of ``agg`` over ``iters`` resamples of whole clusters (with replacement)."""
    groups: dict[str, list[Any]] = {}
    for v, c in zip(values, clusters, strict=True):
        groups.setdefault(c, []).append(v)
    keys = list(groups)
    if len(keys) < 2:
        return math.nan
    rng = np.random.default_rng(seed)
    reps = []
    for _ in range(iters):
        sample: list[Any] = []
        for k in rng.integers(0, len(keys), len(keys)):
            sample.extend(groups[keys[k]])
        val = agg(sample)
        if not (isinstance(val, float) and math.isnan(val)):
            reps.append(val)
    return float(np.std(reps, ddof=1)) if len(reps) > 1 else math.nan


def _aggregation_kind(spec: Any) -> tuple[str, Callable | None]:
    """("mean" | "bootstrap" | "none", function) from a task config's ``aggregation`` entry."""
    if spec == "mean":
        return "mean", None
    name = spec.__name__ if callable(spec) else None
    if isinstance(spec, str) and (m := re.match(r"\s*def\s+(\w+)\s*\(", spec)):
        name = m.group(1)
    if name == "mean_defined":
        return "mean", None
    if name and name not in _NOT_APPLICABLE:
        from emorealm.scoring import aggregations as metrics

        fn = getattr(metrics, name, None)
        if callable(fn):
            return "bootstrap", fn
    return "none", None


def _defined(records: list[dict[str, Any]], metric: str) -> tuple[list[Any], list[str]]:
    vals, clusters = [], []
    for r in records:
        v = r.get(metric)
        if v is None or (isinstance(v, float) and math.isnan(v)):
            continue
        vals.append(v)
        clusters.append(cluster_key(r))
    return vals, clusters


def task_clustered(records: list[dict[str, Any]], metric_list: list[dict[str, Any]],
                   seed: int = 0) -> dict[str, float | str]:
    """``{metric: clustered SE or "N/A"}`` for one task's samples records."""
    out: dict[str, float | str] = {}
    for entry in metric_list:
        metric = entry["metric"]
        kind, fn = _aggregation_kind(entry.get("aggregation", "mean"))
        vals, clusters = _defined(records, metric)
        if kind == "mean" and all(isinstance(v, (int, float, bool)) for v in vals):
            out[metric] = clustered_se([(1.0, [float(v) for v in vals], clusters)])
        elif kind == "bootstrap" and fn is not None:
            out[metric] = cluster_bootstrap_se(vals, clusters, fn, seed=seed)
        else:
            out[metric] = "N/A"
    return out


def _group_weights(results: dict[str, Any], subtasks: list[str], key: str, value: float) -> list[float] | None:
    """The weights lm-eval used for a group's ``key``: unweighted or size-weighted, whichever
    reproduces the reported value (None when neither does: the SE is then not computed)."""
    res = results.get("results", {})
    if not all(key in res.get(t, {}) for t in subtasks):
        return None
    means = [float(res[t][key]) for t in subtasks]
    sizes = [float(results.get("n-samples", {}).get(t, {}).get("effective", res[t].get("sample_len", 0)))
             for t in subtasks]
    candidates = [[1.0 / len(subtasks)] * len(subtasks)]
    if sum(sizes) > 0:
        candidates.append([s / sum(sizes) for s in sizes])
    for w in candidates:
        if math.isclose(sum(wi * m for wi, m in zip(w, means, strict=True)), value, rel_tol=1e-9, abs_tol=1e-12):
            return w
    return None


def add_clustered_stderr(results: dict[str, Any], samples: dict[str, list[dict[str, Any]]] | None = None,
                         seed: int = 0) -> None:
    """Add ``<metric>_stderr_clustered,<filter>`` to every task and group of ``results`` (in place).

    ``samples`` defaults to ``results["samples"]`` (present when lm-eval ran with ``log_samples``).
    """
    samples = samples if samples is not None else results.get("samples")
    if not samples:
        return
    for task, records in samples.items():
        res = results.get("results", {}).get(task)
        cfg = results.get("configs", {}).get(task, {})
        if res is None or not records:
            continue
        by_filter: dict[str, list[dict[str, Any]]] = {}
        for r in records:
            by_filter.setdefault(str(r.get("filter", "none")), []).append(r)
        for filt, recs in by_filter.items():
            for metric, se in task_clustered(recs, cfg.get("metric_list") or [], seed).items():
                if f"{metric},{filt}" in res:
                    res[f"{metric}{SUFFIX},{filt}"] = se
    for group, subtasks in results.get("group_subtasks", {}).items():
        if not subtasks or not all(t in samples for t in subtasks):
            continue
        targets = [d for d in (results.get("groups", {}).get(group), results.get("results", {}).get(group)) if d]
        for gres in {id(d): d for d in targets}.values():
            _group_clustered(results, samples, subtasks, gres)


def _group_clustered(results: dict[str, Any], samples: dict[str, list[dict[str, Any]]], subtasks: list[str],
                     gres: dict[str, Any]) -> None:
    for key, value in list(gres.items()):
        if "," not in key or "_stderr" in key or not isinstance(value, (int, float)):
            continue
        metric, filt = key.split(",", 1)
        weights = _group_weights(results, subtasks, key, float(value))
        if weights is None:
            gres[f"{metric}{SUFFIX},{filt}"] = "N/A"
            continue
        parts = []
        for w, t in zip(weights, subtasks, strict=True):
            vals, clusters = _defined([r for r in samples[t] if str(r.get("filter", "none")) == filt], metric)
            parts.append((w, [float(v) for v in vals], clusters))
        gres[f"{metric}{SUFFIX},{filt}"] = clustered_se(parts)
