"""Multi-process training (``accelerate launch`` or ``torchrun``): a thin layer over torch.distributed.

Each process takes a share of every step's prompts (whole groups), samples
and scores them; losses are divided by the whole batch's token count and the
LoRA gradients are summed across processes, so every process takes the
same optimizer step a single process would take on the whole batch. Only
rank 0 writes the run directory. Launchers set ``WORLD_SIZE``, ``RANK``,
``LOCAL_RANK`` and the rendezvous address; without them everything is a
no-op.
"""

from __future__ import annotations

import os

import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """``(rank, world size)``, initialising the process group on first use."""
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend=backend)
    return dist.get_rank(), dist.get_world_size()


def device_for_rank() -> str | None:
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return None


def total(value: float) -> float:
    """Sum of ``value`` over the processes."""
    if not dist.is_initialized():
        return value
    t = torch.tensor([float(value)], dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return float(t.item())


def sum_gradients(params) -> None:
    """All-reduce (sum) the gradients of ``params`` across processes."""
    if not dist.is_initialized():
        return
    for p in params:
        if p.grad is not None:
            dist.all_reduce(p.grad)


def barrier() -> None:
    if dist.is_initialized():
        dist.barrier()
