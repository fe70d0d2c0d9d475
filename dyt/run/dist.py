"""Distributed data parallel under torchrun: NCCL on GPUs, gloo on CPUs; a no-op for one process."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _export_slurm_env() -> None:
    """Under submitit on several SLURM tasks, turn SLURM's variables into torch's (RANK, WORLD_SIZE, ...)."""
    if "WORLD_SIZE" in os.environ or int(os.environ.get("SLURM_NTASKS", "1")) <= 1:
        return
    try:
        from submitit.helpers import TorchDistributedEnvironment

        TorchDistributedEnvironment().export()
    except (ImportError, RuntimeError):  # not a submitit job: plain srun users export these themselves
        return


def init_distributed(device_name: str = "auto") -> DistInfo:
    """Join the process group torchrun (or submitit on SLURM) describes; one process needs nothing."""
    _export_slurm_env()
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistInfo()
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    use_cuda = torch.cuda.is_available() and device_name in ("auto", "cuda")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if use_cuda else "gloo")
    return DistInfo(rank, world_size, local_rank)


def mean_over_ranks(value: float, info: DistInfo, device: torch.device) -> float:
    if not info.enabled:
        return value
    t = torch.tensor([value], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.item() / info.world_size


def any_rank(flag: bool, info: DistInfo, device: torch.device) -> bool:
    """True on every rank if it is true on one (so all ranks stop at the same step)."""
    if not info.enabled:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())
