"""The one factory of adapter-facing docs and lm-eval requests in the tests (docs/contracts.md §3)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lm_eval.api.instance import Instance


def media_doc(video: str | Path | None = None, audio: str | Path | None = None, *, doc_id: str = "d0",
              task: str = "t", clip_id: str | None = None, audio_source: str | None = None) -> dict[str, Any]:
    """A doc as adapters read it: its id, task key, optional clip id and declared media.

    ``audio_source`` defaults to ``"sidecar"`` when an audio file is given, else ``"video"`` (the
    clip's own track)."""
    doc: dict[str, Any] = {"id": doc_id, "_task": task}
    if clip_id is not None:
        doc["clip_id"] = clip_id
    doc["media"] = {"video": str(video) if video else None, "audio": str(audio) if audio else None,
                    "audio_source": audio_source or ("sidecar" if audio else "video")}
    return doc


def gen_request(doc: dict[str, Any], prompt: str, idx: int = 0, **gen_kwargs: Any) -> Instance:
    """A ``generate_until`` request for ``doc`` with the given generation keywords."""
    return Instance("generate_until", doc, (prompt, gen_kwargs), idx)


def ll_request(doc: dict[str, Any], prompt: str, continuation: str, idx: int = 0) -> Instance:
    """A ``loglikelihood`` request: ``continuation`` scored after ``prompt``."""
    return Instance("loglikelihood", doc, (prompt, continuation), idx)
