"""The media a checkpoint was trained with, kept beside its weights so evaluation sees the same inputs.

A processor's saved config fixes how a released checkpoint's inputs are preprocessed; our media spec
(frames, pixels, audio rate: emorealm.media.spec) is decided before the processor and is not part
of it. ``emorealm train`` therefore writes ``emorealm_media.json`` into every checkpoint it saves:
the spec fields that differ from the ``qwen-reference`` defaults. The HF adapter applies them as
defaults under the user's own media options (an option given wins; ``media=<preset>`` ignores the
file), logs that it did, and records them in results (``model.media_from_checkpoint``).
docs/contracts.md §7.
"""

from __future__ import annotations

import json
import logging
from dataclasses import fields
from pathlib import Path
from typing import Any

from emorealm.errors import ModelError
from emorealm.media.spec import MEDIA_ARGS, MediaSpec

CHECKPOINT_MEDIA = "emorealm_media.json"
log = logging.getLogger("emorealm")


def media_record(spec: MediaSpec) -> dict[str, Any]:
    """The fields of ``spec`` that differ from the class defaults (qwen-reference), by option name."""
    return {f.name: getattr(spec, f.name) for f in fields(MediaSpec)
            if f.name != "name" and getattr(spec, f.name) != f.default}


def write_checkpoint_media(folder: str | Path, spec: MediaSpec) -> Path:
    """Write ``emorealm_media.json`` (the media ``spec`` a checkpoint in ``folder`` was trained with)."""
    path = Path(folder) / CHECKPOINT_MEDIA
    path.write_text(json.dumps({"media": media_record(spec), "spec_name": spec.name,
                                "why": "the media this checkpoint was trained with; the HF adapter uses them "
                                       "as defaults (an option given in --model-args wins)"}, indent=2))
    return path


def read_checkpoint_media(*folders: str | None) -> tuple[dict[str, Any], Path | None]:
    """(media options, the file) from the first of ``folders`` holding ``emorealm_media.json``
    (a LoRA adapter folder before its base); ``({}, None)`` when none does. A file that is not a
    JSON object of known media options is refused: it would silently change what the model sees."""
    for folder in folders:
        if not folder or not Path(folder).is_dir():
            continue
        path = Path(folder) / CHECKPOINT_MEDIA
        if not path.exists():
            continue
        try:
            media = json.loads(path.read_text()).get("media")
        except (json.JSONDecodeError, AttributeError) as exc:
            raise ModelError(f"{path}: not a JSON object with a 'media' mapping ({exc}); fix or delete the file") from None
        if not isinstance(media, dict):
            raise ModelError(f"{path}: 'media' must be a mapping of media options; fix or delete the file")
        unknown = sorted(set(media) - set(MEDIA_ARGS) - {"media"})
        if unknown:
            raise ModelError(f"{path}: unknown media option(s) {unknown} (known: {', '.join(MEDIA_ARGS)}); "
                             f"fix or delete the file")
        return dict(media), path
    return {}, None


def with_checkpoint_media(model_args: dict[str, Any], *folders: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """``model_args`` with the checkpoint's media options added where the user gave none:
    (merged args, the options taken from the checkpoint). ``media=<preset>`` given: the file is ignored."""
    media, path = read_checkpoint_media(*folders)
    if not media or "media" in model_args:
        return dict(model_args), {}
    taken = {k: v for k, v in media.items() if k not in model_args}
    if taken:
        log.info("media options from %s (the checkpoint's training media): %s", path,
                 ", ".join(f"{k}={v}" for k, v in taken.items()))
    return {**taken, **model_args}, taken
