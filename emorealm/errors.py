"""Typed errors and the per-sample error channel (see docs/contracts.md).

Two kinds of failure exist:

* **Up-front errors** (bad data root, unknown task, unreadable benchmark file) raise a subclass of
  :class:`EmorealmError` with a message that says what to do. The CLI prints it and exits non-zero.
* **Per-sample errors** (a clip that fails to decode, a server that answers nonsense) never stop a
  run. The adapter records them with :func:`record_sample_error` and returns
  :func:`error_response` (generation) or ``(nan, False)`` (log-likelihood). Every task's
  ``process_results`` calls :func:`sample_error` to find out whether a sample failed; a failed sample
  scores wrong, counts in ``n_errors`` and carries its reason in the samples log.
"""

from __future__ import annotations

import contextvars
import math
import threading
from dataclasses import dataclass
from typing import Any


class EmorealmError(Exception):
    """Base class of every error emorealm raises on purpose."""


class DataError(EmorealmError):
    """A data root, benchmark file, split file or row is missing or malformed."""


class MediaError(EmorealmError):
    """A media file cannot be read or decoded (missing, truncated, no stream of the needed kind)."""


class ModelError(EmorealmError):
    """A model or checkpoint cannot be loaded or does not support what is asked of it."""


class ConfigError(EmorealmError):
    """A command-line option, task option or config value is invalid."""


class WorkerError(EmorealmError):
    """A background worker process died while preparing one sample (that sample fails alone)."""


ERROR_PREFIX = "<<emorealm-error:"


@dataclass(frozen=True)
class SampleError:
    """One per-sample failure: the exception type name and its message."""

    kind: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "message": self.message}


class SampleErrorLog:
    """The per-sample errors of one run, keyed by :func:`doc_key` (thread-safe: adapters record from
    worker threads). A run owns one (``emorealm.run_state.RunState.sample_errors``)."""

    def __init__(self) -> None:
        self._errors: dict[str, SampleError] = {}
        self._lock = threading.Lock()

    def record(self, key: str, err: SampleError) -> None:
        with self._lock:
            self._errors[key] = err

    def get(self, key: str) -> SampleError | None:
        with self._lock:
            return self._errors.get(key)

    def clear(self) -> None:
        with self._lock:
            self._errors.clear()


# the log of the current run (set by ``emorealm.run_state.run_scope``); adapters used outside a
# run (unit tests, the benchmark builder's captioning) record into a detached log of their own
_DETACHED = SampleErrorLog()
_CURRENT_LOG: contextvars.ContextVar[SampleErrorLog | None] = contextvars.ContextVar("emorealm_sample_errors",
                                                                                      default=None)


def use_sample_error_log(log: SampleErrorLog) -> contextvars.Token:
    """Make ``log`` the current one; reset with ``token.var.reset(token)``."""
    return _CURRENT_LOG.set(log)


def sample_error_log() -> SampleErrorLog:
    """The current run's per-sample error log (the detached one outside a run)."""
    return _CURRENT_LOG.get() or _DETACHED


def doc_key(doc: dict[str, Any]) -> str:
    """Identity of a doc inside one process: its task key and id (both set by every loader)."""
    return f"{doc.get('_task', '')}::{doc.get('id', id(doc))}"


def record_sample_error(doc: dict[str, Any], exc: BaseException) -> SampleError:
    """Remember that ``doc`` failed with ``exc``; returns the recorded error."""
    err = SampleError(type(exc).__name__, str(exc))
    sample_error_log().record(doc_key(doc), err)
    return err


def error_response(err: SampleError) -> str:
    """The string a generation adapter returns for a failed sample."""
    return f"{ERROR_PREFIX}{err.kind}>> {err.message}"


def parse_error_response(text: Any) -> SampleError | None:
    """Inverse of :func:`error_response`; ``None`` when ``text`` is a normal answer."""
    if not isinstance(text, str) or not text.startswith(ERROR_PREFIX):
        return None
    head, _, message = text[len(ERROR_PREFIX):].partition(">> ")
    return SampleError(head, message)


def sample_error(doc: dict[str, Any], results: list[Any]) -> SampleError | None:
    """Return the error of a sample, looking at its responses and the adapter's record.

    Also marks ``doc`` with ``_error`` so the samples log shows the reason.
    """
    err = None
    for r in results:
        if isinstance(r, (tuple, list)) and r and isinstance(r[0], float) and math.isnan(r[0]):
            err = sample_error_log().get(doc_key(doc)) or SampleError("UnknownError", "adapter returned NaN")
        elif (e := parse_error_response(r)) is not None:
            err = e
        if err is not None:
            break
    if err is None:
        err = sample_error_log().get(doc_key(doc))
    if err is not None:
        doc["_error"] = err.as_dict()
    return err


def clear_sample_errors() -> None:
    """Forget every error the current log holds (``diagnose`` between conditions; tests)."""
    sample_error_log().clear()
