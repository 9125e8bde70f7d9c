"""Compositing: clean image + artifact layer -> damaged image, artifact mask and family labels.

Artifacts are laid "over" the image one after another (alpha blending), each only on its own
drawn pixels (alpha != 0), so pixels that no artifact touches keep their exact bytes.

Blending sprite by sprite would cost more in numpy calls per sprite than its pixels (docs/performance.md).
Instead the layer's drawn pixels are packed once into flat arrays (frame index, alpha, sprite)
and blended a batch of sprites at a time. Sprites whose boxes overlap an earlier sprite's go to
a later pass, so within a pass no pixel repeats and every pixel still sees its artifacts in
layer order, with the same float32 arithmetic and rounding as blending sprite by sprite.
render() packs each layer it returns; the mask and the labels reuse the packing too.
"""
from __future__ import annotations

import numpy as np

from ..io import check_image, dtype_max
from ..portable_dot import luma
from .layer import Layer, pack


def _check_shape(image: np.ndarray, layer: Layer) -> None:
    if tuple(image.shape[:2]) != tuple(layer.shape):
        raise ValueError(f"layer was rendered for {layer.shape}, image is {image.shape[:2]}")


def _target_color(color: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Artifact colour in the image's units and channel count; flat (3,) or per pixel (h×w×3)."""
    scale = np.float32(dtype_max(image.dtype))
    color = color.astype(np.float32, copy=False)
    if image.ndim == 2:
        return luma(color) * scale
    if image.shape[2] == 1:
        return luma(color)[..., None] * scale
    return color * scale


def _targets(layer: Layer, out: np.ndarray) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """(table, base, per_pixel): the target colour, in the image's units, of drawn pixel i of sprite
    s is table[s] when every colour is flat (base None), else table[base[s] + local[i] * per_pixel[s]]."""
    sprites = layer.sprites
    channels = 1 if out.ndim == 2 else out.shape[2]
    flat = np.array([sp.color.ndim == 1 for sp in sprites])
    if channels == 3 and flat.all():  # elementwise, as _target_color does
        table = np.array([sp.color for sp in sprites], np.float32).reshape(-1, 3)
        return table * np.float32(dtype_max(out.dtype)), None, None
    table = [_target_color(sp.color, out).reshape(-1, channels) for sp in sprites]
    if flat.all():
        return np.concatenate(table), None, None
    sizes = np.array([t.shape[0] for t in table])
    return np.concatenate(table), np.cumsum(sizes) - sizes, ~flat


def _pixels(image: np.ndarray) -> np.ndarray:
    """A C-contiguous image as a flat array of whole pixels (all channels in one item)."""
    return image.reshape(-1).view(np.dtype((np.void, image.itemsize * (image.size // (image.shape[0] * image.shape[1])))))


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
    if not layer.sprites:
        return out
    work = out if out.flags.c_contiguous else np.ascontiguousarray(out)
    pixels = _pixels(work)
    table, base, per_pixel = _targets(layer, work)
    # Integers round half up (+0.5, then the cast truncates); blending stays inside [0, max].
    half = np.float32(0.5 if out.dtype != np.float32 else 0.0)
    for b in pack(layer):
        current = pixels.take(b.pos).view(out.dtype).reshape(-1, table.shape[1]).astype(np.float32)
        if base is None:
            blended = b.per_pixel(table)
        else:  # per-pixel colours (stamps): the pixel's own row of its sprite's colours
            blended = table.take(b.per_pixel(base) + b.local * b.per_pixel(per_pixel), axis=0)
        blended -= current
        blended *= b.alpha[:, None]
        blended += current
        done = np.add(blended, half, out=np.empty(blended.shape, out.dtype), casting="unsafe")
        np.put(pixels, b.pos, done.view(pixels.dtype).reshape(-1))
    if work is not out:
        out[...] = work
    return out


def artifact_mask(layer: Layer) -> np.ndarray:
    """Combined opacity of all artifacts, float32 H×W in [0, 1]: 0 exactly where nothing was drawn."""
    mask = np.zeros(layer.shape, np.float32)
    flat = mask.reshape(-1)
    for b in pack(layer) if layer.sprites else []:
        m = flat.take(b.pos)
        m += b.alpha * (1.0 - m)  # "over": 1 - (1 - m)(1 - a)
        np.put(flat, b.pos, m)
    return mask


def family_labels(layer: Layer) -> np.ndarray:
    """uint8 H×W map of the family (1-based, see FAMILIES) of the most opaque artifact per pixel.

    Pixels whose strongest artifact has opacity below 1/255 (invisible at 8 bits) stay 0.
    """
    labels = np.zeros(layer.shape, np.uint8)
    strongest = np.zeros(layer.shape, np.uint8)  # that opacity quantised to 8 bits: cheap to keep
    family = np.array([sp.family for sp in layer.sprites], np.uint8)
    for b in pack(layer) if layer.sprites else []:
        q = np.rint(b.alpha * 255.0).astype(np.uint8)
        wins = np.flatnonzero(q > strongest.reshape(-1).take(b.pos))
        pos = b.pos.take(wins)
        np.put(strongest.reshape(-1), pos, q.take(wins))
        np.put(labels.reshape(-1), pos, b.per_pixel(family).take(wins))
    return labels
