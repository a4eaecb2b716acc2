"""Ranks that see different modalities in one step must not deadlock.

Rank 0's rows carry video and audio, rank 1's video only, so rank 1 never runs the audio tower.
With trainable towers DDP's reducer (and FSDP / ZeRO gradient reduction) would then wait for audio
tower gradients that rank 1 never produces while rank 0 all-reduces them; the trainer gives every
trainable tower weight a zero gradient on every rank (training/forward.py ``_touch_towers``). Each
run has a timeout, so a deadlock fails the test instead of hanging it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from test_train_sharded import cpu_accelerate_config

from support.train_launch import launch, read_log

pytestmark = pytest.mark.slow
DEADLOCK_S = 300  # a 2-step run takes ~30 s on an idle machine


def mixed_prefs(folder: Path, seed: int = 0) -> Path:
    """4 rows ordered so that, with the trainer's shuffle (seed ``seed``, epoch 0) and one row per
    rank per step, rank 0 gets the audio+video rows and rank 1 the video-only ones."""
    from emorealm.training.sample_prefs import toy_rows

    folder.mkdir(parents=True, exist_ok=True)
    rows = toy_rows(folder, 4, seed=3)
    av, vo = rows[:2], rows[2:]
    for r in vo:  # the prompt declares video only: no audio is loaded, the audio tower does not run
        r["prompt"] = r["prompt"].replace("<audio>\n", "").replace("voice", "face")
        r["modality"] = "video"
        r.pop("audio_l", None)
    order = torch.randperm(4, generator=torch.Generator().manual_seed(seed * 1000)).tolist()
    placed: list[dict] = [{}] * 4
    for pos, idx in enumerate(order):  # loader position pos -> rank pos % 2
        placed[idx] = (av if pos % 2 == 0 else vo)[pos // 2]
    with open(folder / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in placed)
    return folder / "prefs.jsonl"


def _cfg(data: Path, finetune: str, freeze: bool) -> dict:
    return {"model": "tiny-omni", "data": str(data), "finetune": finetune, "freeze_encoders": freeze, "seed": 0,
            "media": {"max_frames": 4}, "lora": {"r": 4, "alpha": 8},
            "train": {"global_batch_size": 2, "max_steps": 2, "lr": 1e-3, "max_completion_length": 12,
                      "mixed_precision": "no"}}


def _audio_tower(ckpt: Path) -> dict[str, torch.Tensor]:
    from emorealm.training.policy import load_thinker

    model, _, _ = load_thinker(str(ckpt))
    weights = {k: v.detach().clone() for k, v in model.state_dict().items() if "audio_tower." in k}
    assert weights
    return weights


def test_mixed_prefs_put_the_modalities_on_the_intended_ranks(tmp_path):
    from emorealm.training.data import load_preferences

    rows, _ = load_preferences(mixed_prefs(tmp_path))
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0)).tolist()
    kinds = [rows[i].prompt_media for i in order]
    assert kinds[0::2] == [("video", "audio")] * 2 and kinds[1::2] == [("video",)] * 2


@pytest.mark.parametrize("kind,finetune,freeze", [("ddp", "full", False), ("fsdp", "full", False),
                                                  ("zero2", "lora", True)])
def test_ranks_with_different_modalities_do_not_deadlock(tmp_path, kind, finetune, freeze):
    from emorealm.model_adapters.tiny_models.omni import ensure_tiny_omni

    data = mixed_prefs(tmp_path / "data")
    acc = None if kind == "ddp" else str(cpu_accelerate_config(tmp_path, kind))
    proc = launch(tmp_path, "run", _cfg(data, finetune, freeze), 2, accelerate_config=acc,
                  extra_env={"DS_ACCELERATOR": "cpu"}, cpu_flag=False, timeout=DEADLOCK_S)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = tmp_path / "run"
    assert json.loads((out / "launch.json").read_text())["world"] == 2
    log = read_log(out)
    assert [r["step"] for r in log] == [1, 2] and all(r["skipped_rows"] == 0 for r in log)
    assert all(math.isfinite(r["loss"]) for r in log)
    if not freeze:  # the audio tower trained (from rank 0's rows) though rank 1 never ran it
        before, after = _audio_tower(ensure_tiny_omni()), _audio_tower(out)
        assert any(not torch.equal(before[k], after[k]) for k in before)
