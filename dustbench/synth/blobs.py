"""Blobs (dust, dirt, blotches): irregular outlines, filled into alpha sprites.

Outlines, boxes and fixed-point vertices are computed for a whole group at once. Small blobs are
filled without anti-aliasing on a finer grid and averaged down (see :func:`_supersampling`); the
usual ones (no rim, outline inside its canvas) are filled together, one ``fillPoly`` and one
``resize`` per supersampling factor on a strip of tiles side by side, and cut into sprites with
array operations (:func:`_strip_sprites`). Every pixel comes out as when each blob was filled
and averaged on its own canvas: filling is a scanline rule on each outline, unchanged by moving
it a whole number of pixels, and area averaging reads each pixel's own block only.
"""
from __future__ import annotations

import math
from typing import Iterator

import cv2
import numpy as np

from .layer import Sprite
from .raster import ONE, SHIFT, image_sizes, reach, sprite
from .. import portable_math as pm


def _hash_uniform(seeds: np.ndarray, count: int, salt: int) -> np.ndarray:
    """(n, count) uniforms in [0, 1) from each artifact's shape_seed: splitmix64, vectorized.

    A Generator per artifact costs more than its draws; thousands of specks make that the bottleneck
    (docs/performance.md).
    """
    key = (count, salt)
    if key not in _OFFSETS:  # salt·C + 1 .. count, modulo 2^64 as the uint64 arithmetic wraps it
        _OFFSETS[key] = np.array([(salt * 0xD1B54A32D192ED03 + k) % 2**64 for k in range(1, count + 1)], np.uint64)
    x = np.asarray(seeds, np.uint64)[:, None] * _GOLDEN + _OFFSETS[key]
    x ^= x >> _S30
    x *= _MIX1
    x ^= x >> _S27
    x *= _MIX2
    x ^= x >> _S31
    x >>= _S11
    return x.astype(np.float64) * 2.0**-53


_OFFSETS: dict[tuple[int, int], np.ndarray] = {}
_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = (np.uint64(v) for v in (11, 27, 30, 31))
_HARMONICS = np.arange(2, 9)
_DAMPING = pm.power(_HARMONICS.astype(np.float64), 0.8)
_STRIP_FROM = 10  # fewer blobs are filled one by one: the strip's fixed cost is larger (measured)
_CIRCLES: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _circle(vertices: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cos θ, sin θ and each harmonic times θ at `vertices` angles around a circle (computed once)."""
    if vertices not in _CIRCLES:
        theta = np.linspace(0.0, 2 * math.pi, vertices, endpoint=False)
        _CIRCLES[vertices] = pm.cos(theta), pm.sin(theta), _HARMONICS[None, :, None] * theta
    return _CIRCLES[vertices]


def _blob_outlines(cx, cy, radius, elongation, angle, roughness, seeds, vertices: int) -> np.ndarray:
    """(n, vertices, 2) closed outlines of irregular blobs; the wobble comes from each shape_seed."""
    u = _hash_uniform(seeds, 3 * _HARMONICS.size, salt=1)
    k = _HARMONICS.size
    normal = np.sqrt(-2.0 * pm.log1p(-u[:, :k])) * pm.cos(2 * math.pi * u[:, k:2 * k])  # Box-Muller
    amps = roughness[:, None] * normal / _DAMPING
    phases = 2 * math.pi * u[:, 2 * k:]
    cos_t, sin_t, harmonics = _circle(vertices)
    wobble = np.einsum("nk,nkv->nv", amps, pm.cos(harmonics + phases[:, :, None]))
    wobble += 1.0
    r = radius[:, None] * np.minimum(np.maximum(wobble, 0.3, out=wobble), 2.0, out=wobble)  # np.clip, cheaper
    root = np.sqrt(elongation)[:, None]
    x, y = r * cos_t * root, r * sin_t * (1.0 / root)
    ca, sa = pm.cos(angle)[:, None], pm.sin(angle)[:, None]
    out = np.empty((len(cx), vertices, 2))
    out[:, :, 0] = cx[:, None] + ca * x - sa * y
    out[:, :, 1] = cy[:, None] + sa * x + ca * y
    return out


def _group_outlines(cols: dict, h: np.ndarray, w: np.ndarray, s: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(indices, outlines) of the small and of the large blobs of a group (columns as float64
    arrays; h, w, s: each blob's image height, width and short side), each computed together."""
    radius = 0.5 * cols["size"] * s
    large = radius >= 40
    for idx in ((~large).nonzero()[0], large.nonzero()[0]) if large.any() else (np.arange(radius.size),):
        if idx.size:
            yield idx, _blob_outlines(cols["x"][idx] * w[idx], cols["y"][idx] * h[idx], radius[idx],
                                      cols["elongation"][idx], cols["angle"][idx], cols["roughness"][idx],
                                      cols["shape_seed"][idx],
                                      24 if radius[idx[0]] < 40 else 64)


def _supersampling(radius_px: np.ndarray) -> np.ndarray:
    # OpenCV's LINE_AA adds about half a pixel around a filled polygon, which would make a 1 px
    # speck almost 3× too heavy. Small blobs are filled without AA on a finer grid and averaged
    # down instead, so their alpha sums to their area at any resolution.
    f = np.minimum(np.maximum(np.ceil(16.0 / np.maximum(radius_px, 0.25)), 2), 16)  # np.clip, cheaper
    return np.where(radius_px < 40, f, 1).astype(np.int64)


def _blob_canvases(cols: dict, sizes: tuple, blur: np.ndarray, f: np.ndarray) -> Iterator[tuple]:
    """Per set of blobs outlined together (small, large), of those inside the image: indices in
    the group, boxes (x0, y0, x1, y1), reaches, supersampling factors, outlines in fixed point on
    their canvases (n, vertices, 2) and the fine pixels each spans and 1 more around (x0, y0, x1, y1)."""
    h, w, s = sizes
    wh = np.stack([w, h], axis=1)
    for idx, outlines in _group_outlines(cols, h, w, s):
        pad = reach(blur[idx])
        low = np.floor(outlines.min(1)).astype(np.int64)
        low -= pad[:, None]
        np.maximum(low, 0, out=low)
        high = np.ceil(outlines.max(1)).astype(np.int64)
        high += pad[:, None]
        np.minimum(high, wh[idx], out=high)
        # Pixel centres sit at integer coordinates at both scales: x_fine = (x + ½)·f − ½; the
        # canvas is padded by the blur's reach.
        fi = f[idx]
        t = outlines - (low - pad[:, None])[:, None]
        t += 0.5
        t *= fi[:, None, None]
        t *= ONE
        t -= 0.5 * ONE
        pts = np.rint(t, out=t).astype(np.int32)
        fine = (pts + (ONE >> 1)) >> SHIFT  # rounded as fillPoly rounds them
        span = np.concatenate([fine.min(1) - 1, fine.max(1) + 2], axis=1)
        box = np.concatenate([low, high], axis=1)
        keep = (high > low).all(axis=1)
        if keep.all():
            yield idx, box, pad, fi, pts, span
        else:
            yield idx[keep], box[keep], pad[keep], fi[keep], pts[keep], span[keep]


def _fill_down(pts: np.ndarray, span: list, hw: tuple[int, int], f: int) -> np.ndarray | None:
    """A blob filled (255, no anti-aliasing) on an f× finer grid and averaged down to hw, drawn only
    over the whole pixels its outline spans (empty blocks average to 0). None when the outline
    reaches the canvas's edge: fillPoly then clips edges by the canvas, so only it draws the same."""
    x0, y0, x1, y1 = span
    if x0 < 0 or y0 < 0 or x1 > hw[1] * f or y1 > hw[0] * f:
        return None
    x0, y0, x1, y1 = x0 // f, y0 // f, -(-x1 // f), -(-y1 // f)
    fine = np.zeros(((y1 - y0) * f, (x1 - x0) * f), np.float32)
    cv2.fillPoly(fine, [pts - np.array([x0, y0], np.int32) * (f << SHIFT)], 255, cv2.LINE_8, SHIFT)
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
    cv2.fillPoly(canvas, [pts], 255, line, SHIFT)

    def down(c):
        c = c.astype(np.float32, copy=False)
        return cv2.resize(c, (hw[1], hw[0]), interpolation=cv2.INTER_AREA) if f > 1 else c
    alpha = down(canvas) * np.float32(opacity / 255.0)
    if rim > 0:  # a water mark: a darker edge where the drying front stopped
        ring = np.zeros(big, depth)
        cv2.polylines(ring, [pts], True, 255, max(1, int(round(rim_px * f))), line, SHIFT)
        alpha = np.minimum(alpha + down(ring) * np.float32(rim / 255.0), 1.0)
    return alpha


def _strip(f: np.ndarray, pts: np.ndarray, tile: np.ndarray, opacity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Blobs filled as _fill_down fills them, times their opacity / 255, on one coarse strip: blob j
    on columns at[j] .. at[j] + its tile's width (tile: its whole pixels x0, y0, x1, y1 on its
    canvas), rows from 0, then a blank column; blobs side by side in order of f. Returns (strip, at)."""
    width = tile[:, 2] - tile[:, 0] + 1
    height = tile[:, 3] - tile[:, 1]
    order = np.argsort(f, kind="stable")
    end = np.cumsum(width[order])
    at = np.empty_like(width)
    at[order] = end - width[order]
    strip = np.zeros((int(height.max()), int(end[-1])), np.float32)
    cuts = np.flatnonzero(np.diff(f[order])) + 1
    for part in np.split(order, cuts) if cuts.size else (order,):
        k = int(f[part[0]])
        c0, c1 = int(at[part[0]]), int(at[part[-1]] + width[part[-1]])
        rows = int(height[part].max())
        fine = np.zeros((rows * k, (c1 - c0) * k), np.float32)
        move = tile[part, :2] * (k << SHIFT)
        move[:, 0] -= (at[part] - c0) * (k << SHIFT)
        cv2.fillPoly(fine, list(pts[part] - move[:, None, :].astype(np.int32)), 255, cv2.LINE_8, SHIFT)
        strip[:rows, c0:c1] = cv2.resize(fine, (c1 - c0, rows), interpolation=cv2.INTER_AREA)
    strip *= np.repeat((opacity / 255.0).astype(np.float32)[order], width[order])
    return strip, at


def _shown(strip: np.ndarray, at: np.ndarray, tile: np.ndarray, box: np.ndarray, pad: np.ndarray):
    """Per blob on the strip (see _strip): the rows and columns of its drawn pixels that show on its
    unpadded canvas (first row, last row, first column, last column; empty: last column < first)."""
    th, tw = tile[:, 3] - tile[:, 1], tile[:, 2] - tile[:, 0]
    r0, r1 = np.maximum(pad - tile[:, 1], 0), np.minimum(pad + box[:, 3] - box[:, 1] - tile[:, 1], th)
    c0, c1 = at + np.maximum(pad - tile[:, 0], 0), at + np.minimum(pad + box[:, 2] - box[:, 0] - tile[:, 0], tw)
    owner = np.repeat(np.arange(at.size), tw + 1)  # blobs' columns in strip order: sort at first
    cols, rows = np.arange(strip.shape[1]), np.arange(strip.shape[0])[:, None]
    shows = strip != 0
    shows &= (cols >= c0[owner]) & (cols < c1[owner])
    shows &= (rows >= r0[owner]) & (rows < r1[owner])
    any_col = shows.any(axis=0)
    first_c = np.minimum.reduceat(np.where(any_col, cols, cols.size), at)
    last_c = np.maximum.reduceat(np.where(any_col, cols, -1), at)
    per_row = np.logical_or.reduceat(shows, at, axis=1)
    return per_row.argmax(axis=0), per_row.shape[0] - 1 - per_row[::-1].argmax(axis=0), first_c, last_c


def _strip_sprites(out: list, idx, box, pad, f, pts, span, opacity, colors, fid: int) -> None:
    """Sprites of unblurred blobs that _draw_blob would fill with _fill_down, drawn together (see
    _strip), into out[idx[j]]."""
    tile = np.concatenate([span[:, :2] // f[:, None], -(-span[:, 2:] // f[:, None])], axis=1)
    strip, at = _strip(f, pts, tile, opacity)
    order = np.argsort(at)
    fr, lr, fc, lc = _shown(strip, at[order], tile[order], box[order], pad[order])
    y = (box[order, 1] + tile[order, 1] - pad[order] + fr).tolist()
    x = (box[order, 0] + tile[order, 0] - pad[order] - at[order] + fc).tolist()
    for i, sy, sx, r, r1, c, c1 in zip(idx[order].tolist(), y, x, fr.tolist(), (lr + 1).tolist(), fc.tolist(),
                                       (lc + 1).tolist()):
        if c1 > c:
            out[i] = Sprite(sy, sx, strip[r:r1, c:c1].copy(), colors[i], fid, i)


def blob_sprites(g: dict, shape, fid: int) -> list[Sprite]:
    """The sprites of a group of blobs, in group order (with a darker edge where it has a ``rim``).
    `shape`: the image's (H, W), or each blob's (see :func:`~dustbench.synth.raster.image_sizes`)."""
    sizes = image_sizes(shape, g["n"])
    s = sizes[2]
    cols = {k: np.asarray(g[k], np.float64) for k in ("x", "y", "size", "elongation", "angle", "roughness", "blur",
                                                       "opacity")}
    cols["shape_seed"] = np.asarray(g["shape_seed"], np.uint64)
    colors = np.asarray(g["color"], np.float32).reshape(-1, 3)
    blur = cols["blur"] * s
    rims = np.asarray(g["rim"], np.float64) if "rim" in g else np.zeros(g["n"])
    out: list = [None] * g["n"]
    short = s.tolist()
    for idx, box, pad, f, pts, span in _blob_canvases(cols, sizes, blur, _supersampling(0.5 * cols["size"] * s)):
        easy = np.zeros(idx.size, bool)
        if idx.size >= _STRIP_FROM:
            w, h = (box[:, 2:] - box[:, :2] + 2 * pad[:, None]).T
            # What _draw_blob fills with _fill_down: supersampled, no rim, the outline inside its canvas
            easy = (f > 1) & (rims[idx] <= 0) & (span[:, 0] >= 0) & (span[:, 1] >= 0) & (span[:, 2] <= w * f) \
                & (span[:, 3] <= h * f) & (blur[idx] <= 0.25)  # and unblurred: the strip's sprites are final
        if easy.sum() >= _STRIP_FROM:
            e = easy.nonzero()[0]
            _strip_sprites(out, idx[e], box[e], pad[e], f[e], pts[e], span[e], cols["opacity"][idx[e]], colors, fid)
        else:
            easy[:] = False
        for e in (~easy).nonzero()[0].tolist():
            i = int(idx[e])
            (x0, y0, x1, y1), r = box[e].tolist(), int(pad[e])
            alpha = _draw_blob(pts[e], span[e].tolist(), (y1 - y0 + 2 * r, x1 - x0 + 2 * r), int(f[e]),
                               g["opacity"][i], float(rims[i]), 0.04 * (0.5 * g["size"][i] * short[i]))
            out[i] = sprite(alpha, g["blur"][i] * short[i], r, y0, x0, colors[i], fid, i)
    return [sp for sp in out if sp is not None]
