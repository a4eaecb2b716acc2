"""Recompute reported metrics from the per-sample records of lm-eval samples logs.

lm-eval writes one record per document and filter to ``samples_<task>_<ts>.jsonl``; every metric
returned by the task's ``process_results`` is stored in the record under its name. From those
values each aggregation named in ``tasks.json`` is recomputed here:

* ``mean``  — mean over the records that carry a value for the metric; a missing key or ``null``
  means "not applicable to this sample" (e.g. ``acc_yes`` on a No question), as in lm-eval and
  ``emorealm.scoring.aggregations.mean_defined``; booleans count as 0/1;
* ``sum``   — sum (``n_errors``);
* ``f1_yes_no`` — per-sample ``[gold_is_yes, correct]``: harmonic mean of the accuracy on Yes-answer and
  on No-answer questions (the released "precision"/"recall" pair; ``emorealm.scoring.aggregations.f1_yes_no``);
* ``recall_macro`` / ``f1_macro`` — per-sample values are ``[gold, prediction]`` pairs; the classes are
  the gold labels present (an invalid prediction is just a wrong one); UAR = mean per-class recall,
  macro-F1 = mean per-class F1 over those classes (= sklearn ``f1_score(average="macro",
  labels=gold classes, zero_division=0)``).
* ``classification_acc`` / ``classification_uar`` / ``classification_macro_f1`` — the emotion-
  classification tasks' per-sample ``[gold, released_label, dropped]`` (generation) or ``[gold,
  prediction]`` (``_ll``) items, aggregated by the tasks' own functions
  (:mod:`emorealm.benchmarks.recognition`: released-rule drops left out, invalid = wrong, F1 over the
  classes seen in gold or predictions);
* ``harmonic_pr`` — per-sample ``[precision, recall]``: harmonic mean of the mean precision and the
  mean recall (EMER's ``emotion_f1``, :func:`emorealm.benchmarks.emer.agg_emotion_f1`).

Standard errors are taken as reported (bootstrap or clustered estimates depend on run settings) and
are not recomputed; metrics marked ``"recompute": false`` in the table are listed in the entry's
``not_recomputed``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from emorealm.errors import DataError
from emorealm.leaderboard.schema import MetricSpec, sha256_tag

ABS_TOL = 1e-9


def read_samples(path: Path) -> list[dict[str, Any]]:
    """Read a samples log (JSON lines); a clear DataError on a missing or malformed file."""
    if not path.is_file():
        raise DataError(f"samples log {path} is missing; submit the results file together with its samples_*.jsonl files "
                        "(run with --log_samples / emorealm run writes them)")
    records = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from None
            if not isinstance(rec, dict) or "doc_id" not in rec:
                raise DataError(f"{path}:{lineno}: not an lm-eval sample record (no doc_id)")
            records.append(rec)
    return records


def records_for_filter(records: list[dict[str, Any]], filter_name: str, source: str) -> list[dict[str, Any]]:
    """The records of one filter, sorted by doc_id; duplicate documents are an error."""
    chosen = [r for r in records if r.get("filter", "none") == filter_name]
    seen: set[Any] = set()
    for r in chosen:
        key = json.dumps(r["doc_id"], sort_keys=True)
        if key in seen:
            raise DataError(f"{source}: doc_id {r['doc_id']!r} appears twice for filter {filter_name!r}")
        seen.add(key)
    return sorted(chosen, key=lambda r: json.dumps(r["doc_id"], sort_keys=True))


def samples_digest(records: Iterable[dict[str, Any]]) -> str:
    """Consistency digest of a samples log: order- and whitespace-independent hash of its records."""
    # allow_nan: failed log-likelihood samples carry NaN in their resps (lm-eval writes it as NaN)
    lines = sorted(json.dumps(r, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode() for r in records)
    return sha256_tag(b"\n".join(lines))


def _number(v: Any, metric: str, source: str) -> float:
    if isinstance(v, bool):
        return float(v)
    if isinstance(v, (int, float)) and math.isfinite(v):
        return float(v)
    raise DataError(f"{source}: per-sample value of {metric!r} is {v!r}, not a number; cannot recompute {metric}")


def _pair(v: Any, metric: str, source: str) -> tuple[str, str]:
    if isinstance(v, dict):
        gold = v.get("gold", v.get("label"))
        pred = v.get("pred", v.get("prediction"))
    elif isinstance(v, (list, tuple)) and len(v) == 2:
        gold, pred = v
    else:
        raise DataError(f"{source}: per-sample value of {metric!r} is {v!r}, not a [gold, prediction] pair; "
                        f"cannot recompute {metric}")
    if gold is None:
        raise DataError(f"{source}: a per-sample value of {metric!r} has no gold label")
    return str(gold), ("<invalid>" if pred is None else str(pred))


def _mean(nums: list[float]) -> float:
    return math.fsum(nums) / len(nums) if nums else math.nan


def _harmonic(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return 0.0 if a + b == 0 else 2 * a * b / (a + b)


def recompute_metric(spec: MetricSpec, records: list[dict[str, Any]], source: str) -> float:
    """Recompute one metric from ``records`` (NaN when no sample carries an applicable value)."""
    values = [r[spec.name] for r in records if r.get(spec.name) is not None]
    if not values and not any(spec.name in r for r in records):
        raise DataError(f"{source}: no sample record carries a per-sample value for {spec.name!r}; cannot recompute it")
    if spec.aggregation == "mean":
        return _mean([_number(v, spec.name, source) for v in values])
    if spec.aggregation == "sum":
        return math.fsum(_number(v, spec.name, source) for v in values)
    if spec.aggregation == "f1_yes_no":
        pairs = []
        for v in values:
            if not (isinstance(v, (list, tuple)) and len(v) == 2 and isinstance(v[0], bool)):
                raise DataError(f"{source}: per-sample value of {spec.name!r} is {v!r}, not [gold_is_yes, correct]")
            pairs.append((v[0], _number(v[1], spec.name, source)))
        return _harmonic(_mean([c for g, c in pairs if g]), _mean([c for g, c in pairs if not g]))
    task_agg = _task_aggregation(spec.aggregation)
    if task_agg is not None:
        return float(task_agg(_items(values, spec, source)))
    pairs_ = [_pair(v, spec.name, source) for v in values]
    gold = [g for g, _ in pairs_]
    pred = [p for _, p in pairs_]
    labels = sorted(set(gold))
    if not labels:
        return math.nan
    if spec.aggregation == "recall_macro":
        recalls = []
        for c in labels:
            idx = [i for i, g in enumerate(gold) if g == c]
            recalls.append(sum(pred[i] == c for i in idx) / len(idx))
        return math.fsum(recalls) / len(recalls)
    if spec.aggregation == "f1_macro":  # = sklearn f1_score(average="macro", labels=labels, zero_division=0)
        f1s = []
        for c in labels:
            tp = sum(g == c and p == c for g, p in pairs_)
            fp = sum(g != c and p == c for g, p in pairs_)
            fn = sum(g == c and p != c for g, p in pairs_)
            f1s.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 0.0)
        return math.fsum(f1s) / len(f1s)
    raise DataError(f"unknown aggregation {spec.aggregation!r} for {spec.name}")


def _task_aggregation(name: str):
    """The task-side aggregation function behind an aggregation name of tasks.json (None: not one)."""
    if name.startswith("classification_"):
        from emorealm.benchmarks import recognition as classification_task

        return {"classification_acc": classification_task.agg_acc, "classification_uar": classification_task.agg_uar,
                "classification_macro_f1": classification_task.agg_macro_f1}.get(name)
    if name == "harmonic_pr":
        from emorealm.benchmarks.emer import agg_emotion_f1

        return agg_emotion_f1
    return None


def _items(values: list[Any], spec: MetricSpec, source: str) -> list[Any]:
    for v in values:
        if not (isinstance(v, (list, tuple)) and len(v) in (2, 3)):
            raise DataError(f"{source}: per-sample value of {spec.name!r} is {v!r}, not the task's "
                            f"{'[precision, recall]' if spec.aggregation == 'harmonic_pr' else '[gold, prediction, ...]'} "
                            f"item; cannot recompute {spec.name}")
    return values


def same_value(a: float, b: float) -> bool:
    """Equal up to float summation order; NaN (no applicable sample) equals NaN."""
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=ABS_TOL)


def recompute_task(
    specs: dict[str, MetricSpec], reported: dict[str, float], records: list[dict[str, Any]], source: str
) -> tuple[list[str], list[str]]:
    """Check every reported metric against the samples; returns (recomputed, not_recomputed).

    Raises DataError naming each metric whose reported value disagrees with its recomputation.
    """
    recomputed, not_recomputed, bad = [], [], []
    for m in sorted(reported):
        spec = specs[m]
        if not spec.recompute:
            not_recomputed.append(m)
            continue
        value = recompute_metric(spec, records, source)
        recomputed.append(m)
        if not same_value(value, reported[m]):
            bad.append(f"{m}: reported {reported[m]!r}, the samples log gives {value!r}")
    if bad:
        raise DataError(f"{source}: metrics disagree with the samples log (edited or inconsistent results):\n  "
                        + "\n  ".join(bad))
    return recomputed, not_recomputed
