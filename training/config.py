"""Training configuration: a YAML file mapped onto dataclasses, validated up front (docs/avem-dpo.md)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import yaml

from emorealm.errors import ConfigError
from emorealm.media.decode import MediaSpec
from emorealm.training.config_types import build_dataclass
from emorealm.training.loss import LossConfig

# Decoder projections of the supported families. Towers reuse some of these names, so targets are
# scoped by path: by default to the architecture's language model (TrainArchitecture.lora_scope).
DEFAULT_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SCHEDULERS = ("linear", "cosine", "constant")
# loss keys under other names: released launcher flag -> our key; and our old names, refused
LOSS_ALIASES = {"tpd_gamma": "debias_weight"}
LOSS_RENAMED = {"gamma": ("debias_weight", "the released launcher's `gamma` is an SFT weight; its debiasing weight "
                                           "`tpd_gamma` is our loss.debias_weight")}
OBJECTIVES = ("avem_dpo", "dpo", "sft")


@dataclass
class LoraSettings:
    r: int = 8
    alpha: int = 16
    dropout: float = 0.0
    target_modules: list[str] = field(default_factory=lambda: list(DEFAULT_LORA_TARGETS))
    # regex prefix the targets must live under; null: the architecture's language model;
    # "" targets the names anywhere (towers included)
    scope: str | None = None

    def target_regex(self, default_scope: str = "") -> str:
        """PEFT ``target_modules`` regex; ``default_scope`` (the architecture's) applies when scope is null."""
        names = "|".join(sorted(set(self.target_modules)))
        scope = default_scope if self.scope is None else self.scope
        return f"{scope}({names})" if scope else f".*({names})"


@dataclass
class TrainSettings:
    epochs: int = 1
    max_steps: int = -1  # optimizer steps; -1: run the epochs
    batch_size: int = 2  # preference rows per device per micro-batch
    grad_accum: int = 1
    # every rank's total across processes and accumulation; when set, batch_size is derived from it
    # (global / (processes x grad_accum)), so one config gives the same schedule on any process count
    global_batch_size: int | None = None
    lr: float = 5e-5
    lr_scheduler_type: str = "linear"  # linear | cosine | constant (warmup first in each)
    weight_decay: float = 0.0
    warmup_steps: int = 0  # optimizer steps of linear warmup
    warmup_ratio: float = 0.0  # ... or a fraction of the total optimizer steps (not both)
    max_grad_norm: float = 1.0
    max_completion_length: int = 256
    max_length: int | None = None  # prompt + completion tokens; completions are cut to fit (the launcher's 2048)
    mixed_precision: str = "auto"  # auto (bf16 where the GPU supports it) | no | bf16 | fp16
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 0  # 0: only the final checkpoint
    save_total_limit: int = 2
    report_to: str | list[str] = "none"  # none | all | tensorboard | wandb, or a list (as transformers)


@dataclass
class TrainConfig:
    objective: str = "avem_dpo"  # avem_dpo | dpo (plain sigmoid DPO: loss.beta only) | sft (training/sft.py)
    model: str = "tiny-omni"  # checkpoint folder / hub id; "tiny-omni": the embedded test model
    data: str = "sample"  # preference jsonl; "sample": the built-in sample preference set
    data_root: str | None = None  # media paths are relative to this (default: the jsonl's folder)
    output_dir: str = "runs/avem-dpo"
    finetune: str = "lora"  # lora | full
    freeze_encoders: bool = True  # audio/vision towers and their projectors
    seed: int = 0
    strict_data: bool = False  # invalid rows raise instead of being counted and skipped
    resume_from_checkpoint: str | None = None  # a checkpoints/checkpoint-N folder, or "latest"
    system_prompt: str | None = None
    lora: LoraSettings = field(default_factory=LoraSettings)
    loss: LossConfig = field(default_factory=LossConfig)
    train: TrainSettings = field(default_factory=TrainSettings)
    media: MediaSpec = field(default_factory=lambda: MediaSpec(max_frames=16))

    def __post_init__(self) -> None:
        if self.objective not in OBJECTIVES:
            raise ConfigError(f"objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.objective == "dpo":  # the loss reduced to sigmoid DPO on (y_w, y_l^vr)
            self.loss = LossConfig(beta=self.loss.beta, w_vr=1.0, debias=False, modality=False)
        if self.finetune not in ("lora", "full"):
            raise ConfigError(f"finetune must be 'lora' or 'full', got {self.finetune!r}")
        if self.finetune == "lora" and not self.freeze_encoders and self.objective != "sft":
            raise ConfigError("finetune: lora keeps the encoders frozen (the reference is the policy with adapters "
                              "disabled); use finetune: full to train the encoders (objective: sft, which has no "
                              "reference, may train them beside LoRA)")
        t = self.train
        if t.batch_size < 1 or t.grad_accum < 1 or t.epochs < 1:
            raise ConfigError("train.batch_size, train.grad_accum and train.epochs must be >= 1")
        if t.mixed_precision not in ("auto", "no", "bf16", "fp16"):
            raise ConfigError(f"train.mixed_precision must be auto|no|bf16|fp16, got {t.mixed_precision!r}")
        if t.lr_scheduler_type not in SCHEDULERS:
            raise ConfigError(f"train.lr_scheduler_type must be one of {SCHEDULERS}, got {t.lr_scheduler_type!r}")
        if not 0.0 <= t.warmup_ratio < 1.0:
            raise ConfigError(f"train.warmup_ratio must lie in [0, 1), got {t.warmup_ratio}")
        if t.warmup_steps < 0:
            raise ConfigError(f"train.warmup_steps must be >= 0, got {t.warmup_steps}")
        if t.warmup_steps and t.warmup_ratio:
            raise ConfigError("set train.warmup_steps or train.warmup_ratio, not both")
        if t.global_batch_size is not None and t.global_batch_size < 1:
            raise ConfigError(f"train.global_batch_size must be >= 1, got {t.global_batch_size}")
        if t.max_length is not None and t.max_length < 4:
            raise ConfigError(f"train.max_length must be >= 4 tokens, got {t.max_length}")
        if t.max_completion_length < 2:
            raise ConfigError("train.max_completion_length must be >= 2 (a token and the end-of-turn token)")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _build(cls, data: Any, where: str):
    # unknown keys and wrongly typed values are refused, generically over the field annotations
    # (training/config_types.py): a field added to any config dataclass is checked without edits here
    return build_dataclass(cls, data, "" if where == "the config" else where)


def _loss_keys(loss: Any) -> Any:
    """``loss`` with released-launcher aliases mapped onto our keys; old names refused with the new one."""
    if not isinstance(loss, dict):
        return loss
    loss = dict(loss)
    for old, (new, why) in LOSS_RENAMED.items():
        if old in loss:
            raise ConfigError(f"loss.{old} is no longer a key: use loss.{new} ({why})")
    for alias, key in LOSS_ALIASES.items():
        if alias in loss:
            if key in loss:
                raise ConfigError(f"loss.{alias} is an alias of loss.{key}; give one of them")
            loss[key] = loss.pop(alias)
    return loss


def config_from_dict(data: dict[str, Any]) -> TrainConfig:
    """Build and validate a :class:`TrainConfig` from a plain mapping (unknown keys are errors)."""
    data = dict(data or {})
    if "loss" in data:
        data["loss"] = _loss_keys(data["loss"])
    nested = {"lora": LoraSettings, "loss": LossConfig, "train": TrainSettings}
    parts = {k: _build(cls, data.pop(k, None), k) for k, cls in nested.items()}
    media = data.pop("media", None) or {}
    if not isinstance(media, dict):
        raise ConfigError("media must be a mapping")
    parts["media"] = _build(MediaSpec, {"max_frames": 16, **media}, "media")
    return _build(TrainConfig, {**data, **parts}, "the config")


def read_yaml_mapping(path: str | Path, what: str = "config file") -> dict[str, Any]:
    """A YAML file whose top level is a mapping; a missing file or bad YAML is a ConfigError."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} not found: {path}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return data


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> TrainConfig:
    """Read a YAML config; ``overrides`` (e.g. ``{"output_dir": ...}``) win over the file."""
    data = read_yaml_mapping(path)
    data.update({k: v for k, v in (overrides or {}).items() if v is not None})
    return config_from_dict(data)
