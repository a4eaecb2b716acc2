"""Paired statistics for comparing two runs on the same documents (docs/compare.md has the formulas).

Everything clusters by clip through :mod:`emorealm.evaluation.clustered_stderr` (the estimator behind every
``*_stderr_clustered`` in a results file), so several questions about one clip count as one draw:

* per-sample means: ``Δ = Σ_t w_t · mean(d_t)`` over the paired differences ``d_i = x_i(B) − x_i(A)``,
  its SE = :func:`emorealm.evaluation.clustered_stderr.clustered_se` of the ``d``; the 95 % CI and the two-sided
  p-value use Student's t with ``G − 1`` degrees of freedom (``G`` clips), as Stata's
  ``mean, vce(cluster)`` does;
* accuracies also get the exact McNemar test on the discordant pairs (clustering ignored: a second
  opinion, not the headline);
* any other statistic (macro-F1, UAR, judge scores): a seeded paired cluster bootstrap — whole clips
  are resampled with replacement and both runs' statistic is recomputed on the same resample
  (:func:`emorealm.evaluation.clustered_stderr.cluster_bootstrap_se`); the CI is ``Δ ± z·SE_boot`` and the p-value
  the normal one of ``Δ / SE_boot``;
* the minimum detectable effect at 80 % power: ``(z_{1−α/2} + z_{0.8}) · SE``;
* Holm's step-down correction across several comparisons.

A zero SE with ``Δ = 0`` (identical runs) gives ``p = 1``; a zero SE with ``Δ ≠ 0`` gives ``p = 0``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scipy import stats

from emorealm.evaluation.clustered_stderr import cluster_bootstrap_se, clustered_se

LEVEL = 0.95
POWER = 0.80


@dataclass
class PairedEstimate:
    """One metric of run B against baseline A on their common documents."""

    baseline: float
    value: float
    delta: float
    relative_gain: float | None
    stderr: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    n_pairs: int
    n_clusters: int
    method: str  # "clustered" | "cluster_bootstrap"
    mcnemar_p: float | None = None
    discordant: tuple[int, int] | None = None  # (A right B wrong, A wrong B right)
    mde: float | None = None
    p_holm: float | None = None

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["discordant"] = list(self.discordant) if self.discordant else None
        return {k: _finite(v) for k, v in d.items()}


def _finite(v: Any) -> Any:
    return None if isinstance(v, float) and not math.isfinite(v) else v


def _p_from(stat: float, delta: float, se: float, df: float | None) -> float:
    """Two-sided p of ``delta / se`` (t with ``df`` degrees of freedom, normal when ``df`` is None)."""
    if math.isnan(se):
        return math.nan
    if se == 0:
        return 1.0 if delta == 0 else 0.0
    dist = stats.t(df) if df is not None else stats.norm
    return float(2 * dist.sf(abs(stat)))


def critical(df: float | None, level: float = LEVEL) -> float:
    """Two-sided critical value: Student's t with ``df`` degrees of freedom (normal when None)."""
    q = 1 - (1 - level) / 2
    return float(stats.t.ppf(q, df) if df is not None else stats.norm.ppf(q))


def mde(stderr: float | None, level: float = LEVEL, power: float = POWER) -> float | None:
    """Smallest true difference a two-sided test at ``1 − level`` detects with probability ``power``."""
    if stderr is None or not math.isfinite(stderr):
        return None
    return (critical(None, level) + float(stats.norm.ppf(power))) * stderr


def _gain(delta: float, baseline: float) -> float | None:
    return None if baseline == 0 or not math.isfinite(baseline) else delta / baseline


def paired_mean(parts: Sequence[tuple[float, Sequence[float], Sequence[float], Sequence[str]]],
                level: float = LEVEL) -> PairedEstimate:
    """Δ of ``Σ_t w_t · mean_t`` for parts ``(w_t, a_t, b_t, clusters_t)`` of paired per-sample values."""
    d_parts, base, value, n = [], 0.0, 0.0, 0
    all_clusters: set[str] = set()
    binary = True
    discordant = [0, 0]
    for w, a, b, clusters in parts:
        if not len(a):
            continue
        d = [float(y) - float(x) for x, y in zip(a, b, strict=True)]
        d_parts.append((w, d, list(clusters)))
        base += w * math.fsum(float(x) for x in a) / len(a)
        value += w * math.fsum(float(y) for y in b) / len(b)
        n += len(a)
        all_clusters.update(clusters)
        for x, y in zip(a, b, strict=True):
            binary &= float(x) in (0.0, 1.0) and float(y) in (0.0, 1.0)
            discordant[0] += float(x) == 1.0 and float(y) == 0.0
            discordant[1] += float(x) == 0.0 and float(y) == 1.0
    delta = math.fsum(w * math.fsum(d) / len(d) for w, d, _ in d_parts)
    g = len(all_clusters)
    se = clustered_se(d_parts) if g >= 2 else math.nan
    df = g - 1 if g >= 2 else None
    half = critical(df, level) * se if df is not None else math.nan
    est = PairedEstimate(
        baseline=base, value=value, delta=delta, relative_gain=_gain(delta, base), stderr=se,
        ci_low=delta - half, ci_high=delta + half, p_value=_p_from(delta / se if se else 0.0, delta, se, df),
        n_pairs=n, n_clusters=g, method="clustered", mde=mde(se, level),
    )
    if binary and n:
        est.discordant = (int(discordant[0]), int(discordant[1]))
        est.mcnemar_p = mcnemar_exact(*est.discordant)
    return est


def mcnemar_exact(a_only: int, b_only: int) -> float:
    """Exact two-sided McNemar p-value: ``min(1, 2·P(X ≤ min(b, c)))`` with ``X ~ Bin(b + c, 1/2)``."""
    m = a_only + b_only
    if m == 0:
        return 1.0
    return float(min(1.0, 2 * stats.binom.cdf(min(a_only, b_only), m, 0.5)))


def paired_bootstrap(pairs: Sequence[tuple[Any, Any]], clusters: Sequence[str], agg: Callable[[list[Any]], float],
                     *, iters: int, seed: int, level: float = LEVEL, se: float | None = None) -> PairedEstimate:
    """Δ of a non-mean statistic ``agg`` (over per-sample items) by a paired cluster bootstrap.

    ``pairs`` holds ``(item_A, item_B)`` per document; each replicate draws whole clusters and
    recomputes ``agg(B) − agg(A)`` on the same draw. ``se``: the bootstrap SE when the caller has a
    faster way to the same replicates (:mod:`emorealm.evaluation.confusion_bootstrap`).
    """
    base = float(agg([a for a, _ in pairs]))
    value = float(agg([b for _, b in pairs]))
    delta = value - base

    def diff(sample: list[tuple[Any, Any]]) -> float:
        return float(agg([b for _, b in sample])) - float(agg([a for a, _ in sample]))

    if se is None:
        se = cluster_bootstrap_se(list(pairs), list(clusters), diff, iters=iters, seed=seed)
    half = critical(None, level) * se
    return PairedEstimate(
        baseline=base, value=value, delta=delta, relative_gain=_gain(delta, base), stderr=se,
        ci_low=delta - half, ci_high=delta + half, p_value=_p_from(delta / se if se else 0.0, delta, se, None),
        n_pairs=len(pairs), n_clusters=len(set(clusters)), method="cluster_bootstrap", mde=mde(se, level),
    )


def holm(pvalues: Sequence[float | None]) -> list[float | None]:
    """Holm's step-down adjusted p-values (None stays None), in the input order."""
    idx = sorted((i for i, p in enumerate(pvalues) if p is not None and math.isfinite(p)), key=lambda i: pvalues[i])
    m = len(idx)
    out: list[float | None] = [None] * len(pvalues)
    running = 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * float(pvalues[i])))
        out[i] = running
    return out


def mean_interval(values: Sequence[float], clusters: Sequence[str], level: float = LEVEL) -> tuple[float, float]:
    """Clustered CI of one run's mean: ``mean ± t_{G−1} · SE_clustered`` (NaN when G < 2)."""
    x = [float(v) for v in values]
    g = len(set(clusters))
    if not x or g < 2:
        return (math.nan, math.nan)
    m = math.fsum(x) / len(x)
    half = critical(g - 1, level) * clustered_se([(1.0, x, list(clusters))])
    return (m - half, m + half)


def weighted_mean_interval(parts: Sequence[tuple[float, Sequence[float], Sequence[str]]],
                           level: float = LEVEL) -> tuple[float, float]:
    """Clustered CI of ``Σ_t w_t · mean_t`` (a group average; clips shared by tasks count once)."""
    parts = [(w, [float(v) for v in x], list(c)) for w, x, c in parts if len(x)]
    g = len({c for _, _, cs in parts for c in cs})
    if g < 2:
        return (math.nan, math.nan)
    m = math.fsum(w * math.fsum(x) / len(x) for w, x, _ in parts)
    half = critical(g - 1, level) * clustered_se(parts)
    return (m - half, m + half)


def bootstrap_interval(items: Sequence[Any], clusters: Sequence[str], agg: Callable[[list[Any]], float],
                       *, iters: int, seed: int, level: float = LEVEL, se: float | None = None) -> tuple[float, float]:
    """``agg(items) ± z · SE_boot`` with a seeded cluster bootstrap SE (NaN when G < 2; ``se`` as in
    :func:`paired_bootstrap`)."""
    value = float(agg(list(items)))
    if se is None:
        se = cluster_bootstrap_se(list(items), list(clusters), agg, iters=iters, seed=seed)
    half = critical(None, level) * se
    return (value - half, value + half)
