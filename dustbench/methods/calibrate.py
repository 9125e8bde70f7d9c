"""A detector's operating point, chosen on validation pairs (never the test split).

A detector outputs P(artifact); what the benchmark sees depends on the threshold where it starts
to inpaint, how far it grows from there (hysteresis down to ``grow``: :func:`dustbench.fill.flag`)
and how far the fill is dilated. :func:`calibrate_detector` scores a grid of thresholds, growth
levels (and dilations) on validation pairs that have masks and returns the best one with the
whole grid, for two uses:

* ``"f1"``: detection — the F1 of the flagged pixels against the visible damage (mask opacity >=
  ``visible``, 0.25 by default), what a segmentation baseline is judged by;
* ``"psnr"``: restoration — the mean PSNR of the restored images (flagged pixels filled, every
  other pixel returned exactly as it came), what a do-no-harm method is tuned for.
"""
from __future__ import annotations

import hashlib
from typing import Iterable

import numpy as np

from ..errors import DustbenchError
from ..io import from_float, mask_opacity, to_float
from ..metric_defs import PSNR_CAP
from ..metrics import psnr
from .detect_inpaint import DetectInpaint, detection_scores, fill_mask, flag, scores_from_counts

CRITERIA = ("f1", "psnr")
# 0.05 steps, then finer near 1: a detector that flags clean structure confidently is best used
# where only its surest pixels are filled (both published fastdet rows chose 0.95, the grid's top
# then; fastdet_balanced's validation PSNR still rose from 0.99 to 0.999: baselines/fastdet/README.md)
THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2).tolist()) + (0.97, 0.98, 0.99, 0.995, 0.998, 0.999)
# hysteresis levels: 0 = none; a level at or above a threshold is that threshold alone (skipped)
GROWS = (0.0, 0.9, 0.5)


def calibrate_detector(method: DetectInpaint, samples: Iterable, criterion: str = "psnr",
                       thresholds=THRESHOLDS, dilates=(0, 1), visible: float = 0.25, grows=GROWS) -> dict:
    """The threshold and growth level (and, for ``"psnr"``, the dilation) that maximise ``criterion``
    over ``samples`` (:class:`~dustbench.data.Sample` objects with masks). Ties go to the higher
    threshold, then to no growth, then to less dilation (fewer pixels touched). Returns
    ``{"criterion", "threshold", "grow", "dilate", "score", "grid", "images"}``."""
    if criterion not in CRITERIA:
        raise DustbenchError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    dilates = (method.options["dilate"],) if criterion == "f1" else tuple(dilates)
    points = [(t, g) for t in thresholds for g in grows if g < t]
    totals = {(t, g, d): [] for t, g in points for d in dilates}
    counts = {tg: {"tp": 0, "fp": 0, "fn": 0, "pixels": 0} for tg in points}
    n = 0
    for s in samples:
        if s.mask is None:
            raise DustbenchError(f"{s.source or s.id}: calibration needs pairs with masks")
        image = to_float(s.damaged)
        prob = method.probability(image)
        if criterion == "f1":
            truth = mask_opacity(s.mask, prob.shape) >= visible
            for t, g in points:
                c = detection_scores(flag(prob, t, g), truth)
                for k in counts[t, g]:
                    counts[t, g][k] += c[k]
        else:
            work = image[:, :, None] if image.ndim == 2 else image
            scored = {}  # many points flag the same pixels (all of them near 1): fill and score each mask once
            for t, g in points:
                flagged = flag(prob, t, g)
                key = hashlib.blake2b(np.packbits(flagged).tobytes(), digest_size=16).digest()
                for d in dilates:
                    if (key, d) not in scored:
                        out = fill_mask(work, flagged, method.options["fill"], d, method.options["radius"])
                        restored = from_float(out.reshape(s.clean.shape), s.clean.dtype)
                        scored[key, d] = min(psnr(s.clean, restored), PSNR_CAP)
                    totals[t, g, d].append(scored[key, d])
        n += 1
    if n == 0:
        raise DustbenchError("calibration needs at least one validation pair")
    if criterion == "f1":
        grid = [{"threshold": t, "grow": g, "dilate": dilates[0], **scores_from_counts(counts[t, g])}
                for t, g in points]
        score = lambda g: g["f1"]  # noqa: E731
    else:
        grid = [{"threshold": t, "grow": g, "dilate": d, "psnr": float(np.mean(v))} for (t, g, d), v in totals.items()]
        score = lambda g: g["psnr"]  # noqa: E731
    best = max(grid, key=lambda g: (round(score(g), 9), g["threshold"], g["grow"] == 0, g["grow"], -g["dilate"]))
    return {"criterion": criterion, "threshold": best["threshold"], "grow": best["grow"], "dilate": best["dilate"],
            "score": score(best), "grid": grid, "images": n,
            "visible": visible if criterion == "f1" else None}
