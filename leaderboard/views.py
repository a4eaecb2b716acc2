"""The leaderboard as rows and columns: ranking, sort keys, and the partial / unofficial-data marks.

Shared by the rich table (``show``) and the static HTML page, so both rank identically.

Ranking rule: rows are sorted by the sort column (best first); the first row has rank 1, and each
next row shares the rank of the row above when their 95 % intervals overlap (closed intervals:
touching counts), else takes its position. Without an interval on either row only equal values
share a rank. Shared ranks chain: a row overlapping the one above keeps that row's rank even when
it does not overlap the top of the run.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any

from emorealm.errors import ConfigError
from emorealm.leaderboard.schema import KnownTasks, known_tasks

DEFAULT_SORT = "average_accuracy"
LONG = {"acc": "Acc", "uar": "UAR", "war": "WAR", "macro_f1": "F1", "cue_overlap": "cue overlap",
        "emotion_consistency": "emotion consistency", "emotion_cue_association": "emotion-cue association",
        "hallucinated_cues": "hallucinated cues (higher = fewer)"}
SHORT = {"cue_overlap": "cue", "emotion_consistency": "cons.", "emotion_cue_association": "assoc.",
         "hallucinated_cues": "halluc."}


@dataclass(frozen=True)
class Column:
    key: str  # "average_accuracy" or "<task>.<metric>" or "<group>.<metric>"
    label: str
    short: str = ""
    scale: str = "fraction"
    higher_is_better: bool | None = True


@dataclass
class Row:
    rank: int | None
    entry: dict[str, Any]
    values: dict[str, float | None]
    partial: bool
    unofficial: list[str] = field(default_factory=list)
    signer: str | None = None
    intervals: dict[str, list[float] | None] = field(default_factory=dict)


def columns(table: KnownTasks | None = None) -> list[Column]:
    """Default columns: EmoReAlM average accuracy, its tasks, DFEW/RAVDESS UAR/WAR, EMER scores."""
    table = table or known_tasks()
    cols = [Column("average_accuracy", "EmoReAlM average accuracy", "EmoReAlM avg")]
    # other groups (the log-likelihood variant) show their average as one column
    cols += [Column(f"{g.name}.{g.metric}", f"{g.label} average accuracy", g.short)
             for g in table.groups.values() if g.leaderboard_name != "average_accuracy"]
    for t in table.tasks.values():
        for m in t.columns:
            spec = t.metrics[m]
            one = len(t.columns) == 1 and t.group
            label = t.label if one else f"{t.label} {LONG.get(m, m)}"
            short = t.short if one else f"{t.short} {SHORT.get(m, LONG.get(m, m))}"
            cols.append(Column(f"{t.name}.{m}", label, short, spec.scale, spec.higher_is_better))
    return cols


def used_columns(board: dict[str, Any], sort_key: str, table: KnownTasks | None = None) -> list[Column]:
    """The default columns some entry has a value for (plus the sort column): a board of EmoReAlM-only
    runs shows no empty DFEW/EMER columns."""
    cols = columns(table)
    sort_col = sort_column(sort_key, table)
    if sort_col.key not in [c.key for c in cols]:
        cols.append(sort_col)
    return [c for c in cols if c.key == sort_col.key or any(value_of(e, c.key) is not None or not_judged(e, c.key)
                                                             for e in board["entries"])]


def _metric_block(entry: dict[str, Any], key: str) -> dict[str, Any] | None:
    scope, metric = key.split(".", 1)
    if scope in entry["tasks"]:
        return entry["tasks"][scope]["metrics"].get(metric)
    return entry["groups"].get(scope, {}).get(metric)


def interval_of(entry: dict[str, Any], key: str, table: KnownTasks | None = None) -> list[float] | None:
    """The stored 95 % interval of a column (``average_accuracy`` is its group's), None when absent."""
    if key == "average_accuracy":
        table = table or known_tasks()
        key = next((f"{g.name}.{g.metric}" for g in table.groups.values() if g.leaderboard_name == key), "")
    if "." not in key:
        return None
    m = _metric_block(entry, key)
    ci = m.get("ci95") if m else None
    return list(ci) if ci else None


def not_judged(entry: dict[str, Any], key: str) -> bool:
    """A judge-score column of a task that ran without a judge (``judge_skipped`` = 1)."""
    scope, _, metric = key.partition(".")
    d = entry["tasks"].get(scope)
    if d is None or metric in d["metrics"]:
        return False
    skipped = d["metrics"].get("judge_skipped")
    return skipped is not None and skipped["value"] == 1


def value_of(entry: dict[str, Any], key: str) -> float | None:
    """The value of ``average_accuracy``, ``invalid_rate``, ``n_errors``, ``<task>.<metric>`` or ``<group>.<metric>``."""
    if "." not in key:
        v = entry.get(key)
        return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
    scope, metric = key.split(".", 1)
    if scope in entry["tasks"]:
        m = entry["tasks"][scope]["metrics"].get(metric)
    else:
        m = entry["groups"].get(scope, {}).get(metric)
    return None if m is None else m["value"]


def sort_column(key: str, table: KnownTasks | None = None) -> Column:
    """Resolve a ``--sort`` key to a column (any metric of a known task, a group metric, or a summary field)."""
    table = table or known_tasks()
    for c in columns(table):
        if c.key == key:
            return c
    if key in ("invalid_rate", "n_errors"):
        return Column(key, key.replace("_", " "), key.replace("_", " "), "fraction" if key == "invalid_rate" else "count", False)
    scope, _, metric = key.partition(".")
    if scope in table.tasks and metric in table.tasks[scope].metrics:
        spec = table.tasks[scope].metrics[metric]
        return Column(key, f"{table.tasks[scope].label} {metric}", f"{table.tasks[scope].short} {metric}",
                      spec.scale, spec.higher_is_better)
    if scope in table.groups and metric == table.groups[scope].metric:
        return Column(key, f"{table.groups[scope].label} {metric}", f"{table.groups[scope].label} {metric}")
    raise ConfigError(f"unknown sort key {key!r}{did_you_mean(key, sort_keys(table))} Keys are average_accuracy, "
                      "invalid_rate, n_errors, <task>.<metric> or <group>.<metric> (e.g. dfew.uar, emorealm_ll.acc)")


def sort_keys(table: KnownTasks | None = None) -> list[str]:
    """Every valid ``--sort`` key."""
    table = table or known_tasks()
    return (["average_accuracy", "invalid_rate", "n_errors"] + [f"{t}.{m}" for t, s in table.tasks.items() for m in s.metrics]
            + [f"{g.name}.{g.metric}" for g in table.groups.values()])


def did_you_mean(word: str, candidates: list[str]) -> str:
    """``"; did you mean X?"`` (or ``X or Y``) for close matches, else an empty string."""
    close = difflib.get_close_matches(word, candidates, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else "."


def unofficial_tasks(entry: dict[str, Any], board: dict[str, Any]) -> list[str]:
    """Tasks of ``entry`` not run on the leaderboard's declared reference data."""
    out = []
    for task, d in entry["tasks"].items():
        ref = board["tasks"].get(task, {}).get("data_fingerprint")
        if ref is None or ref != d["data_fingerprint"]:
            out.append(task)
    return out


def ranked_rows(board: dict[str, Any], sort: str = DEFAULT_SORT, ascending: bool | None = None) -> list[Row]:
    """Entries sorted by ``sort`` (best first by the metric's direction unless ``ascending`` is given).

    Entries without the metric go last, unranked. Ranks follow the module's rule (shared while the
    95 % intervals overlap the row above; equal values share a rank too).
    """
    col = sort_column(sort)
    asc = ascending if ascending is not None else (col.higher_is_better is False)
    keys = [c.key for c in columns()]
    if col.key not in keys:
        keys.append(col.key)
    rows = []
    for e in board["entries"]:
        sig = e.get("signature")
        signer = None
        if sig:
            signer = next((k["name"] for k in board["trusted_keys"] if k["public_key"] == sig["public_key"]), "untrusted key")
        rows.append(Row(None, e, {k: value_of(e, k) for k in keys}, e["partial"], unofficial_tasks(e, board), signer,
                        {k: interval_of(e, k) for k in keys}))
    have = [r for r in rows if r.values[col.key] is not None]
    missing = [r for r in rows if r.values[col.key] is None]
    have.sort(key=lambda r: (r.values[col.key] if asc else -r.values[col.key], r.entry["model"]["name"]))
    prev: Row | None = None
    for i, r in enumerate(have, 1):
        r.rank = prev.rank if prev is not None and shares_rank(prev, r, col.key) else i
        prev = r
    missing.sort(key=lambda r: r.entry["model"]["name"])
    return have + missing


def shares_rank(above: Row, row: Row, key: str) -> bool:
    """The ranking rule: equal values, or overlapping 95 % intervals (closed)."""
    if above.values[key] == row.values[key]:
        return True
    a, b = above.intervals.get(key), row.intervals.get(key)
    return a is not None and b is not None and a[0] <= b[1] and b[0] <= a[1]


def fmt_pm(value: float | None, ci: list[float] | None, scale: str) -> str:
    """``value ± half-width`` of the 95 % interval (just the value without one)."""
    if value is None or ci is None:
        return fmt(value, scale)
    half = (ci[1] - ci[0]) / 2
    return f"{fmt(value, scale)}±{fmt(half, scale)}"


def fmt(value: float | None, scale: str) -> str:
    """Fractions as percentages (one decimal), judge scores with two decimals, counts as integers."""
    if value is None:
        return "—"
    if scale == "fraction":
        return f"{100 * value:.1f}"
    if scale == "count":
        return f"{value:.0f}"
    return f"{value:.2f}"
