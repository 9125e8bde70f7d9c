"""DistributedDataParallel plumbing: the same ``dustbench train`` command under ``torchrun``.

``torchrun --nproc-per-node K`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and
``MASTER_PORT``; :func:`setup` then joins the process group (gloo on CPU, nccl on CUDA) and picks
this process's device. Without those variables everything degrades to one process and every
helper here is a no-op, so the trainer has a single code path.
"""
from __future__ import annotations

import os
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta

import torch
import torch.distributed as dist

from ..devices import pick_device
from ..errors import DustbenchError


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None
    owns_group: bool = False  # True when setup() created the process group (and teardown ends it)

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup(device: str = "auto", backend: str | None = None, timeout_s: float = 1800) -> DistInfo:
    """Join the process group if launched by torchrun (or already joined); else a 1-process info."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1 and not (dist.is_available() and dist.is_initialized()):
        return DistInfo(device=pick_device(device))
    if not dist.is_available():
        raise DustbenchError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    local_rank = int(os.environ.get("LOCAL_RANK", os.environ.get("RANK", "0")))
    dev = pick_device(device, local_rank)
    owns = not dist.is_initialized()
    if owns:
        backend = backend or ("nccl" if dev.type == "cuda" else "gloo")
        if dev.type == "cuda":
            torch.cuda.set_device(dev)
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=timeout_s))
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dev, dist.get_backend(), owns)


def teardown(info: DistInfo) -> None:
    """Leave the process group (only if :func:`setup` created it)."""
    if info.owns_group and dist.is_initialized():
        dist.destroy_process_group()


def wrap(module: torch.nn.Module, info: DistInfo) -> torch.nn.Module:
    """``module`` wrapped in DDP when distributed and it has trainable parameters; else itself.

    ``broadcast_buffers=False``: each rank keeps its own batch-norm statistics during training
    (rank 0's are the ones saved), which avoids a broadcast per forward call; GAN steps call D
    several times per iteration.
    """
    if not info.enabled or not any(p.requires_grad for p in module.parameters()):
        return module
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [info.device.index] if info.device.type == "cuda" else None
    return DDP(module, device_ids=ids, broadcast_buffers=False)


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def any_true(flag: bool, info: DistInfo) -> bool:
    """True on every rank if ``flag`` is true on any (so all ranks stop at the same step)."""
    if not info.enabled:
        return bool(flag)
    t = torch.tensor([1.0 if flag else 0.0], device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item() > 0)


@contextmanager
def on_main_rank(info: DistInfo, make_context):
    """Enter ``make_context()`` on rank 0 only (e.g. the output folder's lock); if it fails there,
    every rank raises, instead of the others waiting in their first collective until the timeout."""
    with ExitStack() as stack:
        error = None
        if info.is_main:
            try:
                stack.enter_context(make_context())
            except DustbenchError as exc:
                error = exc
        if any_true(error is not None, info):
            raise error or DustbenchError("rank 0 could not take the output folder (see its message)")
        yield


def mean_dict(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average a dict of floats over ranks (same keys on every rank)."""
    if not info.enabled or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([float(values[k]) for k in keys], dtype=torch.float64,
                     device=info.device if info.backend == "nccl" else "cpu")
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return {k: float(v) / info.world for k, v in zip(keys, t.tolist())}
