"""Run an image function on overlapping tiles and blend them without seams, in bounded memory.

Layout (:func:`tile_layout`): along an axis of ``L > tile`` px, the fewest tiles that can cover it
with overlaps of at least ``overlap``, ``n = ceil((L - overlap) / (tile - overlap))``, all of one
size ``s = ceil((L + (n - 1) * overlap) / n) <= tile`` with their starts spread evenly, so that
adjacent tiles overlap by about ``overlap`` px. Per axis ``fn`` computes ``n * s < L * (tile + 1) /
(tile - overlap)`` px, so for the default 512/32 at most 1.069² = 1.142 × the frame's pixels at any
size (tiles every ``tile - overlap`` px with the last one moved back to the border computed up to
2 × per axis: 1.64 × the frame for 2000 × 2000). A model that pads its input to a multiple of
``m`` (a U-Net: 2^depth) computes the padded size; with ``multiple=m`` the layout minimises that
instead (pix2pix, m = 128, at 2000 px: 6 tiles of 384 = 1.15 × per axis, against 5 tiles of 426
padded to 512 = 1.28 ×). Every tile of an image has the same shape. Inside
an overlap each tile's weight is 0 on the ``overlap // 4`` pixels nearest its edge (where a
model sees its own padding instead of the neighbouring pixels), then rises along a raised
cosine to 1. Edges on the image border get no ramp.

What exactly holds: if ``fn`` is *local with radius r <= overlap // 4* (its output at a pixel
depends only on inputs at most r px away, the same way everywhere, and it treats a tile's edges
as it treats the image's) then ``apply_tiled(fn, x) == fn(x)`` up to float32 rounding — every
pixel is a convex combination of tile outputs that are all exact there. A CNN with a larger
receptive field is not exact, but its tile-edge errors are faded out smoothly (no seams).

Memory: the weights are separable, and so is their sum, so each tile's normalised weight is an
outer product of two 1-D profiles: the only full-frame array is the float32 output.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..errors import DustbenchError


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> tuple[int, list[int]]:
    """(size, starts) of the equal tiles covering ``length`` px; see the module docstring.

    ``multiple``: the model pads each tile up to a multiple of this (a U-Net's 2^depth), so a tile
    costs its *padded* size. Among layouts of ``n`` tiles (from the fewest up) the cheapest
    ``n × padded size`` wins (ties: fewer tiles), and a tile is widened to its padded size when that
    fits in ``tile``, so the model sees real pixels instead of its own padding. ``multiple=1``: the
    fewest tiles, as small as they can be."""
    if length <= tile:
        return length, [0]
    n = -(-(length - overlap) // (tile - overlap))
    best = None
    for count in range(n, n + 1 if multiple <= 1 else n + tile // multiple + 1):
        # count*size >= length + (count-1)*overlap: every gap (length-size)/(count-1), rounded up,
        # is <= size - overlap
        size = -(-(length + (count - 1) * overlap) // count)
        padded = -(-size // multiple) * multiple
        if count > n and size < 2 * overlap:  # more, smaller tiles would be mostly overlap
            break
        cost = count * padded
        if best is None or cost < best[0]:
            best = (cost, count, padded if padded <= min(tile, length) else size)
    _, count, size = best
    return size, [i * (length - size) // (count - 1) for i in range(count)]


def _profile(size: int, ramp_left: bool, ramp_right: bool, overlap: int) -> np.ndarray:
    """1-D tile weight: zero margin, raised-cosine ramp, then 1, on each interior edge."""
    w = np.ones(size, np.float64)
    margin = overlap // 4
    ramp = overlap - 2 * margin
    # sin² rising over `ramp` px; mirrored it sums to 1 with the neighbour's (partition of unity
    # when tiles overlap by exactly `overlap`; we normalise anyway for the longer last overlap).
    rise = np.sin(0.5 * np.pi * np.arange(1, ramp + 1) / (ramp + 1)) ** 2
    edge = np.concatenate([np.zeros(margin), rise])
    if ramp_left:
        w[: edge.size] = np.minimum(w[: edge.size], edge)
    if ramp_right:
        w[size - edge.size:] = np.minimum(w[size - edge.size:], edge[::-1])
    return w


def _axis_weights(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, np.ndarray]]:
    """(start, normalised float32 weight profile) for each tile along one axis."""
    size, starts = tile_layout(length, tile, overlap, multiple)
    profiles = [_profile(size, s > 0, s + size < length, overlap) for s in starts]
    total = np.zeros(length, np.float64)
    for s, p in zip(starts, profiles):
        total[s:s + size] += p
    assert total.min() > 0, "tiling leaves pixels without weight"  # guaranteed by tile >= 2*overlap
    return [(s, (p / total[s:s + size]).astype(np.float32)) for s, p in zip(starts, profiles)]


def apply_tiled(fn: Callable[..., np.ndarray], image: np.ndarray, tile: int = 512, overlap: int = 32,
                mask: np.ndarray | None = None, multiple: int = 1) -> np.ndarray:
    """Apply ``fn`` to overlapping ``tile``×``tile`` tiles of an H×W(×C) float image and blend them.

    ``fn(tile_image)`` (or ``fn(tile_image, tile_mask)`` when ``mask`` is given, for oracle
    methods) must return an array with the tile's height and width. An image that fits in one
    tile is passed to ``fn`` once, whole, and its result returned as is. Needs ``tile >= 2 *
    overlap``; the result is float32. See the module docstring for what is exact. ``multiple``:
    ``fn`` pads its input to a multiple of this (see :func:`tile_layout`).
    """
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise DustbenchError(f"apply_tiled: expected an H×W or H×W×C array, got {getattr(image, 'shape', image)!r}")
    tile, overlap = int(tile), int(overlap)
    if overlap < 0 or tile < 1 or tile < 2 * overlap:
        raise DustbenchError(f"apply_tiled: need tile >= 2*overlap >= 0, got tile={tile}, overlap={overlap}")
    height, width = image.shape[:2]
    if mask is not None and np.shape(mask)[:2] != (height, width):
        raise DustbenchError(f"apply_tiled: mask shape {np.shape(mask)} does not match image {image.shape}")

    def call(y: slice, x: slice) -> np.ndarray:
        part = np.ascontiguousarray(image[y, x])
        return fn(part) if mask is None else fn(part, np.ascontiguousarray(mask[y, x]))

    if height <= tile and width <= tile:
        return call(slice(None), slice(None))
    out = None
    multiple = max(1, int(multiple))
    for y0, wy in _axis_weights(height, tile, overlap, multiple):
        for x0, wx in _axis_weights(width, tile, overlap, multiple):
            ys, xs = slice(y0, y0 + wy.size), slice(x0, x0 + wx.size)
            result = np.asarray(call(ys, xs))
            if result.shape[:2] != (wy.size, wx.size):
                raise DustbenchError(f"apply_tiled: fn returned shape {result.shape} for a "
                                     f"{wy.size}×{wx.size} tile; it must keep height and width")
            if out is None:
                out = np.zeros((height, width) + result.shape[2:], np.float32)
            weight = np.outer(wy, wx)
            if result.ndim == 3:
                weight = weight[:, :, None]
            out[ys, xs] += weight * result
    return out
