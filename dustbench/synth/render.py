"""Rendering: a parameter record -> a sparse artifact layer (sprites of colour + alpha).

Each artifact is drawn only inside its own bounding box (long strokes: only in the 64-px tiles
they cross), so the cost grows with the damage, not with the frame. Shapes are drawn on 8-bit
canvases because OpenCV anti-aliases (LINE_AA) only there, with 4 fractional bits of position.

What does not depend on the canvas (outlines, boxes, tiles, which segment reaches which canvas)
is computed for a whole group at once; what is left per canvas is the OpenCV calls themselves.
Blobs are drawn by :mod:`dustbench.synth.blobs`; strokes and stamps here.
"""
from __future__ import annotations

import math
from collections import deque
from itertools import repeat
from typing import Iterator

import cv2
import numpy as np

from .blobs import blob_sprites
from .layer import Layer, Sprite, pack
from .presets import FAMILIES
from .raster import ONE as _ONE, SHIFT as _SHIFT, reach as _reach, sprite as _sprite
from .stamps import draw_stamp, group_stamps

_TILE = 64
_TILE_ABOVE = 4 * _TILE * _TILE  # a stroke whose box is larger than this is drawn tile by tile


_BLOBS = ("dust", "dirt", "blotch")


def _linspace(lo: float, hi: float, m: int) -> np.ndarray:
    """np.linspace(lo, hi, m) for m >= 2, value for value (its arithmetic), at a third of its cost."""
    y = np.arange(m, dtype=np.float64) * ((hi - lo) / (m - 1))
    y += lo
    y[-1] = hi
    return y


def _stroke_path(cx, cy, length, angle, curvature, seed, step=6.0) -> np.ndarray:
    """Points along a smooth curve of `length` px centred on (cx, cy)."""
    local = np.random.default_rng(seed)
    m = int(min(max(length / step, 8), 400))
    t = _linspace(0.0, 1.0, m)
    k = np.arange(1, 4)
    amps = (0.15 * abs(curvature) + 0.05) * local.normal(0.0, 1.0, 3) / k
    phases = local.uniform(0.0, 2 * math.pi, 3)
    heading = angle + curvature * (t - 0.5) + (amps[:, None] * np.sin(2 * math.pi * k[:, None] * t + phases[:, None])).sum(0)
    seg = length / (m - 1)
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * seg
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps[:-1], axis=0)])
    return pts - pts[m // 2] + (cx, cy)


def _box(lo, hi, margin: int, shape) -> tuple[int, int, int, int] | None:
    """Image-clipped pixel box (x0, y0, x1, y1) around the points lo..hi, widened by margin."""
    h, w = shape
    x0, y0 = max(int(math.floor(lo[0])) - margin, 0), max(int(math.floor(lo[1])) - margin, 0)
    x1, y1 = min(int(math.ceil(hi[0])) + margin, w), min(int(math.ceil(hi[1])) + margin, h)
    return (x0, y0, x1, y1) if x1 > x0 and y1 > y0 else None


def _cells(owner: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box index, cell key) for every _TILE-px tile that box i (lo[i]..hi[i], in pixels) touches;
    keys sort by (owner[i], tile x, tile y), so boxes of different owners never share one."""
    c0, c1 = np.floor(lo / _TILE).astype(np.int64), np.floor(hi / _TILE).astype(np.int64)
    nx, n = c1[:, 0] - c0[:, 0] + 1, (c1[:, 0] - c0[:, 0] + 1) * (c1[:, 1] - c0[:, 1] + 1)
    box = np.repeat(np.arange(len(owner)), n)
    k = np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)
    cx, cy = c0[box, 0] + k % nx[box], c0[box, 1] + k // nx[box]
    return box, (owner[box] << 40) + ((cx + (1 << 19)) << 20) + (cy + (1 << 19))


def _regions(box: tuple[int, int, int, int], path: np.ndarray, path_pad: float, margin: int) -> np.ndarray:
    """(k, 4) regions (x0, y0, x1, y1) to draw a stroke in: its box, or the tiles that have a point
    of the (densified) path within margin + path_pad."""
    x0, y0, x1, y1 = box
    if (x1 - x0) * (y1 - y0) <= _TILE_ABOVE:
        return np.array([box])
    # Densify the path (np.linspace's arithmetic, per segment), then widen it by the reach.
    seg = np.diff(path, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / (_TILE / 4))).astype(int)
    frac = (np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n)) * np.repeat(1.0 / n, n)
    dense = np.concatenate([np.repeat(path[:-1], n, axis=0) + np.repeat(seg, n, axis=0) * frac[:, None], path[-1:]])
    reach = int(math.ceil(margin + path_pad))
    key = np.unique(_cells(np.zeros(len(dense), np.int64), dense - reach, dense + reach)[1])  # by (x, y)
    tx, ty = ((key >> 20) & 0xFFFFF) - (1 << 19), (key & 0xFFFFF) - (1 << 19)
    regions = np.stack([np.maximum(tx * _TILE, x0), np.maximum(ty * _TILE, y0),
                        np.minimum((tx + 1) * _TILE, x1), np.minimum((ty + 1) * _TILE, y1)], axis=1)
    return regions[(regions[:, 2] > regions[:, 0]) & (regions[:, 3] > regions[:, 1])]


def _profile(m: int, width: float, taper: float) -> tuple[np.ndarray, np.ndarray]:
    u = np.abs(_linspace(-1.0, 1.0, m))
    fade = 1.0 - taper * u**2
    return width * fade, 255.0 * fade


def _gaps(m: int, fraction: float, seed: int) -> np.ndarray | None:
    """Visible points of an intermittent scratch: on/off runs with `fraction` of the length off."""
    if fraction <= 0:
        return None
    local = np.random.default_rng([seed, 1])
    visible = np.ones(m, bool)
    i, on = 0, bool(local.random() > fraction)
    while i < m:
        mean = max(1.0, m * 0.06 * ((1 - fraction) / max(fraction, 1e-3) if on else 1.0))
        run = max(1, int(local.exponential(mean)))
        visible[i:i + run] = on
        i, on = i + run, not on
    return visible


def _stroke_geometry(family: str, g: dict, i: int, shape) -> tuple[list, np.ndarray, float]:
    """Artifact i of a stroke group in pixels: its strokes (path, widths, grey levels, visible
    points), the path its tiles follow (all fibres of a lint tangle) and that path's pad."""
    h, w = shape
    s = float(min(h, w))
    cx, cy, seed = g["x"][i] * w, g["y"][i] * h, g["shape_seed"][i]
    width, length = g["width"][i] * s, g["length"][i] * s
    if family == "lint":
        local = np.random.default_rng([seed, 2])
        strokes = []
        for _ in range(g["fibres"][i]):
            spread = g["spread"][i] * s
            fx, fy = cx + local.normal(0, spread), cy + local.normal(0, spread)
            path = _stroke_path(fx, fy, length * local.uniform(0.5, 1.5), local.uniform(0, 2 * math.pi),
                                g["curvature"][i] * local.uniform(0.5, 2.0), int(local.integers(2**31)))
            strokes.append((path, *_profile(len(path), width * local.uniform(0.7, 1.3), g["taper"][i]), None))
        return strokes, np.concatenate([stroke[0] for stroke in strokes]), width + 2
    path = _stroke_path(cx, cy, length, g["angle"][i], g["curvature"][i], seed)
    visible = None
    if family == "scratch":
        wobble = g["wobble"][i] * s
        if wobble > 0:  # sideways drift of a transport scratch
            local = np.random.default_rng([seed, 3])
            t = np.linspace(0, 1, len(path))
            drift = wobble * np.sin(2 * math.pi * local.uniform(0.5, 3.0) * t + local.uniform(0, 2 * math.pi))
            normal = np.array([-math.sin(g["angle"][i]), math.cos(g["angle"][i])])
            path = path + drift[:, None] * normal
        visible = _gaps(len(path), g["gaps"][i], seed)
    return [(path, *_profile(len(path), width, g["taper"][i]), visible)], path, width + 2


def _segments(strokes: list) -> tuple[np.ndarray, ...]:
    """A group's stroke points, one stroke after another, and per segment (point j to j + 1) its
    reach, whether it shows (never between two strokes), grey level and thickness as OpenCV takes
    them (sub-pixel widths are drawn 1 px wide and fainter)."""
    pts = np.concatenate([st[0] for st in strokes])
    widths, values = np.concatenate([st[1] for st in strokes]), np.concatenate([st[2] for st in strokes])
    visible = np.concatenate([np.ones(len(st[0]), bool) if st[3] is None else st[3] for st in strokes])
    seg_w = 0.5 * (widths[:-1] + widths[1:])
    seg_v = 0.5 * (values[:-1] + values[1:]) * np.minimum(1.0, seg_w)
    shows = (seg_v >= 0.5) & visible[:-1] & visible[1:]
    shows[np.cumsum([len(st[0]) for st in strokes])[:-1] - 1] = False
    grey, thick = np.rint(np.minimum(seg_v, 255)).astype(int), np.maximum(1, np.rint(seg_w)).astype(int)
    return pts, seg_w / 2 + 2, shows, grey, thick


def _line_calls(strokes: list, first: np.ndarray, canvases: np.ndarray):
    """The cv2.line calls that draw a group's strokes on its canvases: (number of calls per
    canvas, then the calls' start points, end points, grey levels and thicknesses, canvas by
    canvas). Canvas c (rows: artifact, x0, y0, x1, y1, pad) gets the segments of its artifact's
    strokes, the points first[a]:first[a + 1], that reach it, in order."""
    pts, reach, shows, grey, thick = _segments(strokes)
    origin = canvases[:, 1:3] - canvases[:, 5:]
    size = canvases[:, 3:5] - canvases[:, 1:3] + 2 * canvases[:, 5:]  # (w, h)
    # Candidates share a grid cell with the segment's box widened by 1 px more than its reach;
    # then the exact test, in canvas coordinates, as when each canvas was drawn on its own.
    seg = np.flatnonzero(shows)
    if not seg.size:
        return np.zeros(len(canvases), np.int64), [], [], [], []
    art = np.searchsorted(first, seg, "right") - 1
    ends = np.stack([pts[seg], pts[seg + 1]])
    r = reach[seg][:, None] + 1
    seg_box, seg_key = _cells(art, ends.min(0) - r, ends.max(0) + r)
    can_box, can_key = _cells(canvases[:, 0], origin, origin + size)
    order = np.argsort(seg_key, kind="stable")
    lo, hi = np.searchsorted(seg_key[order], can_key, "left"), np.searchsorted(seg_key[order], can_key, "right")
    n = hi - lo
    match = order[np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)]
    pair = np.unique(np.repeat(can_box, n) * len(seg) + seg_box[match])  # by canvas, then segment
    canvas, seg = pair // len(seg), seg[pair % len(seg)]
    a, b = pts[seg] - origin[canvas], pts[seg + 1] - origin[canvas]
    r = reach[seg][:, None]
    near = ((np.minimum(a, b) - r < size[canvas]) & (np.maximum(a, b) + r > 0)).all(axis=1)
    canvas, seg, a, b = canvas[near], seg[near], a[near], b[near]
    return (np.bincount(canvas, minlength=len(canvases)), np.rint(a * _ONE).astype(np.int32).tolist(),
            np.rint(b * _ONE).astype(np.int32).tolist(), grey[seg].tolist(), thick[seg].tolist())


def _stroke_plan(family: str, g: dict, shape) -> tuple[list, np.ndarray, np.ndarray]:
    """(strokes of all artifacts, one after another; index of each artifact's first point, and
    one past the last; canvases as rows (artifact, x0, y0, x1, y1, pad)): a stroke's canvas is
    its box, or each tile it crosses, padded by its blur's reach."""
    s = float(min(shape))
    strokes, first, canvases = [], [0] * (g["n"] + 1), []
    for i in range(g["n"]):
        own, path, pad = _stroke_geometry(family, g, i, shape)
        reach = int(_reach(g["blur"][i] * s))
        box = _box(path.min(0) - pad, path.max(0) + pad, reach, shape)
        if box is not None:
            strokes += own
            canvases += [[i, *region, reach] for region in _regions(box, path, pad, reach).tolist()]
        first[i + 1] = first[i] + (sum(len(st[0]) for st in own) if box is not None else 0)
    return strokes, np.array(first), np.array(canvases, np.int64).reshape(-1, 6)


def _stroke_sprites(family: str, g: dict, shape: tuple[int, int], fid: int) -> Iterator[Sprite]:
    s = float(min(shape))
    colors = np.asarray(g["color"], np.float32).reshape(-1, 3)
    strokes, first, canvases = _stroke_plan(family, g, shape)
    if not strokes:
        return
    count, p, q, grey, thick = _line_calls(strokes, first, canvases)
    end = np.cumsum(count).tolist()
    for c in np.flatnonzero(count).tolist():
        i, x0, y0, x1, y1, pad = canvases[c].tolist()
        canvas = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), np.uint8)
        a, b = end[c] - count[c], end[c]
        # segment by segment (width and grey level change along a stroke); map(): no Python per line
        deque(map(cv2.line, repeat(canvas, b - a), p[a:b], q[a:b], grey[a:b], thick[a:b],
                  repeat(cv2.LINE_AA, b - a), repeat(_SHIFT, b - a)), maxlen=0)
        sprite = _sprite(canvas.astype(np.float32) * np.float32(g["opacity"][i] / 255.0), g["blur"][i] * s, pad,
                         y0, x0, colors[i], fid)
        if sprite is not None:
            yield sprite


def _stamp_sprites(g: dict, shape: tuple[int, int]) -> Iterator[Sprite]:
    """Real sprites: each stamp warped to its place, drawn at its recorded size."""
    stamps = group_stamps(g)  # refuses a folder whose index changed since sampling
    h, w = shape
    s = float(min(h, w))
    for i in range(g["n"]):
        row = int(g["stamp"][i])
        px_scale = g["size"][i] * s / (stamps.sizes[row] * stamps.short_sides[row])
        drawn = draw_stamp(stamps.rgba(row), g["x"][i] * w, g["y"][i] * h, px_scale, g["angle"][i],
                           bool(g["flip"][i]), g["opacity"][i], shape)
        if drawn is not None:
            y0, x0, alpha, color = drawn
            yield Sprite(y0, x0, alpha, color, FAMILIES.index(g["families"][i]) + 1)


def render(params: dict, shape: tuple[int, ...]) -> Layer:
    """Render a parameter record for an image of `shape` (H, W[, C]). Pure: no randomness."""
    hw = (int(shape[0]), int(shape[1]))
    sprites: list[Sprite] = []
    for g in params["groups"]:
        family = g["family"]
        if family == "stamp":
            sprites.extend(_stamp_sprites(g, hw))
        elif g["n"]:
            draw = blob_sprites if family in _BLOBS else _stroke_sprites
            sprites.extend(draw(family, g, hw, FAMILIES.index(family) + 1))
    layer = Layer(hw, sprites)
    pack(layer)  # compositing-ready, while the alphas are still in the CPU cache
    return layer
