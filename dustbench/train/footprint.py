"""What a training run will hold in memory, said before it starts.

A family's default width can need gigabytes at the default batch (``segnet`` at its paper width,
29.5 M parameters: 4.1 GiB at batch 32 × 128²). Before the first step the trainer
measures one step at batch 1 on a copy of the task, counting what autograd keeps for the backward
pass (``torch.autograd.graph.saved_tensors_hooks``), and scales it:

    need ≈ this process so far (interpreter, torch, the data, the weights)
           + parameters × (gradients + optimizer state) + activations of one sample × batch

The optimizer state is what the copy's optimizers hold after their step (Adam: two moments per
parameter). Left out: the backward pass's own temporaries and the allocator's slack, so it is a
floor (under ``--amp bf16`` the activations are measured in float32, about twice theirs). The
copy doubles the model and its optimizer state for a moment. Measured at the default batch 32 × 128² on the 2-core VM (peak RSS over two steps): segnet
said 3.47 GB, used 4.08 GiB; dust_gan 1.58 GB, 2.37 GiB; fastdet 0.54 GB, 0.79 GiB. The CLI prints
it, and says so when it exceeds the memory the machine has.
"""
from __future__ import annotations

import contextlib
import copy
import os
import sys
from dataclasses import dataclass

import torch

from . import state as ckpt_io

CHANNELS = 3  # the trainer's patches are RGB


@dataclass(frozen=True)
class Footprint:
    parameters: int
    process_bytes: int  # resident before the first step: interpreter, torch, the data, the weights
    state_bytes: int  # gradients and optimizer state
    activation_bytes_per_sample: int  # saved for the backward pass, at the run's patch size
    batch_size: int
    patch: int

    @property
    def total_bytes(self) -> int:
        return self.process_bytes + self.state_bytes + self.activation_bytes_per_sample * self.batch_size

    def describe(self) -> str:
        gb = lambda b: f"{b / 1e9:.2f} GB"  # noqa: E731
        return (f"{self.parameters / 1e6:.2f} M parameters; batch {self.batch_size} × {self.patch}² needs at least "
                f"{gb(self.total_bytes)} (this process so far {gb(self.process_bytes)}, gradients and "
                f"optimizer state {gb(self.state_bytes)}, activations "
                f"{gb(self.activation_bytes_per_sample * self.batch_size)}; data workers apart)")


def measure(task, batch_size: int, patch: int, device: torch.device,
            memory_format: torch.memory_format = torch.contiguous_format) -> Footprint:
    """One training step of a copy of ``task`` (its modules and optimizers) at batch 1 on random
    patches laid out as the run's (``memory_format``), its memory scaled to the run. The random state
    is left as it was."""
    before = resident_bytes()
    twin = copy.deepcopy(task)  # one deepcopy: the copied optimizers hold the copied parameters
    twin.autocast = contextlib.nullcontext  # bf16 copies of the weights would count as activations
    params = [p for m in twin.modules().values() for p in m.parameters()]
    weights_at = {p.untyped_storage().data_ptr() for p in params}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor):
        ptr = t.untyped_storage().data_ptr()
        if ptr and ptr not in weights_at:  # a layer keeps its weight too: counted with the state
            saved[ptr] = t.untyped_storage().nbytes()
        return t

    gen = torch.Generator().manual_seed(0)
    batch = {k: torch.rand(1, c, patch, patch, generator=gen).to(device).contiguous(memory_format=memory_format)
             for k, c in (("damaged", CHANNELS), ("clean", CHANNELS), ("mask", 1))}
    rng = ckpt_io.rng_state(device)
    try:
        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            twin.training_step(batch, 0)
    finally:
        ckpt_io.set_rng_state(rng, device)  # the run draws as if this step never happened
    weights = sum(p.numel() * p.element_size() for p in params)
    state = sum(v.numel() * v.element_size() for opt in twin.optimizers.values() for s in opt.state.values()
                for k, v in s.items() if torch.is_tensor(v) and k != "step")  # Adam: exp_avg, exp_avg_sq
    return Footprint(parameters=sum(p.numel() for p in params), process_bytes=before, state_bytes=weights + state,
                     activation_bytes_per_sample=sum(saved.values()), batch_size=int(batch_size), patch=int(patch))


def resident_bytes() -> int:
    """This process's resident memory now (Linux ``/proc/self/statm``; elsewhere its peak so far)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def machine_memory_bytes() -> int | None:
    """Physical memory (Linux/macOS sysconf), or None when it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None
