"""Residuals of thin structure: what is brighter or darker than its surroundings and narrower than a
disc. Shared by the training-free detectors (:mod:`.morph_detect`'s specks, :mod:`.line_scratches`'
long lines).

    >>> import numpy as np
    >>> img = np.zeros((9, 9), np.float32); img[4, 4] = 1.0   # one bright pixel on black
    >>> float(tophat(img, 2, 1)[4, 4]), float(tophat(img, 2, -1).max())
    (1.0, 0.0)
"""
from __future__ import annotations

import cv2
import numpy as np

from ..fit.detect import luma


def luma32(image: np.ndarray) -> np.ndarray:
    """Contiguous float32 H×W luma (BT.601) of an H×W×C image; the channel itself when C = 1."""
    return np.ascontiguousarray(luma(image), dtype=np.float32)


def tophat(luma: np.ndarray, radius: int, polarity: int) -> np.ndarray:
    """What is brighter (polarity 1) or darker (-1) than its surroundings and narrower than the disc."""
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    x = luma if polarity > 0 else np.float32(1.0) - luma
    return x - cv2.morphologyEx(x, cv2.MORPH_OPEN, disc, borderType=cv2.BORDER_REPLICATE)
