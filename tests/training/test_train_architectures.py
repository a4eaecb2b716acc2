"""The training architecture interface on Qwen3-Omni (MoE thinker, deepstack video features): our
batched shared-prefix log-probs equal the model's own full forwards, and a tiny Qwen3-Omni trains
2 AVEm-DPO steps whose checkpoint the harness evaluates."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch

from emorealm.errors import ModelError
from emorealm.media.decode import MediaSpec
from emorealm.model_adapters.architectures import architecture_of, get_architecture
from emorealm.training.collate import PreferenceCollator
from emorealm.training.data import load_preferences
from emorealm.training.forward import sequence_logps
from emorealm.training.loss import LossConfig

from support.train_launch import full_forward_logps, read_log, write_prefs


@pytest.fixture(scope="module")
def qwen3_dir(tmp_path_factory):
    from emorealm.model_adapters.random_configs import save_tiny

    return save_tiny("qwen3_omni_moe", tmp_path_factory.mktemp("q3") / "model")


def test_qwen3_logps_equal_full_forwards(qwen3_dir, tmp_path):
    arch = get_architecture("qwen3_omni_moe_thinker")
    model, proc = arch.load(str(qwen3_dir))
    assert architecture_of(model).name == "qwen3_omni_moe"
    assert proc.tokenizer.convert_ids_to_tokens(arch.end_of_turn_id(proc.tokenizer)) == "<|im_end|>"
    assert {type(m).__name__ for m in arch.towers(model)} == {"Qwen3OmniMoeAudioEncoder", "Qwen3OmniMoeVisionEncoder"}
    rows, _ = load_preferences(write_prefs(tmp_path / "d", 1, seed=8))
    batch = PreferenceCollator(proc, MediaSpec(max_frames=4), LossConfig(), max_completion_length=12,
                               end_of_turn_id=arch.end_of_turn_id(proc.tokenizer))(rows)
    with torch.no_grad():
        ours = sequence_logps(model, batch)
        padded = sequence_logps(model, batch, prefix_reuse=False)
        naive = full_forward_logps(model, batch)
    assert torch.allclose(ours, naive, atol=1e-4), (ours - naive).abs().max()
    assert torch.allclose(padded, naive, atol=1e-4), (padded - naive).abs().max()


def test_unknown_family_is_refused():
    with pytest.raises(ModelError, match="TrainArchitecture"):
        get_architecture("llama")


@pytest.mark.slow
def test_tiny_qwen3_omni_trains_and_evaluates(qwen3_dir, tmp_path):
    from emorealm.training.config import config_from_dict
    from emorealm.training.trainer import Trainer

    data = write_prefs(tmp_path / "data", 4, seed=9)
    out = tmp_path / "out"
    tr = Trainer(config_from_dict({"model": str(qwen3_dir), "data": str(data), "output_dir": str(out),
                                   "media": {"max_frames": 4}, "lora": {"r": 4, "alpha": 8},
                                   "train": {"batch_size": 2, "max_steps": 2, "lr": 5e-3,
                                             "max_completion_length": 12}}))
    assert tr.arch.name == "qwen3_omni_moe"
    lora = {k for k, p in tr.policy_model.named_parameters() if p.requires_grad}
    assert lora and all(".language_model.layers." in k and "lora_" in k for k in lora)
    before = {k: p.detach().clone() for k, p in tr.policy_model.named_parameters() if p.requires_grad}
    res = tr.run()
    assert res.steps == 2 and [r["step"] for r in read_log(out)] == [1, 2]
    assert {"response/loss", "modality/loss"} <= set(res.metrics[-1])
    after = dict(tr.policy_model.named_parameters())
    assert any(not torch.equal(before[k], after[k]) for k in before)
    assert (out / "adapter_config.json").exists()
    proc = subprocess.run([sys.executable, "-m", "emorealm", "run", "--model", "hf", "--model-args",
                           f"pretrained={out}", "--tasks", "modality_agreement", "--limit", "2",
                           "--output", str(tmp_path / "eval")], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list((tmp_path / "eval").rglob("results_*.json"))
    assert len(files) == 1
    res_json = json.loads(files[0].read_text())
    assert "modality_agreement" in res_json["results"]
