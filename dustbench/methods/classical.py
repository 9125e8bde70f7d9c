"""Classical baselines: identity, the "Dust & Scratches" median filter (fixed and tuned), and two
oracles (upper references): Telea inpainting of the true mask, and un-blending of the true layer.

The median uses a **square** (2r+1)×(2r+1) window with replicated borders, per channel. Photoshop's
footprint is believed to be circular; we chose the square because it has an exact O(1)-per-pixel
implementation (OpenCV's histogram median) and a clean definition. See baselines/median/README.md.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np

from ..errors import DustbenchError
from ..fill import PRECISIONS, as_8bit, dilate_mask, median_blur, telea_inpaint  # noqa: F401 (also imported from here)
from ..io import to_float
from ..metrics import psnr as shared_psnr
from .base import Method
from .registry import register_method

# Absorbs float32 rounding so a difference of exactly `threshold` 8-bit levels is not "more than"
# it; far below one 16-bit step (1.5e-5), so 16-bit data is compared exactly too.
_THRESHOLD_EPS = 1e-6


def dust_and_scratches(image: np.ndarray, radius: int = 2, threshold: float = 0,
                       precision: str = "exact", median: np.ndarray | None = None) -> np.ndarray:
    """Photoshop-style Dust & Scratches: take the median only where a pixel differs from it by more
    than ``threshold`` 8-bit levels (per channel, each channel decided on its own).

    ``median`` may pass a precomputed :func:`median_blur` result (used by the tuner).
    """
    med = median_blur(image, radius, precision) if median is None else median
    if threshold <= 0:
        return med  # "differs by more than 0" replaces every pixel that differs: the plain median
    replace = np.abs(image - med) > np.float32(threshold / 255.0 + _THRESHOLD_EPS)
    return np.where(replace, med, image)


def _is_number(value) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.number))


def _check_median_options(method: str, radius, threshold, precision) -> tuple[int, float]:
    if isinstance(radius, bool) or not isinstance(radius, (int, np.integer)) or not 1 <= radius <= 16:
        raise DustbenchError(f"{method}: radius must be an integer from 1 to 16 px, got {radius!r}")
    if not _is_number(threshold) or not 0 <= threshold <= 255:
        raise DustbenchError(f"{method}: threshold must be a number from 0 to 255 (8-bit levels), "
                             f"got {threshold!r}")
    if precision not in PRECISIONS:
        raise DustbenchError(f"{method}: precision must be one of {PRECISIONS}, got {precision!r}")
    threshold = float(threshold)
    return int(radius), int(threshold) if threshold.is_integer() else threshold


@register_method("identity")
class Identity(Method):
    """Returns the damaged input unchanged: the floor every method must beat."""

    name = "identity"
    param_count = 0

    def __init__(self):
        super().__init__(options={})

    def run(self, image, mask):
        return image.copy()


@register_method("median")
class Median(Method):
    """Photoshop "Dust & Scratches": median of a (2r+1)² square where a pixel differs by > threshold."""

    name = "median"
    param_count = 0

    def __init__(self, radius: int = 2, threshold: float = 0, precision: str = "exact"):
        radius, threshold = _check_median_options(type(self).name, radius, threshold, precision)
        super().__init__(options={"radius": radius, "threshold": threshold, "precision": precision})

    def run(self, image, mask):
        o = self.options
        return dust_and_scratches(image, o["radius"], o["threshold"], o["precision"])


@register_method("median_tuned")
class MedianTuned(Median):
    """The median filter with radius and threshold chosen by tune_median on validation pairs."""

    name = "median_tuned"

    def __init__(self, radius: int | None = None, threshold: float | None = None,
                 tuned_on: str | None = None, score: float | None = None, precision: str = "exact"):
        if radius is None or threshold is None:
            raise DustbenchError(
                "median_tuned has no tuned values: run dustbench.methods.classical.tune_median(pairs) "
                "on validation (damaged, clean) pairs first, then "
                "create_method('median_tuned', radius=..., threshold=..., tuned_on=...)")
        super().__init__(radius, threshold, precision)
        self.options.update(tuned_on=tuned_on, score=None if score is None else float(score))


def psnr(reference: np.ndarray, restored: np.ndarray) -> float:
    """PSNR in dB for [0, 1] float images (inf when identical), the shared harness's definition."""
    return float(shared_psnr(reference, restored, data_range=1.0))


def tune_median(pairs: Iterable[tuple[np.ndarray, np.ndarray]],
                radii: Sequence[int] = (1, 2, 3, 4, 5, 6, 8),
                thresholds: Sequence[float] = (0, 2, 4, 8, 12, 16, 24, 32, 48, 64),
                metric: str | Callable[[np.ndarray, np.ndarray], float] = "psnr",
                precision: str = "exact") -> dict:
    """Grid-search the median's radius and threshold on (damaged, clean) validation pairs.

    ``metric`` is "psnr" or ``fn(clean, restored) -> float`` (higher is better); the score of a
    setting is its mean over the pairs. Ties go to the smaller radius, then the larger threshold
    (the gentler filter). Returns ``dict(radius=, threshold=, score=, metric=, grid=[...])`` where
    ``grid`` lists every setting as ``dict(radius=, threshold=, score=)``.
    """
    score_fn = psnr if metric == "psnr" else metric
    if not callable(score_fn):
        raise DustbenchError(f"tune_median: metric must be 'psnr' or a callable, got {metric!r}")
    radii = [_check_median_options("tune_median", r, 0, precision)[0] for r in radii]
    thresholds = [_check_median_options("tune_median", 1, t, precision)[1] for t in thresholds]
    if not radii or not thresholds:
        raise DustbenchError("tune_median: radii and thresholds must not be empty")
    totals = {(r, t): 0.0 for r in radii for t in thresholds}
    n = 0
    for damaged, clean in pairs:  # one pair at a time: memory stays bounded for long lists
        damaged, clean = as_float_hwc(damaged), as_float_hwc(clean)
        if damaged.shape != clean.shape:
            raise DustbenchError(f"tune_median: pair {n} has shapes {damaged.shape} and {clean.shape}")
        for r in radii:
            med = median_blur(damaged, r, precision)  # once per radius, reused for every threshold
            for t in thresholds:
                totals[r, t] += score_fn(clean, dust_and_scratches(damaged, r, t, median=med))
        n += 1
    if n == 0:
        raise DustbenchError("tune_median: no validation pairs given")
    grid = [{"radius": r, "threshold": t, "score": totals[r, t] / n} for r in radii for t in thresholds]
    best = max(grid, key=lambda g: (g["score"], -g["radius"], g["threshold"]))
    return {**best, "metric": metric if isinstance(metric, str) else getattr(metric, "__name__", "custom"),
            "grid": grid}


def as_float_hwc(image: np.ndarray) -> np.ndarray:
    """float32 H×W×C of an image array (grey gains a channel), as the tuners score pairs."""
    image = to_float(np.asarray(image))
    return image[:, :, None] if image.ndim == 2 else image


@register_method("oracle_inpaint")
class OracleInpaint(Method):
    """ORACLE: OpenCV Telea inpainting of the ground-truth damage mask (an upper reference)."""

    name = "oracle_inpaint"
    needs_mask = True
    is_oracle = True
    param_count = 0

    def __init__(self, dilate: int = 0, radius: float = 3.0, min_opacity: float = 0.05):
        if isinstance(dilate, bool) or not isinstance(dilate, (int, np.integer)) or dilate < 0:
            raise DustbenchError(f"oracle_inpaint: dilate must be an integer >= 0 px, got {dilate!r}")
        if not _is_number(radius) or radius <= 0:
            raise DustbenchError(f"oracle_inpaint: radius must be a number > 0 px, got {radius!r}")
        if not _is_number(min_opacity) or not 0 <= min_opacity <= 1:
            raise DustbenchError(f"oracle_inpaint: min_opacity must be a number in [0, 1], got {min_opacity!r}")
        super().__init__(options={"dilate": int(dilate), "radius": float(radius), "min_opacity": float(min_opacity)})

    def run(self, image, mask):
        # A perfect detector of *visible* damage: the faint anti-aliased and blurred fringes of a
        # synthesis mask (opacity below min_opacity; the same cut SegNet's labels use) are left
        # alone, since inpainting them replaces nearly clean pixels. min_opacity=0 inpaints all.
        # No dilation by default: a true mask already holds every damaged pixel (a real detector
        # dilates to absorb its localisation error; a perfect one has none, and every pixel added
        # is a clean one replaced by a guess).
        t = self.options["min_opacity"]
        hole = mask >= t if t > 0 else mask > 0
        return telea_inpaint(image, hole, self.options["dilate"], self.options["radius"])



def _rounding_step(image: np.ndarray) -> float:
    """The quantisation step the image was stored with: 1/255 on the 8-bit grid, else (16-bit) 1/65535."""
    return 1.0 / 255.0 if as_8bit(image) is not None else 1.0 / 65535.0


def unblend(damaged: np.ndarray, opacity: np.ndarray, colour: np.ndarray, tolerance: float = 2 / 255,
            radius: float = 3.0) -> np.ndarray:
    """The clean image under a known artifact layer: ``damaged = clean·(1−A) + P``.

    ``opacity`` A (H×W) and premultiplied ``colour`` P (H×W×C) come from the synthesis. Where A > 0
    the clean value is ``(damaged − P) / (1 − A)``; the damaged pixel was rounded to a step q when
    stored (half a step of error), so that estimate is off by up to ``q/2 / (1 − A)``. Where that
    bound exceeds ``tolerance`` (8-bit: A > 0.75 for the default 2/255, the benchmark's own limit
    for an unchanged pixel; 16-bit: A > 0.999) the pixel is Telea-filled from its un-blended
    neighbours instead, and the fill is then clipped to the interval of clean values that
    round to the stored damaged pixel — a projection that can only bring it closer to the truth.
    """
    a = opacity[:, :, None]
    keep = 1.0 - a
    seen = keep > 0  # a fully opaque pixel keeps no trace of the clean value
    safe = np.where(seen, keep, np.float32(1.0))
    estimate = (damaged - colour) / safe
    halfwidth = np.where(seen, np.float32(0.5 * _rounding_step(damaged)) / safe, np.float32(np.inf))
    out = np.where(a > 0, np.clip(estimate, 0.0, 1.0), damaged).astype(np.float32)
    hole = halfwidth[:, :, 0] > tolerance
    if hole.any():
        filled = telea_inpaint(out, hole, 0, radius)
        consistent = np.clip(np.clip(filled, estimate - halfwidth, estimate + halfwidth), 0.0, 1.0)
        out[hole] = consistent[hole]
    return out


@register_method("oracle_unblend")
class OracleUnblend(Method):
    """ORACLE: un-blends the true artifact layer (opacity and colour); Telea fills only near-opaque pixels."""

    name = "oracle_unblend"
    needs_mask = True
    needs_layer = True
    is_oracle = True
    param_count = 0

    def __init__(self, tolerance: float = 2.0, radius: float = 3.0):
        if not _is_number(tolerance) or not 0 < tolerance <= 255:
            raise DustbenchError(f"oracle_unblend: tolerance must be a number of 8-bit levels in (0, 255], "
                                 f"got {tolerance!r}")
        if not _is_number(radius) or radius <= 0:
            raise DustbenchError(f"oracle_unblend: radius must be a number > 0 px, got {radius!r}")
        super().__init__(options={"tolerance": float(tolerance), "radius": float(radius)})

    def run(self, image, layer):
        return unblend(image, layer[:, :, 0], layer[:, :, 1:], self.options["tolerance"] / 255.0,
                       self.options["radius"])
