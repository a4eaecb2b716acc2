"""Processors that take audio only inside ``apply_chat_template``: Voxtral.

``VoxtralProcessor.__call__`` refuses audio placeholders; its ``apply_chat_template`` hands the
conversation to mistral_common, which writes the prompt (``<s>[INST][BEGIN_AUDIO]`` + one
``[AUDIO]`` per 80 ms of audio padded to whole 30 s chunks, i.e. 375 per chunk, then the text and
``[/INST]``) and returns the padded waveform, from which the processor computes Whisper log-mel
features (128 bins x 3000 frames per chunk). This module turns one question (decoded audio + prompt
text) into that call: chat mode, not the transcription request (``[TRANSCRIBE]``), since the
benchmarks ask questions about the clip.

The audio reaches mistral_common as a float32 WAV (base64), so nothing is quantised on the way; it
resamples to the tokenizer's rate (16 kHz) when the media spec's differs.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

from emorealm.errors import ConfigError, ModelError

# processor classes whose audio goes through apply_chat_template (mistral_common) only
CHAT_AUDIO_PROCESSORS = ("VoxtralProcessor",)


def takes_audio_in_chat(processor: Any) -> bool:
    """True for a processor whose audio is given only through ``apply_chat_template``."""
    return type(processor).__name__ in CHAT_AUDIO_PROCESSORS


def wav_base64(wave: np.ndarray, sample_rate: int) -> str:
    """``wave`` (mono float samples) as a base64 float32 WAV file: lossless, unlike 16-bit PCM."""
    import soundfile as sf

    buf = io.BytesIO()
    sf.write(buf, np.asarray(wave, dtype=np.float32).reshape(-1), int(sample_rate), format="WAV", subtype="FLOAT")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def chat_messages(prompt: str, wave: np.ndarray | None, sample_rate: int,
                  system_prompt: str | None = None) -> list[dict[str, Any]]:
    """The conversation of one question: the audio first, then the text (as in Voxtral's own usage)."""
    content: list[dict[str, Any]] = []
    if wave is not None:
        content.append({"type": "audio", "base64": wav_base64(wave, sample_rate)})
    content.append({"type": "text", "text": prompt})
    messages: list[dict[str, Any]] = []
    if system_prompt:
        messages.append({"role": "system", "content": system_prompt})
    messages.append({"role": "user", "content": content})
    return messages


def chat_audio_features(processor: Any, prompt: str, wave: np.ndarray | None, sample_rate: int,
                        system_prompt: str | None = None) -> dict[str, Any]:
    """``input_ids``, ``attention_mask`` (and ``input_features`` when ``wave`` is given) for one question."""
    from mistral_common.exceptions import MistralCommonException

    messages = chat_messages(prompt, wave, sample_rate, system_prompt)
    try:
        out = processor.apply_chat_template(messages, tokenize=True, return_dict=True)
    except (ValueError, RuntimeError, MistralCommonException) as exc:  # this sample's text or audio
        raise ModelError(f"the processor refused this sample: {type(exc).__name__}: {exc}") from exc
    return dict(out)


def check_system_prompt(processor: Any, system_prompt: str | None, family: str) -> None:
    """Refuse ``system_prompt=`` up front when mistral_common will not put one beside audio (it
    refuses system messages in requests with audio before tokenizer v13): every sample would fail."""
    if not system_prompt or not takes_audio_in_chat(processor):
        return
    from mistral_common.exceptions import MistralCommonException

    probe = chat_messages("?", np.zeros(1600, dtype=np.float32), 16000, system_prompt)
    try:
        processor.apply_chat_template(probe, tokenize=True, return_dict=True)
    except (ValueError, MistralCommonException) as exc:
        raise ConfigError(f"system_prompt= cannot be used with this {family} checkpoint: its tokenizer (mistral_common) "
                          f"says: {exc}; drop system_prompt from --model-args") from exc
