"""Configuration of the AVERE family (released ``model_type: "avere"``) and its fixed constants.

The released checkpoint's ``config.json`` is a LLaMA config plus the multimodal keys written by
``initialize_vision_modules`` / ``initialize_audio_modules`` of the released training code
(``mm_image_tower``, ``mm_video_tower``, ``mm_speech_tower``, ``mm_projector_type``,
``speech_projector_type``, ``qformer_*``, ``mm_vision_select_layer``, ...). They are kept as is.
"""

from __future__ import annotations

import re

from transformers import LlamaConfig

from emorealm.errors import ConfigError

IMAGE_TOKEN_INDEX = -200  # the released placeholder ids (avere/constants.py)
AUDIO_TOKEN_INDEX = -300
IMAGE_TOKEN = "<image>"
AUDIO_TOKEN = "<audio>"
# Whisper pads every clip to 30 s: 3000 mel frames -> 1500 encoder frames
WHISPER_FRAMES = 1500
WHISPER_SECONDS = 30.0
LLAVA_V1_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. "
                   "The assistant gives helpful, detailed, and polite answers to the human's questions.")
# implemented projector types (the released builder's full set; AVERE-7B uses mlp2x_gelu + qformer)
VISION_PROJECTORS = ("linear", "mlpNx_gelu", "identity", "qformer")
SPEECH_PROJECTORS = ("qformer", "naive")
RELEASED_VIDEO_FRAMES = 8  # the released merge views video Q-Former tokens as [b, 8, -1, c]


class AvereConfig(LlamaConfig):
    """LLaMA config carrying the released AVERE multimodal keys."""

    model_type = "avere"


def speech_windows(config) -> tuple[int, int, int]:
    """(kernel, stride, number of windows) of the window-level speech Q-Former.

    As released: ``kernel = round(1500 * qformer_second_per_window / 30)``, likewise the stride, over
    Whisper's 1500 frames (every clip is padded to 30 s, so the count does not depend on its length).
    """
    if not getattr(config, "qformer_window_level", False):
        raise ConfigError("qformer_window_level is not true: only the window-level speech Q-Former is implemented "
                          "(as in the released code, which raises NotImplementedError otherwise)")
    per_window = float(getattr(config, "qformer_second_per_window", -1))
    per_stride = float(getattr(config, "qformer_second_stride", -1))
    kernel = round(WHISPER_FRAMES * per_window / WHISPER_SECONDS)
    stride = round(WHISPER_FRAMES * per_stride / WHISPER_SECONDS)
    if kernel < 1 or stride < 1 or kernel > WHISPER_FRAMES:
        raise ConfigError(f"qformer_second_per_window={per_window} / qformer_second_stride={per_stride} give a window "
                          f"of {kernel} and a stride of {stride} Whisper frames; both must be in 1..{WHISPER_FRAMES} "
                          "(one frame is 20 ms)")
    return kernel, stride, (WHISPER_FRAMES - kernel) // stride + 1


def video_windows(config, tower_tokens: int) -> tuple[int, int, int]:
    """(kernel, stride, number of windows) of the video Q-Former over the clip's ``tower_tokens``
    (frames x tokens per frame); released: ``video_qformer_tokens_per_window`` / ``_token_stride``."""
    if not getattr(config, "video_qformer_window_level", False):
        raise ConfigError("video_qformer_window_level is not true: only the window-level video Q-Former is "
                          "implemented (as in the released code, which raises NotImplementedError otherwise)")
    kernel = int(getattr(config, "video_qformer_tokens_per_window", -1))
    stride = int(getattr(config, "video_qformer_token_stride", -1))
    if kernel < 1 or stride < 1 or kernel > tower_tokens:
        raise ConfigError(f"video_qformer_tokens_per_window={kernel} / video_qformer_token_stride={stride}: both "
                          f"must be in 1..{tower_tokens} (the video tower's tokens per clip)")
    if int(getattr(config, "qformer_num_video_query_tokens", -1)) < 1:
        raise ConfigError("qformer_num_video_query_tokens must be >= 1 for mm_projector_type qformer")
    return kernel, stride, (tower_tokens - kernel) // stride + 1


def uses_bert(config) -> bool:
    """True when a projector is a Q-Former (which reads the backbones' bert-base-uncased config)."""
    speech = getattr(config, "mm_speech_tower", None) is not None and \
        getattr(config, "speech_projector_type", "naive") == "qformer"
    return speech or getattr(config, "mm_projector_type", "linear") == "qformer"


def check_projectors(config) -> None:
    """Refuse projector / Q-Former types this implementation does not provide, naming the ones it does."""
    vision = getattr(config, "mm_projector_type", "linear")
    if vision not in ("linear", "identity", "qformer") and not re.fullmatch(r"mlp(\d+)x_gelu", vision or ""):
        raise ConfigError(f"mm_projector_type {vision!r} is not implemented (implemented: {', '.join(VISION_PROJECTORS)})")
    if getattr(config, "mm_speech_tower", None) is not None:
        speech = getattr(config, "speech_projector_type", "naive")
        if speech not in SPEECH_PROJECTORS:
            raise ConfigError(f"speech_projector_type {speech!r} is not implemented (implemented: "
                              f"{', '.join(SPEECH_PROJECTORS)})")
        if speech == "qformer":
            speech_windows(config)
