"""The shared trainer: one loop for every model family (checkpoints, exact resume, DDP), and export.

    >>> import os, tempfile
    >>> from dustbench.train import TrainConfig, train, export_model
    >>> run = tempfile.mkdtemp()                          # e.g. "runs"
    >>> config = TrainConfig("dust_gan", out=os.path.join(run, "gan"), data="builtin-train",
    ...                      max_steps=2, batch_size=2, patch=32, pool=4,   # tiny: a real run takes max_steps=1000
    ...                      model_config={"width": 8}, task_options={"d_width": 8}, val="none",
    ...                      progress=False, plot=False)
    >>> result = train(config)
    >>> result.step, result.stop_reason, result.checkpoint.name
    (2, 'max_steps', 'checkpoint.pt')
    >>> card = export_model(result.checkpoint, os.path.join(run, "model.pt"))     # TorchScript + model card
    >>> card["format"], sorted(os.listdir(run))
    ('torchscript', ['gan', 'model.card.json', 'model.card.md', 'model.pt'])

A model family plugs in through its :class:`~dustbench.models.task.Task`; the CLI is
``dustbench train MODEL --data ... --out RUN`` and ``dustbench export RUN/checkpoint.pt --out model.pt``.
"""
from __future__ import annotations

from .export import export_model
from .config import TrainConfig
from .trainer import RESUME_OVERRIDES, Position, TrainResult, train

__all__ = ["RESUME_OVERRIDES", "Position", "TrainConfig", "TrainResult", "export_model", "train"]
