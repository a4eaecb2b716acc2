"""The state one evaluation run owns: data fingerprints, load reports, judge backends, sample errors.

lm-eval calls a task's hooks (``custom_dataset``, ``process_results``) without any handle on our
run, so task code reaches the current run through a context variable that the runner sets for the
whole run (task loading, ``simple_evaluate``, results): :func:`run_scope`. Two runs in one process
(tests, a notebook, ``diagnose`` after ``run``) each see only their own state.

* Readers (the runner, the results writer) call :func:`current`, which raises
  :class:`NoActiveRun` outside a run: a forgotten scope is an error, never another run's data.
* Writers in task code (:func:`record_fingerprint`, :func:`record_load_report`) are no-ops
  outside a run: loading a benchmark from a script or a test is legitimate, there is just no run
  to report to.
* Threads: a ``ThreadPoolExecutor`` worker does not inherit context variables; code that records
  from a worker submits through :func:`in_run_context` (docs/contracts.md §12).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from emorealm.errors import EmorealmError, SampleErrorLog, use_sample_error_log

T = TypeVar("T")


class NoActiveRun(EmorealmError):
    """Run-owned state was read outside an evaluation run."""


@dataclass
class RunState:
    """Everything one run records while it runs; the runner copies it into the results file."""

    data_fingerprints: dict[str, str] = field(default_factory=dict)  # task -> sha256 of what its loader read
    load_reports: dict[str, dict[str, Any]] = field(default_factory=dict)  # task -> what its loader found
    judge_backends: dict[tuple, Any] = field(default_factory=dict)  # judge settings -> backend (one per run)
    sample_errors: SampleErrorLog = field(default_factory=SampleErrorLog)  # doc key -> per-sample error

    def fingerprint(self, task: str, data_key: str | None = None) -> str | None:
        """The data fingerprint recorded for ``task``, else under ``data_key`` (the key its benchmark's
        variants share, :func:`emorealm.benchmarks.registry.data_key`)."""
        return self.data_fingerprints.get(task) or (self.data_fingerprints.get(data_key) if data_key else None)

    def load_report(self, task: str, data_key: str | None = None) -> dict[str, Any] | None:
        """The load report recorded for ``task``, else under ``data_key``."""
        return self.load_reports.get(task) or (self.load_reports.get(data_key) if data_key else None)


_CURRENT: contextvars.ContextVar[RunState | None] = contextvars.ContextVar("emorealm_run_state", default=None)


@contextmanager
def run_scope(state: RunState | None = None) -> Iterator[RunState]:
    """Make ``state`` (a fresh one by default) the current run's state for the ``with`` body."""
    state = state if state is not None else RunState()
    token = _CURRENT.set(state)
    errors_token = use_sample_error_log(state.sample_errors)
    try:
        yield state
    finally:
        errors_token.var.reset(errors_token)
        _CURRENT.reset(token)


def current() -> RunState:
    """The current run's state; :class:`NoActiveRun` outside a run."""
    state = _CURRENT.get()
    if state is None:
        raise NoActiveRun("no emorealm run is active: run-owned state (data fingerprints, load reports, judge "
                          "backends) exists only inside `emorealm.evaluation.runner.evaluate` or a "
                          "`with emorealm.run_state.run_scope():` block")
    return state


def current_or_none() -> RunState | None:
    """The current run's state, or None outside a run."""
    return _CURRENT.get()


def record_fingerprint(task: str, fingerprint: str) -> None:
    """A loader's data fingerprint for ``task`` (kept by the current run; nothing outside a run)."""
    state = _CURRENT.get()
    if state is not None:
        state.data_fingerprints[task] = fingerprint


def record_load_report(task: str, report: dict[str, Any]) -> None:
    """A loader's report for ``task`` (kept by the current run; nothing outside a run)."""
    state = _CURRENT.get()
    if state is not None:
        state.load_reports[task] = report


def in_run_context(fn: Callable[..., T]) -> Callable[..., T]:
    """``fn`` bound to the caller's context, for a worker thread (context variables do not cross
    into ``ThreadPoolExecutor`` workers on their own)."""
    ctx = contextvars.copy_context()

    def bound(*args: Any, **kwargs: Any) -> T:
        return ctx.copy().run(fn, *args, **kwargs)

    return bound
