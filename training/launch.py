"""Launch-time checks and the learning-rate schedule of the trainer (docs/avem-dpo.md).

Everything here runs before the first optimizer step, so a bad launch fails in seconds with a
message naming the fix instead of hours into a run.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping

from emorealm.errors import ConfigError
from emorealm.options import parse_bool
from emorealm.training.config import TrainConfig, TrainSettings


def _flag(env: Mapping[str, str], name: str) -> bool:
    return parse_bool(env.get(name, ""), f"environment variable {name}")


def check_launch(cfg: TrainConfig, env: Mapping[str, str] | None = None) -> None:
    """Refuse launch settings that would crash or silently mistrain, from accelerate's environment
    (``accelerate launch`` exports the config file as ``ACCELERATE_*`` / ``FSDP_*`` variables)."""
    env = os.environ if env is None else env
    if _flag(env, "ACCELERATE_USE_DEEPSPEED"):
        if importlib.util.find_spec("deepspeed") is None:
            raise ConfigError("the accelerate config asks for DeepSpeed, which is not installed: "
                              "`pip install deepspeed` (or launch with training/configs/ddp.yaml or fsdp.yaml)")
        ds_accum = env.get("ACCELERATE_GRADIENT_ACCUMULATION_STEPS")
        if ds_accum and ds_accum != "auto" and int(ds_accum) != cfg.train.grad_accum:
            raise ConfigError(f"the DeepSpeed config accumulates {ds_accum} micro-batches but train.grad_accum is "
                              f"{cfg.train.grad_accum}: set deepspeed_config.gradient_accumulation_steps to "
                              f"{cfg.train.grad_accum} in the accelerate config")
    if _flag(env, "ACCELERATE_USE_FSDP") and cfg.finetune == "lora" and not _flag(env, "FSDP_USE_ORIG_PARAMS"):
        raise ConfigError("FSDP with finetune: lora needs `fsdp_use_orig_params: true` in the accelerate config "
                          "(FSDP would otherwise flatten frozen and trainable weights into one parameter)")


def enable_cpu_fsdp(acc, env: Mapping[str, str] | None = None) -> bool:
    """Honour an FSDP accelerate config on CPU processes (gloo); True when switched.

    accelerate 1.15 turns FSDP on only for accelerator devices: on CPU it silently falls back to
    plain multi-CPU DDP, so the FSDP config would be ignored. torch's FSDP itself runs on CPU with
    gloo, so the state is switched to FSDP with the plugin built from accelerate's ``FSDP_*``
    variables (what the GPU path does). Used by the CPU tests of sharded training.
    """
    import torch
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    env = os.environ if env is None else env
    if not _flag(env, "ACCELERATE_USE_FSDP") or acc.distributed_type != DistributedType.MULTI_CPU:
        return False
    acc.state.fsdp_plugin = FullyShardedDataParallelPlugin()
    acc.state.distributed_type = DistributedType.FSDP
    PartialState._shared_state["distributed_type"] = DistributedType.FSDP  # what a later AcceleratorState() reads
    # FSDP1 compares its compute device ("cpu") with the device_id accelerate passes ("cpu:<index>")
    acc.state.device = torch.device("cpu")
    return True


def fix_cpu_deepspeed(acc) -> bool:
    """Give accelerate the real world size under DeepSpeed on CPU processes; True when fixed.

    On CPU, accelerate 1.15 hands DeepSpeed no backend: DeepSpeed initialises the process group
    itself (gloo, from ``WORLD_SIZE``), but accelerate records "no distributed backend" and tells
    every rank it is process 0 of 1 — every rank would then read all the data, act as the main
    process and size DeepSpeed's batch for one process. The numbers are taken from the process group.
    """
    import torch
    from accelerate.state import PartialState
    from accelerate.utils import DistributedType

    if (acc.distributed_type != DistributedType.DEEPSPEED or not torch.distributed.is_initialized()
            or acc.num_processes == torch.distributed.get_world_size()):
        return False
    fixed = {"num_processes": torch.distributed.get_world_size(), "process_index": torch.distributed.get_rank(),
             "local_process_index": int(os.environ.get("LOCAL_RANK", torch.distributed.get_rank())),
             "backend": torch.distributed.get_backend()}
    PartialState._shared_state.update(fixed)
    for k, v in fixed.items():
        setattr(acc.state, k, v)
    return True


def per_device_batch(t: TrainSettings, num_processes: int) -> int:
    """Rows per device per micro-batch: ``train.batch_size``, or derived from ``train.global_batch_size``."""
    if t.global_batch_size is None:
        return t.batch_size
    per_step = num_processes * t.grad_accum
    if t.global_batch_size % per_step:
        raise ConfigError(f"train.global_batch_size {t.global_batch_size} does not divide by processes x grad_accum "
                          f"= {num_processes} x {t.grad_accum}; use a multiple of {per_step} or change grad_accum")
    return t.global_batch_size // per_step


def warmup_steps(t: TrainSettings, total_steps: int) -> int:
    """Warmup length in optimizer steps: ``warmup_steps``, else ``ceil(warmup_ratio * total)`` (as transformers)."""
    import math

    return t.warmup_steps if t.warmup_steps else math.ceil(t.warmup_ratio * total_steps)


def build_scheduler(optimizer, t: TrainSettings, total_steps: int):
    """transformers' schedule of ``t.lr_scheduler_type`` over ``total_steps`` *optimizer* steps; the
    caller steps it once per optimizer step (never through ``accelerate.prepare``)."""
    from transformers import get_scheduler

    name = "constant_with_warmup" if t.lr_scheduler_type == "constant" else t.lr_scheduler_type
    return get_scheduler(name, optimizer, num_warmup_steps=warmup_steps(t, total_steps),
                         num_training_steps=total_steps)
