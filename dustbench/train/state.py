"""The resumable part of a training checkpoint: ``train_state``, beside the network's weights.

``RUN/checkpoint.pt`` is a dustbench checkpoint (:mod:`dustbench.models.checkpoint`), so
:func:`dustbench.methods.load_model_file` and ``dustbench evaluate RUN/checkpoint.pt`` read it
directly, plus a ``train_state`` entry with everything needed to continue exactly: every module
and optimizer state, the step, epoch and batch position, wall time so far, the log rows, and the
RNG states. Writes are atomic (temp file + rename): a run killed while saving keeps its previous
checkpoint.
"""
from __future__ import annotations

import torch

from ..errors import DustbenchError
from ..models.checkpoint import write_checkpoint

STATE_VERSION = 1


def rng_state(device: torch.device) -> dict:
    """Torch's global RNG states (CPU, and CUDA when used). Data order never depends on them."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _cpu(obj):
    """A state dict (nested dicts/lists of tensors) with every tensor moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_train_checkpoint(path, *, model_name: str, model_config: dict, modules: dict, optimizers: dict,
                          position: dict, train_config: dict, task_options: dict, notes: dict,
                          log_rows: list, rng: dict, meta: dict, channels: int = 3) -> None:
    """Write the resumable checkpoint atomically; ``modules["model"]`` is the exported network."""
    write_checkpoint(path, modules["model"], model_name, model_config, channels=channels, meta=meta, train_state={
        "version": STATE_VERSION,
        "modules": {k: _cpu(m.state_dict()) for k, m in modules.items() if k != "model"},
        "optimizers": {k: _cpu(o.state_dict()) for k, o in optimizers.items()},
        "position": dict(position),
        "train_config": train_config,
        "task_options": task_options,
        "notes": notes,
        "log_rows": log_rows,
        "rng": _cpu(rng),
    })


def lay_out_optimizer_state(optimizers: dict, memory_format: torch.memory_format) -> None:
    """Every 4-D tensor of the optimizers' state (Adam's moments of conv weights) in ``memory_format``,
    as its parameter: a run resumed in another layout than it was saved in keeps its values."""
    for opt in optimizers.values():
        for state in opt.state.values():
            for k, v in state.items():
                if torch.is_tensor(v) and v.ndim == 4:
                    state[k] = v.contiguous(memory_format=memory_format)


def train_state(ckpt: dict, path="checkpoint") -> dict:
    """The resumable part of a checkpoint (DustbenchError if it is a weights-only checkpoint)."""
    state = ckpt.get("train_state")
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise DustbenchError(f"{path}: holds weights only (or a newer format); it cannot resume training")
    return state


def restore_modules(state: dict, ckpt: dict, modules: dict, optimizers: dict) -> None:
    """Load every module and optimizer state from a checkpoint into the freshly built ones."""
    try:
        modules["model"].load_state_dict(ckpt["state_dict"], strict=True)
        for k, m in modules.items():
            if k != "model":
                m.load_state_dict(state["modules"][k], strict=True)
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise DustbenchError(f"checkpoint does not fit the model being trained ({' '.join(str(exc).split())[:300]}); "
                             "resume with the same model and config") from None
