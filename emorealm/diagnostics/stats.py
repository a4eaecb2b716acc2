"""Cluster bootstrap confidence intervals and summary statistics for the diagnostics.

Docs are resampled by clip (whole clusters, with replacement), so several questions about one clip
move together, as they do in the data. One resample draws ``G`` clips out of the ``G`` clips of the
evaluated docs; every task's mean is taken over the docs of the drawn clips (with multiplicity),
which keeps tasks that share clips correlated in the overall mean.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class Resampler:
    """Cluster-bootstrap weights: ``counts[b, g]`` = times clip ``g`` is drawn in resample ``b``."""

    clusters: list[str]
    counts: np.ndarray  # [B, G]

    @classmethod
    def make(cls, clusters: Sequence[str], iters: int = 1000, seed: int = 0) -> Resampler:
        keys = sorted(set(clusters))
        rng = np.random.default_rng(seed)
        g = len(keys)
        counts = rng.multinomial(g, [1.0 / g] * g, size=iters).astype(float) if g else np.zeros((iters, 0))
        return cls(keys, counts)

    def means(self, values: Sequence[float], clusters: Sequence[str]) -> np.ndarray:
        """Bootstrap replicates [B] of the mean of ``values`` (NaN where no doc was drawn)."""
        index = {c: i for i, c in enumerate(self.clusters)}
        sums = np.zeros(len(self.clusters))
        ns = np.zeros(len(self.clusters))
        for v, c in zip(values, clusters, strict=True):
            sums[index[c]] += v
            ns[index[c]] += 1
        num = self.counts @ sums
        den = self.counts @ ns
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / np.where(den > 0, den, 1), np.nan)


def percentile_ci(reps: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of bootstrap replicates (NaNs ignored; NaN when none are left)."""
    reps = reps[~np.isnan(reps)]
    if reps.size == 0:
        return (math.nan, math.nan)
    a = (1 - level) / 2
    lo, hi = np.quantile(reps, [a, 1 - a])
    return (float(lo), float(hi))


def summarize(values: Sequence[float]) -> dict[str, float | int]:
    """n, mean, std, median, quartiles, 5/95 % quantiles, min, max and the share of positive values."""
    x = np.asarray([v for v in values if not math.isnan(v)], dtype=float)
    if x.size == 0:
        return {"n": 0}
    q = np.quantile(x, [0.05, 0.25, 0.5, 0.75, 0.95])
    return {"n": int(x.size), "mean": float(x.mean()), "std": float(x.std(ddof=1)) if x.size > 1 else 0.0,
            "median": float(q[2]), "q05": float(q[0]), "q25": float(q[1]), "q75": float(q[3]),
            "q95": float(q[4]), "min": float(x.min()), "max": float(x.max()),
            "frac_positive": float((x > 0).mean())}
