"""The built-in benchmarks, and the questions the core asks about a task without naming one.

``BENCHMARKS`` lists each benchmark module's ``BENCHMARK`` record, in the order ``--tasks all``
runs them. Everything else here answers from those records: which benchmark a task belongs to,
the key its data was recorded under, how its metrics are shown and which reports it adds.
"""

from __future__ import annotations

from typing import Any

from emorealm.benchmarks import dfew, emer, emorealm, ravdess
from emorealm.benchmarks.benchmark import Benchmark

BENCHMARKS: tuple[Benchmark, ...] = (emorealm.BENCHMARK, dfew.BENCHMARK, ravdess.BENCHMARK, emer.BENCHMARK)
# metrics every benchmark reports as counts
COMMON_COUNT_METRICS = frozenset({"n_errors"})


def default_tasks() -> list[str]:
    """What ``--tasks all`` runs: every built-in benchmark."""
    return [b.name for b in BENCHMARKS]


def benchmark_of(task: str) -> Benchmark | None:
    """The built-in benchmark that defines lm-eval task ``task`` (None for another package's task)."""
    for b in BENCHMARKS:
        if task in b.tasks:
            return b
    return None


def data_key(task: str) -> str:
    """The key a task's loader recorded its data fingerprint and load report under."""
    b = benchmark_of(task)
    return b.data_key(task) if b is not None else task


def count_metrics() -> frozenset[str]:
    return COMMON_COUNT_METRICS.union(*(b.count_metrics for b in BENCHMARKS))


def raw_scale_metrics() -> frozenset[str]:
    return frozenset().union(*(b.raw_scale_metrics for b in BENCHMARKS))


def classification_reports(samples: dict[str, list[dict[str, Any]]]) -> dict[str, dict[str, Any]]:
    """``{task: {kind: ClassificationReport}}`` for every task whose benchmark reports classes."""
    out = {}
    for task, rows in samples.items():
        b = benchmark_of(task)
        if b is None or b.classification is None or not rows:
            continue
        reps = b.classification(task, rows)
        if reps:
            out[task] = reps
    return out


def judge_block(samples: dict[str, list[dict[str, Any]]]) -> dict[str, Any] | None:
    """The judge block of the first judged task that ran (settings, rubric versions, backend)."""
    for task, rows in samples.items():
        b = benchmark_of(task)
        if b is not None and b.judge is not None and rows:
            block = b.judge(task, rows)
            if block is not None:
                return block
    return None
