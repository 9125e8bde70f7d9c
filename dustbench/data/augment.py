"""The paper's on-the-fly augmentation: rotate and resize image and artifacts, vary intensities.

For one training patch (see ``stream.py``):

1. draw a rotation ``k·90° + angle`` (``angle`` uniform in ±``max_angle``), an image ``scale``
   (log-uniform), an extra ``artifact_scale`` (log-uniform: the artifacts alone grow or shrink)
   and an ``intensity`` (uniform: every artifact's opacity is multiplied by it);
2. cut from the source a square *region* just large enough to cover the patch after rotation and
   scaling (:func:`region_side`), and damage that region as on the full frame, with artifacts
   ``artifact_scale`` times their size and ``intensity`` times their opacity (``crop.crop_params``);
3. warp damaged, clean, mask and labels together (:func:`warp`): scale, small rotation, then the
   quarter turns. Image and damage are thus rotated and resized together, as in the paper.

Resizing down is anti-aliased (area averaging, then the affine warp); labels use nearest neighbour.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Augment:
    """Ranges of the random augmentation (defaults: the paper's kinds, moderate amounts)."""

    rot90: bool = True  # random multiples of 90°
    max_angle: float = 10.0  # degrees: small arbitrary rotation in ±max_angle
    scale: tuple[float, float] = (0.7, 1.4)  # image resize factor (log-uniform); damage follows it
    artifact_scale: tuple[float, float] = (0.6, 1.6)  # extra artifact-only resize (log-uniform)
    intensity: tuple[float, float] = (0.5, 1.0)  # factor on every artifact's opacity (uniform)

    def __post_init__(self):
        for name in ("scale", "artifact_scale", "intensity"):
            lo, hi = getattr(self, name)
            if not 0 < lo <= hi:
                raise ValueError(f"Augment.{name} = {(lo, hi)}: need 0 < low <= high")
        if self.intensity[1] > 1:
            raise ValueError("Augment.intensity: opacity factors must be <= 1")
        if not 0 <= self.max_angle <= 45:
            raise ValueError("Augment.max_angle must lie in [0, 45] degrees")


@dataclass(frozen=True)
class Draw:
    """One patch's augmentation."""

    k: int = 0  # quarter turns (counter-clockwise)
    angle: float = 0.0  # degrees
    scale: float = 1.0
    artifact_scale: float = 1.0
    intensity: float = 1.0

    @property
    def is_identity(self) -> bool:
        return self.k == 0 and self.angle == 0.0 and self.scale == 1.0


IDENTITY = Draw()


def _loguniform(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(math.exp(rng.uniform(math.log(lo), math.log(hi)))) if hi > lo else float(lo)


def draw(rng: np.random.Generator, aug: Augment) -> Draw:
    """Always the same five draws from `rng`, whatever the ranges (keeps streams aligned)."""
    k = int(rng.integers(4))
    angle = float(rng.uniform(-aug.max_angle, aug.max_angle))
    scale = _loguniform(rng, *aug.scale)
    artifact_scale = _loguniform(rng, *aug.artifact_scale)
    intensity = float(rng.uniform(*aug.intensity))
    return Draw(k if aug.rot90 else 0, angle, scale, artifact_scale, intensity)


def region_side(patch: int, d: Draw, short_side: int) -> tuple[int, float]:
    """Side of the source region that covers the patch, and the (possibly raised) scale.

    When the source is too small for the drawn scale, the scale is raised until it fits.
    """
    if d.angle == 0.0 and d.scale == 1.0:
        return patch, 1.0
    a = math.radians(d.angle)
    cover = abs(math.cos(a)) + abs(math.sin(a))  # a rotated square's bounding box, per side
    scale = d.scale
    side = math.ceil(patch * cover / scale) + 2  # +2: bilinear taps at the border stay inside
    if side > short_side:
        side = short_side
        scale = patch * cover / max(short_side - 2, 1)
    return side, scale


def _affine(src: np.ndarray, angle: float, scale: float, patch: int, interp: int) -> np.ndarray:
    c = (src.shape[1] - 1) / 2.0, (src.shape[0] - 1) / 2.0
    m = cv2.getRotationMatrix2D(c, angle, scale)
    m[0, 2] += (patch - 1) / 2.0 - c[0]
    m[1, 2] += (patch - 1) / 2.0 - c[1]
    return cv2.warpAffine(src, m, (patch, patch), flags=interp, borderMode=cv2.BORDER_REFLECT_101)


def warp(images: list[np.ndarray], labels: np.ndarray | None, d: Draw, scale: float, patch: int):
    """Bring float images (and a uint8 label map) of one region to patch×patch: see module doc."""
    if d.angle == 0.0 and scale == 1.0 and images[0].shape[0] == patch:
        out, lab = list(images), labels
    else:
        side = images[0].shape[0]
        if scale < 1.0:  # shrink with area averaging first: the affine warp alone would alias
            small = max(patch, round(side * scale))
            images = [cv2.resize(im, (small, small), interpolation=cv2.INTER_AREA) for im in images]
            rest = scale * side / small
        else:
            rest = scale
        out = [_affine(im, d.angle, rest, patch, cv2.INTER_LINEAR) for im in images]
        lab = None if labels is None else _affine(labels, d.angle, scale, patch, cv2.INTER_NEAREST)
    if d.k:
        out = [np.rot90(im, d.k, axes=(0, 1)) for im in out]
        lab = None if lab is None else np.rot90(lab, d.k, axes=(0, 1))
    return [np.ascontiguousarray(im) for im in out], (None if lab is None else np.ascontiguousarray(lab))
