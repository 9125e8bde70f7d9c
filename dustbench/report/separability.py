"""How well a per-pixel score tells each damage family's visible pixels from clean ones.

A detector is a per-pixel score thresholded; before any threshold is chosen, its *average
precision* (AP) says how well the score ranks damage above clean pixels. Per synthetic pair and
family, the positives are the family's visible pixels (opacity >= ``min_opacity``, the cut
``oracle_inpaint`` and :mod:`dustbench.report.headroom` use) that the damage changed by more than
``min_change`` in some channel (damage that changes nothing cannot be found); the negatives are
the pixels no artifact touched (opacity 0). A score that ranks at random has an AP equal to the
positives' share of the pixels ranked (the *base rate*), so AP is read against it.

Ties count as one threshold (all tied pixels flagged together), as scikit-learn's
``average_precision_score`` counts them: a clipped score cannot rank damage above the texture it
ties with.

    >>> import numpy as np
    >>> average_precision(np.array([0.35, 0.8]), np.array([0.1, 0.4]))   # scikit-learn's doc example
    0.8333333333333333
    >>> average_precision(np.ones(3), np.ones(9))                       # all tied: the base rate
    0.25
"""
from __future__ import annotations

import numpy as np

from ..io import mask_opacity, to_float
from ..synth import FAMILIES
from .headroom import MIN_OPACITY, family_regions

MIN_CHANGE = 8 / 255  # a pixel the damage changed by less is not counted as findable damage


def average_precision(positive: np.ndarray, negative: np.ndarray) -> float:
    """AP of ``positive`` scores ranked against ``negative`` ones (higher = more likely damage): the
    mean, over the positives, of the precision at the threshold that first flags each (tie groups
    flagged at once). NaN without positives."""
    positive, negative = np.ravel(positive), np.ravel(negative)
    if positive.size == 0:
        return float("nan")
    scores = np.concatenate([positive, negative]).astype(np.float64)
    hits = np.concatenate([np.ones(positive.size), np.zeros(negative.size)])
    order = np.argsort(-scores, kind="stable")
    scores, hits = scores[order], hits[order]
    ends = np.r_[np.flatnonzero(np.diff(scores) != 0), scores.size - 1]  # last index of each tie group
    found = np.cumsum(hits)[ends]
    precision = found / (ends + 1)
    return float(np.sum(precision * np.diff(np.r_[0.0, found])) / positive.size)


def labelled_scores(sample, score: np.ndarray, min_change: float = MIN_CHANGE,
                    min_opacity: float = MIN_OPACITY) -> tuple[dict, np.ndarray, dict]:
    """One synthetic pair and an H×W ``score`` map: ``({family: positive scores}, negative scores,
    {family: the positives' change, max over channels, in [0, 1]})``."""
    damaged, clean = to_float(sample.damaged), to_float(sample.clean)
    change = np.abs(damaged - clean)
    change = change.max(axis=-1) if change.ndim == 3 else change
    opacity = mask_opacity(sample.mask, change.shape)
    if score.shape != change.shape:
        raise ValueError(f"{sample.source or sample.id}: score map {score.shape}, image {change.shape}")
    positives, changes = {}, {}
    for family, region in family_regions(sample.labels, opacity, min_opacity).items():
        region = region & (change > min_change)
        if region.any():
            positives[family], changes[family] = score[region], change[region]
    return positives, score[opacity == 0], changes


def family_table(per_image: list[tuple[dict, np.ndarray, dict]]) -> list[dict]:
    """Per family, pooled over images: ``pixels``, ``base`` (their share of the pixels ranked with
    them), ``median_change`` (in /255) and ``ap``; the negatives of every image are ranked with the
    positives of every image (one threshold for the whole set, as a detector is used)."""
    negative = np.concatenate([n for _, n, _ in per_image]) if per_image else np.zeros(0)
    out = []
    for family in [f for f in FAMILIES if any(f in p for p, _, _ in per_image)]:
        pos = np.concatenate([p[family] for p, _, _ in per_image if family in p])
        change = np.concatenate([c[family] for _, _, c in per_image if family in c])
        out.append({"family": family, "pixels": int(pos.size), "base": pos.size / (pos.size + negative.size),
                    "median_change": float(np.median(change) * 255), "ap": average_precision(pos, negative)})
    return out
