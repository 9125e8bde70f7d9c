"""What a synthesis drew, in ``dustbench fit``'s classes and units: the truth a fit is checked
against (``benchmarks/bench_fit.py``, ``tests/test_fit_roundtrip.py``).

    >>> fitted_family({"family": "hair", "preset": "hair_long_dark"})
    'hair_long'
"""
from __future__ import annotations

import numpy as np

from ..synth.strokes import _stroke_path


def fitted_family(group: dict) -> str:
    """The fit class a synthesized group should come back as (hairs split by their preset: long or short)."""
    if group["family"] == "hair":
        return "hair_long" if "long" in group["preset"] else "hair_short"
    return group["family"]


def visible_lengths(group: dict, shape) -> list[float]:
    """Length inside the frame of each stroke of ``group`` (scratches run past the edges), in
    short-side units; strokes wholly outside are left out (fit cannot see them)."""
    h, w = shape[:2]
    s = float(min(h, w))
    out = []
    for i in range(group["n"]):
        pts = _stroke_path(group["x"][i] * w, group["y"][i] * h, group["length"][i] * s, group["angle"][i],
                           group["curvature"][i], group["shape_seed"][i])
        inside = (pts[:, 0] >= 0) & (pts[:, 0] < w) & (pts[:, 1] >= 0) & (pts[:, 1] < h)
        seg = np.hypot(*np.diff(pts, axis=0).T)[inside[:-1] & inside[1:]]
        if seg.sum() > 0:
            out.append(float(seg.sum() / s))
    return out


def truth_sizes(group: dict, shape) -> list[float]:
    """The sizes fit reports for ``group``: blob sizes, a scratch's visible length, another stroke's length."""
    if "size" in group:
        return list(group["size"])
    return visible_lengths(group, shape) if fitted_family(group) == "scratch" else list(group["length"])
