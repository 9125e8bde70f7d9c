"""The shared trainer: one loop for every model family (checkpoints, exact resume, DDP), and export.

    >>> from dustbench.train import TrainConfig, train, export_model
    >>> result = train(TrainConfig("dust_gan", out="runs/gan", data="builtin-train", max_steps=1000))
    >>> export_model(result.checkpoint, "model.pt")      # TorchScript + model card

A model family plugs in through a :class:`Task` (see :mod:`dustbench.train.trainer`); the CLI is
``dustbench train MODEL --data ... --out RUN`` and ``dustbench export RUN/checkpoint.pt -o model.pt``.
"""
from __future__ import annotations

from .trainer import RESUME_OVERRIDES, SupervisedTask, Task, TrainConfig, TrainResult, task_class, train

__all__ = ["RESUME_OVERRIDES", "SupervisedTask", "Task", "TrainConfig", "TrainResult", "export_model",
           "task_class", "train"]


def export_model(checkpoint, out, **kwargs):
    """Export a checkpoint to TorchScript/``torch.export``; see :func:`dustbench.train.export.export_model`."""
    from .export import export_model as _export

    return _export(checkpoint, out, **kwargs)
