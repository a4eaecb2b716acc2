"""The study's configuration: shared training settings, arms that differ only in the loss, seeds,
the held-out world and the evaluation sizes (docs/avem-dpo-study.md).

An arm is a mapping of training-config keys merged over the shared ``train`` block; the study
builds every arm's :class:`~emorealm.training.config.TrainConfig` and refuses, before anything
runs, a study whose arms differ in any key but ``loss`` and ``objective`` (``dpo`` or
``avem_dpo``: plain DPO is a loss). Everything else (data, data order, steps, learning rate, LoRA
initialisation: the seed) is shared per seed by construction.
"""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from emorealm.errors import ConfigError

# keys the study sets itself per arm and seed (never compared, never given by the user)
STUDY_SET = ("model", "data", "data_root", "output_dir", "seed", "resume_from_checkpoint")
# keys arms may differ in
LOSS_KEYS = ("loss", "objective")
ARM_OBJECTIVES = ("avem_dpo", "dpo")

# The arms (docs/toy-world.md): plain DPO, AVEm-DPO with each debiasing form, and AVEm-DPO
# (today's default form) without the modality term / the second rejected response / debiasing.
DEFAULT_ARMS: dict[str, dict[str, Any]] = {
    "plain_dpo": {"objective": "dpo"},
    "avem_margin": {"loss": {"debias_form": "margin"}},
    "avem_grounding": {"loss": {"debias_form": "grounding"}},
    "avem_hallucination": {"loss": {"debias_form": "hallucination"}},
    "avem_no_modality": {"loss": {"debias_form": "margin", "modality": False}},
    "avem_no_second_rejected": {"loss": {"debias_form": "margin", "w_vr": 1.0}},
    "avem_no_debias": {"loss": {"debias": False}},
}
REFERENCE_ARM = "plain_dpo"


@dataclass
class WorldSettings:
    """The study's toy world (a fresh seed: not toy-omni's training world)."""

    seed: int = 4000  # 3000 was toy-omni's validation world (its recipe was chosen there)
    train_clips: int = 200  # two preference rows each (audio, video)
    test_clips: int = 200  # one held-out question per task key each


@dataclass
class EvalSettings:
    frames: int = 2  # frames per clip, as toy-omni was trained (min = max)
    limit: int | None = None  # at most this many questions per task (None: all held-out clips)
    attention_docs: int = 40  # docs per basic task for the attention share
    bootstrap_iters: int = 200  # diagnose's clip bootstrap (per checkpoint; the study's CIs are over seeds)
    eval_seed: int = 0  # the swap derangement (same adversarial audio for every arm and seed)
    probe: bool = True  # the cue-contradicts-audio probe


@dataclass
class StudyConfig:
    base_model: str = "toy-omni"  # "toy-omni" (built on first use) or a checkpoint folder
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    world: WorldSettings = field(default_factory=WorldSettings)
    eval: EvalSettings = field(default_factory=EvalSettings)
    reference_base: bool = True  # also evaluate the untrained base model once (a reference row)
    train: dict[str, Any] = field(default_factory=dict)  # shared training-config keys
    arms: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(DEFAULT_ARMS))

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def _diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys where ``a`` and ``b`` differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        return [d for k in sorted(set(a) | set(b)) for d in _diff(a.get(k), b.get(k), f"{prefix}{k}.")]
    return [] if a == b else [prefix.rstrip(".")]


def arm_train_dict(cfg: StudyConfig, arm: str, seed: int, model: str, data: str, output_dir: str) -> dict[str, Any]:
    """The training-config mapping of one (arm, seed)."""
    d = _merge(cfg.train, cfg.arms[arm])
    d.update(model=model, data=data, output_dir=output_dir, seed=seed)
    return d


def build_arm_configs(cfg: StudyConfig, seed: int, model: str, data: str, out: Path) -> dict[str, Any]:
    """Every arm's validated TrainConfig for ``seed``; refuses arms that differ in anything but the loss."""
    from emorealm.training.config import config_from_dict

    built = {}
    for arm in cfg.arms:
        try:
            built[arm] = config_from_dict(arm_train_dict(cfg, arm, seed, model, data, str(out / arm)))
        except ConfigError as exc:
            raise ConfigError(f"study arm {arm!r}: {exc}") from exc
    return built


def check_arms(cfg: StudyConfig) -> None:
    """Refuse a study whose arms differ in anything but ``loss`` / ``objective`` (checked on the
    built training configs, so a default spelled out in one arm is no difference)."""
    if not cfg.arms:
        raise ConfigError("study: no arms")
    for arm, spec in cfg.arms.items():
        if not isinstance(spec, dict):
            raise ConfigError(f"study arm {arm!r} must be a mapping of training-config keys, got {spec!r}")
        given = sorted(set(spec) & set(STUDY_SET))
        if given:
            raise ConfigError(f"study arm {arm!r} sets {', '.join(given)}: the study sets these itself "
                              "(the same base model, data and seeds for every arm)")
        if spec.get("objective", "avem_dpo") not in ARM_OBJECTIVES:
            raise ConfigError(f"study arm {arm!r}: objective must be one of {', '.join(ARM_OBJECTIVES)} "
                              f"(a preference loss), got {spec.get('objective')!r}")
    given = sorted(set(cfg.train) & set(STUDY_SET + LOSS_KEYS))
    if given:
        raise ConfigError(f"study train block sets {', '.join(given)}: model/data/seed are the study's, and the "
                          "loss and objective belong to the arms")
    built = build_arm_configs(cfg, 0, "base", "data.jsonl", Path("out"))
    names = list(built)
    ref = {k: v for k, v in built[names[0]].as_dict().items() if k not in LOSS_KEYS + ("output_dir",)}
    for arm in names[1:]:
        other = {k: v for k, v in built[arm].as_dict().items() if k not in LOSS_KEYS + ("output_dir",)}
        keys = _diff(ref, other)
        if keys:
            raise ConfigError(f"study arms {names[0]!r} and {arm!r} differ in {', '.join(keys)}: arms may differ only "
                              "in loss (and objective dpo/avem_dpo); put shared settings in the train block")


def study_from_dict(data: dict[str, Any]) -> StudyConfig:
    """Build and validate a :class:`StudyConfig` (unknown keys and arm differences are errors)."""
    from emorealm.training.config_types import build_dataclass

    data = dict(data or {})
    parts = {"world": build_dataclass(WorldSettings, data.pop("world", None), "world"),
             "eval": build_dataclass(EvalSettings, data.pop("eval", None), "eval")}
    cfg = build_dataclass(StudyConfig, {**data, **parts}, "the study config")
    if not cfg.seeds or len(set(cfg.seeds)) != len(cfg.seeds):
        raise ConfigError(f"study seeds must be a non-empty list of distinct integers, got {cfg.seeds}")
    if cfg.world.train_clips < 2 or cfg.world.test_clips < 2:
        raise ConfigError("study world: train_clips and test_clips must be >= 2")
    for arm in cfg.arms:
        if not arm.replace("_", "").replace("-", "").isalnum():
            raise ConfigError(f"study arm name {arm!r}: use letters, digits, '_' and '-' (it names a folder)")
    check_arms(cfg)
    return cfg


def load_study_config(path: str | Path) -> StudyConfig:
    from emorealm.training.config import read_yaml_mapping

    return study_from_dict(read_yaml_mapping(path, "study config"))


def fingerprint(obj: Any) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]
