"""Filling flagged pixels, and scoring a predicted mask: the torch-free part of detect-then-inpaint,
shared by :mod:`dustbench.methods` (``detect_inpaint``, ``oracle_inpaint``, ``morph_detect``) and the
detector families of :mod:`dustbench.models` (``segnet``'s inference-option checks), so neither imports the other.

    >>> import numpy as np
    >>> image = np.full((8, 8, 1), 0.5, np.float32); image[4, 4] = 1.0
    >>> mask = np.zeros((8, 8), bool); mask[4, 4] = True
    >>> float(fill_mask(image, mask, "median", dilate=0, radius=1)[4, 4, 0])
    0.5
    >>> detection_scores(mask, mask)["iou"]
    1.0
"""
from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

from .errors import DustbenchError

# float32 value of each 8-bit level, computed exactly as dustbench.io.to_float does.
_LEVELS = np.arange(256).astype(np.float32) / np.float32(255.0)
PRECISIONS = ("exact", "fast")


def as_8bit(channel: np.ndarray) -> np.ndarray | None:
    """The uint8 levels of a float channel if it lies exactly on the 8-bit grid, else None."""
    q = np.rint(channel * np.float32(255.0)).astype(np.uint8)
    return q if np.array_equal(_LEVELS[q], channel) else None


def median_blur(image: np.ndarray, radius: int, precision: str = "exact") -> np.ndarray:
    """Per-channel median over a (2r+1)² square window, borders replicated; float32 H×W×C in/out.

    ``precision="exact"`` returns exactly the median of the input values: data on the 8-bit grid
    (anything read from an 8-bit file) goes through OpenCV's uint8 median (any radius, fast);
    other data uses OpenCV's float median for r ≤ 2 and scipy's (slow, exact) for r > 2.
    ``precision="fast"`` instead quantises such data to 8 bits for the median when r > 2 (the
    only slow case): much faster (docs/performance.md), median off by at most 0.5/255.
    """
    if precision not in PRECISIONS:
        raise DustbenchError(f"median precision must be one of {PRECISIONS}, got {precision!r}")
    k = 2 * int(radius) + 1
    out = np.empty_like(image)
    for c in range(image.shape[2]):  # per channel: cv2 handles only 1/3/4 channels per call
        x = np.ascontiguousarray(image[:, :, c])
        q = as_8bit(x)
        if q is None and precision == "fast" and k > 5:
            q = np.rint(np.clip(x, 0, 1) * np.float32(255.0)).astype(np.uint8)
        if q is not None:
            out[:, :, c] = _LEVELS[cv2.medianBlur(q, k)]
        elif k <= 5:  # cv2 accepts float32 only for 3×3 and 5×5; a median is a selection: exact
            out[:, :, c] = cv2.medianBlur(x, k)
        else:
            out[:, :, c] = ndimage.median_filter(x, size=k, mode="nearest")  # same border as cv2
    return out


def dilate_mask(mask: np.ndarray, px: int) -> np.ndarray:
    """A bool/0-1 mask as uint8 0/1, dilated by a (2·px+1)² square (px = 0: unchanged)."""
    m = np.asarray(mask).astype(np.uint8)
    return cv2.dilate(m, np.ones((2 * px + 1, 2 * px + 1), np.uint8)) if px > 0 else m


def telea_inpaint(image: np.ndarray, mask: np.ndarray, dilate: int = 1, radius: float = 3.0) -> np.ndarray:
    """Inpaint ``mask`` (bool H×W, dilated by a (2d+1)² square) in a float32 H×W×C image.

    cv2.inpaint takes float32 only single-channel, and its Telea code adds a rounding term of up
    to ~2 units that assumes 0–255 scale, so on [0, 1] floats it is badly off. We therefore inpaint
    each channel as 16-bit (0–65535: that term becomes <= 3e-5) — Telea's weights depend only on
    the mask, so per channel equals OpenCV's 3-channel result — and copy back only masked pixels.
    """
    m = dilate_mask(mask, dilate)
    out = image.copy()
    hole = m > 0
    if not hole.any():
        return out
    for c in range(image.shape[2]):
        u16 = np.rint(image[:, :, c] * np.float32(65535.0)).astype(np.uint16)
        filled = cv2.inpaint(u16, m, float(radius), cv2.INPAINT_TELEA)
        out[:, :, c][hole] = filled[hole].astype(np.float32) / np.float32(65535.0)
    return out


# grow 0: no hysteresis, lines False: the detector's flags alone, flips False: its P on the image as given
# (what every file exported before they existed means)
DEFAULTS = {"threshold": 0.5, "dilate": 1, "radius": 3.0, "fill": "telea", "grow": 0.0, "lines": False,
            "flips": False}
FILLS = ("telea", "median")


def _is_number(v) -> bool:
    return isinstance(v, (int, float, np.number)) and not isinstance(v, bool)


def check_inference_options(threshold, dilate, radius, fill, grow=0.0, lines=False, flips=False) -> None:
    """DustbenchError unless threshold ∈ (0, 1], dilate an int >= 0, radius > 0, fill in FILLS,
    grow ∈ [0, threshold) and lines and flips true or false (or 1 / 0)."""
    for name, value in (("lines", lines), ("flips", flips)):
        if not (isinstance(value, (bool, np.bool_)) or (isinstance(value, (int, np.integer)) and value in (0, 1))):
            raise DustbenchError(f"detect_inpaint: {name} must be true or false (1 or 0), got {value!r}")
    if not _is_number(threshold) or not 0.0 < float(threshold) <= 1.0:
        raise DustbenchError(f"detect_inpaint: threshold must be a number in (0, 1], got {threshold!r}")
    if not _is_number(grow) or not 0.0 <= float(grow) < float(threshold):
        raise DustbenchError(f"detect_inpaint: grow must be a number in [0, threshold {threshold}) "
                             f"(0: no hysteresis), got {grow!r}")
    check_fill_options(dilate, radius, fill)


def check_fill_options(dilate, radius, fill, method: str = "detect_inpaint") -> None:
    """DustbenchError, naming ``method``, unless dilate is an int >= 0, radius > 0 and fill in FILLS."""
    if isinstance(dilate, bool) or not isinstance(dilate, (int, np.integer)) or dilate < 0:
        raise DustbenchError(f"{method}: dilate must be an integer >= 0 px, got {dilate!r}")
    if not _is_number(radius) or float(radius) <= 0:
        raise DustbenchError(f"{method}: radius must be a number > 0 px, got {radius!r}")
    if fill not in FILLS:
        raise DustbenchError(f"{method}: fill must be one of {FILLS}, got {fill!r}")


def flag(prob: np.ndarray, threshold: float, grow: float = 0.0) -> np.ndarray:
    """Bool H×W: the pixels of P(artifact) ``prob`` at or above ``threshold`` and, with ``grow`` > 0,
    hysteresis: every pixel at or above ``grow`` 8-connected to one of them.

    A detector is surest at the core of a hair or scratch and less sure along its faint length; an
    operating point high enough to leave lettering and edges alone finds only the cores. Growing
    from them reaches the rest of the same object and nothing that lacks a sure core (as Canny's
    edge hysteresis does)."""
    seeds = prob >= np.float32(threshold)
    if not grow or not seeds.any():
        return seeds
    n, labels = cv2.connectedComponents((prob >= np.float32(grow)).view(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[labels[seeds]] = True
    keep[0] = False  # the background label (seeds are never background: threshold > grow)
    return keep[labels]


def fill_mask(image: np.ndarray, mask: np.ndarray, fill: str = "telea", dilate: int = 1,
              radius: float = 3.0) -> np.ndarray:
    """``image`` (float32 H×W×C) with the pixels of bool ``mask`` (dilated by ``dilate`` px) filled in."""
    if fill == "telea":
        return telea_inpaint(image, mask, dilate, radius)
    out = image.copy()
    hole = dilate_mask(mask, dilate) > 0
    if hole.any():
        out[hole] = median_blur(image, max(1, int(round(radius))))[hole]
    return out


def detection_scores(predicted: np.ndarray, truth: np.ndarray) -> dict:
    """Pixel counts and precision/recall/IoU/F1 of bool ``predicted`` against bool ``truth``.

    Empty cases are defined, not NaN: precision = 1 when nothing is flagged, recall = 1 when there
    is nothing to find, IoU = 1 when both are empty. Sum the counts over images and call
    :func:`scores_from_counts` for pooled scores.
    """
    p, t = np.asarray(predicted, bool), np.asarray(truth, bool)
    if p.shape != t.shape:
        raise DustbenchError(f"detection_scores: predicted {p.shape} vs truth {t.shape}")
    counts = {"tp": int(np.count_nonzero(p & t)), "fp": int(np.count_nonzero(p & ~t)),
              "fn": int(np.count_nonzero(~p & t)), "pixels": int(p.size)}
    return {**counts, **scores_from_counts(counts)}


def scores_from_counts(c: dict) -> dict:
    tp, fp, fn = c["tp"], c["fp"], c["fn"]
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    iou = tp / (tp + fp + fn) if tp + fp + fn else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "iou": iou, "f1": f1}
