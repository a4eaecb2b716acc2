"""Qwen2.5-Omni and Qwen3-Omni (MoE) thinkers as :class:`TrainArchitecture` s.

Both thinkers keep their towers at ``model.audio_tower`` / ``model.visual``, the decoder at
``model.language_model`` and use 3D (mRoPE) positions from their own ``get_rope_index``; Qwen3-Omni
adds *deepstack* visual features that its decoder adds to the video positions' hidden states in
its first layers, so its ``embed`` also returns those (and their positions) for ``run_lm``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from emorealm.model_adapters.architectures import Media, TrainArchitecture

_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}


class Qwen25Omni(TrainArchitecture):
    name = "qwen2_5_omni"
    model_types = ("qwen2_5_omni", "qwen2_5_omni_thinker")
    # the towers reuse the decoder's projection names (q_proj..., mlp.gate_proj...): scope by path
    lora_scope = r"model\.language_model\.layers\.\d+\..*"

    def load(self, path: str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Any]:
        from emorealm.model_adapters.hf_models import load_model

        model, processor, _ = load_model(path, dtype=_DTYPE_NAMES[dtype])
        return model, processor

    def end_of_turn_id(self, tokenizer) -> int:
        tid = tokenizer.convert_tokens_to_ids("<|im_end|>")
        return tokenizer.eos_token_id if tid is None or tid == tokenizer.unk_token_id else tid

    def towers(self, model: nn.Module) -> list[nn.Module]:
        return [model.model.audio_tower, model.model.visual]

    def projectors(self, model: nn.Module) -> list[nn.Module]:
        audio, visual = self.towers(model)
        names = (("proj", "proj1", "proj2"), ("merger", "merger_list", "deepstack_merger_list"))
        return [getattr(t, n) for t, ns in zip((audio, visual), names, strict=True) for n in ns if hasattr(t, n)]

    def language_model(self, model: nn.Module) -> nn.Module:
        return model.model.language_model

    def decoder_layers(self, model: nn.Module) -> list[nn.Module]:
        return list(self.language_model(model).layers)

    def encode_media(self, model: nn.Module, features: dict[str, Any], device: torch.device) -> Media:
        inner = model.model
        out: Media = {}
        if features.get("pixel_values_videos") is not None:
            pv = features["pixel_values_videos"].to(device, inner.visual.dtype)
            vid = inner.get_video_features(pv, features["video_grid_thw"].to(device))
            out["video"] = torch.cat(list(vid.pooler_output), dim=0)
            self._extra_video(vid, out)
        if features.get("input_features") is not None:
            af = features["input_features"].to(device, inner.audio_tower.dtype)
            out["audio"] = inner.get_audio_features(af, features["feature_attention_mask"].to(device)).last_hidden_state
        return out

    def _extra_video(self, vid, out: Media) -> None:
        """Hook for families whose decoder needs more of the video encoding (Qwen3-Omni's deepstack)."""

    def embed(self, model: nn.Module, input_ids: torch.Tensor, media: list[Media]) -> tuple[torch.Tensor, dict]:
        cfg = model.config
        emb = model.get_input_embeddings()(input_ids)
        for key, token in (("video", cfg.video_token_id), ("audio", cfg.audio_token_id)):
            parts = [m[key] for m in media if key in m]
            if parts:
                mask = (input_ids == token).unsqueeze(-1)
                emb = emb.masked_scatter(mask, torch.cat(parts).to(emb.dtype))
        return emb, {}

    def positions(self, model: nn.Module, input_ids: torch.Tensor, features: dict[str, Any],
                  use_audio_in_video: bool) -> torch.Tensor:
        fam = features.get("feature_attention_mask")
        pos, _ = model.model.get_rope_index(
            input_ids, None, features.get("video_grid_thw"), torch.ones_like(input_ids), use_audio_in_video,
            fam.sum(-1) if fam is not None else None, features.get("video_second_per_grid"))
        return pos

    def run_lm(self, model: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
               position_ids: torch.Tensor, cache=None, **extra) -> torch.Tensor:
        return self.language_model(model)(
            inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids, cache=cache,
            use_cache=cache is not None, return_dict=True, **extra).last_hidden_state

    def log_probs(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model.lm_head(hidden).float(), dim=-1)


class Qwen3OmniMoe(Qwen25Omni):
    name = "qwen3_omni_moe"
    model_types = ("qwen3_omni_moe", "qwen3_omni_moe_thinker")

    def _extra_video(self, vid, out: Media) -> None:
        # one [n_video_tokens, d] tensor per deepstack level, added at the video positions by the decoder
        out["deepstack"] = [torch.cat(list(level), dim=0) for level in vid.deepstack_features]

    def embed(self, model: nn.Module, input_ids: torch.Tensor, media: list[Media]) -> tuple[torch.Tensor, dict]:
        emb, extra = super().embed(model, input_ids, media)
        levels = [m["deepstack"] for m in media if "deepstack" in m]
        if levels:
            extra["visual_pos_masks"] = input_ids == model.config.video_token_id
            extra["deepstack_visual_embeds"] = [torch.cat([lv[i] for lv in levels]).to(emb.dtype)
                                                for i in range(len(levels[0]))]
        return emb, extra
