"""The shared trainer: one loop for every model family (checkpoints, exact resume, DDP), and export.

    >>> from dustbench.train import TrainConfig, train, export_model
    >>> result = train(TrainConfig("dust_gan", out="runs/gan", data="builtin-train", max_steps=1000))
    >>> export_model(result.checkpoint, "model.pt")      # TorchScript + model card

A model family plugs in through its :class:`~dustbench.models.task.Task`; the CLI is
``dustbench train MODEL --data ... --out RUN`` and ``dustbench export RUN/checkpoint.pt --out model.pt``.
"""
from __future__ import annotations

from .export import export_model
from .config import TrainConfig
from .trainer import RESUME_OVERRIDES, Position, TrainResult, train

__all__ = ["RESUME_OVERRIDES", "Position", "TrainConfig", "TrainResult", "export_model", "train"]
