"""Damage for a crop, drawn as it would appear on the full frame.

A preset's sizes are fractions of the image's short side and its densities are counts per frame,
so synthesizing damage directly on a 128×128 patch would draw specks fifteen times too large for a
2000-px scan. Instead, parameters are sampled for the whole frame (``sample_params(preset, frame
shape)``, cheap: it is only numbers) and :func:`crop_params` rewrites that record for the crop:
artifacts that cannot reach the crop are dropped, positions move to the crop's coordinates and
sizes are re-expressed in units of the crop's short side. ``render(crop_params(...), crop shape)``
(or ``regenerate(region, crop_params(...))``) then draws, pixel for pixel, what ``render(params, frame shape)`` draws inside the crop (up to
floating-point rounding; see ``tests/test_stream.py``), at the cost of the few artifacts involved.

Two optional factors serve augmentation: ``size_scale`` enlarges every artifact (not the image),
``opacity_scale`` weakens every artifact.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import portable_math as pm

# Keys that are lengths in units of the short side; every other per-artifact key is unitless.
LENGTH_KEYS = ("size", "width", "length", "blur", "spread", "wobble")


def _reach(g: dict[str, Any], short: float) -> np.ndarray:
    """A generous bound (px) of how far each artifact of group `g` can draw from its (x, y)."""
    n = g["n"]

    def col(key: str, default: float = 0.0) -> np.ndarray:
        return np.asarray(g[key], dtype=np.float64) if key in g else np.full(n, default)

    blur = 3.0 * col("blur") * short + 3.0
    if "size" in g:  # blobs: outline wobble is clipped at 2× the radius, elongation stretches it
        radius = 0.5 * col("size") * short
        return 2.0 * radius * np.sqrt(np.maximum(col("elongation", 1.0), 1.0)) + blur + 2.0
    # Strokes: every point of a path lies within half its arc length of its centre; a tuft's (lint's)
    # fibres are up to 1.5× as long and start a Gaussian offset (6σ here) away from its centre.
    length = 0.5 * col("length") * short * (1.5 if "fibres" in g else 1.0)
    return (length + 6.0 * col("spread") * short + col("width") * short + col("wobble") * short
            + blur + 2.0)


def _kept(value, keep: np.ndarray) -> list:
    """The kept entries of a per-artifact column (a list, or an array from ``sample_params(lists=False)``) as a list."""
    return value[keep].tolist() if isinstance(value, np.ndarray) else [value[i] for i in keep]


def _touches(px: np.ndarray, py: np.ndarray, reach: np.ndarray, h: int, w: int, window) -> np.ndarray:
    """Indices of the artifacts whose reach touches the h×w box and, if given, the window."""
    near = (px + reach > 0) & (px - reach < w) & (py + reach > 0) & (py - reach < h)
    if window is not None:  # offsets turned as cv2.getRotationMatrix2D(centre, angle, 1) turns them
        cy, cx, half, angle = window
        c, s = pm.cos(np.radians(angle)), pm.sin(np.radians(angle))
        dx, dy = px - cx, py - cy
        near &= (np.abs(c * dx + s * dy) < half + reach) & (np.abs(c * dy - s * dx) < half + reach)
    return np.flatnonzero(near)


def crop_params(params: dict[str, Any], frame_shape, box, size_scale: float = 1.0,
                opacity_scale: float = 1.0, window=None) -> dict[str, Any]:
    """Rewrite a full-frame parameter record for the crop ``box = (y0, x0, h, w)`` (frame pixels).

    The result renders on an image of shape (h, w) exactly what the frame record renders inside
    the box (``size_scale`` = 1). It records the frame and the box under ``"crop"``.
    ``window = (cy, cx, half, angle)`` (crop pixels, degrees) drops as well the artifacts that
    cannot reach the square of points whose offsets (dx, dy) from (cx, cy) have
    |dx·cos + dy·sin| and |dy·cos − dx·sin| below `half`: the only pixels a later warp reads (the
    stream's turned patch, :func:`dustbench.data.augment.footprint`); the crop's other pixels
    may then lack some of their damage.
    """
    fh, fw = int(frame_shape[0]), int(frame_shape[1])
    y0, x0, h, w = (int(v) for v in box)
    if h < 1 or w < 1:
        raise ValueError(f"empty crop box {box}")
    frame_short, crop_short = float(min(fh, fw)), float(min(h, w))
    unit = frame_short / crop_short * size_scale  # frame short-side units -> crop short-side units
    groups = []
    for g in params["groups"]:
        n = int(g["n"])
        px = np.asarray(g["x"], dtype=np.float64) * fw - x0
        py = np.asarray(g["y"], dtype=np.float64) * fh - y0
        reach = _reach(g, frame_short) * size_scale if n else np.zeros(0)
        keep = _touches(px, py, reach, h, w, window)
        out: dict[str, Any] = {}
        for key, value in g.items():
            if isinstance(value, (list, np.ndarray)) and len(value) == n:  # one entry per artifact
                out[key] = _kept(value, keep) if keep.size else []
            else:
                out[key] = value
        out["n"] = int(keep.size)
        out["x"] = (px[keep] / w).tolist()
        out["y"] = (py[keep] / h).tolist()
        for key in LENGTH_KEYS:
            if key in out:
                out[key] = [float(v) * unit for v in out[key]]
        if opacity_scale != 1.0:
            out["opacity"] = [float(v) * opacity_scale for v in out["opacity"]]
        groups.append(out)
    crop = {"frame_shape": [fh, fw], "box": [y0, x0, h, w]}
    if size_scale != 1.0 or opacity_scale != 1.0:
        crop.update(size_scale=float(size_scale), opacity_scale=float(opacity_scale))
    if window is not None:
        crop["window"] = [float(v) for v in window]
    return {**params, "image_shape": [h, w], "groups": groups, "crop": crop}


def frame_fraction_box(frame_shape, patch: int, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """A uniformly placed patch×patch box inside a frame at least that large."""
    fh, fw = int(frame_shape[0]), int(frame_shape[1])
    if min(fh, fw) < patch:
        raise ValueError(f"frame {fh}×{fw} is smaller than the {patch}-px patch")
    return int(rng.integers(0, fh - patch + 1)), int(rng.integers(0, fw - patch + 1)), patch, patch


__all__ = ["LENGTH_KEYS", "crop_params", "frame_fraction_box"]
