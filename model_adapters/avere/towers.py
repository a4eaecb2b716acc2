"""AVERE's encoders, built from transformers' CLIP and Whisper blocks, with the released module names.

* LanguageBind image/video towers: a CLIP ViT (``embeddings``, ``pre_layrnorm``, ``encoder.layers``,
  ``post_layernorm``). The video variant (``add_time_attn``) adds, in front of every layer's spatial
  block, a learned temporal embedding and a temporal self-attention over the frames of each patch
  (``temporal_embedding``, ``temporal_layer_norm1``, ``temporal_attn``), as LanguageBind's
  ``modeling_video.CLIPEncoderLayer`` does. Features are ``hidden_states[mm_vision_select_layer]``
  per frame; the video tower keeps the CLS token (257 tokens per frame at 224 px), the image tower
  drops it for ``mm_vision_select_feature == "patch"``.
* Whisper speech tower: transformers' ``WhisperEncoder``; ``last_hidden_state`` (1500 frames).
* ``mm_projector``: ``linear``, ``mlp{N}x_gelu`` (an ``nn.Sequential`` of Linear/GELU, so the
  weights are ``mm_projector.0`` / ``mm_projector.2``) or ``identity``.
"""

from __future__ import annotations

import re

import torch
from torch import nn
from transformers import CLIPVisionConfig, WhisperConfig
from transformers.models.clip.modeling_clip import CLIPMLP, CLIPAttention, CLIPVisionEmbeddings
from transformers.models.whisper.modeling_whisper import WhisperEncoder

from emorealm.errors import ConfigError, ModelError


def vision_config(cfg: dict) -> CLIPVisionConfig:
    """The ``vision_config`` of a LanguageBind backbone ``config.json`` as a CLIPVisionConfig."""
    vc = CLIPVisionConfig(**{k: v for k, v in cfg.items() if k not in ("model_type", "architectures")})
    for key in ("add_time_attn", "num_frames"):  # LanguageBind's own keys
        setattr(vc, key, cfg.get(key, False if key == "add_time_attn" else 1))
    vc._attn_implementation = "eager"
    return vc


class LanguageBindEncoderLayer(nn.Module):
    """One CLIP block; with ``add_time_attn`` preceded by LanguageBind's temporal attention."""

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.self_attn = CLIPAttention(config)
        self.layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.mlp = CLIPMLP(config)
        self.layer_norm2 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)
        self.add_time_attn = bool(getattr(config, "add_time_attn", False))
        if self.add_time_attn:
            self.t = int(config.num_frames)
            self.temporal_embedding = nn.Parameter(torch.zeros(1, self.t, config.hidden_size))
            self.temporal_attn = CLIPAttention(config)
            self.temporal_layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:  # [(b t), n, d]
        if self.add_time_attn:
            bt, n, d = hidden.shape
            t = self.t
            if bt % t:
                raise ModelError(f"the video tower takes {t} frames per clip; got {bt} frames in the batch")
            b = bt // t
            # [(b t) n d] -> [(b n) t d]: attention runs over the frames of each patch position
            per_patch = hidden.view(b, t, n, d).permute(0, 2, 1, 3).reshape(b * n, t, d)
            if t != 1:
                per_patch = per_patch + self.temporal_embedding[:, :t, :]
            residual = per_patch
            attn, _ = self.temporal_attn(self.temporal_layer_norm1(per_patch))
            per_patch = residual + attn
            hidden = per_patch.view(b, n, t, d).permute(0, 2, 1, 3).reshape(bt, n, d)
        residual = hidden
        attn, _ = self.self_attn(self.layer_norm1(hidden))
        hidden = residual + attn
        return hidden + self.mlp(self.layer_norm2(hidden))


class LanguageBindEncoder(nn.Module):
    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList([LanguageBindEncoderLayer(config) for _ in range(config.num_hidden_layers)])

    def forward(self, hidden: torch.Tensor) -> list[torch.Tensor]:
        states = [hidden]
        for layer in self.layers:
            hidden = layer(hidden)
            states.append(hidden)
        return states


class LanguageBindVisionTransformer(nn.Module):
    """LanguageBind's ``vision_model`` (patch dropout is inactive at inference and omitted)."""

    def __init__(self, config: CLIPVisionConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = CLIPVisionEmbeddings(config)
        self.pre_layrnorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)  # sic, released name
        self.encoder = LanguageBindEncoder(config)
        self.post_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, pixel_values: torch.Tensor) -> list[torch.Tensor]:
        """All hidden states, each ``[b, t, n, d]`` (``t`` = 1 for images)."""
        if pixel_values.ndim == 5:  # [b, c, t, h, w]
            b, c, t, h, w = pixel_values.shape
            pixel_values = pixel_values.permute(0, 2, 1, 3, 4).reshape(b * t, c, h, w)
        else:
            b, t = pixel_values.shape[0], 1
        hidden = self.pre_layrnorm(self.embeddings(pixel_values))
        return [s.view(b, t, *s.shape[1:]) for s in self.encoder(hidden)]


class LanguageBindTower(nn.Module):
    """``model.image_tower`` / ``model.video_tower``: holds the ViT as ``image_tower`` / ``video_tower``."""

    def __init__(self, kind: str, config: CLIPVisionConfig, select_layer: int, select_feature: str) -> None:
        super().__init__()
        self.kind = kind
        self.select_layer = select_layer
        self.select_feature = select_feature
        setattr(self, f"{kind}_tower", LanguageBindVisionTransformer(config))

    @property
    def vit(self) -> LanguageBindVisionTransformer:
        return getattr(self, f"{self.kind}_tower")

    @torch.no_grad()
    def forward(self, pixel_values: torch.Tensor) -> torch.Tensor:
        feats = self.vit(pixel_values.to(self.vit.pre_layrnorm.weight.dtype))[self.select_layer]
        if self.kind == "image":
            feats = feats[:, 0]
            if self.select_feature == "patch":
                feats = feats[:, 1:]
            elif self.select_feature != "cls_patch":
                raise ConfigError(f"unexpected mm_vision_select_feature {self.select_feature!r}")
        return feats  # image [b, n, d]; video [b, t, n, d]


class WhisperSpeechTower(nn.Module):
    """``model.speech_tower``: the Whisper encoder as ``speech_tower``."""

    def __init__(self, config: WhisperConfig) -> None:
        super().__init__()
        config._attn_implementation = "eager"
        self.speech_tower = WhisperEncoder(config)

    @torch.no_grad()
    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        dtype = self.speech_tower.conv1.weight.dtype
        return self.speech_tower(mel.to(dtype), return_dict=True).last_hidden_state


def build_vision_projector(config, bert_config=None, tower_tokens: int = 0) -> nn.Module:
    """The released ``build_vision_projector``: linear / mlpNx_gelu / identity, or the video Q-Former
    (``qformer``, which needs the Q-Former's BERT config and the video tower's tokens per clip)."""
    kind = getattr(config, "mm_projector_type", "linear")
    if kind == "qformer":
        from emorealm.model_adapters.avere.projectors import VideoQFormer

        if bert_config is None or not tower_tokens:
            raise ModelError("mm_projector_type qformer needs a video tower and the bert-base-uncased config "
                             "(backbones/bert-base-uncased)")
        return VideoQFormer(config, bert_config, tower_tokens)
    if kind == "linear":
        return nn.Linear(config.mm_hidden_size, config.hidden_size)
    if kind == "identity":
        return nn.Identity()
    match = re.fullmatch(r"mlp(\d+)x_gelu", kind or "")
    if not match:
        raise ConfigError(f"mm_projector_type {kind!r} is not implemented")
    modules: list[nn.Module] = [nn.Linear(config.mm_hidden_size, config.hidden_size)]
    for _ in range(1, int(match.group(1))):
        modules += [nn.GELU(), nn.Linear(config.hidden_size, config.hidden_size)]
    return nn.Sequential(*modules)
