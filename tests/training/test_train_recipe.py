"""The released recipe (examples/avem_dpo_paper.yaml) loads with the launcher's values and runs a step
on tiny-omni; the debiasing weight's names; bad launches fail before the first step."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emorealm.errors import ConfigError
from emorealm.training.config import config_from_dict, load_config
from emorealm.training.launch import check_launch

REPO = Path(__file__).resolve().parents[2]
RECIPE = REPO / "examples" / "avem_dpo_paper.yaml"


def test_recipe_has_the_released_values():
    cfg = load_config(RECIPE)
    t, loss = cfg.train, cfg.loss
    assert (cfg.finetune, cfg.freeze_encoders) == ("full", True)
    assert (t.lr, t.lr_scheduler_type, t.warmup_ratio, t.epochs) == (5e-7, "linear", 0.1, 1)
    assert (t.batch_size, t.grad_accum, t.global_batch_size) == (2, 4, 64)
    assert (t.mixed_precision, t.gradient_checkpointing, t.max_length) == ("bf16", True, 2048)
    assert (loss.beta, loss.response_weight, loss.debias, loss.debias_weight) == (0.1, 1.0, True, 0.2)
    from accelerate.commands.config.config_args import load_config_from_file

    ds = load_config_from_file(str(REPO / "training" / "configs" / "zero2.yaml"))
    assert ds.num_processes * t.batch_size * ds.deepspeed_config["gradient_accumulation_steps"] == 64
    assert ds.deepspeed_config["zero_stage"] == 2


def test_debias_weight_names():
    assert config_from_dict({"loss": {"tpd_gamma": 0.3}}).loss.debias_weight == 0.3
    assert config_from_dict({"loss": {"debias_weight": 0.4}}).loss.debias_weight == 0.4
    with pytest.raises(ConfigError, match=r"loss.gamma is no longer a key: use loss.debias_weight.*SFT weight"):
        config_from_dict({"loss": {"gamma": 0.2}})
    with pytest.raises(ConfigError, match="alias"):
        config_from_dict({"loss": {"tpd_gamma": 0.2, "debias_weight": 0.2}})
    for example in (REPO / "examples").glob("*.yaml"):
        load_config(example)  # every shipped example uses the current keys


def test_bad_launches_fail_before_the_first_step(monkeypatch):
    import importlib.util

    lora, full = config_from_dict({}), config_from_dict({"finetune": "full", "train": {"grad_accum": 4}})
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "deepspeed" else real(n, *a))
    with pytest.raises(ConfigError, match="pip install deepspeed"):
        check_launch(full, {"ACCELERATE_USE_DEEPSPEED": "true"})
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: object() if n == "deepspeed" else real(n, *a))
    with pytest.raises(ConfigError, match="gradient_accumulation_steps to 4"):
        check_launch(full, {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "1"})
    check_launch(full, {"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_GRADIENT_ACCUMULATION_STEPS": "4"})
    with pytest.raises(ConfigError, match="fsdp_use_orig_params: true"):
        check_launch(lora, {"ACCELERATE_USE_FSDP": "true", "FSDP_USE_ORIG_PARAMS": "false"})
    check_launch(lora, {"ACCELERATE_USE_FSDP": "true", "FSDP_USE_ORIG_PARAMS": "true"})
    check_launch(full, {"ACCELERATE_USE_FSDP": "true"})
    check_launch(lora, {})


def test_checkpointing_refused_on_a_model_without_it(tmp_path, monkeypatch):
    from emorealm.model_adapters.architectures.qwen_omni import Qwen25Omni
    from emorealm.training.trainer import Trainer

    monkeypatch.setattr(Qwen25Omni, "supports_gradient_checkpointing", lambda self, m: False)
    with pytest.raises(ConfigError, match="does not support gradient checkpointing"):
        Trainer(config_from_dict({"output_dir": str(tmp_path), "train": {"gradient_checkpointing": True}}))


def test_indivisible_global_batch_refused_before_loading(tmp_path):
    from emorealm.training.trainer import Trainer

    with pytest.raises(ConfigError, match="does not divide"):
        Trainer(config_from_dict({"output_dir": str(tmp_path), "train": {"global_batch_size": 6, "grad_accum": 4}}))


@pytest.mark.slow
def test_recipe_runs_one_step_on_tiny_omni(tmp_path):
    """The recipe as released (bf16, checkpointing, full FT, warmup ratio, max_length) with the model
    swapped for tiny-omni and the global batch cut to 4 so the step fits a CI CPU."""
    from emorealm.training.trainer import Trainer

    from support.train_launch import read_log, write_prefs

    data = write_prefs(tmp_path / "data", 4, seed=2)
    cfg = load_config(RECIPE, {"model": "tiny-omni", "data": str(data), "output_dir": str(tmp_path / "out"),
                               "media": {"max_frames": 4}})
    cfg.train.max_steps, cfg.train.global_batch_size = 1, 4
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # earlier tests fixed precision "no" in-process
    tr = Trainer(cfg)
    assert tr.batch_size == 1 and tr.acc.mixed_precision == "bf16"
    assert tr.arch.decoder_layers(tr._thinker())[0].gradient_checkpointing
    res = tr.run()
    log = read_log(tmp_path / "out")
    assert res.steps == 1 and len(log) == 1 and log[0]["lr"] == 0.0  # step 1 of warmup (ratio 0.1 of 1 step)
    assert json.loads((tmp_path / "out" / "emorealm_train.json").read_text())["config"]["loss"]["debias_weight"] == 0.2
    assert (tmp_path / "out" / "model.safetensors").exists()
    AcceleratorState._reset_state(reset_partial_state=True)
