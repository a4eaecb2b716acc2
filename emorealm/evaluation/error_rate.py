"""Per-task error counts of a run, and the ``--max-error-rate`` rule.

A run whose task lost more than ``max_error_rate`` of its samples to per-sample errors still
writes its results and samples files (they say what failed), but the command exits non-zero with
a message naming the commonest error (docs/reliability.md). The breakdown is recorded in the
results file as ``emorealm.errors``.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from emorealm.errors import EmorealmError


class ErrorRateExceeded(EmorealmError):
    """More than ``--max-error-rate`` of a task's samples failed."""


def _sample_error(record: dict[str, Any]) -> tuple[str, str] | None:
    err = (record.get("doc") or {}).get("_error")
    if isinstance(err, dict):
        return str(err.get("kind", "UnknownError")), str(err.get("message", ""))
    n = record.get("n_errors")
    if isinstance(n, (int, float)) and n > 0:
        return "UnknownError", "the task counted an error but recorded no reason"
    return None


def error_summary(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``{task: {n, n_errors, rate, kinds, commonest}}`` from the logged samples."""
    out: dict[str, dict[str, Any]] = {}
    for task, records in samples.items():
        errors = [e for r in records if (e := _sample_error(r)) is not None]
        kinds = Counter(kind for kind, _ in errors)
        entry: dict[str, Any] = {"n": len(records), "n_errors": len(errors),
                                 "rate": len(errors) / len(records) if records else 0.0, "kinds": dict(kinds)}
        if errors:
            kind, count = kinds.most_common(1)[0]
            entry["commonest"] = {"kind": kind, "count": count,
                                  "example": next(msg for k, msg in errors if k == kind)[:300]}
        out[task] = entry
    return out


def add_error_summary(results: dict[str, Any], max_error_rate: float) -> dict[str, Any]:
    """Put ``emorealm.errors`` (the per-task breakdown and the threshold) into ``results`` (samples
    still attached); returns the block."""
    block = {"max_error_rate": max_error_rate, "tasks": error_summary(results.get("samples") or {})}
    results.setdefault("emorealm", {})["errors"] = block
    return block


def check_error_rate(results: dict[str, Any]) -> None:
    """Raise :class:`ErrorRateExceeded` when a task's error rate is above the run's threshold
    (called by the commands after the files are written and the table shown)."""
    block = (results.get("emorealm") or {}).get("errors") or {}
    limit = float(block.get("max_error_rate", 1.0))
    bad = {t: e for t, e in (block.get("tasks") or {}).items() if e.get("n") and e["rate"] > limit}
    if not bad:
        return
    parts = []
    for task, e in bad.items():
        c = e["commonest"]
        parts.append(f"{task}: {e['n_errors']} of {e['n']} samples failed ({e['rate']:.0%}), commonest "
                     f"{c['kind']} ×{c['count']}: {c['example']}")
    raise ErrorRateExceeded(f"more than {limit:.0%} of the samples failed in {len(bad)} task(s) (--max-error-rate "
                            f"{limit:g}); the results files are written. " + "; ".join(parts))
