"""What every emorealm adapter shares: request grouping, the error channel, metadata, progress.

An adapter is an ``lm_eval.api.model.LM``. Requests are lm-eval ``Instance`` objects whose ``doc``
is the task's doc (declared media, see docs/contracts.md §3) and whose ``args`` are
``(context, gen_kwargs)`` for ``generate_until`` or ``(context, continuation)`` for
``loglikelihood``. The context is the prompt text that goes into the user turn after the media.
"""

from __future__ import annotations

import inspect
import json
import math
import os
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from lm_eval.api.model import LM

from emorealm.errors import DataError, EmorealmError, MediaError, ModelError, error_response, record_sample_error
from emorealm.journal import Journal, request_hash, stable_hash
from emorealm.media.decode import MediaSpec
from emorealm.media.spec import MEDIA_ARGS, spec_from_args
from emorealm.model_adapters.prefetch import Prefetcher
from emorealm.model_adapters.prefetch_process import ProcessPrefetcher, ProcessWorker
from emorealm.suggest import unknown_names_message

T = TypeVar("T")

# per-task count tables an adapter keeps for the results metadata; a journaled sample records what it
# added to each, so a resumed run reports the same counts as an uninterrupted one
COUNT_TABLES = ("audio_sources", "modalities_given", "modalities_not_given")
_NOTE_TABLES = {"audio_source": "audio_sources"}  # journals written before the tables were generalised

# Only emorealm's own errors fail one sample: backends' failures are wrapped into them where they happen
# (media decode -> MediaError; a processor or forward pass refusing one sample -> ModelError; HTTP ->
# ServerError). Anything else (KeyError, TypeError, a shape mismatch...) is a bug and stops the run
# with its traceback (docs/reliability.md "What stops a run").
PER_SAMPLE_ERRORS: tuple[type[BaseException], ...] = (EmorealmError,)
LOAD_ERRORS: dict[str, type[EmorealmError]] = {"DataError": DataError, "MediaError": MediaError}


def media_spec_from_args(args: dict[str, Any], adapter: type | None = None,
                         error: type[EmorealmError] = ModelError) -> MediaSpec:
    """A MediaSpec from adapter ``model_args`` (``media=<preset>``, fps, max_frames, ...; see
    :func:`emorealm.media.spec.spec_from_args`). With ``adapter`` (its class), ``args`` are the
    keywords its ``__init__`` did not take: any that is not a media option (or lm-eval's own
    ``max_batch_size``) is refused with ``error``, suggesting from the adapter's options."""
    rest = dict(args)
    spec = spec_from_args(rest)
    unknown = sorted(k for k in rest if k not in ("max_batch_size",))
    if adapter is not None and unknown:
        own = [p for p in inspect.signature(adapter.__init__).parameters if p not in ("self", "kwargs")]
        what = f"{getattr(adapter, 'adapter_name', adapter.__name__)} model_args"
        raise error(unknown_names_message(what, unknown, own + list(MEDIA_ARGS)) + "; see docs/adapters.md")
    return spec


def progress(items: Sequence[T] | Iterable[T], total: int, description: str) -> Iterable[T]:
    """A rich progress bar over ``items`` (plain iteration when output is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=False, disable=total == 0) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


_NOT_BUILT = object()


class EmorealmLM(LM):
    """Base class: subclasses implement ``_generate_one`` and ``_loglikelihood_group``."""

    adapter_name = "base"

    def __init__(self) -> None:
        super().__init__()
        self.audio_sources: dict[str, dict[str, int]] = {}
        self.n_errors = 0
        self.journal: Journal | None = None  # set by emorealm.evaluation.runner: finished samples are reused/recorded
        self.sample_seed: int | None = None  # set by emorealm.evaluation.runner: per-request RNG seeding

    # -- hooks -------------------------------------------------------------------------------
    def _generate_one(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
        raise NotImplementedError

    def _loglikelihood_group(self, doc: dict[str, Any], context: str,
                             continuations: list[str]) -> list[tuple[float, bool]]:
        raise NotImplementedError

    # batched generation: an adapter that can generate several requests in one call overrides these
    # three; the defaults run ``_generate_one`` per request
    def _generation_batch_size(self, gen_kwargs: dict[str, Any]) -> int:
        """How many requests with these ``gen_kwargs`` one ``_generate_prepared`` call may take."""
        return 1

    def _prepare_generation(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> Any:
        """Per-request work before the (batched) call, e.g. building inputs; a per-sample error raised
        here fails this request only."""
        return (doc, context, gen_kwargs)

    def _generate_prepared(self, prepared: list[Any]) -> list[str]:
        """Texts for requests prepared by ``_prepare_generation`` (all with equal ``gen_kwargs``)."""
        return [self._generate_one(doc, context, dict(gen)) for doc, context, gen in prepared]

    # preparing ahead: an adapter splits its per-request preparation into a side-effect-free build
    # (decode, resize, processor; may run in a background worker) and the rest (counting, in order)
    def _prefetch_depth(self) -> int:
        """Requests prepared ahead while the model runs (0: none)."""
        return 0

    def _build_generation(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> Any:
        """The thread-safe, side-effect-free part of ``_prepare_generation``."""
        return _NOT_BUILT

    def _prepare_generation_built(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any],
                                  built: Any) -> Any:
        return self._prepare_generation(doc, context, gen_kwargs)

    def _build_loglikelihood(self, doc: dict[str, Any], context: str, continuations: list[str]) -> Any:
        """The thread-safe, side-effect-free part of ``_prepare_loglikelihood``."""
        return _NOT_BUILT

    def _prepare_loglikelihood_built(self, doc: dict[str, Any], context: str, continuations: list[str],
                                     built: Any) -> Any:
        return self._prepare_loglikelihood(doc, context, continuations)

    def _prefetch_process(self, n_items: int) -> ProcessWorker | None:
        """A worker process running the ``_build_*`` hooks' equal for ``n_items`` requests; None: a thread."""
        return None

    def _prefetcher(self, build: Callable[..., Any], items: list[tuple]) -> Prefetcher | ProcessPrefetcher:
        def one(doc, *args):
            return None if doc.get("_load_error") else build(doc, *args)  # the guard refuses these anyway

        depth = self._prefetch_depth()
        if depth and (worker := self._prefetch_process(len(items))) is not None:
            return ProcessPrefetcher(worker, one, items, depth, lambda item: None if item[0].get("_load_error") else item,
                                     steal=True)
        return Prefetcher(one, items, depth)

    # batched scoring, likewise: one unit is a question (its context and all its options)
    def _loglikelihood_batch_size(self) -> int:
        """How many questions one ``_loglikelihood_prepared`` call may take."""
        return 1

    def _prepare_loglikelihood(self, doc: dict[str, Any], context: str, continuations: list[str]) -> Any:
        """Per-question work before the (batched) call; a per-sample error here fails this question only."""
        return (doc, context, continuations)

    def _loglikelihood_prepared(self, prepared: list[Any]) -> list[list[tuple[float, bool]]]:
        """Every option's ``(log-likelihood, is_greedy)`` for each prepared question."""
        return [self._loglikelihood_group(doc, context, conts) for doc, context, conts in prepared]

    def emorealm_metadata(self) -> dict[str, Any]:
        raise NotImplementedError

    # -- lm-eval API ----------------------------------------------------------------------------
    def _note_source(self, doc: dict[str, Any], source: str) -> None:
        counts = self.audio_sources.setdefault(doc.get("_task", "?"), {})
        counts[source] = counts.get(source, 0) + 1

    def _guard(self, doc: dict[str, Any], fn: Callable[[], T], on_error: Callable[[Any], T]) -> T:
        if doc.get("_load_error"):  # the loader already knows this row cannot be run (contracts §4)
            kind = LOAD_ERRORS.get(doc["_load_error"].get("kind"), DataError)
            self.n_errors += 1
            return on_error(record_sample_error(doc, kind(doc["_load_error"].get("message", ""))))
        try:
            return fn()
        except PER_SAMPLE_ERRORS as exc:
            self.n_errors += 1
            return on_error(record_sample_error(doc, exc))

    # -- journal, seeding, call accounting (docs/reliability.md) ------------------------------------
    def _request_keys(self, requests, request_type: str, groups: list[tuple[Any, list[int]]] | None = None
                      ) -> list[str]:
        """A hash per request (or per group of requests scored together); repeats get distinct hashes."""
        seen: dict[tuple, int] = {}
        out = []
        units = groups if groups is not None else [((requests[i].args,), [i]) for i in range(len(requests))]
        for args, idxs in units:
            req = requests[idxs[0]]
            base = (getattr(req, "task_name", None), getattr(req, "doc_id", None), request_hash(request_type, args,
                                                                                                  req.doc))
            k = seen[base] = seen.get(base, -1) + 1
            out.append(base[2] if k == 0 else request_hash(request_type, args, req.doc, k))
        return out

    def _journal_key(self, req, req_hash: str) -> tuple | None:
        journal = getattr(self, "journal", None)
        if journal is None:
            return None
        journal.ready()
        return journal.key(req.task_name, req.doc_id, req_hash)

    def _journal_lookup(self, key: tuple | None) -> Any:
        """The journaled response of ``key`` (replaying its notes), or None."""
        if key is None:
            return None
        rec = self.journal.get(key)
        if rec is None:
            return None
        for name, table in rec.get("notes", {}).items():
            mine_table = self._count_table(_NOTE_TABLES.get(name, name))
            if mine_table is None:
                continue
            for task, counts in table.items():
                mine = mine_table.setdefault(task, {})
                for kind, n in counts.items():
                    mine[kind] = mine.get(kind, 0) + n
        return rec["resp"]

    def _count_table(self, attr: str) -> dict[str, dict[str, int]] | None:
        table = getattr(self, attr, None)
        return table if isinstance(table, dict) else None

    def _source_counts(self) -> dict[str, dict[str, dict[str, int]]]:
        """A snapshot of every per-task count table (what a journaled sample must replay)."""
        return {attr: {t: dict(c) for t, c in table.items()}
                for attr in COUNT_TABLES if (table := self._count_table(attr)) is not None}

    def _notes_since(self, before: dict[str, dict[str, dict[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
        """What the count tables gained since the snapshot ``before`` (a request's journal notes)."""
        notes: dict[str, dict[str, dict[str, int]]] = {}
        for attr, snapshot in self._source_counts().items():
            for task, counts in snapshot.items():
                for kind, n in counts.items():
                    d = n - before.get(attr, {}).get(task, {}).get(kind, 0)
                    if d:
                        notes.setdefault(attr, {}).setdefault(task, {})[kind] = d
        return notes

    def _journal_append(self, key: tuple | None, request_type: str, doc: dict[str, Any], resp: Any,
                        before: dict[str, dict[str, dict[str, int]]] | None = None,
                        notes: dict[str, dict[str, dict[str, int]]] | None = None) -> None:
        if key is None:
            return
        if notes is None:
            notes = self._notes_since(before or {})
        self.journal.append(key, request_type=request_type, doc=doc, resp=resp, notes=notes)

    def _before_call(self, req, req_hash: str, request_type: str) -> None:
        """Seed every RNG from (run seed, request) so sampling does not depend on order or on resuming,
        and log the call when ``$EMOREALM_CALL_LOG`` names a file."""
        seed = getattr(self, "sample_seed", None)
        if seed is not None:
            import random

            import numpy as np
            import torch

            derived = int(stable_hash([seed, req_hash], 8), 16)
            random.seed(derived)
            np.random.seed(derived)
            torch.manual_seed(derived)
        log = os.environ.get("EMOREALM_CALL_LOG")
        if log:
            with open(log, "a", encoding="utf-8") as fh:
                fh.write(json.dumps({"pid": os.getpid(), "type": request_type, "task": getattr(req, "task_name", None),
                                     "doc_id": getattr(req, "doc_id", None)}) + "\n")

    # -- lm-eval API ----------------------------------------------------------------------------
    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        hashes = self._request_keys(requests, "generate_until")
        keys = [self._journal_key(req, h) for req, h in zip(requests, hashes, strict=True)]
        out: list[Any] = [self._journal_lookup(k) for k in keys]
        todo = [i for i, o in enumerate(out) if o is None]
        # requests with equal gen_kwargs may share a call, up to the adapter's batch size for them
        by_kwargs: dict[str, list[int]] = {}
        for i in todo:
            by_kwargs.setdefault(json.dumps(requests[i].args[1], sort_keys=True, default=str), []).append(i)
        chunk_ends: set[int] = set()
        order: list[int] = []
        for idxs in by_kwargs.values():
            size = max(1, int(self._generation_batch_size(dict(requests[idxs[0]].args[1]))))
            for start in range(0, len(idxs), size):
                order += idxs[start:start + size]
                chunk_ends.add(order[-1])
        ready: list[tuple[int, Any, dict]] = []  # (request index, prepared, journal notes)
        pre = self._prefetcher(self._build_generation,
                               [(requests[i].doc, requests[i].args[0], dict(requests[i].args[1])) for i in order])
        try:
            return self._generate_loop(requests, order, chunk_ends, hashes, keys, out, ready, pre)
        finally:
            pre.close()

    def _generate_loop(self, requests, order, chunk_ends, hashes, keys, out, ready, pre: Prefetcher | ProcessPrefetcher) -> list[str]:
        for n, i in progress(list(enumerate(order)), len(order), f"{self.adapter_name}: generating"):
            req = requests[i]
            context, gen_kwargs = req.args
            doc = req.doc
            failed: list[Any] = []
            before = self._source_counts()
            self._before_call(req, hashes[i], "generate_until")
            prepared = self._guard(doc, lambda d=doc, c=context, g=gen_kwargs, n=n: self._prepare_generation_built(
                d, c, dict(g), pre.get(n)), lambda err, f=failed: f.append(err) or error_response(err))
            if failed:
                out[i] = prepared
            else:
                ready.append((i, prepared, self._notes_since(before)))
            if i in chunk_ends and ready:
                chunk = self._run_chunk([(requests[j].doc, p, error_response) for j, p, _ in ready],
                                        self._generate_prepared)
                for (j, _, notes), (text, ok) in zip(ready, chunk, strict=True):
                    out[j] = text
                    if ok:
                        self._journal_append(keys[j], "generate_until", requests[j].doc, text, notes=notes)
                ready = []
        return out

    def _run_chunk(self, items: list[tuple[dict[str, Any], Any, Callable[[Any], Any]]],
                   call: Callable[[list[Any]], list[Any]]) -> list[tuple[Any, bool]]:
        """``(result, succeeded)`` per ``(doc, prepared, on_error)`` of one chunk, from ``call``.

        A per-sample error in a batched call reruns the chunk one item at a time, so that only the
        failing item is recorded (its result is ``on_error(error)``).
        """
        if len(items) > 1:
            try:
                return [(r, True) for r in call([p for _, p, _ in items])]
            except PER_SAMPLE_ERRORS:
                pass
        out = []
        for doc, prepared, on_error in items:
            failed: list[Any] = []
            result = self._guard(doc, lambda p=prepared: call([p])[0],
                                 lambda err, f=failed, e=on_error: f.append(err) or e(err))
            out.append((result, not failed))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        # one prefix (media + prompt) per (doc, context): its options are scored together
        by_prefix: dict[tuple[int, str], list[int]] = {}
        for i, req in enumerate(requests):
            by_prefix.setdefault((id(req.doc), req.args[0]), []).append(i)
        groups = [((context, [requests[i].args[1] for i in idxs]), idxs) for (_, context), idxs in by_prefix.items()]
        hashes = self._request_keys(requests, "loglikelihood", groups)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        todo = []
        for g, (_, idxs) in enumerate(groups):
            key = self._journal_key(requests[idxs[0]], hashes[g])
            hit = self._journal_lookup(key)
            if hit is None:
                todo.append((g, key))
                continue
            for i, s in zip(idxs, hit, strict=True):
                results[i] = (float(s[0]), bool(s[1]))
        pre = self._prefetcher(self._build_loglikelihood, [(requests[groups[g][1][0]].doc, groups[g][0][0],
                                                            list(groups[g][0][1])) for g, _ in todo])
        try:
            self._score_loop(requests, groups, hashes, todo, results, pre)
        finally:
            pre.close()
        return results  # type: ignore[return-value]

    def _score_loop(self, requests, groups, hashes, todo, results, pre: Prefetcher | ProcessPrefetcher) -> None:
        size = max(1, int(self._loglikelihood_batch_size()))
        ready: list[tuple[int, Any, Any, dict]] = []  # (group index, journal key, prepared, journal notes)
        for n, (g, key) in enumerate(progress(todo, len(todo), f"{self.adapter_name}: scoring")):
            (context, conts), idxs = groups[g]
            req = requests[idxs[0]]
            doc = req.doc
            failed: list[Any] = []
            before = self._source_counts()
            self._before_call(req, hashes[g], "loglikelihood")
            prepared = self._guard(doc, lambda d=doc, c=context, k=conts, n=n: self._prepare_loglikelihood_built(
                d, c, list(k), pre.get(n)), lambda err, f=failed: f.append(err))
            if failed:
                for i in idxs:
                    results[i] = (math.nan, False)
            else:
                ready.append((g, key, prepared, self._notes_since(before)))
            if ready and (len(ready) == size or n == len(todo) - 1):
                # a failed question scores NaN on every option
                chunk = self._run_chunk([(requests[groups[gg][1][0]].doc, p,
                                          lambda _err, count=len(groups[gg][1]): [(math.nan, False)] * count)
                                         for gg, _, p, _ in ready], self._loglikelihood_prepared)
                for (gg, kk, _, notes), (scores, ok) in zip(ready, chunk, strict=True):
                    if ok:
                        self._journal_append(kk, "loglikelihood", requests[groups[gg][1][0]].doc,
                                             [[float(a), bool(b)] for a, b in scores], notes=notes)
                    for i, sc in zip(groups[gg][1], scores, strict=True):
                        results[i] = sc
                ready = []

    def loglikelihood_rolling(self, requests, disable_tqdm: bool = False) -> list[float]:
        raise NotImplementedError("emorealm adapters score multiple-choice options; rolling perplexity is not supported")


def cut_at_stops(text: str, until: list[str] | str | None) -> str:
    """Truncate generated ``text`` at the first stop sequence."""
    if not until:
        return text
    for stop in [until] if isinstance(until, str) else until:
        if stop and stop in text:
            text = text.split(stop, 1)[0]
    return text
