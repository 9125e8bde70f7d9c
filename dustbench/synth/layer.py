"""The damage layer: sprites (alpha and colour over a box) and their packed form for blending.

A :class:`Layer` is what :func:`dustbench.synth.render.render` returns and what
:mod:`dustbench.synth.composite` blends. Blending sprite by sprite would cost more in numpy
calls per sprite than its pixels; instead the layer's drawn pixels are packed once
(:func:`pack`) into flat arrays (frame index, alpha, sprite) in batches. Sprites whose boxes
overlap an earlier sprite's go to a later pass, so within a pass no pixel repeats and every pixel
still sees its artifacts in layer order.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_BATCH = 1 << 15  # sprite-box pixels per batch: a batch's arrays stay in the CPU cache (measured best)


@dataclass
class Sprite:
    """One artifact (or one tile of a long one): alpha over a region, and its colour."""

    y0: int
    x0: int
    alpha: np.ndarray  # float32 h×w in [0, 1]
    color: np.ndarray  # float32 RGB in [0, 1]: flat (3,), or per pixel h×w×3 (stamps)
    family: int  # 1-based index into FAMILIES
    artifact: int = -1  # which artifact of its parameter group drew it (-1: not from a group)
    group: int = -1  # that group's index in the record's "groups" (set by render)

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.alpha.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


@dataclass
class Layer:
    """Everything the damage adds to one image of `shape` (H, W). Not meant to change once built:
    compositing packs the sprites' drawn pixels into `packed` once (:func:`pack`)."""

    shape: tuple[int, int]
    sprites: list[Sprite]
    packed: dict = field(default_factory=dict, repr=False, compare=False)



@dataclass
class _Batch:
    """Drawn pixels of a few sprites: pixel pos[i] (y * W + x) gets alpha[i]; the first count[0]
    pixels belong to sprite[0], the next count[1] to sprite[1], and so on."""

    pos: np.ndarray
    alpha: np.ndarray  # float32, never 0
    sprite: np.ndarray  # indices into layer.sprites
    count: np.ndarray
    local: np.ndarray | None  # index of each pixel within its sprite's box (y * w + x), for
    # layers with per-pixel colours

    def per_pixel(self, values: np.ndarray) -> np.ndarray:
        """values[s] of each pixel's sprite s."""
        return np.repeat(values.take(self.sprite, axis=0), self.count, axis=0)


def _overlapping_pairs(y0, x0, y1, x1) -> tuple[np.ndarray, np.ndarray]:
    """(earlier, later) index pairs of boxes that overlap: a sweep over boxes sorted by left edge."""
    order = np.argsort(x0, kind="stable")
    sx0 = x0[order]
    lo = np.searchsorted(sx0, sx0, "left")
    hi = np.searchsorted(sx0, x1[order], "left")  # boxes starting inside this one's columns
    count = hi - lo
    a = np.repeat(np.arange(order.size), count)
    b = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count) + lo[a]
    a, b = order[a], order[b]
    keep = (a != b) & (y0[a] < y1[b]) & (y0[b] < y1[a])
    a, b = a[keep], b[keep]
    return np.minimum(a, b), np.maximum(a, b)


def _passes(y0, x0, y1, x1) -> np.ndarray:
    """Pass of each box: one more than the latest pass among the earlier boxes it overlaps."""
    level = np.zeros(y0.size, np.int64)
    s, t = _overlapping_pairs(y0, x0, y1, x1)
    while s.size:  # relax the longest path; converges in (longest chain of overlaps) steps
        new = level.copy()
        np.maximum.at(new, t, level[s] + 1)
        if np.array_equal(new, level):
            break
        level = new
    return level


def _geometry(layer: Layer) -> np.ndarray:
    """(n, 4) y0, x0, h, w of every sprite; refuses sprites that stick out of the layer."""
    height, width = layer.shape
    geo = np.array([(sp.y0, sp.x0, *sp.alpha.shape) for sp in layer.sprites], np.int64).reshape(-1, 4)
    y0, x0, h, w = geo.T
    outside = np.flatnonzero((y0 < 0) | (x0 < 0) | (y0 + h > height) | (x0 + w > width))
    if outside.size:
        i = int(outside[0])
        raise ValueError(f"sprite {i} at ({y0[i]}, {x0[i]}) of size {h[i]}×{w[i]} lies outside the "
                         f"layer's {height}×{width}")
    return geo


def _batch(layer: Layer, sprite: np.ndarray, geo: np.ndarray, local: bool) -> _Batch:
    """Drawn pixels of `sprite` (indices into layer.sprites; geo: their y0, x0, h, w)."""
    y0, x0, h, w = geo.T
    size = h * w
    alpha = np.concatenate([layer.sprites[i].alpha.ravel() for i in sprite.tolist()])
    drawn = alpha != 0
    at = np.flatnonzero(drawn)  # faster on booleans than on floats
    # Each row of a box is a run of pixels: frame index minus batch index is constant along it.
    start = np.cumsum(size) - size
    row_of = np.repeat(np.arange(sprite.size), h)
    first_row = np.cumsum(h) - h
    row = np.arange(row_of.size) - first_row[row_of]
    run = row * w[row_of] + start[row_of]
    per_row = np.add.reduceat(drawn, run, dtype=np.intp)
    count = np.add.reduceat(per_row, first_row)
    pos = np.repeat((y0[row_of] + row) * layer.shape[1] + x0[row_of] - run, per_row)
    pos += at
    return _Batch(pos, alpha.take(at), sprite, count, (at - np.repeat(start, count)) if local else None)


def pack(layer: Layer) -> list[_Batch]:
    """The layer's drawn pixels in batches, in blending order (see the module's docstring);
    built once per layer (render() does it while the alphas are still in the CPU cache) and
    kept in layer.packed."""
    key = [id(sp) for sp in layer.sprites]
    if layer.packed.get("key") != key:
        geo = _geometry(layer)
        keep = np.flatnonzero(geo[:, 2] * geo[:, 3])  # empty sprites draw nothing
        y0, x0, h, w = geo[keep].T
        level = _passes(y0, x0, y0 + h, x0 + w)
        order = np.argsort(level, kind="stable")
        first = np.cumsum((h * w)[order]) - (h * w)[order]
        cuts = np.flatnonzero(np.diff(level[order]) | np.diff(first // _BATCH)) + 1
        parts = np.split(order, cuts) if order.size else []
        layer.packed.clear()
        local = any(sp.color.ndim > 1 for sp in layer.sprites)
        layer.packed.update(key=key, batches=[_batch(layer, keep[p], geo[keep[p]], local) for p in parts])
    return layer.packed["batches"]
