"""The dustbench checkpoint file: the one place that writes, reads and rebuilds it.

A checkpoint is ``torch.save`` of a dict ``{"format": "dustbench-checkpoint", "model": NAME,
"config": {...}, "state_dict": {...}, ...}`` holding only tensors and plain Python values, so it
loads with ``torch.load(weights_only=True)``; ``create_model(NAME, **config)`` rebuilds the
network. ``dustbench train`` adds ``channels``, ``meta`` (steps, wall time, validation, ...) and
``train_state`` (everything needed to resume; see :mod:`dustbench.train.state`).
``dustbench evaluate RUN/checkpoint.pt``, ``export`` and ``--resume`` all read it through here.
"""
from __future__ import annotations

from pathlib import Path

import torch

from ..errors import DustbenchError
from ..io import atomic_path
from ..safe_torch import UnsafeModelError, load_weights
from .registry import create_model
from .task import task_class

CHECKPOINT_FORMAT = "dustbench-checkpoint"
CHECKPOINT_NAME = "checkpoint.pt"
HOW_TO_EXPORT = ("export the model instead: `torch.jit.script(model).save('model.pt')`, "
                 "`torch.export.save(torch.export.export(model, (x,), dynamic_shapes=...), 'model.pt2')`, "
                 "or a dustbench checkpoint via dustbench.models.checkpoint.write_checkpoint / `dustbench export`")


def write_checkpoint(path, model: torch.nn.Module, name: str, config: dict, **extra) -> None:
    """Write ``model`` as a checkpoint (atomically); ``extra`` (plain values and tensors) is stored alongside.

    ``name``/``config`` must rebuild it with ``dustbench.models.create_model(name, **config)``.
    """
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        torch.save({"format": CHECKPOINT_FORMAT, "model": name, "config": dict(config), "state_dict": state,
                    **extra}, tmp)


def read_checkpoint(path, map_location="cpu") -> dict:
    """A checkpoint's dict (``path`` may be a run folder), read without arbitrary unpickling.

    DustbenchError naming the file when it is missing, unsafe, unreadable or not a checkpoint.
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise DustbenchError(f"{path}: no such checkpoint")
    try:
        ckpt = load_weights(path, path, map_location=map_location)
    except UnsafeModelError as exc:
        raise UnsafeModelError(f"{exc}; {HOW_TO_EXPORT}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
        what = "a bare state_dict" if isinstance(ckpt, dict) and ckpt and all(
            isinstance(v, torch.Tensor) for v in ckpt.values()) else f"a {type(ckpt).__name__}"
        raise DustbenchError(f"{path}: holds {what}, not a dustbench checkpoint (a dict with "
                             f"format={CHECKPOINT_FORMAT!r}, model, config, state_dict); {HOW_TO_EXPORT}")
    for key in ("model", "config", "state_dict"):
        if key not in ckpt:
            raise DustbenchError(f"{path}: dustbench checkpoint lacks {key!r}")
    return ckpt


def build_model(ckpt: dict, where="checkpoint") -> torch.nn.Module:
    """The network a checkpoint describes, with its weights, in eval mode."""
    try:
        model = create_model(ckpt["model"], **ckpt["config"])
        model.load_state_dict(ckpt["state_dict"], strict=True)
    except DustbenchError as exc:
        raise DustbenchError(f"{where}: {exc}") from None
    except (RuntimeError, TypeError) as exc:
        brief = " ".join(str(exc).split())[:300]
        raise DustbenchError(f"{where}: weights do not fit model {ckpt['model']!r}: {brief}") from None
    return model.eval()


def checkpoint_channels(ckpt: dict) -> int | None:
    """Input channels the checkpoint's network takes, when it says."""
    config = ckpt["config"]
    return ckpt.get("channels") or (config.get("in_channels") if isinstance(config, dict) else None)


def file_info(ckpt: dict) -> dict:
    """What a file of this checkpoint's family says about itself (e.g. a detector's settings)."""
    options = (ckpt.get("train_state") or {}).get("task_options") or {}
    return task_class(ckpt["model"]).file_info(options)
