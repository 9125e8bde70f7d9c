"""Measurement: one row of numbers per detected component, in pixels and relative to the short side.

Only the product of an artifact's opacity and its area (for strokes: opacity × width) can be
measured on specks smaller than a pixel or strokes one pixel wide: anti-aliasing spreads them. So
every component records its *integrated opacity* (the sum, over the component and a 1-px fringe,
of its per-pixel opacity against black or white, in the direction of its polarity: noise averages
out). Components with an interior (``resolved``) also record their opacity; `finish` turns
integrals into sizes, using the median opacity of the resolved components for the rest.
"""
from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra
from skimage.morphology import skeletonize

from .detect import _K3, MIN_DENOMINATOR, Detection
DEFAULT_OPACITY = 0.85  # used when no component of a polarity has an interior to measure
ROUGHNESS_PER_RADIAL_CV = 1 / 0.64  # synthesis: radial wobble CV = 0.64 × roughness (harmonics 2..8)
def _ring(skel: np.ndarray) -> list[np.ndarray]:
    """The 8 neighbours of every pixel, in circular order (N, NE, E, SE, S, SW, W, NW)."""
    p = np.pad(skel, 1)
    h, w = skel.shape
    offsets = ((-1, 0), (-1, 1), (0, 1), (1, 1), (1, 0), (1, -1), (0, -1), (-1, -1))
    return [p[1 + dy:1 + dy + h, 1 + dx:1 + dx + w] for dy, dx in offsets]


def skeleton_stats(mask: np.ndarray) -> tuple[float, int, int, float, float, float]:
    """(total length, ends, junctions, chord, main-stem length, sagitta), lengths in px, of a component.

    Ends and junctions use the crossing number (0→1 transitions around a pixel), which is not
    fooled by the staircases of diagonal lines; junctions are counted as clusters.
    """
    return skeleton_geometry(mask)[:6]


def skeleton_geometry(mask: np.ndarray) -> tuple[float, int, int, float, float, float, tuple[float, ...]]:
    """`skeleton_stats` and the main stem's two end points (x0, y0, x1, y1) in the mask's pixels."""
    skel = skeletonize(mask)
    ys, xs = np.nonzero(skel)
    if ys.size <= 1:
        ends_xy = (float(xs[0]), float(ys[0])) * 2 if ys.size else (math.nan,) * 4
        return float(ys.size), int(ys.size), 0, 0.0, float(ys.size), 0.0, ends_xy
    ring = _ring(skel)
    crossings = sum((~ring[i] & ring[(i + 1) % 8]).astype(np.uint8) for i in range(8))
    ends = int(np.count_nonzero(skel & (crossings == 1)))
    junction_px = (skel & (crossings >= 3)).astype(np.uint8)
    junctions = cv2.connectedComponents(junction_px, connectivity=8)[0] - 1 if junction_px.any() else 0
    # Chain-code length with Kulpa's weights (unbiased over orientations; plain 1 and √2 overestimate
    # straight lines by up to 8 %). A diagonal link whose corner pixel is set is not counted twice.
    orth = np.count_nonzero(skel[:, :-1] & skel[:, 1:]) + np.count_nonzero(skel[:-1] & skel[1:])
    d1 = skel[:-1, :-1] & skel[1:, 1:] & ~skel[:-1, 1:] & ~skel[1:, :-1]
    d2 = skel[:-1, 1:] & skel[1:, :-1] & ~skel[:-1, :-1] & ~skel[1:, 1:]
    length = _ORTH * orth + _DIAG * (np.count_nonzero(d1) + np.count_nonzero(d2))
    stem, a, b = _longest_path(skel, ys, xs)
    pts = np.stack([xs, ys], 1).astype(np.float64)
    chord_vec = pts[b] - pts[a]
    chord = float(np.hypot(*chord_vec))
    offsets = pts - pts[a]
    sagitta = float(np.abs(chord_vec[0] * offsets[:, 1] - chord_vec[1] * offsets[:, 0]).max() / chord) if chord else 0.0
    return float(length), ends, junctions, chord, stem, sagitta, (*map(float, pts[a]), *map(float, pts[b]))


_ORTH, _DIAG = 0.948, 1.343


def _longest_path(skel: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> tuple[float, int, int]:
    """(length px, end index, end index) of the longest shortest path through the skeleton: its
    main stem, without spurs. Two sweeps (farthest point from any point, then from that one) find
    it exactly on trees.
    """
    index = -np.ones(skel.shape, np.int64)
    index[ys, xs] = np.arange(ys.size)
    src, dst, wts = [], [], []
    h, w = skel.shape
    for dy, dx, wt in ((0, 1, _ORTH), (1, 0, _ORTH), (1, 1, _DIAG), (1, -1, _DIAG)):
        ny, nx = ys + dy, xs + dx
        ok = (ny < h) & (nx >= 0) & (nx < w)
        j = np.full(ys.size, -1)
        j[ok] = index[ny[ok], nx[ok]]
        keep = j >= 0
        src.append(np.flatnonzero(keep)), dst.append(j[keep]), wts.append(np.full(keep.sum(), wt))
    graph = csr_matrix((np.concatenate(wts), (np.concatenate(src), np.concatenate(dst))), shape=(ys.size,) * 2)
    first = dijkstra(graph, directed=False, indices=0)
    far = int(np.argmax(np.where(np.isfinite(first), first, -1)))
    second = dijkstra(graph, directed=False, indices=far)
    other = int(np.argmax(np.where(np.isfinite(second), second, -1)))
    return float(second[other]), far, other


def turning_from_sagitta(sagitta: float, chord: float) -> float:
    """Total turning (radians) of a circular arc with this chord that bulges `sagitta` from it:
    h = c/2 · tan(θ/4). Robust for nearly straight strokes, unlike the ratio of chord to arc."""
    return float(4 * math.atan(2 * sagitta / chord)) if chord > 0 else 0.0


def _moments(weights: np.ndarray) -> tuple[float, float, float, float]:
    """(elongation = axis ratio, major-axis angle in [0, π), variance along major, minor) of a weight map."""
    m = cv2.moments(weights.astype(np.float32))
    if m["m00"] <= 0:
        return 1.0, 0.0, 0.0, 0.0
    # + 1/12: a pixel's own extent, so a one-pixel speck is round rather than infinitely thin
    a, b, c = m["mu20"] / m["m00"] + 1 / 12, m["mu11"] / m["m00"], m["mu02"] / m["m00"] + 1 / 12
    root = math.sqrt(max(((a - c) / 2) ** 2 + b * b, 0.0))
    major, minor = (a + c) / 2 + root, max((a + c) / 2 - root, 1e-12)
    angle = 0.5 * math.atan2(2 * b, a - c) % math.pi
    return math.sqrt(major / minor), angle, major, minor


def _roughness(core: np.ndarray) -> float:
    """Radial wobble of a blob's outline, after undoing its elongation: the synthesis `roughness`."""
    contours, _ = cv2.findContours(core.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    if not contours:
        return float("nan")
    pts = max(contours, key=len).reshape(-1, 2).astype(np.float64)
    if len(pts) < 16:
        return float("nan")
    centred = pts - pts.mean(0)
    cov = np.cov(centred.T)
    vals, vecs = np.linalg.eigh(cov)
    white = centred @ vecs / np.sqrt(np.maximum(vals, 1e-9))
    r = np.hypot(white[:, 0], white[:, 1])
    return float(r.std() / r.mean() * ROUGHNESS_PER_RADIAL_CV)


def colour_and_opacity(d: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel (..., C), the artifact's own colour K and opacity a, one opacity for all channels.

    Per channel, an artifact of colour K and opacity a gives D = C + a (K − C); the smallest `a`
    that keeps every channel of K inside [0, 1] is taken, which gives grey artifacts black or
    white and coloured ones their most saturated consistent colour.
    """
    d, r = d.astype(np.float64), r.astype(np.float64)
    diff = d - r
    need = np.abs(diff) / np.maximum(np.where(diff < 0, r, 1.0 - r), MIN_DENOMINATOR)
    a = np.clip(need.max(axis=-1), 0.0, 1.0)
    k = np.clip(r + diff / np.maximum(a, 1e-3)[..., None], 0.0, 1.0)
    return k, a


def _colour(d: np.ndarray, r: np.ndarray, core: np.ndarray) -> tuple[np.ndarray, float]:
    """The artifact's colour and opacity at its core: medians of `colour_and_opacity`."""
    k, a = colour_and_opacity(d[core], r[core])
    return np.median(k, axis=0), float(np.median(np.maximum(a, 1e-3)))


def measure(det: Detection, image_id: str) -> pd.DataFrame:
    """One row per component of `det`: raw measurements in pixels (see `finish` for sizes)."""
    h, w = det.shape
    rows = []
    if det.count == 0:
        return pd.DataFrame(rows)
    for k, sl in enumerate(ndimage.find_objects(det.labels, max_label=det.count), start=1):
        if sl is None:
            continue
        y0, y1 = max(sl[0].start - 2, 0), min(sl[0].stop + 2, h)
        x0, x1 = max(sl[1].start - 2, 0), min(sl[1].stop + 2, w)
        lab = det.labels[y0:y1, x0:x1]
        comp = lab == k
        near = cv2.dilate(comp.astype(np.uint8), _K3).astype(bool) & ((lab == 0) | comp)
        signed = det.signed[y0:y1, x0:x1]
        polarity = 1.0 if float(signed[comp].sum()) >= 0 else -1.0
        alpha = det.alpha[y0:y1, x0:x1] * np.sign(signed) * polarity  # negative where it points the other way
        weights = np.where(near, np.clip(alpha, 0.0, 1.0), 0.0)
        integral = float(alpha[near].sum())
        peak = float(alpha[comp].max())
        core = comp & (alpha >= 0.5 * peak)
        # Pixels a whole pixel inside the half-peak outline are fully covered: their opacity is the artifact's.
        interior = cv2.erode(core.astype(np.uint8), _K3).astype(bool) if core.sum() >= 5 else np.zeros_like(core)
        resolved = int(interior.sum()) >= 3
        colour, colour_opacity = _colour(det.damaged[y0:y1, x0:x1], det.reference[y0:y1, x0:x1], core)
        elong, angle, major, minor = _moments(weights)
        length, ends, junctions, chord, stem, sagitta, stem_ends = (
            skeleton_geometry(comp) if comp.sum() >= 6 else (0.0, 0, 0, 0.0, 0.0, 0.0, (math.nan,) * 4))
        opacity = float(np.median(alpha[interior])) if resolved else float("nan")
        row = {
            "image": image_id, "label": k, "x": (x0 + x1) / 2 / w, "y": (y0 + y1) / 2 / h,
            "bbox": (x0, y0, x1, y1), "area_px": int(comp.sum()), "integral": max(integral, 1e-6),
            "peak": peak, "polarity": "bright" if polarity > 0 else "dark", "resolved": resolved,
            "opacity_measured": opacity, "elongation": elong, "angle": angle,
            "spread_px": math.sqrt(max(major + minor, 0.0)),
            "skeleton_px": length, "stem_px": stem, "ends": ends, "junctions": junctions, "chord_px": chord,
            "turning": turning_from_sagitta(sagitta, chord), "colour": colour.tolist(),
            "chroma": float(colour.max() - colour.min()), "colour_opacity": colour_opacity,
            "roughness": _roughness(core) if resolved and core.sum() >= 80 else float("nan"),
            "edge_px": _edge_width(weights, opacity) if resolved else float("nan"),
            "short_side": min(h, w), "frame": (h, w),
            # the main stem's ends in the scan's pixels: where broken scratches are joined (merge.py)
            "stem_ends": tuple(v + o for v, o in zip(stem_ends, (x0, y0, x0, y0))), "members": (k,),
            "pieces": 1, "span_px": math.nan, "gaps": 0.0,
        }
        rows.append(row)
    return pd.DataFrame(rows)


def _edge_width(weights: np.ndarray, opacity: float) -> float:
    """Width (px) of the 10–90 % opacity transition at the edge: area between the two levels / perimeter."""
    if not opacity > 0:
        return float("nan")
    inner = weights >= 0.9 * opacity
    outer = weights >= 0.1 * opacity
    contours, _ = cv2.findContours((weights >= 0.5 * opacity).astype(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_NONE)
    perimeter = sum(cv2.arcLength(c, True) for c in contours)
    if perimeter <= 0:
        return float("nan")
    return float((outer.sum() - inner.sum()) / perimeter)


AA_EDGE_SIGMA = 0.29  # px: the edge of an unblurred, anti-aliased shape (a 1-px box: 1/√12)
EDGE_WIDTH_PER_SIGMA = 2.563  # the 10–90 % width of a Gaussian-blurred step, in sigmas
COLOUR_CHROMA = 0.3  # a component whose own colour spans more than this across channels is "color"


def opacity_medians(df: pd.DataFrame, by: str, min_count: int = 1) -> pd.Series:
    """Per row: the median measured opacity of the resolved rows sharing its `by` value (NaN if too few)."""
    ok = df["resolved"] & (df["opacity"] > 0)
    med = df[ok].groupby(by)["opacity"].agg(["median", "size"])
    med = med.loc[med["size"] >= min_count, "median"]
    return df[by].map(med).astype(float)


def finish(rows: pd.DataFrame, fallback: pd.Series | None = None) -> pd.DataFrame:
    """Sizes from integrals: opacity (measured, else `fallback`, else the median of the resolved
    rows of the same polarity), area, equivalent diameter, stroke length and width, blur — in
    px and as fractions of the short side."""
    df = rows.copy()
    df["color"] = df["chroma"] >= COLOUR_CHROMA
    df["opacity"] = np.where(df["color"], df["colour_opacity"],
                             np.where(df["resolved"], df["opacity_measured"], np.nan))
    guess = opacity_medians(df, "polarity").fillna(DEFAULT_OPACITY)
    if fallback is not None:
        guess = fallback.fillna(guess)
    df["opacity"] = df["opacity"].fillna(guess)
    df["opacity"] = df["opacity"].clip(0.02, 1.0)
    area = df["integral"] / df["opacity"]
    s = df["short_side"].astype(float)
    df["area"] = area / s**2
    df["diameter"] = 2 * np.sqrt(area / math.pi) / s
    # A stroke's skeleton stops about half a width short of each end. Slenderness uses the main
    # stem (spurs of rough blobs do not count); a stroke's length is its whole skeleton (lint fibres).
    length = 0.5 * (df["skeleton_px"] + np.sqrt(df["skeleton_px"] ** 2 + 4 * area))  # L = skeleton + area / L
    stem = 0.5 * (df["stem_px"] + np.sqrt(df["stem_px"] ** 2 + 4 * area))
    width = area / length
    # A scratch joined from pieces (merge.py) is as long as its span, gaps included; its width is
    # that of the visible pieces.
    joined = df["pieces"] > 1 if "pieces" in df else pd.Series(False, index=df.index)
    length = np.where(joined, df.get("span_px", np.nan) + width, length)
    df["length"], df["width"] = length / s, width / s
    df["slenderness"] = stem**2 / area
    blur = np.sqrt(np.maximum((df["edge_px"] / EDGE_WIDTH_PER_SIGMA) ** 2 - AA_EDGE_SIGMA**2, 0.0))
    df["blur"] = np.where(np.isfinite(df["edge_px"]), blur / s, np.nan)
    return df
