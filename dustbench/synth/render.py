"""Rendering: a parameter record -> a sparse artifact layer (sprites of colour + alpha).

Each artifact is drawn only inside its own bounding box (long strokes: only in the 64-px tiles
they cross), so the cost grows with the damage, not with the frame. Shapes are drawn on 8-bit
canvases because OpenCV anti-aliases (LINE_AA) only there, with 4 fractional bits of position.

What does not depend on the canvas (outlines, boxes, tiles, which segment reaches which canvas)
is computed for a whole group at once; what is left per canvas is the OpenCV calls themselves.
"""
from __future__ import annotations

import math
from collections import deque
from itertools import repeat
from typing import Iterator

import cv2
import numpy as np

from .layer import Layer, Sprite, pack
from .presets import FAMILIES
from .stamps import draw_stamp, group_stamps

_SHIFT = 4  # fractional bits for OpenCV drawing
_ONE = 1 << _SHIFT
_TILE = 64
_TILE_ABOVE = 4 * _TILE * _TILE  # a stroke whose box is larger than this is drawn tile by tile


_BLOBS = ("dust", "dirt", "blotch")


def _hash_uniform(seeds: np.ndarray, count: int, salt: int) -> np.ndarray:
    """(n, count) uniforms in [0, 1) from each artifact's shape_seed: splitmix64, vectorized.

    A Generator per artifact would cost ~20 µs each; thousands of specks make that the bottleneck.
    """
    with np.errstate(over="ignore"):
        x = (np.asarray(seeds, np.uint64)[:, None] * np.uint64(0x9E3779B97F4A7C15)
             + np.uint64(salt) * np.uint64(0xD1B54A32D192ED03) + np.arange(1, count + 1, dtype=np.uint64))
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


_HARMONICS = np.arange(2, 9)


def _blob_outlines(cx, cy, radius, elongation, angle, roughness, seeds, vertices: int) -> np.ndarray:
    """(n, vertices, 2) closed outlines of irregular blobs; the wobble comes from each shape_seed."""
    u = _hash_uniform(seeds, 3 * _HARMONICS.size, salt=1)
    k = _HARMONICS.size
    normal = np.sqrt(-2.0 * np.log1p(-u[:, :k])) * np.cos(2 * math.pi * u[:, k:2 * k])  # Box-Muller
    amps = roughness[:, None] * normal / _HARMONICS**0.8
    phases = 2 * math.pi * u[:, 2 * k:]
    theta = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
    wobble = np.einsum("nk,nkv->nv", amps, np.cos(_HARMONICS[None, :, None] * theta + phases[:, :, None]))
    r = radius[:, None] * np.clip(1.0 + wobble, 0.3, 2.0)
    sx, sy = np.sqrt(elongation)[:, None], 1.0 / np.sqrt(elongation)[:, None]
    x, y = r * np.cos(theta) * sx, r * np.sin(theta) * sy
    ca, sa = np.cos(angle)[:, None], np.sin(angle)[:, None]
    return np.stack([cx[:, None] + ca * x - sa * y, cy[:, None] + sa * x + ca * y], axis=2)


def _group_outlines(g: dict, shape) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, outlines) of the small and of the large blobs of a group, each computed together."""
    h, w = shape
    s = float(min(h, w))
    cols = {k: np.asarray(g[k], dtype=np.float64) for k in ("x", "y", "size", "elongation", "angle", "roughness")}
    radius = 0.5 * cols["size"] * s
    seeds = np.asarray(g["shape_seed"], dtype=np.uint64)
    for large in (False, True):
        idx = np.flatnonzero((radius >= 40) == large)
        if idx.size:
            yield idx, _blob_outlines(cols["x"][idx] * w, cols["y"][idx] * h, radius[idx], cols["elongation"][idx],
                                      cols["angle"][idx], cols["roughness"][idx], seeds[idx], 64 if large else 24)


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


def _reach(blur_px) -> np.ndarray:
    """Padding of a canvas (per blur): its blur then sees every part of the shape that reaches in."""
    return np.where(blur_px > 0.25, np.ceil(3.0 * blur_px) + 2, 2).astype(np.int64)


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


def _sprite(alpha: np.ndarray, blur_px: float, reach: int, y0: int, x0: int, color, family: int) -> Sprite | None:
    """Blur a padded canvas, drop the padding, crop to the drawn pixels (None: nothing drawn)."""
    if blur_px > 0.25:
        alpha = cv2.GaussianBlur(alpha, (0, 0), blur_px, borderType=cv2.BORDER_CONSTANT)
    alpha = alpha[reach:-reach, reach:-reach]
    x, y, w, h = cv2.boundingRect((alpha != 0).view(np.uint8))
    if not w:
        return None
    return Sprite(y0 + y, x0 + x, np.ascontiguousarray(alpha[y:y + h, x:x + w]), color, family)


def _supersampling(radius_px: np.ndarray) -> np.ndarray:
    # OpenCV's LINE_AA adds about half a pixel around a filled polygon, which would make a 1 px
    # speck almost 3× too heavy. Small blobs are filled without AA on a finer grid and averaged
    # down instead, so their alpha sums to their area at any resolution.
    return np.where(radius_px < 40, np.clip(np.ceil(16.0 / np.maximum(radius_px, 0.25)), 2, 16), 1).astype(np.int64)


def _blob_canvases(g: dict, shape: tuple[int, int]) -> list:
    """Per blob, in group order: None (outside the image) or (box, reach, supersampling factor,
    outline in fixed point on the canvas, the fine pixels it spans and 1 more around), all
    computed for the whole group at once."""
    h, w = shape
    s = float(min(h, w))
    blur = np.asarray(g["blur"], np.float64) * s
    f = _supersampling(0.5 * np.asarray(g["size"], np.float64) * s)
    out: list = [None] * g["n"]
    for idx, outlines in _group_outlines(g, shape):
        reach = _reach(blur[idx])[:, None]
        low = np.maximum(np.floor(outlines.min(1)).astype(np.int64) - reach, 0)
        high = np.minimum(np.ceil(outlines.max(1)).astype(np.int64) + reach, (w, h))
        origin = low - reach  # the canvas is padded by the blur's reach
        # Pixel centres sit at integer coordinates at both scales: x_fine = (x + ½)·f − ½.
        fi = f[idx][:, None, None]
        pts = np.rint(((outlines - origin[:, None]) + 0.5) * fi * _ONE - 0.5 * _ONE).astype(np.int32)
        fine = (pts + (_ONE >> 1)) >> _SHIFT  # rounded as fillPoly rounds them
        span = np.hstack([fine.min(1) - 1, fine.max(1) + 2])
        keep = np.flatnonzero((high > low).all(axis=1))
        for i, box, r, k, p, sp in zip(idx[keep].tolist(), np.hstack([low, high])[keep].tolist(), reach[keep, 0].tolist(),
                                       f[idx][keep].tolist(), pts[keep], span[keep].tolist()):
            out[i] = (box, r, k, p, sp)
    return out


def _fill_down(pts: np.ndarray, span: list, hw: tuple[int, int], f: int) -> np.ndarray | None:
    """A blob filled (255, no anti-aliasing) on an f× finer grid and averaged down to hw, drawn only
    over the whole pixels its outline spans (empty blocks average to 0). None when the outline
    reaches the canvas's edge: fillPoly then clips edges by the canvas, so only it draws the same."""
    x0, y0, x1, y1 = span
    if x0 < 0 or y0 < 0 or x1 > hw[1] * f or y1 > hw[0] * f:
        return None
    x0, y0, x1, y1 = x0 // f, y0 // f, -(-x1 // f), -(-y1 // f)
    fine = np.zeros(((y1 - y0) * f, (x1 - x0) * f), np.float32)
    cv2.fillPoly(fine, [pts - np.array([x0, y0], np.int32) * (f << _SHIFT)], 255, cv2.LINE_8, _SHIFT)
    alpha = np.zeros(hw, np.float32)
    alpha[y0:y1, x0:x1] = cv2.resize(fine, (x1 - x0, y1 - y0), interpolation=cv2.INTER_AREA)
    return alpha


def _draw_blob(pts: np.ndarray, span: list, hw: tuple[int, int], f: int, opacity: float, rim: float,
               rim_px: float) -> np.ndarray:
    """Alpha of a blob whose outline `pts` is in fixed point on an f× finer canvas of size hw."""
    filled = _fill_down(pts, span, hw, f) if f > 1 and rim <= 0 else None
    if filled is not None:
        return filled * np.float32(opacity / 255.0)
    big = (hw[0] * f, hw[1] * f)
    line = cv2.LINE_8 if f > 1 else cv2.LINE_AA
    # Anti-aliasing needs 8 bits; without it the fine canvas is drawn in float32 directly.
    depth = np.float32 if f > 1 else np.uint8
    canvas = np.zeros(big, depth)
    cv2.fillPoly(canvas, [pts], 255, line, _SHIFT)

    def down(c):
        c = c.astype(np.float32, copy=False)
        return cv2.resize(c, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) if f > 1 else c
    alpha = down(canvas) * np.float32(opacity / 255.0)
    if rim > 0:  # a water mark: a darker edge where the drying front stopped
        ring = np.zeros(big, depth)
        cv2.polylines(ring, [pts], True, 255, max(1, int(round(rim_px * f))), line, _SHIFT)
        alpha = np.minimum(alpha + down(ring) * np.float32(rim / 255.0), 1.0)
    return alpha


def _blob_sprites(family: str, g: dict, shape: tuple[int, int], fid: int) -> Iterator[Sprite]:
    s = float(min(shape))
    colors = np.asarray(g["color"], np.float32).reshape(-1, 3)
    for i, canvas in enumerate(_blob_canvases(g, shape)):
        if canvas is None:
            continue
        (x0, y0, x1, y1), reach, f, pts, span = canvas
        rim = g["rim"][i] if family == "blotch" else 0.0
        alpha = _draw_blob(pts, span, (y1 - y0 + 2 * reach, x1 - x0 + 2 * reach), f, g["opacity"][i], rim,
                           0.04 * (0.5 * g["size"][i] * s))
        sprite = _sprite(alpha, g["blur"][i] * s, reach, y0, x0, colors[i], fid)
        if sprite is not None:
            yield sprite


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
            draw = _blob_sprites if family in _BLOBS else _stroke_sprites
            sprites.extend(draw(family, g, hw, FAMILIES.index(family) + 1))
    layer = Layer(hw, sprites)
    pack(layer)  # compositing-ready, while the alphas are still in the CPU cache
    return layer
