"""Training architectures: what the preference trainer needs from a model family, behind one interface.

The trainer (``emorealm.training``) never touches a model's internals; it calls a
:class:`TrainArchitecture` (docs/contracts.md, "Training architecture interface"):

* ``encode_media`` — run the towers once per context; ``embed`` — token embeddings with the media
  scattered into their placeholders (plus any extra inputs the language model needs for them);
* ``positions`` — the explicit position ids of a context + completion; ``run_lm`` — the language
  model on embeddings with explicit positions and an optional KV cache; ``log_probs`` — the head;
* ``end_of_turn_id``; ``towers`` / ``projectors`` / ``language_model`` / ``decoder_layers`` and
  ``lora_scope`` — what freezing, LoRA, FSDP wrapping and gradient checkpointing apply to.

Implementations: Qwen2.5-Omni and Qwen3-Omni (MoE) thinkers (:mod:`.qwen_omni`), AVERE
(:mod:`.avere`, the paper's own model in the released layout). A new family
registers itself in :data:`ARCHITECTURES` under its ``model_type`` values.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

import torch
from torch import nn

from emorealm.errors import ModelError

Media = dict[str, Any]  # one context's encoded media: {"video": [n, d], "audio": [m, d], ...}


class TrainArchitecture(ABC):
    """One model family as the preference trainer sees it. Stateless; methods take the model."""

    name: str = ""
    model_types: tuple[str, ...] = ()
    lora_scope: str = ""  # regex prefix (module paths) under which LoRA targets live: the language model

    @abstractmethod
    def load(self, path: str, dtype: torch.dtype = torch.float32) -> tuple[nn.Module, Any]:
        """``(model, processor)`` from a checkpoint folder or hub id (safetensors)."""

    @abstractmethod
    def end_of_turn_id(self, tokenizer) -> int:
        """The token that ends an assistant turn (appended to every completion)."""

    @abstractmethod
    def towers(self, model: nn.Module) -> list[nn.Module]:
        """The media encoders (frozen with ``freeze_encoders``; their projectors included)."""

    @abstractmethod
    def projectors(self, model: nn.Module) -> list[nn.Module]:
        """The modules mapping tower outputs into the language model's space (may live inside towers)."""

    @abstractmethod
    def language_model(self, model: nn.Module) -> nn.Module:
        """The decoder stack that :meth:`run_lm` runs."""

    @abstractmethod
    def decoder_layers(self, model: nn.Module) -> list[nn.Module]:
        """The language model's decoder layers (FSDP wrap unit, gradient-checkpointing unit)."""

    @abstractmethod
    def encode_media(self, model: nn.Module, features: dict[str, Any], device: torch.device) -> Media:
        """Encode one context's media (processor ``features``) with the towers."""

    @abstractmethod
    def embed(self, model: nn.Module, input_ids: torch.Tensor, media: list[Media]) -> tuple[torch.Tensor, dict]:
        """``(embeddings [B, L, d], extra run_lm kwargs)``: token embeddings of ``input_ids`` with row
        ``b``'s ``media[b]`` scattered into its placeholder tokens."""

    @abstractmethod
    def positions(self, model: nn.Module, input_ids: torch.Tensor, features: dict[str, Any],
                  use_audio_in_video: bool) -> torch.Tensor:
        """Position ids of one unpadded row ``input_ids [1, L]`` (context tokens then completion)."""

    @abstractmethod
    def run_lm(self, model: nn.Module, embeds: torch.Tensor, attention_mask: torch.Tensor,
               position_ids: torch.Tensor, cache=None, **extra) -> torch.Tensor:
        """Last hidden states ``[B, L, d]``; ``cache`` (a transformers ``Cache``) is read and written."""

    @abstractmethod
    def log_probs(self, model: nn.Module, hidden: torch.Tensor) -> torch.Tensor:
        """float32 log-softmax over the vocabulary of ``hidden [..., d]``."""

    def media_spec(self, spec):
        """The media spec this family's inputs are built with (``cfg.media`` adjusted to what it takes,
        e.g. no audio interleaved with the frames); the default keeps ``spec``."""
        return spec

    def supports_gradient_checkpointing(self, model: nn.Module) -> bool:
        return bool(getattr(model, "supports_gradient_checkpointing", False))

    def encoders_trainable(self, model: nn.Module) -> bool:
        return any(p.requires_grad for m in self.towers(model) for p in m.parameters())


ARCHITECTURES: dict[str, str] = {
    "qwen2_5_omni": "emorealm.model_adapters.architectures.qwen_omni:Qwen25Omni",
    "qwen2_5_omni_thinker": "emorealm.model_adapters.architectures.qwen_omni:Qwen25Omni",
    "qwen3_omni_moe": "emorealm.model_adapters.architectures.qwen_omni:Qwen3OmniMoe",
    "qwen3_omni_moe_thinker": "emorealm.model_adapters.architectures.qwen_omni:Qwen3OmniMoe",
    "avere": "emorealm.model_adapters.architectures.avere:Avere",
}


def get_architecture(model_type: str) -> TrainArchitecture:
    """The training architecture of ``model_type``, or a ModelError listing the trainable ones."""
    import importlib

    if model_type not in ARCHITECTURES:
        raise ModelError(f"training supports model_type {sorted(ARCHITECTURES)}, got {model_type!r}; "
                         "a new family implements emorealm.model_adapters.architectures.TrainArchitecture")
    mod, cls = ARCHITECTURES[model_type].split(":")
    return getattr(importlib.import_module(mod), cls)()


def architecture_of(model: nn.Module) -> TrainArchitecture:
    """The architecture of a loaded model (its config's ``model_type``)."""
    return get_architecture(model.config.model_type)


def architecture_for(path: str) -> TrainArchitecture:
    """The architecture of a checkpoint folder / hub id, from its config."""
    from transformers import AutoConfig

    from emorealm.model_adapters.avere.loading import is_avere_folder

    if is_avere_folder(path):  # the released layout: a config transformers' AutoConfig does not know
        return get_architecture("avere")
    try:
        model_type = AutoConfig.from_pretrained(path).model_type
    except (OSError, ValueError) as exc:
        raise ModelError(f"cannot load a model config from {path!r}: {exc}") from exc
    return get_architecture(model_type)
