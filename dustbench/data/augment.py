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

from .. import portable_math as pm


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
    return float(pm.exp(rng.uniform(pm.log(lo), pm.log(hi)))) if hi > lo else float(lo)


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
    cover = abs(float(pm.cos(a))) + abs(float(pm.sin(a)))  # a rotated square's bounding box, per side
    scale = d.scale
    side = math.ceil(patch * cover / scale) + 2  # +2: bilinear taps at the border stay inside
    if side > short_side:
        side = short_side
        scale = patch * cover / max(short_side - 2, 1)
    return side, scale


def footprint(patch: int, d: Draw, scale: float, side: int) -> tuple[float, float, float, float] | None:
    """The region pixels :func:`warp` reads, as ``(cy, cx, half, angle)``: a square of half side
    `half` around the region's centre turned by `angle` degrees (``crop_params``'s ``window``).

    The patch's pixel centres map back onto a square of half side (patch − 1) / (2·scale); the
    margin covers the bilinear taps (1 px per axis) and, when shrinking, the area averaging before
    them (up to 1.5 / scale + 0.5 px), times √2 for the turn. None: the region is the patch.
    """
    if d.angle == 0.0 and scale == 1.0 and side == patch:
        return None
    c = (side - 1) / 2.0
    return c, c, (patch - 1) / (2.0 * scale) + 3.0 + 3.0 / min(scale, 1.0), d.angle


def _affine(src: np.ndarray, angle: float, scale: float, patch: int, interp: int) -> np.ndarray:
    c = (src.shape[1] - 1) / 2.0, (src.shape[0] - 1) / 2.0
    m = cv2.getRotationMatrix2D(c, angle, scale)
    m[0, 2] += (patch - 1) / 2.0 - c[0]
    m[1, 2] += (patch - 1) / 2.0 - c[1]
    return cv2.warpAffine(src, m, (patch, patch), flags=interp, borderMode=cv2.BORDER_REFLECT_101)


def _affine_groups(images: list[np.ndarray], angle: float, scale: float, patch: int) -> list[tuple]:
    """_affine (bilinear) of each image, as (warped array, [(image, its channels, grey)]): RGB ones go
    through as 4 channels (channels 0:3), a grey image riding as the fourth (3:4) of one when there
    is one: OpenCV warps 4 float channels faster than 3 (docs/performance.md), and each channel comes out the same as
    warped alone (channels never mix). Other images go alone (channels None)."""
    grey = [i for i, im in enumerate(images) if im.ndim == 2]
    groups, done = [], set()
    for i, im in enumerate(images):
        if im.ndim != 3 or im.shape[2] != 3:
            continue
        j = grey.pop(0) if grey else None
        four = cv2.merge([im, images[j]]) if j is not None else cv2.cvtColor(im, cv2.COLOR_RGB2RGBA)
        parts = [(i, slice(0, 3), False)] + ([(j, slice(3, 4), True)] if j is not None else [])
        groups.append((_affine(four, angle, scale, patch, cv2.INTER_LINEAR), parts))
        done.update(part[0] for part in parts)
    return groups + [(_affine(im, angle, scale, patch, cv2.INTER_LINEAR), [(i, None, False)])
                     for i, im in enumerate(images) if i not in done]


def _affine_all(images: list[np.ndarray], angle: float, scale: float, patch: int) -> list[np.ndarray]:
    """_affine (bilinear) of each image, RGB ones four channels at a time (see _affine_groups)."""
    out: list = [None] * len(images)
    for arr, parts in _affine_groups(images, angle, scale, patch):
        for i, channels, grey in parts:
            out[i] = arr if channels is None else arr[..., channels.start] if grey else arr[..., channels]
    return out


_QUARTER_TURNS = {1: cv2.ROTATE_90_COUNTERCLOCKWISE, 2: cv2.ROTATE_180, 3: cv2.ROTATE_90_CLOCKWISE}


def _turn(image: np.ndarray, k: int) -> np.ndarray:
    """np.rot90(image, k, axes=(0, 1)): the same pixels, by OpenCV (a copy, several times faster)."""
    return cv2.rotate(image, _QUARTER_TURNS[k % 4]) if k % 4 else image


def warp(images: list[np.ndarray], labels: np.ndarray | None, d: Draw, scale: float, patch: int, chw: bool = False):
    """Bring float images (and a uint8 label map) of one region to patch×patch: see module doc.
    ``chw``: the images come back as C×H×W (grey: 1×H×W); images warped together (see
    _affine_groups) are then views of one C×H×W array."""
    if d.angle == 0.0 and scale == 1.0 and images[0].shape[0] == patch:
        groups, lab = [(im, [(i, None, False)]) for i, im in enumerate(images)], labels
    else:
        side = images[0].shape[0]
        if scale < 1.0:  # shrink with area averaging first: the affine warp alone would alias
            small = max(patch, round(side * scale))
            images = [cv2.resize(im, (small, small), interpolation=cv2.INTER_AREA) for im in images]
            rest = scale * side / small
        else:
            rest = scale
        groups = _affine_groups(images, d.angle, rest, patch)
        lab = None if labels is None else _affine(labels, d.angle, scale, patch, cv2.INTER_NEAREST)
    out: list = [None] * len(images)
    for arr, parts in groups:
        arr = _turn(arr, d.k)
        if chw:  # a contiguous copy, then each image's channels as a view
            arr = arr[None] if arr.ndim == 2 else np.ascontiguousarray(arr.transpose(2, 0, 1))
        for i, channels, grey in parts:
            if channels is None:
                out[i] = arr
            else:
                out[i] = arr[channels] if chw else arr[..., channels.start] if grey else arr[..., channels]
    lab = None if lab is None else _turn(lab, d.k)
    return [np.ascontiguousarray(im) for im in out], (None if lab is None else np.ascontiguousarray(lab))
