"""Multi-process training: a 2-process CPU DDP (gloo) smoke test, and the ready-made accelerate
configs (DDP, DeepSpeed ZeRO-2, FSDP) load through accelerate."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent("""
    import sys, torch
    from emorealm.training.config import config_from_dict
    from emorealm.training.trainer import Trainer
    out = sys.argv[1]
    cfg = config_from_dict({"model": "tiny-omni", "data": sys.argv[2], "output_dir": out,
                            "media": {"max_frames": 4}, "lora": {"r": 4, "alpha": 8},
                            "train": {"batch_size": 1, "max_steps": 2, "lr": 0.01, "max_completion_length": 12}})
    tr = Trainer(cfg)
    init = {k: v.detach().clone() for k, v in tr.policy_model.named_parameters() if v.requires_grad}
    res = tr.run()
    rank = tr.acc.process_index
    now = {k: v.detach().clone() for k, v in tr.policy_model.named_parameters() if v.requires_grad}
    torch.save({"init": init, "final": now, "world": tr.acc.num_processes,
                "type": str(tr.acc.distributed_type), "steps": res.steps}, f"{out}/rank{rank}.pt")
""")


@pytest.mark.slow
def test_two_process_cpu_ddp_gloo(tmp_path):
    import torch

    from emorealm.training.sample_prefs import toy_rows

    data = tmp_path / "data"
    data.mkdir()
    with open(data / "prefs.jsonl", "w") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in toy_rows(data, 4, seed=21))
    script = tmp_path / "ddp_train.py"
    script.write_text(_SCRIPT)
    out = tmp_path / "out"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", "29633",
         str(script), str(out), str(data / "prefs.jsonl")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0, r1 = (torch.load(out / f"rank{i}.pt") for i in (0, 1))
    assert r0["world"] == r1["world"] == 2 and "MULTI_CPU" in r0["type"]
    assert r0["steps"] == r1["steps"] == 2
    # the ranks saw different rows, yet gradients were all-reduced: identical weights that moved
    for k in r0["final"]:
        assert torch.equal(r0["final"][k], r1["final"][k]), k
    assert any(not torch.equal(r0["init"][k], r0["final"][k]) for k in r0["final"])
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [1, 2]  # written once, by the main process
    assert (out / "adapter_config.json").exists()


@pytest.mark.parametrize("name,kind", [("ddp", "MULTI_GPU"), ("zero2", "DEEPSPEED"), ("fsdp", "FSDP")])
def test_accelerate_configs_load(name, kind):
    from accelerate.commands.config.config_args import load_config_from_file

    cfg = load_config_from_file(str(REPO / "training" / "configs" / f"{name}.yaml"))
    assert str(cfg.distributed_type).endswith(kind)
    assert cfg.num_processes >= 2 and cfg.mixed_precision == "bf16"
    if name == "zero2":
        assert cfg.deepspeed_config["zero_stage"] == 2
    if name == "fsdp":
        import transformers.models.qwen2_5_omni.modeling_qwen2_5_omni as m
        from accelerate.utils import FullyShardedDataParallelPlugin

        layer = cfg.fsdp_config["fsdp_transformer_layer_cls_to_wrap"]
        assert hasattr(m, layer)  # the wrap class exists in the installed transformers
        plugin = FullyShardedDataParallelPlugin(
            fsdp_version=1, sharding_strategy=cfg.fsdp_config["fsdp_sharding_strategy"],
            auto_wrap_policy="transformer_based_wrap", transformer_cls_names_to_wrap=[layer],
            use_orig_params=True)
        assert plugin.transformer_cls_names_to_wrap == [layer]
