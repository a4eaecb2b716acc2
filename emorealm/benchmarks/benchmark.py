"""What the harness core may ask a benchmark: its task names, data keys, metric kinds and reports.

Each benchmark module declares one :class:`Benchmark` as ``BENCHMARK``; the registry
(:mod:`emorealm.benchmarks.registry`) lists them. The evaluation stage asks the registry, never a
benchmark by name, so a new benchmark is one module plus one line in the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# (task, its logged samples) -> {"released" | "strict" | "loglikelihood": ClassificationReport}, or None
ClassificationHook = Callable[[str, list[dict[str, Any]]], dict[str, Any] | None]
# (task, its logged samples) -> the results file's ``emorealm.judge`` block, or None
JudgeHook = Callable[[str, list[dict[str, Any]]], dict[str, Any] | None]


def same_key(task: str) -> str:
    return task


@dataclass(frozen=True)
class Benchmark:
    """One benchmark as the core sees it.

    ``name`` is what ``--tasks`` takes (a task or a group); ``tasks`` every lm-eval task it defines.
    ``data_key(task)`` names the loader's record of a task's data (fingerprint, load report): the
    variants of one loader (e.g. generation and ``_ll``) share it. ``count_metrics`` are shown as
    integers and ``raw_scale_metrics`` on their own scale (not as percentages).
    """

    name: str
    tasks: tuple[str, ...]
    data_key: Callable[[str], str] = same_key
    count_metrics: frozenset[str] = frozenset()
    raw_scale_metrics: frozenset[str] = frozenset()
    classification: ClassificationHook | None = None
    judge: JudgeHook | None = None
