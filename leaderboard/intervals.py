"""95 % intervals of an entry's headline metrics, recomputed from the samples logs at submit time.

Headline metrics are the leaderboard's columns (``columns`` in tasks.json) and each group's
average. Per-sample means get ``mean ± t_{G−1} · SE_clustered`` (clusters = clips; the estimator of
``emorealm.evaluation.clustered_stderr``); every other aggregation (UAR, macro-F1) ``value ± z · SE_boot`` with a
seeded cluster bootstrap. A group average (EmoReAlM's unweighted mean of five tasks) is one
estimate over all its tasks' samples, a clip asked about in several tasks counting once.
Intervals are deterministic (fixed seed), so a pre-built entry is re-checked by recomputing them.
"""

from __future__ import annotations

import math
from typing import Any

from emorealm.errors import DataError
from emorealm.evaluation import confusion_bootstrap
from emorealm.evaluation.clustered_stderr import _defined, cluster_key
from emorealm.evaluation.paired import LEVEL, bootstrap_interval, mean_interval, weighted_mean_interval
from emorealm.leaderboard.recompute import recompute_metric
from emorealm.leaderboard.schema import KnownTasks

BOOTSTRAP_SEED = 0
BOOTSTRAP_REPLICATES = 1000
CONFUSION = {"classification_acc": "acc", "classification_uar": "uar", "classification_macro_f1": "macro_f1"}
SETTINGS = {"level": LEVEL, "bootstrap_seed": BOOTSTRAP_SEED, "bootstrap_replicates": BOOTSTRAP_REPLICATES}


def headline_metrics(task: str, table: KnownTasks) -> set[str]:
    """Metrics of ``task`` that get an interval: its columns and the metric of any group it is in."""
    spec = table.tasks[task]
    out = set(spec.columns)
    out |= {g.metric for g in table.groups.values() if task in g.tasks}
    return out & set(spec.metrics)


def _mean_values(records: list[dict[str, Any]], metric: str) -> tuple[list[float], list[str]]:
    vals, clusters = _defined(records, metric)  # the defined values and their clips, as clustered.py takes them
    return [float(v) for v in vals], clusters


def _pair(lo: float, hi: float) -> list[float] | None:
    return [lo, hi] if math.isfinite(lo) and math.isfinite(hi) else None


def task_intervals(task: str, records: list[dict[str, Any]], metrics: set[str], table: KnownTasks,
                   source: str) -> dict[str, list[float] | None]:
    """``{metric: [low, high] | None}`` for the headline ``metrics`` of one task."""
    out: dict[str, list[float] | None] = {}
    spec = table.tasks[task]
    for m in sorted(metrics & headline_metrics(task, table)):
        ms = spec.metrics[m]
        if ms.aggregation == "mean":
            vals, clusters = _mean_values(records, m)
            out[m] = _pair(*mean_interval(vals, clusters))
        else:
            recs = [r for r in records if m in r]
            clusters = [cluster_key(r) for r in recs]
            se = None
            if ms.aggregation in CONFUSION:  # same replicates as the generic bootstrap, in one matrix product
                se = confusion_bootstrap.bootstrap_se([r[m] for r in recs], clusters, CONFUSION[ms.aggregation],
                                                      iters=BOOTSTRAP_REPLICATES, seed=BOOTSTRAP_SEED)
            out[m] = _pair(*bootstrap_interval(recs, clusters, lambda rs, s=ms: recompute_metric(s, rs, source),
                                               iters=BOOTSTRAP_REPLICATES, seed=BOOTSTRAP_SEED, se=se))
    return out


def group_interval(tasks: list[str], records: dict[str, list[dict[str, Any]]], metric: str) -> list[float] | None:
    """Interval of the unweighted mean of ``metric`` over ``tasks``."""
    parts = [(1.0 / len(tasks), *_mean_values(records[t], metric)) for t in tasks]
    return _pair(*weighted_mean_interval(parts))


def add_intervals(entry: dict[str, Any], records: dict[str, list[dict[str, Any]]], table: KnownTasks) -> None:
    """Set ``ci95`` on every headline metric (and group) of ``entry`` and record the settings (in place)."""
    for task, d in entry["tasks"].items():
        cis = task_intervals(task, records[task], set(d["metrics"]), table, d["samples_file"])
        for m, ci in cis.items():
            d["metrics"][m]["ci95"] = ci
    for name, metrics in entry["groups"].items():
        g = table.groups[name]
        for m in metrics:
            metrics[m]["ci95"] = group_interval(list(g.tasks), records, m)
    entry["ci"] = dict(SETTINGS)


def check_intervals(entry: dict[str, Any], records: dict[str, list[dict[str, Any]]], table: KnownTasks) -> None:
    """Raise DataError when an entry's stored intervals differ from their recomputation (entries
    written before intervals existed carry none and pass)."""
    if "ci" not in entry:
        return
    if entry["ci"] != SETTINGS:
        raise DataError(f"entry: interval settings {entry['ci']} are not this leaderboard's {SETTINGS}")
    expect = {t: {m: dict(v) for m, v in d["metrics"].items()} for t, d in entry["tasks"].items()}
    shadow = {"tasks": {t: {**d, "metrics": expect[t]} for t, d in entry["tasks"].items()},
              "groups": {g: {m: dict(v) for m, v in ms.items()} for g, ms in entry["groups"].items()}}
    add_intervals(shadow, records, table)
    for scope, got_scope, want_scope in (
        [(t, entry["tasks"][t]["metrics"], shadow["tasks"][t]["metrics"]) for t in entry["tasks"]]
        + [(g, entry["groups"][g], shadow["groups"][g]) for g in entry["groups"]]
    ):
        for m, want in want_scope.items():
            a, b = got_scope[m].get("ci95"), want.get("ci95")
            same = (a is None and b is None) or (a is not None and b is not None and all(
                math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12) for x, y in zip(a, b, strict=True)))
            if not same:
                raise DataError(f"entry: the 95 % interval of {scope}.{m} is {a!r} but the samples give {b!r}")
