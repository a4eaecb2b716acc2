"""Doc + decoded media + prompt → processor inputs. Evaluation and training both use this module.

The conversation follows the model family's chat template: one user turn holding the video
(whose audio track is interleaved with it when ``use_audio_in_video``), or the video and the
audio as separate items, then the prompt text. Voxtral, whose processor takes audio only through
``apply_chat_template`` (mistral_common), goes through ``emorealm.model_adapters.chat_audio``
instead. ``build_model_inputs`` is the one function that turns a doc into model inputs; ``append_continuation`` adds response tokens for scoring/training.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from emorealm.errors import ModelError
from emorealm.media.decode import DecodedMedia, MediaSpec, load_media
from emorealm.model_adapters.chat_audio import chat_audio_features, takes_audio_in_chat


@dataclass
class ModelInputs:
    """Processor outputs for one sample, plus what the forward pass needs to know."""

    features: dict[str, Any]  # input_ids, attention_mask, pixel_values_videos, input_features, ...
    prompt_length: int  # tokens of the prompt (everything before the response)
    use_audio_in_video: bool
    modalities: tuple[str, ...]  # what the model was given: subset of ("video", "audio")

    def model_kwargs(self) -> dict[str, Any]:
        kw = dict(self.features)
        if self.use_audio_in_video:
            kw["use_audio_in_video"] = True
        return kw


def build_messages(prompt: str, *, video: bool, audio: bool, interleaved: bool,
                   system_prompt: str | None = None) -> list[dict[str, Any]]:
    """Chat messages for one question (media placeholders first, as in the reference usage)."""
    content: list[dict[str, Any]] = []
    if video:
        content.append({"type": "video"})
    if audio and not (video and interleaved):
        content.append({"type": "audio"})
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": [{"type": "text", "text": system_prompt}]})
    messages.append({"role": "user", "content": content})
    return messages


def media_arrays(media: DecodedMedia | None, media_override: dict[str, Any] | None = None) -> tuple[Any, Any]:
    """(frames, audio wave) to give the model: the decoded ones, replaced by ``media_override``'s
    ``frames`` / ``audio`` where it has them (training's corrupted inputs, diagnostics' ablations)."""
    frames = media.frames if media is not None else None
    wave = media.audio if media is not None else None
    if media_override:
        frames = media_override.get("frames", frames)
        wave = media_override.get("audio", wave)
    return frames, wave


def build_inputs(processor, media: DecodedMedia | None, prompt: str, spec: MediaSpec, *,
                 system_prompt: str | None = None, accepts: tuple[str, ...] = ("video", "audio"),
                 media_override: dict[str, Any] | None = None) -> ModelInputs:
    """Processor inputs for ``prompt`` with decoded ``media`` (either may be absent).

    ``accepts`` names the modalities the model takes; ``media_override`` replaces ``frames`` and/or
    ``audio`` (used by training's corrupted inputs and by diagnostics' ablations).
    """
    frames, wave = media_arrays(media, media_override)
    has_video = frames is not None and "video" in accepts and spec.video
    has_audio = wave is not None and "audio" in accepts and spec.audio
    if takes_audio_in_chat(processor):
        # Voxtral: audio only, and only through apply_chat_template (mistral_common). It takes no video:
        # ``modalities`` then says so, and the adapter records the video as not given
        features = chat_audio_features(processor, prompt, wave if has_audio else None, spec.sample_rate,
                                       system_prompt)
        _check_placeholders(processor, features, False, has_audio)
        modalities = ("audio",) if has_audio else ()
        return ModelInputs(features, int(features["input_ids"].shape[1]), False, modalities)
    interleaved = bool(has_video and has_audio and spec.use_audio_in_video)
    messages = build_messages(prompt, video=has_video, audio=has_audio, interleaved=interleaved,
                              system_prompt=system_prompt)
    text = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
    if has_video:
        kwargs["videos"] = [frames]
        # the frames already have the spec's size (emorealm.media.decode); the reference call hands the
        # processor no fps, so it assumes 2.0 (video_second_per_grid 1.0) — processor_fps opts in
        if spec.processor_fps and media is not None:
            kwargs["videos_kwargs"] = {"fps": media.fps}
        if media is not None and hasattr(processor, "_calculate_timestamps"):
            # processors that print frame timestamps (Qwen3-VL) need the rate the frames were sampled at
            kwargs.setdefault("videos_kwargs", {})["video_metadata"] = [
                {"total_num_frames": len(frames), "fps": media.fps, "frames_indices": list(range(len(frames)))}]
    if has_audio:
        kwargs["audio"] = [wave]
        if interleaved:
            kwargs["load_audio_from_video"] = True
            kwargs["audio_from_video_indices"] = [0]
    try:
        features = dict(processor(**kwargs))
    except (ValueError, RuntimeError) as exc:  # the processor refuses this sample's text or media
        raise ModelError(f"the processor refused this sample: {type(exc).__name__}: {exc}") from exc
    _check_placeholders(processor, features, has_video, has_audio)
    modalities = tuple(m for m, ok in (("video", has_video), ("audio", has_audio)) if ok)
    return ModelInputs(features, int(features["input_ids"].shape[1]), interleaved, modalities)


def _check_placeholders(processor, features: dict[str, Any], video: bool, audio: bool) -> None:
    """Refuse inputs whose media never became tokens (some processor versions silently drop the
    audio of an interleaved video): scoring them would measure a text-only model."""
    ids = features["input_ids"]
    for wanted, name in ((video, "video"), (audio, "audio")):
        token_id = getattr(processor, f"{name}_token_id", None)
        if wanted and token_id is not None and not bool((ids == token_id).any()):
            raise ModelError(
                f"the processor produced no {name} placeholder tokens although {name} was given; "
                f"this transformers version ({_transformers_version()}) does not pass {name} through — "
                "pip install 'transformers>=5.24'"
            )


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


def build_model_inputs(processor, doc: dict[str, Any], prompt: str, spec: MediaSpec, **kwargs) -> ModelInputs:
    """The one function that turns a doc (its declared media) and a prompt into model inputs.

    A processor with its own ``load_media`` (a family that samples files its own way, e.g. AVERE's
    8 frames over the clip's own frames) decodes the doc's files itself.
    """
    media = media_loader(processor)(doc["media"], spec) if doc.get("media") else None
    return build_inputs(processor, media, prompt, spec, **kwargs)


def media_loader(processor):
    """How this processor's family decodes a media dict: its own ``load_media`` when it has one
    (AVERE), else :func:`emorealm.media.decode.load_media`. Evaluation and training both decode through it."""
    return getattr(processor, "load_media", None) or load_media


def append_continuation(inputs: ModelInputs, continuation_ids: list[int]) -> ModelInputs:
    """A copy of ``inputs`` with ``continuation_ids`` appended to the token sequence."""
    feats = dict(inputs.features)
    ids = torch.tensor([continuation_ids], dtype=feats["input_ids"].dtype)
    feats["input_ids"] = torch.cat([feats["input_ids"], ids], dim=1)
    feats["attention_mask"] = torch.cat([feats["attention_mask"], torch.ones_like(ids)], dim=1)
    return ModelInputs(feats, inputs.prompt_length, inputs.use_audio_in_video, inputs.modalities)


# audio features whose time axis the feature extractor may pad per call; their masks mark real frames
_TIME_PADDED = ("input_features", "feature_attention_mask")


def batch_key(inputs: ModelInputs) -> tuple:
    """Samples with equal keys can share one batch (see ``collate_inputs``)."""
    return (inputs.use_audio_in_video, inputs.modalities, tuple(sorted(inputs.features)))


def collate_inputs(items: list[ModelInputs], pad_token_id: int) -> ModelInputs:
    """One left-padded batch from several samples' inputs, for batched generation.

    Per-token tensors (``input_ids``, ``attention_mask`` and any side input of the same shape) are
    left-padded — new tokens are then appended right after every prompt; padded positions get
    ``attention_mask`` 0, which the mRoPE position code also honours. Media tensors are concatenated
    along their first axis (the model consumes them in placeholder order); audio features are
    zero-padded on the time axis, their masks marking the real frames. Samples must share
    ``batch_key``; anything else raises ``ModelError`` (the caller then runs them one at a time).
    """
    if not items:
        raise ValueError("collate_inputs needs at least one sample")
    keys = {batch_key(it) for it in items}
    if len(keys) > 1:
        raise ModelError(f"samples with different inputs cannot share a batch: {sorted(map(str, keys))}")
    width = max(int(it.features["input_ids"].shape[1]) for it in items)
    feats: dict[str, Any] = {}
    for name, first in items[0].features.items():
        values = [it.features[name] for it in items]
        if not isinstance(first, torch.Tensor):
            if any(v != first for v in values):
                raise ModelError(f"input {name!r} differs between samples; they cannot share a batch")
            feats[name] = first
        elif all(v.shape == it.features["input_ids"].shape for v, it in zip(values, items, strict=True)):
            fill = pad_token_id if name == "input_ids" else 0
            feats[name] = torch.cat([torch.nn.functional.pad(v, (width - v.shape[1], 0), value=fill)
                                     for v in values])
        elif name in _TIME_PADDED:
            longest = max(v.shape[-1] for v in values)
            feats[name] = torch.cat([torch.nn.functional.pad(v, (0, longest - v.shape[-1])) for v in values])
        elif all(v.shape[1:] == first.shape[1:] for v in values):
            feats[name] = torch.cat(values)
        else:
            raise ModelError(f"input {name!r} has shapes {[tuple(v.shape) for v in values]}; cannot batch them")
    return ModelInputs(feats, width, items[0].use_audio_in_video, items[0].modalities)
