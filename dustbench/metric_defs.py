"""The definitions the numpy metrics (:mod:`dustbench.metrics`) and their differentiable torch
twins (:mod:`dustbench.torch_metrics`) share, so that neither imports the other: SSIM's window and
constants, BT.601 luma, the input error and the dilation check; and the PSNR that stands in for
infinity wherever PSNRs are averaged (the board's means and CIs, a calibration's scores).
"""
from __future__ import annotations

import numpy as np

from .errors import DustbenchError

WINDOW, SIGMA, K1, K2 = 11, 1.5, 0.01, 0.03
# ITU-R BT.601 studio-swing luma as in BasicSR rgb2ycbcr: Y = 16 + 65.481 R + 128.553 G + 24.966 B
# for R, G, B in [0, 1]; Y is on the 0-255 scale (16..235) and is compared with data_range 255.
_Y_COEFFS = np.array([65.481, 128.553, 24.966])
_Y_OFFSET, _Y_RANGE = 16.0, 255.0
PSNR_CAP = 100.0  # dB; stands in for inf (pixel-identical output) in means and CIs


class MetricInputError(DustbenchError, ValueError):
    """Invalid input to a metric (shape, dtype, range, size)."""


def dilation_px(dilate_px) -> int:
    """The region's dilation radius, checked: a non-negative whole number of pixels."""
    d = int(dilate_px)
    if d != dilate_px or d < 0:
        raise MetricInputError(f"dilate_px must be a non-negative integer, got {dilate_px!r}")
    return d
