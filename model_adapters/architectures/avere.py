"""The AVERE family (released ``model_type: "avere"``) as a :class:`TrainArchitecture`.

What the released DPO recipe does, on our modules (``model_adapters/avere``): the LanguageBind
towers, the Whisper encoder, ``mm_projector`` and ``speech_projector`` stay frozen and only the
LLaMA trains (LoRA on its projections, or in full). Inputs come from the evaluation processor
(``AvereProcessor``: the ``llava_v1`` template, ``<image>`` x 8 then ``<audio>`` before the question,
each placeholder expanded to as many ids as it has features), so ``embed`` scatters the encoded
media into the placeholder runs exactly as ``AvereForCausalLM.embed_multimodal`` does at
inference. Positions are plain ``0..L-1`` (LLaMA RoPE); a turn ends with ``</s>`` (``llava_v1``'s
``sep2``). The audio is a separate item, never interleaved with the frames (``media_spec``).

Frozen towers encode in eval mode: the Q-Former's BERT dropout (0.1 in bert-base-uncased) would
otherwise make c and c~ encodings noisy in a way no inference run sees.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from emorealm.model_adapters.architectures import Media, TrainArchitecture
from emorealm.model_adapters.avere.config import AUDIO_TOKEN_INDEX, IMAGE_TOKEN_INDEX

_DTYPE_NAMES = {torch.float32: "float32", torch.bfloat16: "bfloat16", torch.float16: "float16"}
TOWER_NAMES = ("image_tower", "video_tower", "speech_tower")
PROJECTOR_NAMES = ("mm_projector", "speech_projector")


class Avere(TrainArchitecture):
    name = "avere"
    model_types = ("avere",)
    # the LLaMA decoder only (the towers' CLIP blocks also have q_proj/k_proj/v_proj)
    lora_scope = r"model\.layers\.\d+\..*"

    def load(self, path: str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Any]:
        from emorealm.model_adapters.avere.loading import load_avere

        model, processor, _ = load_avere(path, dtype=_DTYPE_NAMES[dtype])
        return model, processor

    def media_spec(self, spec):
        # AVERE takes the audio as its own <audio> item (Whisper), never inside the video
        return dataclasses.replace(spec, use_audio_in_video=False)

    def end_of_turn_id(self, tokenizer) -> int:
        return int(tokenizer.eos_token_id)  # llava_v1 ends every assistant turn with "</s>"

    def towers(self, model: nn.Module) -> list[nn.Module]:
        # the projectors are separate modules here, frozen with the towers as in the released DPO run
        inner = model.model
        return [getattr(inner, n) for n in TOWER_NAMES if getattr(inner, n, None) is not None] + self.projectors(model)

    def projectors(self, model: nn.Module) -> list[nn.Module]:
        inner = model.model
        return [getattr(inner, n) for n in PROJECTOR_NAMES if getattr(inner, n, None) is not None]

    def language_model(self, model: nn.Module) -> nn.Module:
        return model.model  # LlamaModel; its forward runs embed_tokens/layers/norm only

    def decoder_layers(self, model: nn.Module) -> list[nn.Module]:
        return list(model.model.layers)

    def encode_media(self, model: nn.Module, features: dict[str, Any], device: torch.device) -> Media:
        out: Media = {}
        frozen = [m for m in self.towers(model) if m.training and not any(p.requires_grad for p in m.parameters())]
        for m in frozen:
            m.eval()
        try:
            if features.get("videos") is not None:
                vid = model.encode_videos(features["videos"].to(device))
                out["video"] = vid.reshape(-1, vid.shape[-1])
            if features.get("audio_mel") is not None:
                aud = model.encode_speech(features["audio_mel"].to(device))
                out["audio"] = aud.reshape(-1, aud.shape[-1])
        finally:
            for m in frozen:
                m.train()
        return out

    def embed(self, model: nn.Module, input_ids: torch.Tensor, media: list[Media]) -> tuple[torch.Tensor, dict]:
        emb = model.get_input_embeddings()(input_ids.clamp(min=0))
        for key, token in (("video", IMAGE_TOKEN_INDEX), ("audio", AUDIO_TOKEN_INDEX)):
            parts = [m[key] for m in media if key in m]
            if parts:
                emb = emb.masked_scatter((input_ids == token).unsqueeze(-1), torch.cat(parts).to(emb.dtype))
        return emb, {}

    def positions(self, model: nn.Module, input_ids: torch.Tensor, features: dict[str, Any],
                  use_audio_in_video: bool) -> torch.Tensor:
        return torch.arange(input_ids.shape[-1], dtype=torch.long)[None].expand(input_ids.shape[0], -1)

    def run_lm(self, model: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
               position_ids: torch.Tensor, cache=None, **extra) -> torch.Tensor:
        return model.model(inputs_embeds=embeds, attention_mask=attention_mask, position_ids=position_ids,
                           cache=cache, use_cache=cache is not None, return_dict=True, **extra).last_hidden_state

    def log_probs(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        return torch.log_softmax(model.lm_head(hidden).float(), dim=-1)
