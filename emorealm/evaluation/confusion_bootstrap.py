"""Fast cluster bootstrap of confusion-matrix statistics (accuracy, UAR, macro-F1).

:func:`emorealm.evaluation.clustered_stderr.cluster_bootstrap_se` recomputes the statistic from scratch for every
replicate, which takes about a minute for DFEW-sized tasks. A confusion-matrix statistic only needs
each replicate's confusion matrix, which is the draw counts times the per-clip matrices, so all
replicates are one matrix product. The draws are exactly those of ``cluster_bootstrap_se`` (same
seed, same order of clusters, same ``rng.integers`` calls), so the standard errors are identical to
it (the tests check that); definitions follow :mod:`emorealm.scoring.classification`.

Items are ``[gold, prediction]`` or ``[gold, prediction, dropped]``: a ``None`` gold or a dropped
item takes no part in the statistic (its clip is still drawn), a prediction outside the labels is
invalid (wrong).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

STATISTICS = ("acc", "uar", "macro_f1")


def draw_counts(clusters: Sequence[str], iters: int, seed: int) -> tuple[list[str], np.ndarray]:
    """Cluster keys in first-appearance order and ``counts[b, g]`` = times key ``g`` is drawn in replicate ``b``."""
    keys = list(dict.fromkeys(clusters))
    rng = np.random.default_rng(seed)
    g = len(keys)
    counts = np.zeros((iters, g))
    for b in range(iters):
        counts[b] = np.bincount(rng.integers(0, g, g), minlength=g)
    return keys, counts


def labels_of(items: Sequence[Any]) -> list[str]:
    """Gold labels then valid predictions, in first-appearance order (emorealm.benchmarks.recognition)."""
    kept = [it for it in items if it[0] is not None and not (len(it) > 2 and it[2])]
    return list(dict.fromkeys([it[0] for it in kept] + [it[1] for it in kept if it[1] is not None]))


def cluster_confusion(items: Sequence[Any], clusters: Sequence[str], keys: list[str], labels: list[str]) -> np.ndarray:
    """``[G, K, K + 1]`` confusion counts per cluster (last column: invalid prediction)."""
    index = {c: i for i, c in enumerate(labels)}
    where = {k: i for i, k in enumerate(keys)}
    k = len(labels)
    cm = np.zeros((len(keys), k, k + 1))
    for it, c in zip(items, clusters, strict=True):
        if it[0] is None or (len(it) > 2 and it[2]):
            continue
        cm[where[c], index[it[0]], index.get(it[1], k) if it[1] is not None else k] += 1
    return cm


def statistic(cm: np.ndarray, name: str) -> np.ndarray:
    """``name`` of each confusion matrix in ``cm[..., K, K + 1]`` (NaN where no item was drawn)."""
    k = cm.shape[-2]
    tp = np.diagonal(cm[..., :k], axis1=-2, axis2=-1)
    support = cm.sum(-1)
    predicted = cm[..., :k].sum(-2)
    n = support.sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if name == "acc":
            return np.where(n > 0, tp.sum(-1) / np.where(n > 0, n, 1), np.nan)
        if name == "uar":
            present = support > 0
            recall = np.where(present, tp / np.where(present, support, 1), 0.0)
            m = present.sum(-1)
            return np.where(n > 0, recall.sum(-1) / np.where(m > 0, m, 1), np.nan)
        if name == "macro_f1":
            seen = (support > 0) | (predicted > 0)
            f1 = np.where(seen, 2 * tp / np.where(seen, support + predicted, 1), 0.0)
            m = seen.sum(-1)
            return np.where(n > 0, f1.sum(-1) / np.where(m > 0, m, 1), np.nan)
    raise ValueError(f"unknown confusion statistic {name!r}; known: {', '.join(STATISTICS)}")


def _sd(reps: np.ndarray) -> float:
    reps = reps[~np.isnan(reps)]
    return float(np.std(reps, ddof=1)) if reps.size > 1 else math.nan


def bootstrap_se(items: Sequence[Any], clusters: Sequence[str], name: str, *, iters: int, seed: int) -> float:
    """Cluster bootstrap SE of one run's statistic (= ``cluster_bootstrap_se`` with the task's aggregation)."""
    keys, counts = draw_counts(clusters, iters, seed)
    if len(keys) < 2:
        return math.nan
    cm = cluster_confusion(items, clusters, keys, labels_of(items))
    return _sd(statistic(np.einsum("bg,gij->bij", counts, cm), name))


def paired_bootstrap_se(pairs: Sequence[tuple[Any, Any]], clusters: Sequence[str], name: str, *, iters: int,
                        seed: int) -> float:
    """Paired cluster bootstrap SE of ``stat(B) − stat(A)``: both runs' matrices on the same draws."""
    keys, counts = draw_counts(clusters, iters, seed)
    if len(keys) < 2:
        return math.nan
    reps = []
    for side in (0, 1):
        items = [p[side] for p in pairs]
        cm = cluster_confusion(items, clusters, keys, labels_of(items))
        reps.append(statistic(np.einsum("bg,gij->bij", counts, cm), name))
    return _sd(reps[1] - reps[0])
