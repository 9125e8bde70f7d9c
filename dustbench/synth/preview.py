"""Preview contact sheets: every preset drawn on neutral grey and on a photograph.

Presets are relative to the frame, so a preview renders them on a virtual frame at the reference
scale (short side REFERENCE_SHORT_SIDE px, 3:2) and shows the whole frame scaled down next to a
1:1 crop, where single specks are visible.
"""
from __future__ import annotations

import cv2
import numpy as np
from tqdm.auto import tqdm

from ..sheets import contact_sheet
from .composite import composite
from .params import sample_params
from .presets import REFERENCE_SHORT_SIDE, Preset
from .render import render

FRAME = (REFERENCE_SHORT_SIDE, REFERENCE_SHORT_SIDE * 3 // 2)


def preview_sheet(presets: list[Preset], photo: np.ndarray, seed: int = 0, crop: int = 320,
                  progress: bool = True) -> np.ndarray:
    """Rows of [whole frame on the photo, 1:1 crop on grey, 1:1 crop on the photo] per preset."""
    photo8 = photo if photo.dtype == np.uint8 else np.rint(photo.astype(np.float32) / 257.0).astype(np.uint8)
    if photo8.ndim == 2:
        photo8 = np.repeat(photo8[:, :, None], 3, axis=2)
    frame_photo = cv2.resize(photo8, (FRAME[1], FRAME[0]), interpolation=cv2.INTER_CUBIC)
    grey = np.full_like(frame_photo, 128)
    y0, x0 = (FRAME[0] - crop) // 2, (FRAME[1] - crop) // 2
    rows, captions = [], []
    for preset in tqdm(presets, desc="preview", unit="preset", disable=not progress):
        rng = np.random.default_rng(np.random.SeedSequence([seed, len(rows)]))
        layer = render(sample_params(preset, FRAME, rng), FRAME)
        on_photo = composite(frame_photo, layer)
        on_grey = composite(grey, layer)
        whole = cv2.resize(on_photo, (crop * 3 // 2, crop), interpolation=cv2.INTER_AREA)
        rows.append([whole, on_grey[y0:y0 + crop, x0:x0 + crop], on_photo[y0:y0 + crop, x0:x0 + crop]])
        captions.append([f"{preset.name} ({preset.family})", "1:1 on grey", "1:1 on photo"])
    return contact_sheet(rows, captions, height=crop)
