"""The doc a task hands an adapter (docs/contracts.md §3), typed.

A doc stays a plain JSON-able ``dict`` — lm-eval stores it in each ``Instance`` and passes it to the
task's hooks, and the samples log writes it — so :class:`Doc` and :class:`Media` are ``TypedDict``
views over that dict, and the helpers below are the one place that builds the ``media`` field
(:func:`media_dict`) and reads it (:func:`audio_source`, :func:`audio_file`, :func:`needed_modalities`). Loaders build
docs with them; adapters and training read them. A foundation: it imports only :mod:`emorealm.options`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal, TypedDict

from emorealm.options import MODALITIES

AudioSource = Literal["sidecar", "video", "none"]


class Media(TypedDict):
    """Where a doc's media are: absolute paths (or ``None``) and where its audio comes from."""

    video: str | None
    audio: str | None  # a sidecar audio file; None with audio_source "video": the video's own track
    audio_source: AudioSource


class Doc(TypedDict, total=False):
    """Fields every emorealm task sets (§3); a task adds its own (``question``, ``emotion``, ...)."""

    id: str
    clip_id: str
    _task: str
    media: Media
    choices: list[str]
    answer: str | None
    _load_error: dict[str, str] | None


def media_dict(video: Any = None, audio: Any = None, *, audio_track: bool = True) -> Media:
    """The ``media`` field of a doc: a sidecar ``audio`` file when given, else the video's own audio
    track (``audio_track``; ``False``: the model gets no audio), else none. Paths become strings."""
    if audio is not None:
        return {"video": str(video) if video else None, "audio": str(audio), "audio_source": "sidecar"}
    return {"video": str(video) if video else None, "audio": None,
            "audio_source": "video" if (video and audio_track) else "none"}


def doc_media(doc: Mapping[str, Any]) -> Mapping[str, Any]:
    """The doc's ``media`` field (an empty mapping for a text-only doc)."""
    return doc.get("media") or {}


def audio_source(media: Mapping[str, Any]) -> str:
    """Where the audio comes from: the declared ``audio_source``, else the video's track when there
    is a video (docs written before the field existed), else ``"none"``."""
    return media.get("audio_source", "video" if media.get("video") else "none")


def audio_file(media: Mapping[str, Any]) -> tuple[str, str] | None:
    """Where a doc's audio is read from: ``(sidecar, "sidecar")`` when the sidecar file exists, else
    ``(video, "video")`` (the clip's own track), else None. A named sidecar that is missing with no
    video to fall back to is the caller's to report (it knows which error to raise)."""
    audio = media.get("audio")
    if audio and os.path.exists(audio):
        return str(audio), "sidecar"
    if media.get("video"):
        return str(media["video"]), "video"
    return None


def needed_modalities(media: Mapping[str, Any], video: bool = True, audio: bool = True) -> tuple[str, ...]:
    """Modalities ``media`` carry that the model is to be given (``video``/``audio``: whether the
    media spec gives that modality at all; false is an ablation), in :data:`MODALITIES` order."""
    need = []
    if video and media.get("video"):
        need.append("video")
    if audio and audio_source(media) != "none" and (media.get("audio") or media.get("video")):
        need.append("audio")
    return tuple(m for m in MODALITIES if m in need)
