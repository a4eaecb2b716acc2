"""Data parallel evaluation: rank and world size from ``torchrun`` / ``accelerate launch``.

lm-eval splits the requests by ``lm.rank`` / ``lm.world_size`` and collects the per-rank samples
and metrics with ``lm.all_gather`` / ``lm.gather_object`` / ``lm.barrier``. Both launchers set
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and ``MASTER_ADDR``/``MASTER_PORT``; the process group is
NCCL on CUDA and gloo on CPU (tests/test_data_parallel.py runs two gloo processes).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch


@dataclass
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def from_env() -> DistInfo:
    """The launcher's rank layout (single process when WORLD_SIZE is unset or 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1") or 1)
    if world <= 1:
        return DistInfo()
    return DistInfo(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def init(info: DistInfo, device: str) -> None:
    """Join the process group (once) with the backend that suits ``device``."""
    import torch.distributed as dist

    if not info.enabled or (dist.is_available() and dist.is_initialized()):
        return
    backend = "nccl" if device.startswith("cuda") else "gloo"
    dist.init_process_group(backend=backend, rank=info.rank, world_size=info.world_size)


def rank_device(device: str, info: DistInfo) -> str:
    """One GPU per process: ``cuda`` becomes ``cuda:<local rank>`` under a launcher."""
    if info.enabled and device == "cuda":
        return f"cuda:{info.local_rank}"
    return device


def all_gather(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate ``tensor`` (0-d tensors count as 1 element) from every rank, in rank order."""
    import torch.distributed as dist

    t = tensor.reshape(1) if tensor.dim() == 0 else tensor
    out = [torch.empty_like(t) for _ in range(dist.get_world_size())]
    dist.all_gather(out, t)
    return torch.cat(out)


def gather_object(obj: Any, dst: int = 0) -> list[Any] | None:
    import torch.distributed as dist

    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == dst else None
    dist.gather_object(obj, out, dst=dst)
    return out


def barrier() -> None:
    import torch.distributed as dist

    dist.barrier()
