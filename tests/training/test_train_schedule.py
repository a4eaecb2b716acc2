"""The LR schedule: the LR of every optimizer step is the same on any number of processes for the same
global batch (accelerate would step a prepared scheduler once per process), warmup_ratio, cosine."""

from __future__ import annotations

import math

import pytest
import torch

from emorealm.errors import ConfigError
from emorealm.training.config import TrainSettings
from emorealm.training.launch import build_scheduler, per_device_batch, warmup_steps

from support.train_launch import launch, read_log, write_prefs


def _lrs(t: TrainSettings, total: int) -> list[float]:
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=t.lr)
    sch = build_scheduler(opt, t, total)
    out = []
    for _ in range(total):
        out.append(sch.get_last_lr()[0])
        opt.step()
        sch.step()
    return out


def test_schedules_by_hand():
    # linear, warmup ratio 0.1 of 20 steps = 2 steps: 0, lr/2, then down to 0 at step 20
    lrs = _lrs(TrainSettings(lr=1.0, warmup_ratio=0.1), 20)
    assert lrs[:3] == pytest.approx([0.0, 0.5, 1.0])
    assert lrs[10] == pytest.approx((20 - 10) / 18) and lrs[-1] == pytest.approx(1 / 18)
    assert warmup_steps(TrainSettings(warmup_ratio=0.1), 25) == 3  # ceil, as transformers
    # cosine, warmup 2 steps of 10
    cos = _lrs(TrainSettings(lr=2.0, warmup_steps=2, lr_scheduler_type="cosine"), 10)
    expect = [2.0 * s / 2 if s < 2 else 2.0 * 0.5 * (1 + math.cos(math.pi * (s - 2) / 8)) for s in range(10)]
    assert cos == pytest.approx(expect)
    assert _lrs(TrainSettings(lr=3.0, lr_scheduler_type="constant"), 4) == [3.0] * 4


def test_schedule_and_batch_settings_refused():
    from emorealm.training.config import config_from_dict

    with pytest.raises(ConfigError, match="not both"):
        config_from_dict({"train": {"warmup_steps": 2, "warmup_ratio": 0.1}})
    with pytest.raises(ConfigError, match="lr_scheduler_type"):
        config_from_dict({"train": {"lr_scheduler_type": "polynomial-ish"}})
    with pytest.raises(ConfigError, match="warmup_ratio"):
        config_from_dict({"train": {"warmup_ratio": 1.5}})
    t = TrainSettings(global_batch_size=64, grad_accum=4)
    assert per_device_batch(t, 8) == 2 and per_device_batch(t, 1) == 16
    with pytest.raises(ConfigError, match="does not divide by processes x grad_accum = 3 x 4"):
        per_device_batch(t, 3)
    assert per_device_batch(TrainSettings(batch_size=5), 3) == 5


@pytest.mark.slow
def test_one_vs_two_processes_same_lr_and_loss(tmp_path):
    """Full fine-tuning, global batch 2: 1 process x 2 rows vs 2 gloo processes x 1 row."""
    data = write_prefs(tmp_path / "data", 6, seed=4)
    cfg = {"model": "tiny-omni", "data": str(data), "finetune": "full", "media": {"max_frames": 4},
           "train": {"global_batch_size": 2, "max_steps": 3, "lr": 1e-3, "warmup_steps": 1,
                     "max_completion_length": 10, "mixed_precision": "no"}}
    runs = {}
    for n in (1, 2):
        proc = launch(tmp_path, f"p{n}", cfg, n)
        assert proc.returncode == 0, proc.stderr[-3000:]
        runs[n] = read_log(tmp_path / f"p{n}")
    one, two = runs[1], runs[2]
    assert [r["step"] for r in one] == [r["step"] for r in two] == [1, 2, 3]
    # warmup 1 step then linear decay over 3 steps: 0, lr, lr/2 — on both
    assert [r["lr"] for r in one] == [r["lr"] for r in two] == pytest.approx([0.0, 1e-3, 5e-4])
    for a, b in zip(one, two, strict=True):
        assert abs(a["loss"] - b["loss"]) < 1e-4, (a["loss"], b["loss"])
    assert one[2]["loss"] != pytest.approx(one[1]["loss"], abs=1e-6)  # the weights moved: the check can fail
