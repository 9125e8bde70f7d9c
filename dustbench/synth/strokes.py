"""Strokes (hairs, lint, scratches): smooth paths drawn as anti-aliased line segments.

The paths of a group are computed together (:func:`_paths`, value for value what
:func:`_stroke_path` gives each) on arrays padded to the longest; each artifact's box, or the
64-px tiles a long one crosses, is a canvas; which segment reaches which canvas is found for the
whole group at once (:func:`_line_calls`); what is left per canvas is the cv2.line calls.
"""
from __future__ import annotations

import math
from collections import deque
from itertools import repeat

import cv2
import numpy as np

from .layer import Sprite
from .raster import ONE, SHIFT, image_sizes, reach, sprite
from .. import portable_math as pm

_TILE = 64
_TILE_ABOVE = 4 * _TILE * _TILE  # a stroke whose box is larger than this is drawn tile by tile
_K = np.arange(1, 4)
_WAVES = 2 * math.pi * _K[:, None]  # as _stroke_path computes them


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
    heading = angle + curvature * (t - 0.5) + (amps[:, None] * pm.sin(2 * math.pi * k[:, None] * t + phases[:, None])).sum(0)
    seg = length / (m - 1)
    steps = np.stack([pm.cos(heading), pm.sin(heading)], axis=1) * seg
    pts = np.concatenate([[[0.0, 0.0]], np.cumsum(steps[:-1], axis=0)])
    return pts - pts[m // 2] + (cx, cy)


def _paths(cx, cy, length, angle, curvature, seeds: list) -> tuple[np.ndarray, np.ndarray]:
    """_stroke_path of every stroke at once (float64 arrays, one entry per stroke), the same values:
    (points padded to the longest path, strokes × points × 2; number of points of each)."""
    n = len(seeds)
    m = np.minimum(np.maximum(length / 6.0, 8), 400).astype(np.int64)
    draws = np.empty((n, 6))
    for j, seed in enumerate(seeds):  # each path's own Generator, as _stroke_path draws it
        local = np.random.default_rng(seed)
        draws[j, :3] = local.normal(0.0, 1.0, 3)
        draws[j, 3:] = local.uniform(0.0, 2 * math.pi, 3)
    rows = np.arange(n)
    t = np.arange(int(m.max()), dtype=np.float64) * (1.0 / (m - 1))[:, None]  # _linspace(0, 1, m), padded
    t[rows, m - 1] = 1.0
    amps = (0.15 * np.abs(curvature) + 0.05)[:, None] * draws[:, :3] / _K
    wave = pm.sin(_WAVES[None] * t[:, None] + draws[:, 3:, None])  # strokes × 3 × points
    wave *= amps[:, :, None]
    heading = angle[:, None] + curvature[:, None] * (t - 0.5) + (wave[:, 0] + wave[:, 1] + wave[:, 2])
    seg = (length / (m - 1))[:, None]
    pts = np.zeros(t.shape + (2,))
    np.cumsum(pm.cos(heading[:, :-1]) * seg, axis=1, out=pts[:, 1:, 0])
    np.cumsum(pm.sin(heading[:, :-1]) * seg, axis=1, out=pts[:, 1:, 1])
    pts -= pts[rows, m // 2][:, None]
    pts[:, :, 0] += cx[:, None]
    pts[:, :, 1] += cy[:, None]
    return pts, m


def _profiles(m: np.ndarray, width: np.ndarray, taper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Width and grey level along each stroke (padded as _paths pads): the ends fade by `taper`."""
    u = np.arange(int(m.max()), dtype=np.float64) * (2.0 / (m - 1))[:, None]  # _linspace(-1, 1, m)
    u += -1.0
    u[np.arange(m.size), m - 1] = 1.0
    fade = 1.0 - taper[:, None] * np.abs(u) ** 2
    return width[:, None] * fade, 255.0 * fade


def _specs(g: dict, sizes: tuple) -> tuple[np.ndarray, dict]:
    """Per stroke (a tuft's, in a group with ``fibres`` such as lint: per fibre, drawn from the
    tuft's Generator), in order: its artifact, and its path's centre, length, angle, curvature and
    seed, its width and taper (pixels). `sizes`: each artifact's image height, width, short side."""
    h, w, s = sizes
    n = g["n"]
    col = {k: np.asarray(g[k], np.float64) for k in ("x", "y", "width", "length", "angle", "curvature", "taper")}
    if "fibres" not in g:
        return np.arange(n), {"cx": col["x"] * w, "cy": col["y"] * h, "length": col["length"] * s,
                              "angle": col["angle"], "curvature": col["curvature"], "seed": list(g["shape_seed"]),
                              "width": col["width"] * s, "taper": col["taper"]}
    rows = []
    h, w, s = h.tolist(), w.tolist(), s.tolist()
    for i in range(n):
        cx, cy, seed = g["x"][i] * w[i], g["y"][i] * h[i], g["shape_seed"][i]
        width, length, spread = g["width"][i] * s[i], g["length"][i] * s[i], g["spread"][i] * s[i]
        local = np.random.default_rng([seed, 2])
        for _ in range(g["fibres"][i]):
            fx, fy = cx + local.normal(0, spread), cy + local.normal(0, spread)
            rows.append((i, fx, fy, length * local.uniform(0.5, 1.5), local.uniform(0, 2 * math.pi),
                         g["curvature"][i] * local.uniform(0.5, 2.0), int(local.integers(2**31)),
                         width * local.uniform(0.7, 1.3), g["taper"][i]))
    owner, cx, cy, length, angle, curvature, seed, width, taper = zip(*rows) if rows else [()] * 9
    return np.array(owner, np.int64), {"cx": np.array(cx, np.float64), "cy": np.array(cy, np.float64),
                                       "length": np.array(length, np.float64), "angle": np.array(angle, np.float64),
                                       "curvature": np.array(curvature, np.float64), "seed": list(seed),
                                       "width": np.array(width, np.float64), "taper": np.array(taper, np.float64)}


def _scratch(g: dict, s: list, pts: np.ndarray, m: np.ndarray, visible: np.ndarray) -> None:
    """Scratches' sideways drift (added to pts) and gaps (visible set False), artifact by artifact
    (s: each one's image short side)."""
    for i in range(g["n"]):
        seed, wobble = g["shape_seed"][i], g["wobble"][i] * s[i]
        if wobble > 0:  # sideways drift of a transport scratch
            local = np.random.default_rng([seed, 3])
            t = np.linspace(0, 1, m[i])
            drift = wobble * pm.sin(2 * math.pi * local.uniform(0.5, 3.0) * t + local.uniform(0, 2 * math.pi))
            normal = np.array([-pm.sin(g["angle"][i]), pm.cos(g["angle"][i])])
            pts[i, :m[i]] = pts[i, :m[i]] + drift[:, None] * normal
        gaps = _gaps(int(m[i]), g["gaps"][i], seed)
        if gaps is not None:
            visible[i, :m[i]] = gaps


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


def _stroke_plan(g: dict, sizes: tuple) -> tuple[tuple, np.ndarray, np.ndarray]:
    """((points, widths, grey levels, visibility) of the strokes of the artifacts inside the image,
    one after another, and each stroke's number of points; index of each artifact's first point,
    and one past the last; canvases as rows (artifact, x0, y0, x1, y1, pad)): a stroke's canvas
    is its box, or each tile it crosses, padded by its blur's reach. `sizes`: see :func:`_specs`."""
    h, w, s = sizes
    owner, spec = _specs(g, sizes)
    pts, m = _paths(spec["cx"], spec["cy"], spec["length"], spec["angle"], spec["curvature"], spec["seed"])
    valid = np.arange(pts.shape[1]) < m[:, None]
    broken = "gaps" in g  # scratches: gaps and sideways drift
    visible = valid.copy() if broken else valid
    if broken:
        _scratch(g, s.tolist(), pts, m, visible)
    # Boxes of each artifact's points (all fibres of a tuft), widened by its width + 2 and reach.
    lo = np.where(valid[..., None], pts, np.inf).min(axis=1)
    hi = np.where(valid[..., None], pts, -np.inf).max(axis=1)
    if "fibres" in g:
        starts = np.flatnonzero(np.diff(owner, prepend=-1))
        lo, hi = np.minimum.reduceat(lo, starts), np.maximum.reduceat(hi, starts)
    pad = np.asarray(g["width"], np.float64) * s + 2
    margin = reach(np.asarray(g["blur"], np.float64) * s)
    box = np.concatenate([np.maximum(np.floor(lo - pad[:, None]).astype(np.int64) - margin[:, None], 0),
                          np.minimum(np.ceil(hi + pad[:, None]).astype(np.int64) + margin[:, None],
                                     np.stack([w, h], axis=1))], axis=1)
    inside = (box[:, 2:] > box[:, :2]).all(axis=1)
    if not inside.any():
        return (pts[:0, 0],), np.zeros(g["n"] + 1, np.int64), np.zeros((0, 6), np.int64)
    canvases = []
    for i in inside.nonzero()[0].tolist():
        b = box[i].tolist()
        if (b[2] - b[0]) * (b[3] - b[1]) <= _TILE_ABOVE:
            canvases.append([i, *b, int(margin[i])])
        else:
            path = pts[owner == i][valid[owner == i]]
            canvases += [[i, *region, int(margin[i])] for region in _regions(b, path, pad[i], int(margin[i])).tolist()]
    kept = inside[owner]
    per_artifact = np.bincount(owner[kept], m[kept], minlength=g["n"]).astype(np.int64)
    widths, values = _profiles(m, spec["width"], spec["taper"])
    on = valid[kept]
    strokes = (pts[kept][on], widths[kept][on], values[kept][on], visible[kept][on], m[kept])
    return strokes, np.concatenate([[0], np.cumsum(per_artifact)]), np.array(canvases, np.int64).reshape(-1, 6)


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


def _segments(pts, widths, values, visible, lengths) -> tuple[np.ndarray, ...]:
    """Per segment (point j to j + 1) of a group's strokes, one after another: its reach, whether it
    shows (never between two strokes), grey level and thickness as OpenCV takes them (sub-pixel
    widths are drawn 1 px wide and fainter)."""
    seg_w = 0.5 * (widths[:-1] + widths[1:])
    seg_v = 0.5 * (values[:-1] + values[1:]) * np.minimum(1.0, seg_w)
    shows = (seg_v >= 0.5) & visible[:-1] & visible[1:]
    shows[np.cumsum(lengths)[:-1] - 1] = False
    grey, thick = np.rint(np.minimum(seg_v, 255)).astype(int), np.maximum(1, np.rint(seg_w)).astype(int)
    return seg_w / 2 + 2, shows, grey, thick


def _candidates(pts, reach, seg, art, drawn, canvases, origin, size) -> tuple[np.ndarray, np.ndarray]:
    """(canvas, segment) pairs, by canvas then segment, that may draw: with one canvas per artifact
    that has points (`drawn` of them; no tiles) every segment of the artifact; else those sharing a
    grid cell with the canvas (the segment's box widened by 1 px more than its reach), never across
    artifacts."""
    if len(canvases) == drawn and np.unique(canvases[:, 0]).size == drawn:
        of = np.zeros(int(canvases[:, 0].max()) + 1, np.int64)
        of[canvases[:, 0]] = np.arange(drawn)
        return of[art], seg
    ends = np.stack([pts[seg], pts[seg + 1]])
    r = reach[seg][:, None] + 1
    seg_box, seg_key = _cells(art, ends.min(0) - r, ends.max(0) + r)
    can_box, can_key = _cells(canvases[:, 0], origin, origin + size)
    order = np.argsort(seg_key, kind="stable")
    lo, hi = np.searchsorted(seg_key[order], can_key, "left"), np.searchsorted(seg_key[order], can_key, "right")
    n = hi - lo
    match = order[np.arange(n.sum()) - np.repeat(np.cumsum(n) - n, n) + np.repeat(lo, n)]
    pair = np.unique(np.repeat(can_box, n) * len(seg) + seg_box[match])  # by canvas, then segment
    return pair // len(seg), seg[pair % len(seg)]


def _line_calls(strokes: tuple, first: np.ndarray, canvases: np.ndarray):
    """The cv2.line calls that draw a group's strokes on its canvases: (number of calls per
    canvas, then the calls' start points, end points, grey levels and thicknesses, canvas by
    canvas). Canvas c (rows: artifact, x0, y0, x1, y1, pad) gets the segments of its artifact's
    strokes, the points first[a]:first[a + 1], that reach it, in order."""
    pts = strokes[0]
    reach, shows, grey, thick = _segments(*strokes)
    origin = canvases[:, 1:3] - canvases[:, 5:]
    size = canvases[:, 3:5] - canvases[:, 1:3] + 2 * canvases[:, 5:]  # (w, h)
    seg = np.flatnonzero(shows)
    if not seg.size:
        return np.zeros(len(canvases), np.int64), [], [], [], []
    art = np.searchsorted(first, seg, "right") - 1
    canvas, seg = _candidates(pts, reach, seg, art, int((np.diff(first) > 0).sum()), canvases, origin, size)
    # The exact test, in canvas coordinates, as when each canvas was drawn on its own.
    a, b = pts[seg] - origin[canvas], pts[seg + 1] - origin[canvas]
    r = reach[seg][:, None]
    near = ((np.minimum(a, b) - r < size[canvas]) & (np.maximum(a, b) + r > 0)).all(axis=1)
    canvas, seg, a, b = canvas[near], seg[near], a[near], b[near]
    return (np.bincount(canvas, minlength=len(canvases)), np.rint(a * ONE).astype(np.int32).tolist(),
            np.rint(b * ONE).astype(np.int32).tolist(), grey[seg].tolist(), thick[seg].tolist())


def stroke_sprites(g: dict, shape, fid: int) -> list[Sprite]:
    """The sprites of a group of strokes, in group order (an artifact's tiles one after another).
    `shape`: the image's (H, W), or each stroke's (see :func:`~dustbench.synth.raster.image_sizes`)."""
    sizes = image_sizes(shape, g["n"])
    s = sizes[2].tolist()
    colors = np.asarray(g["color"], np.float32).reshape(-1, 3)
    strokes, first, canvases = _stroke_plan(g, sizes)
    out: list[Sprite] = []
    if not len(strokes[0]):
        return out
    count, p, q, grey, thick = _line_calls(strokes, first, canvases)
    end = np.cumsum(count).tolist()
    for c in np.flatnonzero(count).tolist():
        i, x0, y0, x1, y1, pad = canvases[c].tolist()
        canvas = np.zeros((y1 - y0 + 2 * pad, x1 - x0 + 2 * pad), np.uint8)
        a, b = end[c] - count[c], end[c]
        # segment by segment (width and grey level change along a stroke); map(): no Python per line
        deque(map(cv2.line, repeat(canvas, b - a), p[a:b], q[a:b], grey[a:b], thick[a:b],
                  repeat(cv2.LINE_AA, b - a), repeat(SHIFT, b - a)), maxlen=0)
        drawn = sprite(canvas.astype(np.float32) * np.float32(g["opacity"][i] / 255.0), g["blur"][i] * s[i], pad,
                       y0, x0, colors[i], fid, i)
        if drawn is not None:
            out.append(drawn)
    return out
