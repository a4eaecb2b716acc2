"""The HF adapter's per-question inputs: what a doc needs, building the processor inputs (as a
video, or as frames-as-images), and recording what was given.

``_build`` has no side effects, so it may run in the prefetch worker while the model runs;
``_commit`` records the counts in request order on the main thread.
"""

from __future__ import annotations

import copy
import threading
from typing import Any

from emorealm.model_adapters.frames_as_images import build_image_inputs, frame_indices
from emorealm.model_adapters.frames_as_images import label as frames_label
from emorealm.model_adapters.inputs import ModelInputs, build_inputs, media_loader
from emorealm.model_adapters.prefetch import PREFETCH_THREAD

from emorealm.doc import Doc, audio_file, doc_media, needed_modalities
from emorealm.errors import ConfigError, ModelError


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

    def _build(self, doc: Doc, context: str) -> tuple[ModelInputs, tuple[str, ...], str | None]:
        """(inputs, labels of what was given, audio source): no side effects, so it may run in a
        prefetch worker while the model runs."""
        needed = self._needed(doc)
        if needed and not set(needed) & set(self.arch.accepts):
            raise ModelError(f"this question needs {'+'.join(needed)} but the model accepts only "
                             f"{'+'.join(self.arch.accepts)}; it cannot be answered by this model")
        # a processor with its own load_media (AVERE's 8 frames over the clip) decodes the files itself
        media = media_loader(self.processor)(doc["media"], self.spec) if doc.get("media") else None
        override = None
        if self.media_transform is not None and media is not None:
            # diagnostics' ablations: replace decoded media, never the files (emorealm.diagnostics)
            override = self.media_transform(doc, media)
        kw = {"system_prompt": self.system_prompt, "accepts": self.arch.accepts, "media_override": override}
        processor = self._thread_processor()
        if self.arch.video_as == "images":
            inputs, n = build_image_inputs(processor, media, context, self.spec, n_frames=self.image_frames,
                                           rule=self.frame_rule, **kw)
            labels = tuple(frames_label(n) if m == "video" else m for m in inputs.modalities)
        else:
            inputs = build_inputs(processor, media, context, self.spec, **kw)
            labels = inputs.modalities
        source = None
        if "audio" in inputs.modalities:
            source = (audio_file(doc_media(doc)) or ("", "video"))[1]
        return inputs, labels, source

    def _thread_processor(self):
        """The processor for this thread: the prefetch worker has its own copy, because a Rust
        tokenizer used from two threads at once fails ("Already borrowed")."""
        if not threading.current_thread().name.startswith(PREFETCH_THREAD):
            return self.processor
        if self._worker_processor is None:
            self._worker_processor = copy.deepcopy(self.processor)
        return self._worker_processor

    def _commit(self, doc: dict[str, Any], built: tuple[ModelInputs, tuple[str, ...], str | None]) -> ModelInputs:
        """Record what ``_build`` gave (in request order, on the main thread)."""
        inputs, labels, source = built
        if source is not None:
            self._note_source(doc, source)
        self._count(self.modalities_given, doc, labels)
        self._count(self.modalities_not_given, doc, [m for m in self._needed(doc) if m not in inputs.modalities])
        return inputs

    def _inputs(self, doc: dict[str, Any], context: str) -> ModelInputs:
        return self._commit(doc, self._build(doc, context))

