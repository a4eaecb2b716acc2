"""Aggregations of per-sample values used by task configs (lm-eval ``aggregation`` functions).

Per-sample values of ``None`` mean "not applicable to this sample" (e.g. ``acc_yes`` on a question
whose answer is No) and are left out of the mean; a list with no applicable sample gives NaN.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any


def mean_defined(values: Sequence[float | None]) -> float:
    """Mean over the values that are not None (NaN when there are none)."""
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else math.nan


def harmonic_mean(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or a + b == 0:
        return math.nan if (math.isnan(a) or math.isnan(b)) else 0.0
    return 2 * a * b / (a + b)


def f1_yes_no(values: Sequence[Any]) -> float:
    """Harmonic mean of accuracy on Yes-answer and on No-answer questions.

    Each value is ``[gold_is_yes, correct]`` (the released "precision" and "recall").
    """
    yes = mean_defined([float(c) if g else None for g, c in values])
    no = mean_defined([float(c) if not g else None for g, c in values])
    return harmonic_mean(yes, no)


def total(values: Sequence[float]) -> float:
    """Sum (for counts such as ``n_errors``)."""
    return float(sum(values))
