"""Run an image function on overlapping tiles and blend them without seams, in bounded memory.

Layout (:func:`tile_layout`): along an axis of ``L > tile`` px, the fewest tiles that can cover it
with overlaps of at least ``overlap``, ``n = ceil((L - overlap) / (tile - overlap))``, all of one
size ``s = ceil((L + (n - 1) * overlap) / n) <= tile`` with their starts spread evenly, so that
adjacent tiles overlap by about ``overlap`` px. Per axis ``fn`` computes ``n * s < L * (tile + 1) /
(tile - overlap)`` px, so for the default 512/32 at most 1.069² = 1.142 × the frame's pixels at any
size (tiles every ``tile - overlap`` px with the last one moved back to the border computed up to
2 × per axis: 1.64 × the frame for 2000 × 2000).

A model that pads its input to a multiple of ``m`` (a U-Net: 2^depth) computes the padded size;
with ``multiple=m`` the layout minimises that instead: tiles are multiples of ``m`` (no padding at
all), of at most two sizes ``k·m`` and ``(k+1)·m``, their total the smallest multiple of ``m`` that
covers the axis with the overlaps, the few pixels over shared out as extra overlap. At 2000 px,
512/32: pix2pix (m = 128) computes 512, 512, 384, 384, 384 = 2176 px per axis (1.088×; 5 × 426
padded to 512 was 1.28×, 6 equal tiles of 384 1.15×), segnet (m = 32) 448, 448, 416, 416, 416 =
2144 (1.072×; 5 equal tiles of 448: 1.12×). Inside an overlap each tile's weight is 0 on the
``overlap // 4`` pixels nearest its edge (where a model sees its own padding instead of the
neighbouring pixels), then rises along a raised cosine to 1. Edges on the image border get no ramp.

What exactly holds: if ``fn`` is *local with radius r <= overlap // 4* (its output at a pixel
depends only on inputs at most r px away, the same way everywhere, and it treats a tile's edges
as it treats the image's) then ``apply_tiled(fn, x) == fn(x)`` up to float32 rounding — every
pixel is a convex combination of tile outputs that are all exact there. A CNN with a larger
receptive field is not exact, but its tile-edge errors are faded out smoothly (no seams).

Memory: the weights are separable, and so is their sum, so each tile's normalised weight is an
outer product of two 1-D profiles: the only full-frame array is the float32 output.
"""
from __future__ import annotations

from typing import Callable, Iterator

import numpy as np

from ..errors import DustbenchError

WINDOW_PIXELS = 1 << 22  # output pixels of the tile rows a padding model's layout is grouped over (4 MP)


def tile_layout(length: int, tile: int, overlap: int, multiple: int = 1) -> list[tuple[int, int]]:
    """(start, size) of the tiles covering ``length`` px, in order; see the module docstring.

    ``multiple=1``: the fewest tiles, all of one size, as small as they can be. ``multiple=m``: the
    model pads each tile up to a multiple of ``m`` (a U-Net's 2^depth), so a tile costs its padded
    size; the layout with the fewest padded pixels wins (ties: fewer tiles, then one size)."""
    if length <= tile:
        return [(0, length)]
    n = -(-(length - overlap) // (tile - overlap))
    candidates = [_equal_tiles(length, n, overlap, tile, multiple)]  # n tiles of <= tile always cover
    for count in range(n, n + tile // multiple + 1) if multiple > 1 else ():
        if length + (count - 1) * overlap < 2 * overlap * count:  # more, smaller tiles: mostly overlap
            break
        more = [_equal_tiles(length, count, overlap, tile, multiple), _two_sizes(length, count, overlap, tile, multiple)]
        candidates += [c for c in more if c is not None and min(s for _, s in c) >= 2 * overlap]
    cost = lambda tiles: (sum(-(-s // multiple) * multiple for _, s in tiles), len(tiles),  # noqa: E731
                          len({s for _, s in tiles}))
    return min(candidates, key=cost)


def _equal_tiles(length: int, count: int, overlap: int, tile: int, multiple: int) -> list[tuple[int, int]] | None:
    """``count`` tiles of one size, starts spread evenly; widened to the padded size when that
    fits (the model then sees real pixels instead of its own padding). None if they cannot cover."""
    # count*size >= length + (count-1)*overlap: every gap (length-size)/(count-1), rounded up, is <= size - overlap
    size = -(-(length + (count - 1) * overlap) // count)
    padded = -(-size // multiple) * multiple
    if size > tile:
        return None
    size = padded if padded <= min(tile, length) else size
    return [(i * (length - size) // (count - 1), size) for i in range(count)]


def _two_sizes(length: int, count: int, overlap: int, tile: int, multiple: int) -> list[tuple[int, int]] | None:
    """``count`` tiles that are multiples of ``multiple``, of two sizes at most (the larger first),
    their total the least such that covers ``length`` with overlaps >= ``overlap``; the excess
    (< multiple px) goes to the overlaps, shared out evenly. None if that does not fit ``tile``."""
    need = length + (count - 1) * overlap
    units = -(-need // multiple)
    q, r = divmod(units, count)
    sizes = [(q + 1) * multiple] * r + [q * multiple] * (count - r)
    excess = units * multiple - need
    joints = [overlap + excess * (j + 1) // (count - 1) - excess * j // (count - 1) for j in range(count - 1)]
    if max(sizes) > tile or min(sizes) <= 2 * max(joints):  # too big, or a tile swallowed by overlaps
        return None
    starts = [0]
    for size, joint in zip(sizes, joints):
        starts.append(starts[-1] + size - joint)
    return list(zip(starts, sizes))


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
    tiles = tile_layout(length, tile, overlap, multiple)
    profiles = [_profile(size, s > 0, s + size < length, overlap) for s, size in tiles]
    total = np.zeros(length, np.float64)
    for (s, size), p in zip(tiles, profiles):
        total[s:s + size] += p
    assert total.min() > 0, "tiling leaves pixels without weight"  # guaranteed by tile >= 2*overlap
    return [(s, (p / total[s:s + p.size]).astype(np.float32)) for (s, _), p in zip(tiles, profiles)]


def apply_tiled(fn: Callable[..., np.ndarray], image: np.ndarray, tile: int = 512, overlap: int = 32,
                mask: np.ndarray | None = None, multiple: int = 1, batch: int | None = None) -> np.ndarray:
    """Apply ``fn`` to overlapping ``tile``×``tile`` tiles of an H×W(×C) float image and blend them.

    ``fn(tile_image)`` (or ``fn(tile_image, tile_mask)`` when ``mask`` is given, for oracle
    methods) must return an array with the tile's height and width. An image that fits in one
    tile is passed to ``fn`` once, whole, and its result returned as is. Needs ``tile >= 2 *
    overlap``; the result is float32. See the module docstring for what is exact. ``multiple``:
    ``fn`` pads its input to a multiple of this (see :func:`tile_layout`). ``batch=n``: ``fn``
    takes up to ``n`` tiles at once, stacked N×h×w×C (masks N×h×w), and returns N×h×w×C' (one
    network call per batch: what keeps a GPU busy). The tiles ``fn`` gets are copies it may
    overwrite (an image that fits in one tile is passed as it is). Tiles are blended in the same
    order either way, so the result is the one-by-one result whenever ``fn`` treats each tile of a
    batch as it would alone (a network may differ by float rounding: its kernels can change with the
    batch size). The whole output is :func:`tiled_rows` gathered.
    """
    whole = _RowBuffer(keep=True)  # every row kept where it is blended: the output itself
    for y0, y1, rows in _tiled(fn, image, tile, overlap, mask, multiple, batch, whole):
        if y0 == 0 and y1 == image.shape[0]:  # one band: the image fitted one tile, or one window
            return rows
    return whole.buf


def tiled_rows(fn: Callable[..., np.ndarray], image: np.ndarray, tile: int = 512, overlap: int = 32,
               mask: np.ndarray | None = None, multiple: int = 1, batch: int | None = None
               ) -> Iterator[tuple[int, int, np.ndarray]]:
    """:func:`apply_tiled` as it is computed: ``(y0, y1, rows)`` for consecutive bands of final
    output rows, top to bottom, as soon as no tile left to run reaches them. Each band is a view,
    valid until the next one is asked for: copy what you keep. Only the rows some tile still blends
    into are held (about a tile row, times the width), so a caller that consumes the bands (scores
    them, writes them) never holds the whole output.
    The tiles ``fn`` gets are cut from ``image`` as they are run, so ``image`` may be of any
    dtype ``fn`` takes (the harness passes the integer image and converts each tile).
    """
    return _tiled(fn, image, tile, overlap, mask, multiple, batch, _RowBuffer(keep=False))


def _tiled(fn, image, tile, overlap, mask, multiple, batch, acc: "_RowBuffer") -> Iterator[tuple[int, int, np.ndarray]]:
    """The body of :func:`tiled_rows`, blending into ``acc``."""
    if not isinstance(image, np.ndarray) or image.ndim not in (2, 3):
        raise DustbenchError(f"apply_tiled: expected an H×W or H×W×C array, got {getattr(image, 'shape', image)!r}")
    tile, overlap = int(tile), int(overlap)
    stacked = batch is not None  # fn takes N×h×w×C stacks
    batch = max(1, int(batch or 1))
    if overlap < 0 or tile < 1 or tile < 2 * overlap:
        raise DustbenchError(f"apply_tiled: need tile >= 2*overlap >= 0, got tile={tile}, overlap={overlap}")
    height, width = image.shape[:2]
    if mask is not None and np.shape(mask)[:2] != (height, width):
        raise DustbenchError(f"apply_tiled: mask shape {np.shape(mask)} does not match image {image.shape}")

    def call(boxes: list[tuple[slice, slice]]) -> np.ndarray:
        """fn's outputs for the tiles in ``boxes``, stacked (N×h×w(×C'))."""
        if not stacked:
            (y, x), = boxes
            part = np.array(image[y, x], order="C")  # a copy even of a contiguous slice: fn may write to it
            result = fn(part) if mask is None else fn(part, np.ascontiguousarray(mask[y, x]))
            return np.asarray(result)[None]
        parts = np.stack([image[y, x] for y, x in boxes])
        return np.asarray(fn(parts) if mask is None else fn(parts, np.stack([mask[y, x] for y, x in boxes])))

    if height <= tile and width <= tile:  # the image itself, whole, once
        if not stacked:
            yield 0, height, (fn(image) if mask is None else fn(image, mask))
        else:
            yield 0, height, np.asarray(fn(image[None]) if mask is None else fn(image[None], np.asarray(mask)[None]))[0]
        return
    groups = _tile_groups(height, width, tile, overlap, max(1, int(multiple)), batch)
    # rows above the first row of every later group are final once a group is blended
    final = np.minimum.accumulate([min(t[0] for t in g) for g in groups][::-1])[::-1].tolist()[1:] + [height]
    for group, done in zip(groups, final):
        boxes = [(slice(y0, y0 + wy.size), slice(x0, x0 + wx.size)) for y0, wy, x0, wx in group]
        results = call(boxes)
        size = (group[0][1].size, group[0][3].size)
        if results.ndim < 3 or results.shape[0] != len(group) or results.shape[1:3] != size:
            got = results.shape if stacked else results.shape[1:]
            raise DustbenchError(f"apply_tiled: fn returned shape {got} for {len(group)} "
                                 f"{size[0]}×{size[1]} tile(s); it must keep height and width")
        for (ys, xs), (_, wy, _, wx), result in zip(boxes, group, results):
            _blend(acc.rows(ys.start, ys.stop, (width,) + results.shape[3:], height)[:, xs], result, wy, wx)
        if done > acc.start:
            yield acc.start, done, acc.top(done)
            acc.drop(done)


class _RowBuffer:
    """The output rows that tiles are blended into: zeros where none has been yet (blending adds
    to them). ``keep=True`` keeps every row (the whole output); ``keep=False`` holds rows
    ``[start, start + len(buf))`` only: finished rows leave from the top and the rest move up in
    place (no second buffer)."""

    def __init__(self, keep: bool):
        self.keep, self.start, self.buf = keep, 0, None

    def rows(self, y0: int, y1: int, row_shape: tuple, height: int) -> np.ndarray:
        """The buffer's rows ``y0..y1`` of an output ``height`` rows high (grown with zeros when
        they reach past the buffer)."""
        base = 0 if self.keep else self.start
        need = height if self.keep else y1 - base
        if self.buf is None:
            self.buf = np.zeros((need,) + row_shape, np.float32)
        elif need > len(self.buf):
            grown = np.zeros((need,) + self.buf.shape[1:], np.float32)
            grown[:len(self.buf)] = self.buf
            self.buf = grown
        return self.buf[y0 - base:y1 - base]

    def top(self, y: int) -> np.ndarray:
        """Rows ``start..y`` (final): a view, valid until :meth:`drop` when rows are not kept."""
        base = 0 if self.keep else self.start
        return self.buf[self.start - base:y - base]

    def drop(self, y: int) -> None:
        """Done with rows ``start..y``: unless kept, the rest move to the top, zeros fill the bottom."""
        if not self.keep:
            n = y - self.start
            rest = len(self.buf) - n
            self.buf[:rest] = self.buf[n:]  # numpy copies overlapping rows correctly
            self.buf[rest:] = 0.0
        self.start = y


def _tile_groups(height: int, width: int, tile: int, overlap: int, multiple: int, batch: int) -> list[list]:
    """The tiles (y0, wy, x0, wx) in batches of up to ``batch`` of one shape, in the order they are
    run and blended. A layout of one tile shape is run in raster order (batches may span tile
    rows). A layout for a padding model has up to four shapes: its tiles are taken a window of
    tile rows at a time (as many as cover ``WINDOW_PIXELS``; an image up to that size is one
    window), grouped by shape within it, so a window's rows are final before the next one starts.
    The order does not depend on ``batch`` (the same float sums either way)."""
    columns = _axis_weights(width, tile, overlap, multiple)
    rows = _axis_weights(height, tile, overlap, multiple)
    per_window = max(1, WINDOW_PIXELS // (max(wy.size for _, wy in rows) * width))
    ordered = []
    for w in range(0, len(rows), per_window):
        shapes: dict[tuple[int, int], list] = {}
        for y0, wy in rows[w:w + per_window]:
            for x0, wx in columns:
                shapes.setdefault((wy.size, wx.size), []).append((y0, wy, x0, wx))
        ordered += [t for same in shapes.values() for t in same]
    groups, run = [], []
    for t in ordered:  # maximal runs of up to `batch` consecutive tiles of one shape
        if run and (len(run) == batch or (t[1].size, t[3].size) != (run[0][1].size, run[0][3].size)):
            groups.append(run)
            run = []
        run.append(t)
    return groups + [run]


def _blend(target: np.ndarray, result: np.ndarray, wy: np.ndarray, wx: np.ndarray) -> None:
    """``target += (wy ⊗ wx) · result`` (the weights broadcast over channels). Where both weights
    are 1 no other tile reaches (the weights are normalised), so the result is copied there; where
    either is 0 (a tile's edge margin) nothing is added."""
    (y0, y1), (x0, x1) = _ones(wy), _ones(wx)
    (a, b), (c, d) = _span(wy > 0), _span(wx > 0)
    channels = result.shape[2] if result.ndim == 3 else 1
    for ys, xs in ((slice(a, y0), slice(c, d)), (slice(y1, b), slice(c, d)),
                   (slice(y0, y1), slice(c, x0)), (slice(y0, y1), slice(x1, d))):
        part = result[ys, xs]
        if part.size:
            # rows of w·C values: a weight broadcast over a 3-long channel axis made numpy loop 3 at a time
            weight = np.outer(wy[ys], np.repeat(wx[xs], channels))
            target[ys, xs] += (weight * part.reshape(weight.shape)).reshape(part.shape)
    target[y0:y1, x0:x1] = result[y0:y1, x0:x1]


def _span(flags: np.ndarray) -> tuple[int, int]:
    """[first, end) of the True entries of a 1-D bool array (which are one run; (0, 0) when none)."""
    idx = np.flatnonzero(flags)
    return (int(idx[0]), int(idx[-1]) + 1) if idx.size else (0, 0)


def _ones(w: np.ndarray) -> tuple[int, int]:
    """[first, end) of the run of weights equal to 1 (a tile's interior; empty when there is none)."""
    return _span(w == 1.0)
