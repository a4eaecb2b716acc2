"""Sharded training that really runs: FSDP and DeepSpeed ZeRO-2 on 2 CPU processes (gloo).

Each sharded run uses the shipped accelerate config (training/configs/fsdp.yaml, zero2.yaml) with
only what a CPU needs changed (2 processes, no bf16, no module-state broadcast), and is compared with
a 1-process run of the same global batch: the same LR and loss per optimizer step (1e-4), the same
saved weights (1e-5), a checkpoint that reloads with ``from_pretrained`` and evaluates through
``python -m emorealm run`` with zero errors.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from support.train_launch import REPO, launch, read_log, write_prefs

pytestmark = pytest.mark.slow

TRAIN = {"global_batch_size": 2, "max_steps": 3, "lr": 1e-3, "warmup_steps": 1, "max_completion_length": 10,
         "mixed_precision": "no"}
WRAPPER = {"fsdp": "FullyShardedDataParallel", "zero2": "DeepSpeedEngine"}


def cpu_accelerate_config(tmp: Path, kind: str, nproc: int = 2) -> Path:
    """The shipped config of ``kind`` for ``nproc`` CPU processes."""
    cfg = yaml.safe_load((REPO / "training" / "configs" / f"{kind}.yaml").read_text())
    cfg.update(num_processes=nproc, mixed_precision="no")
    if kind == "fsdp":
        cfg["fsdp_config"]["fsdp_sync_module_states"] = False  # accelerate's broadcast needs a GPU
    if kind == "zero2":
        cfg["deepspeed_config"]["gradient_accumulation_steps"] = 1  # = train.grad_accum
    path = tmp / f"{kind}-cpu.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


@pytest.fixture(scope="module")
def work(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharded")
    return {"tmp": tmp, "data": write_prefs(tmp / "data", 6, seed=4), "base": {}}


def _cfg(work, finetune: str) -> dict:
    return {"model": "tiny-omni", "data": str(work["data"]), "finetune": finetune, "media": {"max_frames": 4},
            "lora": {"r": 4, "alpha": 8}, "train": TRAIN}


def _one_process(work, finetune: str) -> Path:
    if finetune not in work["base"]:
        proc = launch(work["tmp"], f"one-{finetune}", _cfg(work, finetune), 1)
        assert proc.returncode == 0, proc.stderr[-3000:]
        work["base"][finetune] = work["tmp"] / f"one-{finetune}"
    return work["base"][finetune]


def _weights(ckpt: Path, finetune: str) -> dict[str, torch.Tensor]:
    """Every tensor of the checkpoint, loaded back with ``from_pretrained``."""
    from emorealm.training.policy import load_thinker

    if finetune == "full":
        model, _, _ = load_thinker(str(ckpt))
        return {k: v.detach().clone() for k, v in model.state_dict().items()}
    from peft import PeftModel

    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    base, _, _ = load_thinker(str(ensure_tiny_omni()))
    model = PeftModel.from_pretrained(base, str(ckpt))
    return {k: v.detach().clone() for k, v in model.named_parameters() if "lora_" in k}


def _evaluate(ckpt: Path, out: Path) -> dict:
    proc = subprocess.run([sys.executable, "-m", "emorealm", "run", "--model", "hf", "--model-args",
                           f"pretrained={ckpt}", "--tasks", "modality_agreement", "--limit", "2",
                           "--output", str(out)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    files = list(out.rglob("results_*.json"))
    assert len(files) == 1
    return json.loads(files[0].read_text())


@pytest.mark.parametrize("kind,finetune", [("fsdp", "full"), ("zero2", "full"), ("fsdp", "lora")])
def test_sharded_training_equals_one_process(work, kind, finetune):
    tmp = work["tmp"]
    base = _one_process(work, finetune)
    name = f"{kind}-{finetune}"
    proc = launch(tmp, name, _cfg(work, finetune), 2, accelerate_config=str(cpu_accelerate_config(tmp, kind)),
                  extra_env={"DS_ACCELERATOR": "cpu"}, cpu_flag=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp / name
    info = json.loads((out / "launch.json").read_text())
    # really sharded: two ranks, the policy wrapped by FSDP / the DeepSpeed engine
    assert info["world"] == 2 and info["batch_size"] == 1 and info["wrapper"] == WRAPPER[kind], info
    one, two = read_log(base), read_log(out)
    assert [r["step"] for r in one] == [r["step"] for r in two] == [1, 2, 3]
    assert [r["lr"] for r in one] == pytest.approx([0.0, 1e-3, 5e-4])
    assert [r["lr"] for r in two] == pytest.approx([r["lr"] for r in one])
    for a, b in zip(one, two, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (a["step"], a["loss"], b["loss"])
    assert abs(two[2]["loss"] - two[1]["loss"]) > 1e-3  # the weights moved, so the comparison can fail
    # the saved checkpoint: reloads, equals the 1-process one, differs from the start
    w1, w2 = _weights(base, finetune), _weights(out, finetune)
    assert w1.keys() == w2.keys() and w1
    for k in w1:
        assert torch.allclose(w1[k], w2[k], atol=1e-5), (k, (w1[k] - w2[k]).abs().max())
    if finetune == "lora":
        assert any(v.abs().max() > 0 for k, v in w2.items() if "lora_B" in k)  # B moved off its zero start
    else:
        w0 = _weights(_start(work), "full")
        assert any(not torch.equal(w0[k], w2[k]) for k in w2)
    res = _evaluate(out, tmp / f"eval-{name}")
    assert res["emorealm"]["n_errors"] == {"modality_agreement": 0}
    samples = list((tmp / f"eval-{name}").rglob("samples_modality_agreement_*.jsonl"))
    assert len(samples) == 1 and len(samples[0].read_text().splitlines()) == 2


def _start(work) -> Path:
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    return ensure_tiny_omni()
