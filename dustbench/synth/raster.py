"""Canvas helpers shared by the blob and stroke renderers: fixed-point drawing, padding, sprites.

Shapes are drawn on canvases padded by their blur's reach (so the blur sees every part of the
shape that reaches in), then blurred, unpadded and cropped to the drawn pixels (:func:`sprite`).
"""
from __future__ import annotations

import cv2
import numpy as np

from .layer import Sprite

SHIFT = 4  # fractional bits for OpenCV drawing
ONE = 1 << SHIFT


def reach(blur_px) -> np.ndarray:
    """Padding of a canvas (per blur): its blur then sees every part of the shape that reaches in."""
    return np.where(blur_px > 0.25, np.ceil(3.0 * blur_px) + 2, 2).astype(np.int64)


def image_sizes(shape, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Height, width (int64) and short side (float64) of the image of each of a group's `n`
    artifacts: `shape` is one (H, W) for all, or an (n, 2) array of rows when groups of several
    images are drawn together (:func:`dustbench.synth.render.render_many`)."""
    hw = np.asarray(shape, np.int64)
    hw = np.broadcast_to(hw[:2], (n, 2)) if hw.ndim == 1 else hw.reshape(n, 2)
    h, w = hw[:, 0], hw[:, 1]
    return h, w, np.minimum(h, w).astype(np.float64)


def sprite(alpha: np.ndarray, blur_px: float, pad: int, y0: int, x0: int, color, family: int,
           artifact: int = -1) -> Sprite | None:
    """Blur a padded canvas, drop the padding, crop to the drawn pixels (None: nothing drawn)."""
    if blur_px > 0.25:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur_px, borderType=cv2.BORDER_CONSTANT)
    alpha = alpha[pad:-pad, pad:-pad]
    x, y, w, h = cv2.boundingRect((alpha != 0).view(np.uint8))
    if not w:
        return None
    return Sprite(y0 + y, x0 + x, np.ascontiguousarray(alpha[y:y + h, x:x + w]), color, family, artifact)
