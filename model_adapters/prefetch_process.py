"""Preparing requests ahead in a worker *process*: decode, resize and processor work hold the GIL,
so a thread overlaps them poorly with the forward; another process does not share the GIL.

One :class:`ProcessWorker` per adapter lives for the adapter's lifetime. It is started lazily (a
fresh interpreter imports torch: seconds) and, until it reports ready, the main process builds
requests itself, so the start never stalls a run. Arguments and results travel pickled over two
pipes; tensors in a result travel as numpy arrays in out-of-band buffers (pickle protocol 5). Large
buffers go through a file in a spool folder (tmpfs where it has room) rather than the pipe: a pipe
moves 64 KiB per wake-up of the reader, and on a busy machine every wake-up waits for a time slice.
The main process reads them straight into writable memory that the rebuilt tensors use without
another copy, and deletes the file; the folder goes when the worker stops.

Failure handling, in order of likelihood:

* a per-sample error raised while building (a broken clip) comes back as the same exception (type
  and message), re-raised by :meth:`ProcessPrefetcher.get` of that request only;
* the process dying (a decoder crash, the OOM killer): the request it was building fails with a
  :class:`~emorealm.errors.WorkerError`, the requests queued behind it are built in the main
  process, and a fresh worker is started; after ``MAX_CRASHES`` deaths preparation stays in the
  main process for the rest of the adapter's life, with a warning;
* Ctrl-C: the worker runs in its own process group and ignores SIGINT (the main process decides);
  it is stopped when a loop ends with requests still in flight, when the adapter is
  garbage-collected, at interpreter exit, and on its own when the main process's end of the task
  pipe closes (so even a SIGKILLed main process leaves no worker behind).
"""

from __future__ import annotations

import logging
import pickle
import shutil
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from emorealm.errors import WorkerError
from emorealm.model_adapters.prefetch_transport import RemoteTraceback, portable, recv_result, send_result, spool_root

log = logging.getLogger("emorealm")

MAX_CRASHES = 3
_READY = -1  # ticket of the worker's "started" message
_LOCAL = object()  # "build this request in the main process" (its worker died before answering)


def _console() -> tuple[bool, str | None]:
    """(verbose console?, the run's log file) of this process, for the worker to do the same."""
    from emorealm import log_filters

    file = log_filters.CAPTURE.file
    return log_filters.VERBOSE, file.baseFilename if file is not None else None


def _quiet_like_parent(console: tuple[bool, str | None]) -> None:
    """Third-party warnings raised while building go where the main process sends its own: the
    run's log file (and the console only with -v), not the console of a quiet run."""
    from emorealm import log_filters

    verbose, path = console
    log_filters.install()
    if not verbose:
        log_filters.quiet_console(False)
    if path:
        log_filters.attach_log_file(path)


def _child_entry(task_fd: int, result_fd: int) -> None:
    """Entry point of the worker process (``python -c``): build each received request, answer in order."""
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle
    tasks, results = Connection(task_fd, writable=False), Connection(result_fd, readable=False)
    spool = None
    try:
        import sys

        path, threads, console, spool = pickle.loads(tasks.recv_bytes())
        sys.path[:] = path  # the main process's: fn's module (maybe a script's or a test's) must import
        if threads is not None:
            import torch

            torch.set_num_threads(threads)  # as many as the main process: equal work, equal numbers
        fn = pickle.loads(tasks.recv_bytes())  # imports what fn needs (transformers): then quieten it
        _quiet_like_parent(console)
    except BaseException:  # noqa: BLE001 - reported to the parent, which prepares in-process instead
        send_result(results, _READY, "failed", traceback.format_exc())
        return
    send_result(results, _READY, "ok", None)
    try:
        _serve(fn, tasks, results, spool)
    finally:  # the main process removes the folder too, unless it was killed (SIGKILL, the OOM killer)
        shutil.rmtree(spool, ignore_errors=True)


def _serve(fn: Callable[..., Any], tasks, results, spool: str) -> None:
    while True:
        try:
            ticket, args = pickle.loads(tasks.recv_bytes())
        except (EOFError, OSError):  # the main process closed its end or died: nothing more to do
            return
        try:
            status, value = "ok", fn(*args)
        except Exception as exc:  # noqa: BLE001 - the main process re-raises it for this request
            status, value = "err", (portable(exc), traceback.format_exc())
        try:
            send_result(results, ticket, status, value, spool)
        except (BrokenPipeError, OSError):  # the main process died while this request was being built
            return
        except Exception as exc:  # noqa: BLE001 - a result that cannot be pickled: a bug, reported as such
            send_result(results, ticket, "err", (portable(exc), traceback.format_exc()))


class ProcessWorker:
    """One spawned process running ``fn(*args)`` for the argument tuples submitted, in order."""

    def __init__(self, fn: Callable[..., Any], threads: int | None = None, name: str = "emorealm-prefetch") -> None:
        self.fn, self.threads, self.name = fn, threads, name
        self.proc = self.tasks = self.results = None
        self.ready = False
        self.crashes = 0
        self.disabled: str | None = None  # why preparation stays in the main process
        self.inflight: list[int] = []  # tickets sent and not answered, in order
        self.answers: dict[int, Any] = {}
        self.next_ticket = 0
        self.served = 0  # requests answered by a worker process (the rest were built in the main process)
        self.stolen = 0  # requests a ProcessPrefetcher(steal=True) built in the main process while this was behind
        self.start_seconds: float | None = None  # from start to ready, of the last process started

    # -- lifetime ----------------------------------------------------------------------------
    def _start(self) -> None:
        import os
        import subprocess
        import sys
        import tempfile
        from multiprocessing.connection import Connection

        # a fresh interpreter running only this module, not multiprocessing's spawn: that re-imports
        # the user's main script, which fails (or recurses) in a script or notebook without a
        # ``__main__`` guard; and no fork: the main process has torch, tokenizer and CUDA threads
        task_r, task_w = os.pipe()
        res_r, res_w = os.pipe()
        self.spool = tempfile.mkdtemp(prefix="emorealm-prefetch-", dir=spool_root())
        code = f"from {__name__} import _child_entry; _child_entry({task_r}, {res_w})"
        # its own process group: a Ctrl-C at the terminal goes to the main process only, which decides
        # (the worker ignores SIGINT as well, and ends when the main process's end of its pipe closes)
        try:
            self.proc = subprocess.Popen([sys.executable, *subprocess._args_from_interpreter_flags(), "-c", code],
                                         pass_fds=(task_r, res_w), process_group=0, close_fds=True)
        except BaseException:
            for fd in (task_r, task_w, res_r):
                os.close(fd)
            shutil.rmtree(self.spool, ignore_errors=True)
            raise
        finally:
            os.close(res_w)
        os.close(task_r)
        self.tasks, self.results = Connection(task_w, readable=False), Connection(res_r, writable=False)
        self.ready = False
        self._started = time.perf_counter()
        payload = [pickle.dumps((list(sys.path), self.threads, _console(), self.spool)),
                   pickle.dumps(self.fn, protocol=pickle.HIGHEST_PROTOCOL)]
        # sent from a helper thread: the child reads it only after its imports, and a payload larger
        # than the pipe buffer would block this (main) thread until then
        threading.Thread(target=self._send_quietly, args=(self.tasks, payload), daemon=True,
                         name=f"{self.name}-start").start()
        self._finalizer = weakref.finalize(self, _stop, self.proc, self.tasks, self.results, self.spool)

    @staticmethod
    def _send_quietly(conn, payload: list[bytes]) -> None:
        try:
            for msg in payload:
                conn.send_bytes(msg)
        except (OSError, TypeError, ValueError):  # the child died or was stopped first (closed handle)
            pass

    def usable(self) -> bool:
        """True when requests may be submitted now; starts the process (without waiting) if needed."""
        if self.disabled:
            return False
        if self.proc is None:
            try:
                self._start()
            except OSError as exc:  # no process to be had (EMFILE, EAGAIN): not any request's fault
                self._disable(f"the preparation worker could not start: {exc}")
                return False
        if not self.ready:
            self._pump(block=False)
        return self.ready and not self.disabled

    def stop(self) -> None:
        """Stop the process (requests in flight are dropped); a later :meth:`usable` starts a new one."""
        if self.proc is not None:
            self._finalizer()
        self.proc = self.tasks = self.results = None
        self.ready = False
        for t in self.inflight:
            self.answers[t] = _LOCAL
        self.inflight = []

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    # -- requests ----------------------------------------------------------------------------
    def submit(self, args: tuple) -> int:
        """Send one request (only after :meth:`usable` returned True); returns its ticket."""
        ticket = self.next_ticket
        self.next_ticket += 1
        try:
            self.tasks.send_bytes(pickle.dumps((ticket, args), protocol=pickle.HIGHEST_PROTOCOL))
        except (BrokenPipeError, OSError):
            self.answers[ticket] = _LOCAL  # it died; noticed by the sentinel at the next wait
            return ticket
        self.inflight.append(ticket)
        return ticket

    def take(self, ticket: int) -> Any:
        """The result of ``ticket``: the built value, an exception raised, or ``_LOCAL``."""
        while ticket not in self.answers:
            if self.proc is None:  # stopped meanwhile: nothing will answer
                self.answers[ticket] = _LOCAL
                break
            self._pump(block=True)
        status, value = ("ok", _LOCAL) if self.answers[ticket] is _LOCAL else self.answers[ticket]
        del self.answers[ticket]
        if status == "err":
            exc, tb = value
            raise exc from RemoteTraceback(tb)
        return value

    def answered(self, ticket: int) -> bool:
        """True when the answer to ``ticket`` has arrived (reads what is waiting, without blocking)."""
        if ticket not in self.answers and self.proc is not None:
            from multiprocessing.connection import wait

            while ticket not in self.answers and self.proc is not None and wait([self.results], timeout=0):
                self._pump(block=False)
        return ticket in self.answers or self.proc is None

    def _pump(self, block: bool) -> None:
        """Read what the worker sent; notice its death."""
        from multiprocessing.connection import wait

        if self.proc is None:
            return
        # the worker's death closes its end of the results pipe: EOF is how it is noticed
        if wait([self.results], timeout=None if block else 0):
            try:
                ticket, status, value = recv_result(self.results)
            except (EOFError, OSError):
                return self._died()
            if ticket == _READY:
                self.ready = status == "ok"
                self.start_seconds = time.perf_counter() - self._started
                if not self.ready:
                    self._disable(f"the preparation worker could not start:\n{value}")
                return
            self.inflight.remove(ticket)
            self.answers[ticket] = (status, value)
            self.served += 1

    def _died(self) -> None:
        try:
            code = self.proc.wait(5)
        except Exception:  # noqa: BLE001 - still running (its pipe broke): stop() ends it
            code = None
        culprit = self.inflight[0] if self.inflight else None
        if culprit is not None:
            self.inflight.pop(0)
            self.answers[culprit] = ("err", (WorkerError(
                f"the input-preparation worker process died (exit code {code}) while preparing this request; "
                f"the others go on. To see the failure in the main process rerun it with "
                f"--model-args prefetch_worker=thread (or prefetch=0)"), ""))
        self.crashes += 1
        self.stop()
        if self.crashes >= MAX_CRASHES:
            self._disable(f"the preparation worker process died {self.crashes} times (last exit code {code})")

    def _disable(self, why: str) -> None:
        self.disabled = why
        log.warning("%s; preparing inputs in the main process from now on", why)
        self.stop()


def _stop(proc, tasks, results, spool: str) -> None:
    import subprocess

    for conn in (tasks, results):
        try:
            conn.close()  # the child's next read sees EOF and it returns
        except OSError:
            pass
    for end in (None, proc.terminate, proc.kill):
        if end is not None:
            end()
        try:
            proc.wait(2 if end is not proc.kill else None)
            break
        except subprocess.TimeoutExpired:
            continue
    shutil.rmtree(spool, ignore_errors=True)


class ProcessPrefetcher:
    """:class:`~emorealm.model_adapters.prefetch.Prefetcher`'s interface over a :class:`ProcessWorker`:
    ``get(k)`` returns ``build(*items[k])`` (built by the worker, or by ``local`` in this process
    while the worker starts or after it died), at most ``depth`` requests ahead of the consumer.

    With ``steal``, a ``get(k)`` that would wait for the worker (still building ``k``) builds the next
    request not yet sent to it here instead, once at a time: when preparing costs more than what the
    consumer does between two ``get`` calls, the two processes then share the preparation rather than
    the consumer idling (bench/pipeline.py). What a request's build gives or raises is the same
    wherever it runs, and reaches the consumer at that request's own ``get``; memory holds at most
    ``depth`` + 2 built requests."""

    def __init__(self, worker: ProcessWorker, local: Callable[..., Any], items: Sequence[tuple], depth: int,
                 send: Callable[[tuple], tuple | None], steal: bool = False) -> None:
        # send(item): the worker's arguments for an item, or None to build that item locally
        self.worker, self.local, self.items, self.depth, self.send = worker, local, list(items), depth, send
        self.steal = steal
        self.tickets: dict[int, int] = {}
        self.here: dict[int, tuple[bool, Any]] = {}  # stolen: index -> (raised?, value or exception)
        self.next = 0
        self.served_before, self.stolen_before = worker.served, worker.stolen

    def get(self, k: int) -> Any:
        if k in self.here:
            raised, value = self.here.pop(k)
            if raised:
                raise value
            return value
        if self.worker.usable():
            self.next = max(self.next, k if k in self.tickets else k + 1)
            while self.next < len(self.items) and self.next <= k + self.depth:
                args = self.send(self.items[self.next])
                if args is not None:
                    self.tickets[self.next] = self.worker.submit(args)
                self.next += 1
            if self.steal and k in self.tickets and not self.here and self.next < len(self.items) \
                    and not self.worker.answered(self.tickets[k]):
                self._build_here(self.next)
                self.next += 1
        if k in self.tickets:
            value = self.worker.take(self.tickets.pop(k))
            if value is not _LOCAL:
                return value
        return self.local(*self.items[k])

    def _build_here(self, j: int) -> None:
        """Build request ``j`` now, keeping what it gives or raises for ``get(j)``."""
        self.worker.stolen += 1
        try:
            self.here[j] = (False, self.local(*self.items[j]))
        except Exception as exc:  # noqa: BLE001 - raised again at get(j), where it belongs
            self.here[j] = (True, exc)

    def close(self) -> None:
        start = f", start-up {self.worker.start_seconds:.1f} s" if self.worker.start_seconds is not None else ""
        log.info("inputs of %d of %d requests prepared in the worker process (%d built here while it was "
                 "behind)%s", self.worker.served - self.served_before, len(self.items), self.worker.stolen - self.stolen_before, start)
        self.here = {}
        if self.tickets:  # left early (an error, Ctrl-C): what is in flight is of no use to anyone
            self.worker.stop()
            for t in self.tickets.values():
                self.worker.answers.pop(t, None)
            self.tickets = {}
