"""Infrared cleaning, the reference method of the infrared track: what Digital ICE and its kin do.

Dyes pass infrared and dust does not, so on colour film the infrared plane is a damage map:

1. **flat-field**: the plane over its own large-scale level (a 31-px median of an 8-bit copy,
   which carries the lamp's fall-off and a picture's slow changes), minus 1;
2. **noise-aware threshold**: the noise is the robust sigma (1.4826 × MAD) of the plane's finest
   detail (the relative difference from its own 3×3 median), so neither damage nor a picture in
   the plane inflates it; damage is what is darker than ``low`` sigmas and 8-connected to a core
   darker than ``high`` sigmas (hysteresis, as real-dev's masks were made);
3. **soft edges**: the mask dilated by ``dilate`` px;
4. **fill**: the same fills as the other detect-then-fill rows (:func:`dustbench.fill.fill_mask`).

On silver black-and-white film and Kodachrome the picture itself is in the infrared plane, and the
method flags the picture's dark parts as damage: it fails there, as infrared cleaning does in
practice (scanner makers switch it off for those films). Its defaults were chosen on synthetic
validation samples (``benchmarks/bench_infrared.py``), never on a test split or on real scans.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..errors import DustbenchError
from ..fill import check_fill_options, fill_mask, flag
from ..io import to_float
from .base import Method
from .registry import register_method

DEFAULTS = {"low": 10.0, "high": 16.0, "dilate": 0, "fill": "telea", "radius": 3.0}  # chosen on synthetic validation draws
FIELD_PX = 31


def _check_sigmas(low, high) -> None:
    if not 0 < float(low) <= float(high):
        raise DustbenchError(f"infrared cleaning: need 0 < low <= high sigmas, got low={low}, high={high}")


def infrared_mask(ir: np.ndarray, low: float = DEFAULTS["low"], high: float = DEFAULTS["high"]) -> np.ndarray:
    """Bool H×W: the damage an infrared plane (uint8/uint16/float H×W) shows (see the module docstring)."""
    if ir.ndim != 2:
        raise DustbenchError(f"infrared plane: expected one channel (H×W), got shape {ir.shape}")
    _check_sigmas(low, high)
    plane = to_float(ir)
    field = cv2.medianBlur(np.clip(plane * 255.0 + 0.5, 0, 255).astype(np.uint8), FIELD_PX).astype(np.float32)
    level = np.maximum(field, np.float32(1.0)) / np.float32(255.0)
    residual = plane / level - np.float32(1.0)
    fine = (plane - cv2.medianBlur(plane, 3)) / level  # 3×3 median: float32 is fine at this size
    sigma = 1.4826 * float(np.median(np.abs(fine - np.median(fine))))
    sigma = max(sigma, 1.0 / 255.0)  # a quantised, noiseless plane: no thresholds below one level
    darkness = np.float32(-1.0 / sigma) * residual  # sigmas below the field
    return flag(darkness, high, low)


def infrared_clean(image: np.ndarray, ir: np.ndarray, low: float = DEFAULTS["low"], high: float = DEFAULTS["high"],
                   dilate: int = DEFAULTS["dilate"], fill: str = DEFAULTS["fill"],
                   radius: float = DEFAULTS["radius"]) -> np.ndarray:
    """``image`` (float32 H×W×C in [0, 1]) with what the infrared plane `ir` shows as damage filled in."""
    if image.shape[:2] != ir.shape[:2]:
        raise DustbenchError(f"infrared cleaning: the image is {image.shape[:2]} but its infrared plane "
                             f"{ir.shape[:2]}")
    return fill_mask(image, infrared_mask(ir, low, high), fill, dilate, radius)


@register_method("infrared_clean")
class InfraredClean(Method):
    """Infrared cleaning (the infrared track's reference): damage from the scanner's infrared plane, then a fill."""

    name = "infrared_clean"
    needs_infrared = True
    param_count = 0

    def __init__(self, low: float = DEFAULTS["low"], high: float = DEFAULTS["high"], dilate: int = DEFAULTS["dilate"],
                 fill: str = DEFAULTS["fill"], radius: float = DEFAULTS["radius"]):
        check_fill_options(dilate, radius, fill, "infrared_clean")
        _check_sigmas(low, high)
        super().__init__(options={"low": float(low), "high": float(high), "dilate": int(dilate), "fill": fill,
                                  "radius": float(radius)})

    def run(self, image, infrared):
        o = self.options
        return infrared_clean(image, infrared, o["low"], o["high"], o["dilate"], o["fill"], o["radius"])


__all__ = ["DEFAULTS", "InfraredClean", "infrared_clean", "infrared_mask"]
