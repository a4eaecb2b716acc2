"""Frames as images: a clip given to a model whose processor takes images but no video.

The clip is decoded as usual (``emorealm.media.decode``), then ``n`` of its sampled frames are picked by a
rule and placed where the family's chat template puts images (one image item each), followed by
the audio when the model takes audio (Gemma 3n, Phi-4-multimodal). Results record the modality as
``"video (as N frames)"``.

Rules: ``uniform`` — the centre frame of ``n`` equal segments of the sampled frames (lmms-eval's
choice for image models); ``linspace`` — ``n`` evenly spaced frames including the first and last.
A clip with fewer sampled frames than ``n`` gives all of them.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from emorealm.errors import ConfigError
from emorealm.media.decode import DecodedMedia, MediaSpec
from emorealm.model_adapters.inputs import ModelInputs, _check_placeholders, build_messages, media_arrays

RULES = ("uniform", "linspace")


def frame_indices(total: int, n: int, rule: str = "uniform") -> list[int]:
    """Indices of the ``n`` frames (of ``total`` sampled) that ``rule`` picks, in time order."""
    if rule not in RULES:
        raise ConfigError(f"unknown frame_rule {rule!r}; use one of {', '.join(RULES)}")
    if total <= n:
        return list(range(total))
    if rule == "uniform":
        return [int((2 * k + 1) * total // (2 * n)) for k in range(n)]
    return [int(round(x)) for x in np.linspace(0, total - 1, n)]


def label(n: int) -> str:
    """How results name the video modality given as ``n`` frames."""
    return f"video (as {n} frames)"


def build_image_inputs(processor, media: DecodedMedia | None, prompt: str, spec: MediaSpec, *, n_frames: int,
                       rule: str = "uniform", system_prompt: str | None = None,
                       accepts: tuple[str, ...] = ("video", "audio"),
                       media_override: dict[str, Any] | None = None) -> tuple[ModelInputs, int]:
    """(processor inputs, frames given) for ``prompt`` with the clip as ``n_frames`` images.

    ``ModelInputs.modalities`` names ``video`` when frames were given, so batching and the
    given/not-given accounting treat it as the clip's video.
    """
    frames, wave = media_arrays(media, media_override)
    has_video = frames is not None and len(frames) > 0 and "video" in accepts and spec.video
    has_audio = wave is not None and "audio" in accepts and spec.audio
    picked = [np.ascontiguousarray(frames[i]) for i in frame_indices(len(frames), n_frames, rule)] if has_video else []
    messages = build_messages(prompt, video=False, audio=has_audio, interleaved=False, system_prompt=system_prompt)
    messages[-1]["content"][:0] = [{"type": "image"} for _ in picked]  # the frames first, as a video would be
    # Phi-4-multimodal ships its chat template with the tokenizer only
    template = None if getattr(processor, "chat_template", None) else processor.tokenizer.chat_template
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False, chat_template=template)
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
    if picked:
        kwargs["images"] = [picked]
    if has_audio:
        kwargs["audio"] = [np.asarray(wave, dtype=np.float32)]
    features = dict(processor(**kwargs))
    _check_placeholders(processor, features, False, has_audio)
    if picked:
        token_id = getattr(processor, "image_token_id", None)
        if token_id is not None and not bool((features["input_ids"] == token_id).any()):
            from emorealm.errors import ModelError

            raise ModelError("the processor produced no image placeholder tokens although frames were given")
    modalities = tuple(m for m, ok in (("video", bool(picked)), ("audio", has_audio)) if ok)
    return ModelInputs(features, int(features["input_ids"].shape[1]), False, modalities), len(picked)
