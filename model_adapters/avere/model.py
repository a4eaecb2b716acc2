"""``AvereForCausalLM``: transformers' LLaMA with AVERE's towers and projectors under ``model.*``.

Where the media enter: the released code splices features in place of its ``-200`` (``<image>``,
one per frame) and ``-300`` (``<audio>``) ids. Our processor expands each placeholder to as many
copies as it has features (257 per frame, 88 per clip for AVERE-7B's windows), so the token sequence
already has the merged length: positions, attention masks, left padding, KV-cache prefix scoring
and ``generate`` then work unchanged, and each placeholder run is replaced by its features here.
The merged embeddings equal the released ``prepare_inputs_labels_for_multimodal`` output
(tests/test_avere_reference.py checks it against the released run).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from transformers import BertConfig, CLIPVisionConfig, LlamaForCausalLM, WhisperConfig

from emorealm.errors import ModelError
from emorealm.model_adapters.avere.config import (
    AUDIO_TOKEN_INDEX,
    IMAGE_TOKEN_INDEX,
    RELEASED_VIDEO_FRAMES,
    AvereConfig,
)
from emorealm.model_adapters.avere.projectors import build_speech_projector
from emorealm.model_adapters.avere.towers import LanguageBindTower, WhisperSpeechTower, build_vision_projector


@dataclass
class TowerConfigs:
    """Backbone configs the released code reads from ``backbones/`` (None: that tower is absent)."""

    image: CLIPVisionConfig | None = None
    video: CLIPVisionConfig | None = None
    speech: WhisperConfig | None = None
    qformer: BertConfig | None = None


class AvereForCausalLM(LlamaForCausalLM):
    """AVERE / Video-LLaVA-style LLaMA taking 8-frame videos and Whisper mel spectrograms."""

    config_class = AvereConfig

    def __init__(self, config: AvereConfig, towers: TowerConfigs | None = None) -> None:
        super().__init__(config)
        towers = towers or TowerConfigs()
        inner = self.model
        layer = int(getattr(config, "mm_vision_select_layer", -2))
        feature = getattr(config, "mm_vision_select_feature", "patch")
        if towers.image is not None:
            inner.image_tower = LanguageBindTower("image", towers.image, layer, feature)
        if towers.video is not None:
            inner.video_tower = LanguageBindTower("video", towers.video, layer, feature)
        if towers.image is not None or towers.video is not None:
            video = towers.video
            tower_tokens = int(video.num_frames) * ((video.image_size // video.patch_size) ** 2 + 1) if video else 0
            inner.mm_projector = build_vision_projector(config, towers.qformer, tower_tokens)
        if towers.speech is not None:
            inner.speech_tower = WhisperSpeechTower(towers.speech)
            inner.speech_projector = build_speech_projector(config, towers.qformer)
        self.post_init()

    # -- what the processor needs to know ----------------------------------------------------
    @property
    def num_frames(self) -> int:
        tower = getattr(self.model, "video_tower", None)
        return int(tower.vit.config.num_frames) if tower is not None else 0

    @property
    def tokens_per_frame(self) -> int:
        """LLM tokens per ``<image>`` placeholder: the tower's tokens per frame (257 at 224 px), or the
        video Q-Former's tokens per clip over the released 8 placeholders."""
        tower = getattr(self.model, "video_tower", None)
        if tower is None:
            return 0
        proj = self.model.mm_projector
        if hasattr(proj, "tokens"):
            return int(proj.tokens) // RELEASED_VIDEO_FRAMES
        return int(tower.vit.embeddings.num_positions)

    @property
    def audio_tokens(self) -> int:
        proj = getattr(self.model, "speech_projector", None)
        return int(proj.tokens) if proj is not None else 0

    # -- encoders ------------------------------------------------------------------------------
    def encode_videos(self, videos: torch.Tensor) -> torch.Tensor:
        """``[b, 3, t, h, w]`` -> ``[b, t, n, hidden]`` (tower, then mm_projector)."""
        if getattr(self.model, "video_tower", None) is None:
            raise ModelError("this checkpoint has no video tower (mm_video_tower is not set)")
        return self.model.mm_projector(self.model.video_tower(videos).to(self.dtype))

    def encode_speech(self, mel: torch.Tensor) -> torch.Tensor:
        """``[b, n_mels, 3000]`` -> ``[b, windows x queries, hidden]`` (Whisper, then the Q-Former)."""
        if getattr(self.model, "speech_tower", None) is None:
            raise ModelError("this checkpoint has no speech tower (mm_speech_tower is not set)")
        return self.model.speech_projector(self.model.speech_tower(mel).to(self.dtype))

    def embed_multimodal(self, input_ids: torch.Tensor, videos: torch.Tensor | None = None,
                         audio_mel: torch.Tensor | None = None) -> torch.Tensor:
        """Token embeddings with every placeholder run replaced by its media features."""
        image_mask = input_ids == IMAGE_TOKEN_INDEX
        audio_mask = input_ids == AUDIO_TOKEN_INDEX
        embeds = self.model.embed_tokens(input_ids.clamp(min=0))
        for mask, media, encode, name in ((image_mask, videos, self.encode_videos, "video"),
                                          (audio_mask, audio_mel, self.encode_speech, "audio")):
            if not bool(mask.any()):
                continue
            if media is None:
                raise ModelError(f"the prompt holds {name} placeholders but no {name} input was given")
            feats = encode(media).reshape(-1, embeds.shape[-1])
            if feats.shape[0] != int(mask.sum()):
                raise ModelError(f"{int(mask.sum())} {name} placeholder tokens but {feats.shape[0]} {name} features; "
                                 "build inputs with this checkpoint's AvereProcessor")
            embeds = embeds.masked_scatter(mask.unsqueeze(-1), feats.to(embeds.dtype))
        return embeds

    def forward(self, input_ids: torch.LongTensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.LongTensor | None = None, cache: Any = None,
                inputs_embeds: torch.Tensor | None = None, labels: torch.LongTensor | None = None,
                use_cache: bool | None = None, logits_to_keep: int | torch.Tensor = 0,
                videos: torch.Tensor | None = None, audio_mel: torch.Tensor | None = None, **kwargs: Any):
        if inputs_embeds is None and input_ids is not None:
            inputs_embeds = self.embed_multimodal(input_ids, videos, audio_mel)
        if position_ids is None and attention_mask is not None and inputs_embeds is not None \
                and attention_mask.shape[1] == inputs_embeds.shape[1] and bool((attention_mask == 0).any()):
            # a left-padded prefill: each row's positions start at its first real token, as alone
            position_ids = (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
        if labels is not None and input_ids is not None:
            labels = labels.masked_fill(input_ids < 0, -100)  # media positions are never targets
        return super().forward(input_ids=None, attention_mask=attention_mask, position_ids=position_ids,
                               cache=cache, inputs_embeds=inputs_embeds, labels=labels, use_cache=use_cache,
                               logits_to_keep=logits_to_keep, **kwargs)

    def prepare_inputs_for_generation(self, input_ids, *args, videos=None, audio_mel=None, **kwargs):
        inputs = super().prepare_inputs_for_generation(input_ids, *args, **kwargs)
        ids = inputs.get("input_ids")
        if ids is not None and bool((ids < 0).any()):  # media are encoded once, in the prefill step
            inputs["videos"], inputs["audio_mel"] = videos, audio_mel
        return inputs
