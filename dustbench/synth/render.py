"""Rendering: a parameter record -> a sparse artifact layer (sprites of colour + alpha).

Each artifact is drawn only inside its own bounding box (long strokes: only in the 256-px tiles
they cross), so the cost grows with the damage, not with the frame. Shapes are drawn on 8-bit
canvases because OpenCV anti-aliases (LINE_AA) only there, with 4 fractional bits of position.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Iterator

import cv2
import numpy as np

from .presets import FAMILIES
from .stamps import draw_stamp, group_stamps

_SHIFT = 4  # fractional bits for OpenCV drawing
_ONE = 1 << _SHIFT
_TILE = 64
_TILE_ABOVE = 4 * _TILE * _TILE  # a stroke whose box is larger than this is drawn tile by tile


@dataclass
class Sprite:
    """One artifact (or one tile of a long one): alpha over a region, and its colour."""

    y0: int
    x0: int
    alpha: np.ndarray  # float32 h×w in [0, 1]
    color: np.ndarray  # float32 RGB in [0, 1]: flat (3,), or per pixel h×w×3 (stamps)
    family: int  # 1-based index into FAMILIES

    @property
    def slices(self) -> tuple[slice, slice]:
        h, w = self.alpha.shape
        return slice(self.y0, self.y0 + h), slice(self.x0, self.x0 + w)


@dataclass
class Layer:
    """Everything the damage adds to one image of `shape` (H, W)."""

    shape: tuple[int, int]
    sprites: list[Sprite]


_BLOBS = ("dust", "dirt", "blotch")
DrawFn = Callable[[tuple[int, int], float, float], np.ndarray]  # (canvas hw, origin x, origin y) -> alpha


def _fixed(points: np.ndarray, ox: float, oy: float) -> np.ndarray:
    return np.rint((points - (ox, oy)) * _ONE).astype(np.int32)


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


def _group_outlines(g: dict, shape) -> list[np.ndarray]:
    """Outline of every blob of a group, computed together (small and large blobs apart)."""
    h, w = shape
    s = float(min(h, w))
    cols = {k: np.asarray(g[k], dtype=np.float64) for k in ("x", "y", "size", "elongation", "angle", "roughness")}
    radius = 0.5 * cols["size"] * s
    seeds = np.asarray(g["shape_seed"], dtype=np.uint64)
    out: list[np.ndarray] = [None] * g["n"]  # type: ignore[list-item]
    for large in (False, True):
        idx = np.flatnonzero((radius >= 40) == large)
        if idx.size:
            shapes = _blob_outlines(cols["x"][idx] * w, cols["y"][idx] * h, radius[idx], cols["elongation"][idx],
                                    cols["angle"][idx], cols["roughness"][idx], seeds[idx], 64 if large else 24)
            for j, i in enumerate(idx):
                out[i] = shapes[j]
    return out


def _stroke_path(cx, cy, length, angle, curvature, seed, step=6.0) -> np.ndarray:
    """Points along a smooth curve of `length` px centred on (cx, cy)."""
    local = np.random.default_rng(seed)
    m = int(np.clip(length / step, 8, 400))
    t = np.linspace(0.0, 1.0, m)
    k = np.arange(1, 4)
    amps = (0.15 * abs(curvature) + 0.05) * local.normal(0.0, 1.0, 3) / k
    phases = local.uniform(0.0, 2 * math.pi, 3)
    heading = angle + curvature * (t - 0.5) + (amps[:, None] * np.sin(2 * math.pi * k[:, None] * t + phases[:, None])).sum(0)
    seg = length / (m - 1)
    steps = np.stack([np.cos(heading), np.sin(heading)], axis=1) * seg
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps[:-1], axis=0)])
    return pts - pts[m // 2] + (cx, cy)


def _draw_polyline(canvas: np.ndarray, pts: np.ndarray, widths: np.ndarray, values: np.ndarray,
                   visible: np.ndarray | None = None) -> None:
    """Variable-width anti-aliased polyline; sub-pixel widths drawn 1 px wide and fainter.

    Only segments that reach the canvas are drawn: a long stroke is drawn tile by tile.
    """
    h, w = canvas.shape
    a, b = pts[:-1], pts[1:]
    seg_w = 0.5 * (widths[:-1] + widths[1:])
    seg_v = 0.5 * (values[:-1] + values[1:]) * np.minimum(1.0, seg_w)
    reach = seg_w / 2 + 2
    near = ((np.minimum(a[:, 0], b[:, 0]) - reach < w) & (np.maximum(a[:, 0], b[:, 0]) + reach > 0)
            & (np.minimum(a[:, 1], b[:, 1]) - reach < h) & (np.maximum(a[:, 1], b[:, 1]) + reach > 0)
            & (seg_v >= 0.5))
    if visible is not None:
        near &= visible[:-1] & visible[1:]
    fixed = np.rint(pts * _ONE).astype(np.int32)
    for i in np.flatnonzero(near):
        p, q = (int(fixed[i, 0]), int(fixed[i, 1])), (int(fixed[i + 1, 0]), int(fixed[i + 1, 1]))
        cv2.line(canvas, p, q, int(round(min(seg_v[i], 255))), max(1, int(round(seg_w[i]))), cv2.LINE_AA, _SHIFT)


def _regions(bbox, margin: int, shape, path: np.ndarray | None, path_pad: float = 0.0
             ) -> Iterator[tuple[int, int, int, int]]:
    """Image-clipped regions (x0, y0, x1, y1) to draw: the whole box, or the tiles a path crosses.

    A tile is kept when some point of the (densified) path lies within margin + path_pad of it.
    """
    h, w = shape
    x0, y0 = max(int(math.floor(bbox[0])) - margin, 0), max(int(math.floor(bbox[1])) - margin, 0)
    x1, y1 = min(int(math.ceil(bbox[2])) + margin, w), min(int(math.ceil(bbox[3])) + margin, h)
    if x1 <= x0 or y1 <= y0:
        return
    if path is None or (x1 - x0) * (y1 - y0) <= _TILE_ABOVE:
        yield x0, y0, x1, y1
        return
    # Densify the path so every tile it crosses holds at least one sample, then widen by the reach.
    seg = np.diff(path, axis=0)
    n = np.maximum(1, np.ceil(np.hypot(seg[:, 0], seg[:, 1]) / (_TILE / 4))).astype(int)
    dense = np.concatenate([path[i] + seg[i] * np.linspace(0, 1, n[i], endpoint=False)[:, None]
                            for i in range(len(seg))] + [path[-1:]])
    tiles = set()
    reach = int(math.ceil(margin + path_pad))
    offsets = np.unique(np.concatenate([np.arange(-reach, reach, _TILE // 2), [reach]]))
    for dx in offsets:
        for dy in offsets:
            q = dense + (dx, dy)
            tiles.update(zip((q[:, 0] // _TILE).astype(int).tolist(), (q[:, 1] // _TILE).astype(int).tolist()))
    for tx, ty in sorted(tiles):
        rx0, ry0 = max(tx * _TILE, x0), max(ty * _TILE, y0)
        rx1, ry1 = min((tx + 1) * _TILE, x1), min((ty + 1) * _TILE, y1)
        if rx1 > rx0 and ry1 > ry0:
            yield rx0, ry0, rx1, ry1


def _rasterize(draw: DrawFn, bbox, blur_px: float, shape, path=None, path_pad: float = 0.0
               ) -> Iterator[tuple[int, int, np.ndarray]]:
    """Draw a shape into each of its regions, blur it exactly (canvas padded by the blur reach).

    Sprites are cropped to their non-zero pixels: compositing cost follows the drawn area.
    """
    reach = int(math.ceil(3.0 * blur_px)) + 2 if blur_px > 0.25 else 2
    for rx0, ry0, rx1, ry1 in _regions(bbox, reach, shape, path, path_pad):
        px0, py0 = rx0 - reach, ry0 - reach  # pad so the blur sees shape parts just outside
        alpha = draw((ry1 - ry0 + 2 * reach, rx1 - rx0 + 2 * reach), px0, py0)
        if blur_px > 0.25:
            alpha = cv2.GaussianBlur(alpha, (0, 0), blur_px, borderType=cv2.BORDER_CONSTANT)
        alpha = alpha[reach:-reach, reach:-reach]
        rows, cols = np.flatnonzero(alpha.any(axis=1)), np.flatnonzero(alpha.any(axis=0))
        if rows.size:
            yield (ry0 + rows[0], rx0 + cols[0],
                   np.ascontiguousarray(alpha[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]))


def _supersampling(radius_px: float) -> int:
    # OpenCV's LINE_AA adds about half a pixel around a filled polygon, which would make a 1 px
    # speck almost 3× too heavy. Small blobs are filled without AA on a finer grid and averaged
    # down instead, so their alpha sums to their area at any resolution.
    return min(max(math.ceil(16.0 / max(radius_px, 0.25)), 2), 16) if radius_px < 40 else 1


def _blob_drawer(outline: np.ndarray, opacity: float, radius_px: float, rim: float = 0.0,
                 rim_px: float = 1.0) -> DrawFn:
    f = _supersampling(radius_px)

    def draw(hw, ox, oy):
        big = (hw[0] * f, hw[1] * f)
        # Pixel centres sit at integer coordinates at both scales: x_fine = (x + ½)·f − ½.
        pts = np.rint(((outline - (ox, oy)) + 0.5) * f * _ONE - 0.5 * _ONE).astype(np.int32)
        line = cv2.LINE_8 if f > 1 else cv2.LINE_AA
        canvas = np.zeros(big, np.uint8)
        cv2.fillPoly(canvas, [pts], 255, line, _SHIFT)
        if rim > 0:  # a water mark: a darker edge where the drying front stopped
            ring = np.zeros(big, np.uint8)
            cv2.polylines(ring, [pts], True, 255, max(1, int(round(rim_px * f))), line, _SHIFT)
        def down(c):
            c = c.astype(np.float32)
            return cv2.resize(c, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) if f > 1 else c
        alpha = down(canvas) * np.float32(opacity / 255.0)
        if rim > 0:
            alpha = np.minimum(alpha + down(ring) * np.float32(rim / 255.0), 1.0)
        return alpha
    return draw


def _strokes_drawer(strokes, opacity: float) -> DrawFn:
    def draw(hw, ox, oy):
        canvas = np.zeros(hw, np.uint8)
        for pts, widths, values, visible in strokes:
            _draw_polyline(canvas, pts - (ox, oy), widths, values, visible)
        return canvas.astype(np.float32) * np.float32(opacity / 255.0)
    return draw


def _profile(m: int, width: float, taper: float) -> tuple[np.ndarray, np.ndarray]:
    u = np.abs(np.linspace(-1.0, 1.0, m))
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


def _artifact(family: str, g: dict, i: int, shape, outline=None) -> tuple[DrawFn, tuple, float, np.ndarray | None, float]:
    """Geometry of artifact i of group g in pixels: (draw, bbox, blur_px, path and its pad for tiling).

    Blobs take their `outline` precomputed for the whole group (see _group_outlines)."""
    h, w = shape
    s = float(min(h, w))
    cx, cy = g["x"][i] * w, g["y"][i] * h
    seed, opacity, blur = g["shape_seed"][i], g["opacity"][i], g["blur"][i] * s
    if family in _BLOBS:
        radius = 0.5 * g["size"][i] * s
        rim = g["rim"][i] if family == "blotch" else 0.0
        draw = _blob_drawer(outline, opacity, radius, rim, rim_px=0.04 * radius)
        return draw, (*outline.min(0), *outline.max(0)), blur, None, 0.0
    width, length = g["width"][i] * s, g["length"][i] * s
    if family == "lint":
        local = np.random.default_rng([seed, 2])
        strokes, paths = [], []
        for _ in range(g["fibres"][i]):
            spread = g["spread"][i] * s
            fx, fy = cx + local.normal(0, spread), cy + local.normal(0, spread)
            path = _stroke_path(fx, fy, length * local.uniform(0.5, 1.5), local.uniform(0, 2 * math.pi),
                                g["curvature"][i] * local.uniform(0.5, 2.0), int(local.integers(2**31)))
            widths, values = _profile(len(path), width * local.uniform(0.7, 1.3), g["taper"][i])
            strokes.append((path, widths, values, None))
            paths.append(path)
        allp = np.concatenate(paths)
        pad = width + 2
        return _strokes_drawer(strokes, opacity), (*(allp.min(0) - pad), *(allp.max(0) + pad)), blur, allp, pad
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
    widths, values = _profile(len(path), width, g["taper"][i])
    pad = width + 2
    bbox = (*(path.min(0) - pad), *(path.max(0) + pad))
    return _strokes_drawer([(path, widths, values, visible)], opacity), bbox, blur, path, pad


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
            continue
        fid = FAMILIES.index(family) + 1
        outlines = _group_outlines(g, hw) if family in _BLOBS and g["n"] else None
        for i in range(g["n"]):
            draw, bbox, blur, path, pad = _artifact(family, g, i, hw, outlines[i] if outlines else None)
            color = np.asarray(g["color"][i], dtype=np.float32)
            for y0, x0, alpha in _rasterize(draw, bbox, blur, hw, path, pad):
                sprites.append(Sprite(y0, x0, alpha, color, fid))
    return Layer(hw, sprites)
