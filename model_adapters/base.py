"""What every emorealm adapter shares: request grouping, the error channel, metadata, progress.

An adapter is an ``lm_eval.api.model.LM``. Requests are lm-eval ``Instance`` objects whose ``doc``
is the task's doc (declared media, see docs/contracts.md §3) and whose ``args`` are
``(context, gen_kwargs)`` for ``generate_until`` or ``(context, continuation)`` for
``loglikelihood``. The context is the prompt text that goes into the user turn after the media.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from lm_eval.api.model import LM

from emorealm.errors import DataError, EmorealmError, MediaError, error_response, record_sample_error
from emorealm.media import MediaSpec

T = TypeVar("T")

PER_SAMPLE_ERRORS: tuple[type[BaseException], ...] = (EmorealmError, OSError, ValueError, RuntimeError)
LOAD_ERRORS: dict[str, type[EmorealmError]] = {"DataError": DataError, "MediaError": MediaError}


def parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in {"1", "true", "yes", "on"}


def media_spec_from_args(args: dict[str, Any], defaults: MediaSpec | None = None) -> MediaSpec:
    """A MediaSpec from adapter ``model_args`` (fps, max_frames, min_frames, use_audio_in_video, ...)."""
    base = defaults or MediaSpec()
    kw: dict[str, Any] = {}
    for name, conv in (("fps", float), ("max_frames", int), ("min_frames", int), ("decode_max_pixels", int),
                       ("sample_rate", int), ("max_seconds", float)):
        if name in args:
            kw[name] = conv(args.pop(name))
    for name in ("use_audio_in_video", "video", "audio"):
        if name in args:
            kw[name] = parse_bool(args.pop(name))
    return MediaSpec(**{**base.as_dict(), **kw})


def progress(items: Sequence[T] | Iterable[T], total: int, description: str) -> Iterable[T]:
    """A rich progress bar over ``items`` (plain iteration when output is not a terminal)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                  transient=False, disable=total == 0) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)


class EmorealmLM(LM):
    """Base class: subclasses implement ``_generate_one`` and ``_loglikelihood_group``."""

    adapter_name = "base"

    def __init__(self) -> None:
        super().__init__()
        self.audio_sources: dict[str, dict[str, int]] = {}
        self.n_errors = 0

    # -- hooks -------------------------------------------------------------------------------
    def _generate_one(self, doc: dict[str, Any], context: str, gen_kwargs: dict[str, Any]) -> str:
        raise NotImplementedError

    def _loglikelihood_group(self, doc: dict[str, Any], context: str,
                             continuations: list[str]) -> list[tuple[float, bool]]:
        raise NotImplementedError

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

    def generate_until(self, requests, disable_tqdm: bool = False) -> list[str]:
        out: list[str] = []
        for req in progress(requests, len(requests), f"{self.adapter_name}: generating"):
            context, gen_kwargs = req.args
            doc = req.doc
            out.append(self._guard(doc, lambda d=doc, c=context, g=gen_kwargs: self._generate_one(d, c, dict(g)),
                                   error_response))
        return out

    def loglikelihood(self, requests, disable_tqdm: bool = False) -> list[tuple[float, bool]]:
        # one prefix (media + prompt) per (doc, context): its options are scored together
        groups: dict[tuple[int, str], list[int]] = {}
        for i, req in enumerate(requests):
            groups.setdefault((id(req.doc), req.args[0]), []).append(i)
        results: list[tuple[float, bool] | None] = [None] * len(requests)
        for (_, context), idxs in progress(list(groups.items()), len(groups), f"{self.adapter_name}: scoring"):
            doc = requests[idxs[0]].doc
            conts = [requests[i].args[1] for i in idxs]
            nan = [(math.nan, False)] * len(idxs)
            scores = self._guard(doc, lambda d=doc, c=context, k=conts: self._loglikelihood_group(d, c, k),
                                 lambda _err, n=nan: n)
            for i, s in zip(idxs, scores, strict=True):
                results[i] = s
        return results  # type: ignore[return-value]

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
