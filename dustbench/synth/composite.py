"""Compositing: clean image + artifact layer -> damaged image, artifact mask and family labels.

Artifacts are laid "over" the image one after another (alpha blending), each only inside its
own region, so pixels that no artifact touches keep their exact bytes.
"""
from __future__ import annotations

import numpy as np

from ..io import check_image, dtype_max
from .render import Layer

_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601: colour -> grey


def _check_shape(image: np.ndarray, layer: Layer) -> None:
    if tuple(image.shape[:2]) != tuple(layer.shape):
        raise ValueError(f"layer was rendered for {layer.shape}, image is {image.shape[:2]}")


def _target_color(color: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Artifact colour in the image's units and channel count; flat (3,) or per pixel (h×w×3)."""
    scale = np.float32(dtype_max(image.dtype))
    color = color.astype(np.float32, copy=False)
    if image.ndim == 2:
        return (color @ _LUMA) * scale
    if image.shape[2] == 1:
        return (color @ _LUMA)[..., None] * scale
    return color * scale


def composite(clean: np.ndarray, layer: Layer, out: np.ndarray | None = None) -> np.ndarray:
    """The damaged image: `clean` with every sprite of `layer` blended over it. Keeps dtype.

    `out` (same shape and dtype as `clean`, may be `clean` itself) avoids allocating a new frame.
    """
    check_image(clean, "clean")
    _check_shape(clean, layer)
    if out is None:
        out = clean.copy()
    elif out is not clean:
        if out.shape != clean.shape or out.dtype != clean.dtype:
            raise ValueError(f"out must be {clean.dtype} {clean.shape}, got {out.dtype} {out.shape}")
        np.copyto(out, clean)
    # Integers round half up (+0.5, then the cast truncates); blending stays inside [0, max].
    half = np.float32(0.5 if out.dtype != np.float32 else 0.0)
    for sp in layer.sprites:
        region = out[sp.slices]
        current = region.astype(np.float32)
        blended = _target_color(sp.color, out) - current
        blended *= sp.alpha if out.ndim == 2 else sp.alpha[:, :, None]
        blended += current
        blended += half
        region[...] = blended
    return out


def artifact_mask(layer: Layer) -> np.ndarray:
    """Combined opacity of all artifacts, float32 H×W in [0, 1]: 0 exactly where nothing was drawn."""
    mask = np.zeros(layer.shape, np.float32)
    for sp in layer.sprites:
        region = mask[sp.slices]
        region += sp.alpha * (1.0 - region)  # "over": 1 - (1 - m)(1 - a)
    return mask


def family_labels(layer: Layer) -> np.ndarray:
    """uint8 H×W map of the family (1-based, see FAMILIES) of the most opaque artifact per pixel.

    Pixels whose strongest artifact has opacity below 1/255 (invisible at 8 bits) stay 0.
    """
    labels = np.zeros(layer.shape, np.uint8)
    strongest = np.zeros(layer.shape, np.uint8)  # that opacity quantised to 8 bits: cheap to keep
    for sp in layer.sprites:
        q = np.rint(sp.alpha * 255.0).astype(np.uint8)
        best = strongest[sp.slices]
        wins = q > best
        best[wins] = q[wins]
        labels[sp.slices][wins] = sp.family
    return labels
