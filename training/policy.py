"""The models a training run starts from: resolve the checkpoint and data names, load the thinker
through its architecture, freeze the towers, and wrap the policy (LoRA or full weights + reference)."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import torch

from emorealm.errors import ConfigError
from emorealm.training.config import TrainConfig


def resolve_model(name: str) -> str:
    if name == "tiny-omni":
        from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

        return str(ensure_tiny_omni())
    p = Path(name).expanduser()
    return str(p.resolve()) if p.exists() else name


def resolve_data(name: str) -> Path:
    if name == "sample":
        from emorealm.training.sample_prefs import ensure_sample_prefs

        return ensure_sample_prefs() / "prefs.jsonl"
    return Path(name).expanduser()


def load_thinker(path: str, dtype: torch.dtype = torch.float32):
    """(model, processor, architecture) of a checkpoint the trainer supports (docs/contracts.md)."""
    from emorealm.model_adapters.architectures import architecture_for

    arch = architecture_for(path)
    model, processor = arch.load(path, dtype)
    return model, processor, arch


def freeze_encoders(thinker, arch=None) -> None:
    """Freeze the media towers (their projectors included)."""
    from emorealm.model_adapters.architectures import architecture_of

    for mod in (arch or architecture_of(thinker)).towers(thinker):
        mod.requires_grad_(False)


def build_policy(cfg: TrainConfig, thinker, arch):
    """(policy, reference or None): LoRA adapters on the language model, or full weights + a frozen copy."""
    if cfg.freeze_encoders:
        freeze_encoders(thinker, arch)
    if cfg.finetune == "lora":
        from peft import LoraConfig, get_peft_model

        kw = {}
        if cfg.lora.scope is None:
            # PEFT rewrites a regex into bare names for some MoE models (Qwen3-Omni), losing the scope:
            # exclude the towers explicitly as well
            tower_ids = {id(t) for t in arch.towers(thinker)}
            names = [re.escape(n) for n, m in thinker.named_modules() if id(m) in tower_ids]
            kw["exclude_modules"] = rf"(.*\.)?({'|'.join(names)})\..*"
        if not cfg.freeze_encoders:  # trainable towers beside LoRA (SFT only): trained in full, saved in the adapter
            tower_ids = {id(t) for t in arch.towers(thinker)}
            kw["modules_to_save"] = [n for n, m in thinker.named_modules() if id(m) in tower_ids]
        lc = LoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                        target_modules=cfg.lora.target_regex(arch.lora_scope), **kw)
        try:
            policy = get_peft_model(thinker, lc)
        except ValueError as exc:
            raise ConfigError(f"lora.target_modules matched nothing usable: {exc}") from exc
        return policy, None
    if cfg.objective == "sft":  # SFT reads no reference model
        return thinker, None
    ref = copy.deepcopy(thinker).eval().requires_grad_(False)
    return thinker, ref
