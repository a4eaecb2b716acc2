"""Trainer end to end on tiny-omni: LoRA and full fine-tuning, checkpoints the harness loads,
resume, merge."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from emorealm.training.config import config_from_dict, load_config
from emorealm.training.trainer import Trainer

from support.train_launch import write_prefs


@pytest.fixture(scope="module")
def prefs(tmp_path_factory):
    return write_prefs(tmp_path_factory.mktemp("prefs"), 4, seed=11)


def _cfg(prefs, out, **kw):
    base = {"model": "tiny-omni", "data": str(prefs), "output_dir": str(out), "seed": 0,
            "media": {"max_frames": 4}, "lora": {"r": 4, "alpha": 8},
            "train": {"batch_size": 2, "max_steps": 2, "lr": 5e-3, "max_completion_length": 16}}
    for k, v in kw.items():
        if isinstance(v, dict):
            base[k] = {**base.get(k, {}), **v}
        else:
            base[k] = v
    return config_from_dict(base)


def _lm_state(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def test_lora_training_saves_an_adapter_the_harness_loads(prefs, tmp_path):
    from emorealm.model_adapters.hf import load_model

    out = tmp_path / "lora"
    tr = Trainer(_cfg(prefs, out, train={"save_steps": 1}))
    before = {k: v.clone() for k, v in tr.policy_model.named_parameters() if "lora_B" in k}
    frozen_before = tr._thinker().model.audio_tower.conv1.weight.clone()
    res = tr.run()
    assert res.steps == 2 and len(res.metrics) == 2
    for k in ("loss", "response/acc_vr", "response/margin_er", "modality/acc", "modality/margin"):
        assert k in res.metrics[-1]
    after = dict(tr.policy_model.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)  # adapters learned something
    assert torch.equal(frozen_before, tr._thinker().model.audio_tower.conv1.weight)  # encoders frozen
    assert not any("audio_tower" in k or "visual" in k for k in before)  # LoRA only on the language model
    assert (out / "adapter_config.json").exists() and (out / "emorealm_tiny_omni.json").exists()
    # the training media travel with the checkpoint (max_frames 4 differs from qwen-reference's 768)
    assert json.loads((out / "emorealm_media.json").read_text())["media"] == {"max_frames": 4}
    assert (out / "checkpoints" / "checkpoint-2").is_dir()
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]
    # the harness's own loader takes the adapter folder as pretrained=<folder> (contracts §7)
    from emorealm.model_adapters.hf import resolve_checkpoint

    base, peft = resolve_checkpoint(str(out), None)
    model, _ = load_model(base, peft)
    assert type(model).__name__ == "PeftModel"
    sd = model.state_dict()
    k = next(k for k in sd if "lora_B" in k)
    assert torch.equal(sd[k], after[k].detach())

    # resume from the step-1 checkpoint reproduces step 2's loss exactly
    tr2 = Trainer(_cfg(prefs, tmp_path / "lora", resume_from_checkpoint=str(out / "checkpoints/checkpoint-1")))
    res2 = tr2.run()
    assert res2.steps == 2 and len(res2.metrics) == 1
    assert res2.metrics[0]["loss"] == pytest.approx(res.metrics[1]["loss"], abs=1e-6)

    # merge: the merged full checkpoint scores like base + adapter
    from emorealm.training.merge import merge_adapter

    merged = merge_adapter(out, tmp_path / "merged")
    full, proc = load_model(str(merged))
    ids = proc.tokenizer("The voice sounds happy.", return_tensors="pt")
    with torch.no_grad():
        a = model(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
        b = full(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"]).logits
    assert torch.allclose(a, b, atol=1e-5)
    assert (merged / "emorealm_tiny_omni.json").exists()
    assert json.loads((merged / "emorealm_media.json").read_text())["media"] == {"max_frames": 4}


def test_full_finetune_freezes_encoders_and_saves_full_weights(prefs, tmp_path):
    from emorealm.model_adapters.hf import load_model

    out = tmp_path / "full"
    tr = Trainer(_cfg(prefs, out, finetune="full", train={"max_steps": 1, "batch_size": 1},
                      loss={"debias": False}))
    before = _lm_state(tr._thinker())
    tr.run()
    after = _lm_state(tr._thinker())
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert any(k.startswith("model.language_model") for k in changed)
    assert not any(k.startswith(("model.audio_tower", "model.visual")) for k in changed)
    # the frozen reference copy did not move
    ref = tr.ref_model.state_dict()
    assert all(torch.equal(ref[k], before[k]) for k in before)
    assert (out / "model.safetensors").exists() and not (out / "adapter_config.json").exists()
    model, _ = load_model(str(out))
    assert torch.equal(model.state_dict()["lm_head.weight"], after["lm_head.weight"])


def test_example_config_loads_and_bad_configs_fail(tmp_path):
    from emorealm.errors import ConfigError

    cfg = load_config(Path(__file__).resolve().parents[2] / "examples" / "avem_dpo_tiny.yaml", {"output_dir": str(tmp_path)})
    assert cfg.output_dir == str(tmp_path) and cfg.loss.debias_weight == 0.2 and cfg.loss.beta == 0.1
    from emorealm.model_adapters.architectures.qwen_omni import Qwen25Omni

    assert cfg.lora.target_regex(Qwen25Omni.lora_scope).startswith(r"model\.language_model")
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"trian": {}})
    with pytest.raises(ConfigError, match="unknown key"):
        config_from_dict({"loss": {"gama": 1}})
    with pytest.raises(ConfigError, match="lora keeps the encoders frozen"):
        config_from_dict({"freeze_encoders": False})
