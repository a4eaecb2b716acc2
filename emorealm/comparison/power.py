"""Minimum detectable effect of a comparison on a benchmark, from one run's per-clip variance.

A comparison of two runs on the same documents estimates ``Δ`` with
``SE(Δ) = sqrt(2 · (1 − ρ)) · SE`` when both runs have this run's clustered SE and their per-clip
scores correlate with ``ρ`` (``ρ = 0``: independent runs, the conservative default; a fine-tuned
checkpoint and its base usually correlate positively, which shrinks the MDE). At two-sided level
``α`` and power ``1 − β``: ``MDE = (z_{1−α/2} + z_{1−β}) · SE(Δ)`` (:func:`emorealm.evaluation.paired.mde`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from emorealm.comparison.compare_runs import FILTER, Run, metric_plans
from emorealm.evaluation.clustered_stderr import _group_weights, cluster_key, clustered_se
from emorealm.evaluation.paired import mde


@dataclass
class PowerRow:
    task: str
    metric: str
    value: float
    stderr: float
    n: int
    n_clusters: int
    mde: float | None


def _values(run: Run, task: str, metric: str) -> tuple[list[float], list[str]]:
    vals, clusters = [], []
    for r in run.samples[task].values():
        v = r.get(metric)
        if isinstance(v, (bool, int, float)) and not (isinstance(v, float) and math.isnan(v)):
            vals.append(float(v))
            clusters.append(cluster_key(r))
    return vals, clusters


def power_rows(run: Run, metrics: tuple[str, ...] = ("acc",), *, level: float = 0.95, power: float = 0.8,
               correlation: float = 0.0) -> list[PowerRow]:
    """MDE of each per-sample-mean metric in ``metrics`` for every task and group of ``run``."""
    scale = math.sqrt(2 * (1 - correlation))
    rows, parts = [], {}
    for task in sorted(run.samples):
        for plan in metric_plans(task, run):
            if plan.kind != "mean" or plan.name not in metrics:
                continue
            vals, clusters = _values(run, task, plan.name)
            if not vals:
                continue
            parts[(task, plan.name)] = (vals, clusters)
            se = clustered_se([(1.0, vals, clusters)])
            rows.append(PowerRow(task, plan.name, math.fsum(vals) / len(vals), se, len(vals), len(set(clusters)),
                                 mde(scale * se, level, power)))
    res = run.results
    for group, subtasks in (res.get("group_subtasks") or {}).items():
        block = (res.get("groups") or {}).get(group) or res["results"].get(group) or {}
        for metric in metrics:
            key = f"{metric},{FILTER}"
            if key not in block or not all((t, metric) in parts for t in subtasks):
                continue
            w = _group_weights(res, subtasks, key, float(block[key]))
            if w is None:
                continue
            gp = [(wi, *parts[(t, metric)]) for wi, t in zip(w, subtasks, strict=True)]
            se = clustered_se(gp)
            clusters = {c for _, _, cs in gp for c in cs}
            rows.insert(0, PowerRow(group, metric, float(block[key]), se, sum(len(v) for _, v, _ in gp),
                                    len(clusters), mde(scale * se, level, power)))
    return rows
