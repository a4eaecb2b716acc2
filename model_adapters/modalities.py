"""What a doc needs and what a model is given: shared by the vLLM and OpenAI-compatible adapters.

A doc *needs* a modality when its declared media carry it (a video path; audio from a sidecar or
from the video's own track). A model that cannot take a needed modality fails that sample with a
clear :class:`~emorealm.errors.ModelError` rather than being scored on the other modality alone.
Switching a modality off on purpose (``video=false`` / ``audio=false`` in ``model_args``) is an
ablation, not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from emorealm.doc import Doc, doc_media
from emorealm.doc import needed_modalities as doc_needed
from emorealm.errors import ModelError
from emorealm.media.decode import DecodedMedia, MediaSpec, load_media


def needed_modalities(media: Mapping[str, Any], spec: MediaSpec) -> tuple[str, ...]:
    """Modalities a doc's declared media carry and ``spec`` asks the model to be given."""
    return doc_needed(media, spec.video, spec.audio)


@dataclass
class PreparedMedia:
    """Decoded media for one doc and how they are laid out in the prompt."""

    media: DecodedMedia | None
    has_video: bool
    has_audio: bool
    interleaved: bool  # audio given as the video's own track (Qwen2.5-Omni ``use_audio_in_video``)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(m for m, ok in (("video", self.has_video), ("audio", self.has_audio)) if ok)


def prepare_media(doc: Doc, spec: MediaSpec, accepts: tuple[str, ...], model: str,
                  allow_interleave: bool = True) -> PreparedMedia:
    """Decode ``doc``'s media under ``spec``; raise ModelError when the model lacks a needed modality."""
    media_decl = doc_media(doc)
    missing = [m for m in needed_modalities(media_decl, spec) if m not in accepts]
    if missing:
        raise ModelError(
            f"model {model} does not accept {' or '.join(missing)}, which this sample needs; use a model "
            f"that does, or switch it off on purpose with model_args {','.join(m + '=false' for m in missing)}"
        )
    if not media_decl:
        return PreparedMedia(None, False, False, False)
    media = load_media(media_decl, spec)
    has_video = media.frames is not None and spec.video and "video" in accepts
    has_audio = media.audio is not None and spec.audio and "audio" in accepts
    # as emorealm.model_adapters.inputs does: with use_audio_in_video the clip's audio (sidecar or own track) is
    # interleaved with its frames
    interleaved = bool(allow_interleave and has_video and has_audio and spec.use_audio_in_video)
    return PreparedMedia(media, has_video, has_audio, interleaved)
