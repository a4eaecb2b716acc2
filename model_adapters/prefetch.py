"""Preparing requests ahead: model inputs are built in a background worker while the model runs."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from emorealm.run_state import in_run_context

PREFETCH_THREAD = "emorealm-prefetch"  # name prefix of the worker thread

class Prefetcher:
    """Runs ``build(*items[k])`` in one background worker, at most ``depth`` items ahead of the
    consumer, and hands results back in order (``get(k)``). An exception raised by ``build`` is
    re-raised by ``get`` of that item, so per-sample errors land where they would without it.
    ``depth`` 0 builds in the caller's thread. Memory holds at most ``depth`` + 1 built items."""

    def __init__(self, build: Callable[..., Any], items: Sequence[tuple], depth: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.build, self.items, self.depth = build, list(items), max(0, int(depth))
        self.pool = ThreadPoolExecutor(1, thread_name_prefix=PREFETCH_THREAD) if self.depth else None
        self.futures: dict[int, Any] = {}
        self.submitted = 0

    def get(self, k: int) -> Any:
        if self.pool is None:
            return self.build(*self.items[k])
        while self.submitted < len(self.items) and self.submitted <= k + self.depth:
            # in_run_context: the worker sees this run's state, as the caller's thread does
            self.futures[self.submitted] = self.pool.submit(in_run_context(self.build), *self.items[self.submitted])
            self.submitted += 1
        return self.futures.pop(k).result()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)
