"""The shared benchmark harness: :func:`evaluate` (:mod:`.harness`; told how by an :class:`EvalConfig`), per-image rows and aggregates
(:mod:`.rows`)."""
from __future__ import annotations

from .config import EvalConfig
from .harness import Result, evaluate
from .rows import COLUMNS, CONVENTIONS, PSNR_CAP, aggregate, image_scores, read_rows

__all__ = ["COLUMNS", "CONVENTIONS", "PSNR_CAP", "EvalConfig", "Result", "aggregate", "evaluate", "image_scores", "read_rows"]
