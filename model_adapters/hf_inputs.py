"""The HF adapter's per-question inputs: what a doc needs, building the processor inputs (as a
video, or as frames-as-images), and recording what was given.

Building (:class:`QuestionBuilder`) has no side effects and pickles, so it may run in a prefetch
worker (a thread or a process) while the model runs; ``_commit`` records the counts in request
order on the main thread.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emorealm.doc import Doc, audio_file, doc_media, needed_modalities
from emorealm.errors import ConfigError, ModelError
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.frames_as_images import build_image_inputs, frame_indices
from emorealm.model_adapters.frames_as_images import label as frames_label
from emorealm.model_adapters.inputs import ModelInputs, build_inputs, media_loader
from emorealm.model_adapters.prefetch import PREFETCH_THREAD

Built = tuple[ModelInputs, tuple[str, ...], str | None]  # (inputs, labels of what was given, audio source)

WORKER_KINDS = ("auto", "process", "thread")
# prefetch_worker=auto uses a process only for loops this long: starting one (a fresh interpreter
# importing torch) costs seconds, which a few requests cannot win back (bench/pipeline.py)
# auto: a worker process only for loops long enough to repay its start (a fresh interpreter importing
# torch and transformers: 6-14 CPU-s on a 2-core machine) — about 50 ms saved per question with a
# free core (bench/pipeline.py: 0.65 of 141 ms), so break-even is 120-280 questions; shorter loops
# (and the test suite's many small runs) keep the thread
AUTO_PROCESS_MIN = 256


def check_worker_kind(value: Any) -> str:
    kind = str(value).strip().lower()
    if kind not in WORKER_KINDS:
        raise ConfigError(f"prefetch_worker={value!r}: choose one of {', '.join(WORKER_KINDS)}")
    return kind


@dataclass(eq=False)
class QuestionBuilder:
    """Everything that turns a doc and its prompt into model inputs, and nothing else: it holds no
    model, so it pickles into a preparation worker process. Calling it has no side effects."""

    processor: Any
    spec: MediaSpec
    accepts: tuple[str, ...]
    video_as: str
    system_prompt: str | None
    image_frames: int | None
    frame_rule: str
    media_transform: Callable[[dict[str, Any], Any], dict[str, Any]] | None = None

    def __call__(self, doc: Doc, context: str, *_: Any) -> Built:
        needed = needed_modalities(doc_media(doc), self.spec.video, self.spec.audio)
        if needed and not set(needed) & set(self.accepts):
            raise ModelError(f"this question needs {'+'.join(needed)} but the model accepts only "
                             f"{'+'.join(self.accepts)}; it cannot be answered by this model")
        # a processor with its own load_media (AVERE's 8 frames over the clip) decodes the files itself
        media = media_loader(self.processor)(doc["media"], self.spec) if doc.get("media") else None
        override = None
        if self.media_transform is not None and media is not None:
            # diagnostics' ablations: replace decoded media, never the files (emorealm.diagnostics)
            override = self.media_transform(doc, media)
        kw = {"system_prompt": self.system_prompt, "accepts": self.accepts, "media_override": override}
        if self.video_as == "images":
            inputs, n = build_image_inputs(self.processor, media, context, self.spec, n_frames=self.image_frames,
                                           rule=self.frame_rule, **kw)
            labels = tuple(frames_label(n) if m == "video" else m for m in inputs.modalities)
        else:
            inputs = build_inputs(self.processor, media, context, self.spec, **kw)
            labels = inputs.modalities
        source = None
        if "audio" in inputs.modalities:
            source = (audio_file(doc_media(doc)) or ("", "video"))[1]
        return inputs, labels, source

    def same_as(self, other: QuestionBuilder | None) -> bool:
        """True when ``other`` builds exactly what this one builds (the same processor object)."""
        return other is not None and other.processor is self.processor and all(
            getattr(self, f) == getattr(other, f) for f in ("spec", "accepts", "video_as", "system_prompt",
                                                            "image_frames", "frame_rule", "media_transform"))


class HFInputs:
    """Mixin of :class:`~emorealm.model_adapters.hf.HFAdapter` (needs its spec, arch and processor)."""

    def _needed(self, doc: Doc) -> tuple[str, ...]:
        """Modalities the doc carries and the media spec asks for (ablations switch them off)."""
        return needed_modalities(doc_media(doc), self.spec.video, self.spec.audio)

    def _count(self, table: dict[str, dict[str, int]], doc: dict[str, Any], mods) -> None:
        mods = list(mods)
        if not mods:  # no empty entries: a resumed run replays only what was counted
            return
        counts = table.setdefault(doc.get("_task", "?"), {})
        for m in mods:
            counts[m] = counts.get(m, 0) + 1

    def _check_image_frames(self, value: Any) -> int | None:
        """Frames per clip for a frames-as-images model, refused up front when the prompt cannot hold them."""
        if self.arch.video_as != "images":
            return None
        frame_indices(1, 1, self.frame_rule)  # validates the rule
        n = int(value) if value not in (None, "") else self.arch.image_frames
        if n < 1:
            raise ConfigError(f"image_frames={n}: give at least one frame")
        limit = self.arch.max_images
        if limit is not None and n > limit:
            raise ConfigError(f"image_frames={n} but {self.arch.name} ({self.pretrained}) holds at most {limit} images "
                              f"in one prompt; lower image_frames in --model-args")
        return n

    def _builder(self, processor: Any = None) -> QuestionBuilder:
        """This adapter's :class:`QuestionBuilder` (with ``processor`` instead of its own, if given)."""
        return QuestionBuilder(processor if processor is not None else self.processor, self.spec,
                               tuple(self.arch.accepts), self.arch.video_as, self.system_prompt, self.image_frames,
                               self.frame_rule, self.media_transform)

    def _build(self, doc: Doc, context: str) -> Built:
        """(inputs, labels of what was given, audio source): no side effects, so it may run in a
        prefetch worker while the model runs."""
        return self._builder(self._thread_processor())(doc, context)

    def _prefetch_process(self, n_items: int):
        """The preparation worker process for a loop of ``n_items`` requests (None: use a thread)."""
        from emorealm.model_adapters.prefetch_process import ProcessWorker

        if self.prefetch_worker == "thread" or (self.prefetch_worker == "auto" and n_items < AUTO_PROCESS_MIN):
            return None
        builder = self._builder()
        if self._worker is not None and not builder.same_as(self._worker.fn):
            self._worker.stop()  # the spec or options changed since it started
            self._worker = None
        if self._worker is None:
            import torch

            self._worker = ProcessWorker(builder, threads=torch.get_num_threads())
        # after repeated crashes (or a failed start) a thread takes over
        return None if self._worker.disabled else self._worker

    def _thread_processor(self):
        """The processor for this thread: the prefetch worker has its own copy, because a Rust
        tokenizer used from two threads at once fails ("Already borrowed")."""
        if not threading.current_thread().name.startswith(PREFETCH_THREAD):
            return self.processor
        if self._worker_processor is None:
            self._worker_processor = copy.deepcopy(self.processor)
        return self._worker_processor

    def _commit(self, doc: dict[str, Any], built: Built) -> ModelInputs:
        """Record what ``_build`` gave (in request order, on the main thread)."""
        inputs, labels, source = built
        if source is not None:
            self._note_source(doc, source)
        self._count(self.modalities_given, doc, labels)
        self._count(self.modalities_not_given, doc, [m for m in self._needed(doc) if m not in inputs.modalities])
        return inputs

    def _inputs(self, doc: dict[str, Any], context: str) -> ModelInputs:
        return self._commit(doc, self._build(doc, context))

