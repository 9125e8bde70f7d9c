"""Contact sheets: grids of images with captions, written as 8-bit PNG for a quick look."""
from __future__ import annotations

import cv2
import numpy as np

from .io import to_float


def to_display(image: np.ndarray) -> np.ndarray:
    """Any image (grey/RGB, uint8/uint16/float, or a float mask) as uint8 RGB for display."""
    f = np.clip(to_float(image), 0.0, 1.0)
    if f.ndim == 2:
        f = np.repeat(f[:, :, None], 3, axis=2)
    return np.rint(f * 255).astype(np.uint8)


def fit(image: np.ndarray, height: int) -> np.ndarray:
    """Resize to `height` keeping the aspect; nearest-neighbour when enlarging keeps specks crisp."""
    h, w = image.shape[:2]
    width = max(1, round(w * height / h))
    interp = cv2.INTER_AREA if height < h else cv2.INTER_NEAREST
    return cv2.resize(image, (width, height), interpolation=interp)


def busiest_crop(weight: np.ndarray, crop: int) -> tuple[slice, slice]:
    """The crop×crop window (clipped to the image) holding the most ``weight`` (e.g. change or damage)."""
    h, w = weight.shape
    ch, cw = min(crop, h), min(crop, w)
    score = cv2.boxFilter(weight.astype(np.float32), -1, (cw, ch), normalize=False, borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
    y0, x0 = int(np.clip(cy - ch // 2, 0, h - ch)), int(np.clip(cx - cw // 2, 0, w - cw))
    return slice(y0, y0 + ch), slice(x0, x0 + cw)


def contact_sheet(rows: list[list[np.ndarray]], captions: list[list[str]] | None = None,
                  height: int = 256, pad: int = 4) -> np.ndarray:
    """Lay out rows of images (each scaled to `height`) with a caption strip under each."""
    text_h = 18 if captions else 0
    rendered = []
    for r, row in enumerate(rows):
        cells = []
        for c, img in enumerate(row):
            tile = fit(to_display(img), height)
            if captions:
                strip = np.full((text_h, tile.shape[1], 3), 255, np.uint8)
                cv2.putText(strip, captions[r][c][: max(1, tile.shape[1] // 7)], (3, 13),
                            cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
                tile = np.concatenate([tile, strip], axis=0)
            cells.append(np.pad(tile, ((pad, pad), (pad, pad), (0, 0)), constant_values=255))
        rendered.append(np.concatenate(cells, axis=1))
    width = max(r.shape[1] for r in rendered)
    rendered = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rendered]
    return np.concatenate(rendered, axis=0)
