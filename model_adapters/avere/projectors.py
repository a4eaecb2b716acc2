"""The released projectors other than ``mlp2x_gelu`` + speech ``qformer`` (AVERE-7B's pair).

* ``speech_projector_type: naive`` (the release's default when the key is absent) — ``projection``:
  Whisper's 1500 frames are concatenated in windows of 10 consecutive frames
  (``[b, 1500, c] -> [b, 150, 10 c]``, frame-major inside a window) and mapped by a 2-layer GELU MLP
  (``projection.0`` / ``projection.2``): 150 LLM tokens per clip.
* ``mm_projector_type: qformer`` — the video Q-Former: the video tower's ``[b, t, n, c]`` tokens
  flattened to ``[b, t n, c]``, then a window-level Q-Former (:class:`~.qformer.WindowQFormer`,
  names ``ln_video``, ``video_Qformer``, ``video_query_tokens``, ``video_proj``) with windows of
  ``video_qformer_tokens_per_window`` tokens every ``video_qformer_token_stride``, each read by
  ``qformer_num_video_query_tokens`` queries. The released merge then splits the clip's
  ``windows x queries`` tokens evenly over its 8 ``<image>`` placeholders (it views them as
  ``[b, 8, -1, c]``), so their count must divide by 8.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers import BertConfig

from emorealm.errors import ConfigError, ModelError
from emorealm.model_adapters.avere.config import RELEASED_VIDEO_FRAMES, WHISPER_FRAMES, video_windows
from emorealm.model_adapters.avere.qformer import SpeechQFormer, WindowQFormer

NAIVE_WINDOW = 10  # hard-coded by the released NaiveSpeechProjector (input_tokens=1500, window_size=10)


class NaiveSpeechProjector(nn.Module):
    """``model.speech_projector`` for ``speech_projector_type: naive``."""

    def __init__(self, config) -> None:
        super().__init__()
        width, hidden = int(config.speech_hidden_size), int(config.hidden_size)
        self.window_size = NAIVE_WINDOW
        self.projection = nn.Sequential(nn.Linear(width * NAIVE_WINDOW, hidden), nn.GELU(), nn.Linear(hidden, hidden))

    @property
    def tokens(self) -> int:
        return WHISPER_FRAMES // self.window_size

    def forward(self, speech: torch.Tensor) -> torch.Tensor:  # [b, 1500, c]
        b, n, c = speech.shape
        if n % self.window_size:
            raise ModelError(f"the naive speech projector takes a multiple of {self.window_size} frames, got {n}")
        return self.projection(speech.reshape(b, n // self.window_size, self.window_size * c))


class VideoQFormer(WindowQFormer):
    """``model.mm_projector`` for ``mm_projector_type: qformer``; ``tower_tokens``: t x n of the video tower."""

    def __init__(self, config, bert_config: BertConfig, tower_tokens: int) -> None:
        kernel, stride, _ = video_windows(config, tower_tokens)
        super().__init__("video", int(config.mm_hidden_size), int(config.qformer_num_video_query_tokens),
                         bert_config, int(config.hidden_size), kernel, stride, tower_tokens)
        if self.tokens % RELEASED_VIDEO_FRAMES:
            raise ConfigError(f"the video Q-Former gives {self.windows} windows x {self.tokens // self.windows} queries "
                              f"= {self.tokens} tokens per clip, which the released merge cannot split over its "
                              f"{RELEASED_VIDEO_FRAMES} <image> placeholders; change qformer_num_video_query_tokens or "
                              "video_qformer_tokens_per_window")

    def forward(self, feats: torch.Tensor) -> torch.Tensor:  # [b, t, n, c] or [b, n, c]
        if feats.ndim == 4:
            feats = feats.reshape(feats.shape[0], -1, feats.shape[-1])
        return super().forward(feats)


def build_speech_projector(config, bert_config: BertConfig | None) -> nn.Module:
    """The released ``build_speech_projector`` (``naive`` when the key is absent, as released)."""
    kind = getattr(config, "speech_projector_type", "naive")
    if kind == "naive":
        return NaiveSpeechProjector(config)
    if kind == "qformer":
        if bert_config is None:
            raise ModelError("the speech Q-Former needs the bert-base-uncased config (backbones/bert-base-uncased)")
        return SpeechQFormer(config, bert_config)
    raise ConfigError(f"speech_projector_type {kind!r} is not implemented (implemented: naive, qformer)")
