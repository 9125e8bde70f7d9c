"""Validation during training: the held-out pairs, and their scores through the harness's scoring."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..evaluation.rows import PSNR_CAP, image_scores
from ..io import from_float, to_chw, to_float, with_channels

VALIDATION_METRICS = ("psnr", "ssim", "psnr_in", "psnr_out", "clean_change_rate")


def resolve_validation(val, data) -> str | list | None:
    """``val="auto"``: the training data's own validation split when it has one (a make-dataset folder,
    or a folder of pairs with validation/), else ``builtin``; anything else is kept."""
    if not (isinstance(val, str) and val == "auto"):
        return val
    if isinstance(data, str) and Path(data).expanduser().is_dir():
        try:
            if open_data(str(Path(data).expanduser()), "validation").ids():
                return str(data)
        except DustbenchError:
            pass  # no validation split there
    return "builtin"


def load_validation(spec, limit: int | None = None) -> list | None:
    """Validation pairs: ``builtin`` (5 held-out 192² crops), ``none``, a folder's validation split,
    or a list of :class:`dustbench.data.Sample` (tests). Loaded once, kept in memory."""
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, (list, tuple)):
        samples = list(spec)
    else:
        data = open_data(str(spec), "validation")
        samples = [s for _, s in zip(range(limit or 10 ** 9), data)]
    return samples[:limit] if limit else samples


def validate(restore, samples) -> dict[str, float]:
    """Mean PSNR/SSIM (and masked PSNR in/out, clean-pixel change rate) of ``restore`` on ``samples``,
    with the damaged input's scores as ``*_identity``. Outputs are quantised to the reference's
    dtype first and scored by the harness's own :func:`~dustbench.evaluation.rows.image_scores`,
    so the numbers are comparable with ``dustbench evaluate``'s tables.

    ``restore`` maps a float32 1×C×H×W tensor in [0, 1] to the same.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key, value):
        if value is None or not math.isfinite(value) and value != math.inf:
            return
        sums[key] = sums.get(key, 0.0) + min(float(value), PSNR_CAP)
        counts[key] = counts.get(key, 0) + 1

    for s in samples:
        x = torch.from_numpy(to_chw(with_channels(to_float(s.damaged), 3)))[None]
        y = restore(x)[0].detach().float().cpu().numpy().transpose(1, 2, 0)
        if s.damaged.ndim == 2:
            y = y.mean(axis=2)
        restored = from_float(np.clip(y, 0.0, 1.0), s.clean.dtype)
        for suffix, img in (("", restored), ("_identity", s.damaged)):
            scores = image_scores(s.clean, img, s.mask)
            for key in VALIDATION_METRICS:
                add(f"val_{key}{suffix}", scores.get(key))
    return {k: sums[k] / counts[k] for k in sorted(sums)}
