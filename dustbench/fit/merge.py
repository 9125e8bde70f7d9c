"""Broken scratches: collinear stroke pieces of one scan joined into one row before classification.

A scratch is long, thin, nearly straight and often interrupted: intermittent contact leaves gaps,
and a faint scratch on a textured background is detected as a string of pieces. Alone, each piece
reads as a short hair (with grain spurs on it, as lint). Two pieces are linked when their main
stems are collinear — the `LINKS` table below, whose thresholds live in classify.THRESHOLDS: the
same polarity, similar angles, facing ends a gap apart along the line, and a small sideways offset.
Each stem end keeps only its best link, and only links that both ends chose count, so chains do
not branch into a neighbouring scratch. Every chain becomes one row, measured as a whole: span
(end to end, gaps included), visible stem length, gap fraction, and turning over the whole chain.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components
from scipy.spatial import cKDTree

from .classify import THRESHOLDS
from .measure import turning_from_sagitta

OFFSET_WEIGHT = 4.0  # a link's cost: gap + this × sideways offset (offsets matter more than gaps)
STAIRCASE_PX = 1.0  # a short stem's skeleton may bulge this much from its chord however straight it is
MAX_PASSES = 4  # chains are joined again, with their better directions, across larger gaps
END_REACH = 0.05  # a chain's direction at an end: from its points this close to it (× short side)


@dataclass(frozen=True)
class Link:
    when: str  # the condition in words, for docs and reports
    test: Callable[[pd.DataFrame, dict], pd.Series]


def _angle_limit(p, t):
    # A short stem's direction is uncertain by about a pixel over its length.
    return t["merge_max_angle"] + np.arctan(1.5 / np.minimum(p["chord_a"], p["chord_b"]))


LINKS = (
    Link("both pieces have the same polarity", lambda p, t: p["polarity_a"] == p["polarity_b"]),
    Link("their stems differ in angle by at most merge_max_angle (+ 1.5 px over the shorter stem)",
         lambda p, t: p["turn"] <= _angle_limit(p, t)),
    Link("their facing ends are at most merge_max_gap apart along the line",
         lambda p, t: p["gap"] <= t["merge_max_gap"] * p["short_side"]),
    Link("and at most merge_gap_per_length × their two stems' lengths (short pieces do not reach far)",
         lambda p, t: p["gap"] <= t["merge_gap_per_length"] * (p["chord_a"] + p["chord_b"])),
    Link("and overlap by at most merge_max_overlap_px", lambda p, t: p["gap"] >= -t["merge_max_overlap_px"]),
    Link("the end of the shorter stem lies within merge_offset_px + merge_offset_slope × gap of the "
         "longer stem's line", lambda p, t: p["offset"] <= t["merge_offset_px"] + t["merge_offset_slope"]
         * np.maximum(p["gap"], 0.0)),
)


def describe_links() -> list[str]:
    return [f"join: {link.when}" for link in LINKS]


def sagitta_px(rows: pd.DataFrame) -> pd.Series:
    """How far (px) a stem bulges from its chord: the inverse of measure.turning_from_sagitta."""
    return rows["chord_px"] / 2 * np.tan(rows["turning"] / 4)


def pieces(rows: pd.DataFrame, t: dict) -> pd.DataFrame:
    """The rows that may be part of a scratch: a straight stem long enough to have a direction
    (straight: turning less than scratch_turning, or a bulge within a pixel's staircase)."""
    stem, area = rows["stem_px"].astype(float), rows["area_px"].astype(float)
    straight = (rows["turning"] < t["scratch_turning"]) | (sagitta_px(rows) <= STAIRCASE_PX)
    ok = (stem >= t["merge_min_stem_px"]) & (stem**2 >= t["merge_min_slenderness"] * area) & straight
    return rows[ok]


def _ends(cand: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(2n, 2) stem ends (piece k: rows 2k, 2k+1) and (2n, 2) unit directions pointing out of the
    piece there — for a chain, the direction of its last stretch, not of its chord (rain bends)."""
    reach = END_REACH * float(cand["short_side"].iloc[0])
    pts, out = [], []
    for path in points(cand):
        pts += [path[0], path[-1]]
        out += [_end_direction(path, 0, reach), _end_direction(path, -1, reach)]
    return np.array(pts, np.float64), np.array(out, np.float64)


def candidate_pairs(cand: pd.DataFrame, t: dict) -> pd.DataFrame:
    """Every pair of stem ends of different pieces within reach, with the geometry the links test."""
    pts, out = _ends(cand)
    reach = t["merge_max_gap"] * float(cand["short_side"].iloc[0]) + t["merge_max_overlap_px"]
    pairs = cKDTree(pts).query_pairs(reach, output_type="ndarray")
    pairs = pairs[pairs[:, 0] // 2 != pairs[:, 1] // 2]
    a, b = pairs[:, 0], pairs[:, 1]
    chord = cand["chord_px"].to_numpy(float)[np.arange(len(pts)) // 2]
    # Measured along and across the longer stem's line, which gives the better direction.
    long_a = chord[a] >= chord[b]
    d = (pts[b] - pts[a]) * np.where(long_a, 1.0, -1.0)[:, None]
    o = np.where(long_a[:, None], out[a], out[b])
    along = d[:, 0] * o[:, 0] + d[:, 1] * o[:, 1]
    across = np.abs(d[:, 0] * o[:, 1] - d[:, 1] * o[:, 0])
    facing = np.clip(-(out[a] * out[b]).sum(1), -1.0, 1.0)  # 1 when the outward directions are opposite
    pol = cand["polarity"].to_numpy()
    return pd.DataFrame({"a": a, "b": b, "gap": along, "offset": across, "turn": np.arccos(facing),
                         "chord_a": chord[a], "chord_b": chord[b], "polarity_a": pol[a // 2],
                         "polarity_b": pol[b // 2], "short_side": float(cand["short_side"].iloc[0])})


def links(cand: pd.DataFrame, t: dict) -> np.ndarray:
    """(k, 2) pairs of piece indices (positions in `cand`) to join: links both ends chose as their best."""
    if len(cand) < 2:
        return np.zeros((0, 2), int)
    p = candidate_pairs(cand, t)
    ok = np.ones(len(p), bool)
    for link in LINKS:
        ok &= link.test(p, t).to_numpy(bool)
    p = p[ok].assign(cost=lambda q: q["gap"].clip(lower=0) + OFFSET_WEIGHT * q["offset"])
    both = pd.concat([p[["a", "b", "cost"]], p[["b", "a", "cost"]].set_axis(["a", "b", "cost"], axis=1)])
    best = both.sort_values(["cost", "a", "b"], kind="stable").drop_duplicates("a").set_index("a")["b"]
    mutual = [(e, best[e]) for e in best.index if e < best[e] and best.get(best[e]) == e]
    return np.array([(e // 2, f // 2) for e, f in mutual], int).reshape(-1, 2)


def points(rows: pd.DataFrame) -> list[np.ndarray]:
    """Per row, (k, 2) points (px) along it: a joined row's path, a stem's two ends, or a speck's centre."""
    paths = rows["path"] if "path" in rows else [None] * len(rows)
    out = []
    for path, ends, (x0, y0, x1, y1) in zip(paths, rows["stem_ends"], rows["bbox"]):
        ends = np.asarray(ends, np.float64).reshape(2, 2)
        out.append(path if isinstance(path, np.ndarray) else ends if np.isfinite(ends).all()
                   else np.array([[(x0 + x1 - 1) / 2, (y0 + y1 - 1) / 2]]))
    return out


def _path(group: pd.DataFrame) -> np.ndarray:
    """The members' points in order along their principal direction: the scratch's polyline."""
    pts = np.concatenate(points(group))
    centre = pts.mean(0)
    axis = np.linalg.eigh(np.cov((pts - centre).T))[1][:, -1]
    return pts[np.argsort((pts - centre) @ axis, kind="stable")]


def _opacity(group: pd.DataFrame) -> dict:
    """Resolved when pieces with an interior make up most of the visible length; their median
    opacity is then the scratch's (a stray resolved piece — a crossing — does not speak for it)."""
    res = group["resolved"].to_numpy(bool)
    stems = group["stem_px"].to_numpy(float)
    resolved = bool(stems[res].sum() >= 0.5 * stems.sum()) and res.any()
    return {"resolved": resolved,
            "opacity_measured": float(np.median(group["opacity_measured"][res])) if resolved else math.nan}


def join(group: pd.DataFrame) -> dict:
    """One row for collinear pieces measured as one scratch (columns as measure.measure's)."""
    path = _path(group)
    first, last = path[0], path[-1]
    chord_vec = last - first
    span = float(np.hypot(*chord_vec))
    rel = path - first
    sagitta = max(float(np.abs(chord_vec[0] * rel[:, 1] - chord_vec[1] * rel[:, 0]).max() / max(span, 1e-9)),
                  float(sagitta_px(group).max()))
    area = float(group["area_px"].sum())
    stems = group["stem_px"].to_numpy(float)
    width_px = area / max(stems.sum(), 1.0)
    visible = float(stems.sum() + width_px * len(group))  # a stem stops half a width short of each end
    w = np.asarray(group["integral"], float)
    colour = np.average(np.array(group["colour"].tolist(), float), axis=0, weights=w)
    box = np.array(group["bbox"].tolist())
    x0, y0, x1, y1 = int(box[:, 0].min()), int(box[:, 1].min()), int(box[:, 2].max()), int(box[:, 3].max())
    h, wd = group["frame"].iloc[0]
    return {
        "image": group["image"].iloc[0], "label": int(group["label"].min()), "x": (x0 + x1) / 2 / wd,
        "y": (y0 + y1) / 2 / h, "bbox": (x0, y0, x1, y1), "area_px": int(area), "integral": float(w.sum()),
        "peak": float(group["peak"].max()), "polarity": group["polarity"].iloc[0],
        **_opacity(group),
        "elongation": span / max(width_px, 1.0), "angle": math.atan2(chord_vec[1], chord_vec[0]) % math.pi,
        "spread_px": math.sqrt((span**2 + width_px**2) / 12), "skeleton_px": float(group["skeleton_px"].sum()),
        "stem_px": float(stems.sum()), "ends": 2, "junctions": int(group["junctions"].max()), "chord_px": span,
        "turning": turning_from_sagitta(sagitta, span), "colour": colour.tolist(),
        "chroma": float(colour.max() - colour.min()),
        "colour_opacity": float(np.average(group["colour_opacity"], weights=w)), "roughness": math.nan,
        "edge_px": float(group["edge_px"].median()), "short_side": group["short_side"].iloc[0],
        "frame": (h, wd), "stem_ends": (*map(float, first), *map(float, last)),
        "members": tuple(sorted(int(m) for ms in group["members"] for m in ms)), "pieces": int(group["pieces"].sum()),
        "span_px": span, "gaps": float(np.clip(1.0 - visible / max(span, 1e-9), 0.0, 1.0)), "path": path,
    }


def _end_direction(path: np.ndarray, end: int, reach: float) -> np.ndarray:
    """Unit vector pointing out of the polyline at its first (end=0) or last (end=-1) point,
    from the points within `reach` of that end (the local direction, not the whole chord's)."""
    tip = path[end]
    near = path[np.hypot(*(path - tip).T) <= reach]
    far = near.mean(0) if len(near) > 1 else path[1 if end == 0 else -2]
    u = tip - far
    return u / max(float(np.hypot(*u)), 1e-9)


def on_line(path: np.ndarray, pts: np.ndarray, t: dict, s: float, beyond: bool) -> bool:
    """Whether every point lies on the polyline (within merge_offset_px), or, with `beyond`, past
    one of its ends by at most the gap a link allows (merge_max_gap, merge_gap_per_length × the
    line's span) along its end direction, and within the offset allowed at that gap."""
    a, b = path[:-1], path[1:]
    span = float(np.hypot(*(path[-1] - path[0])))
    reach = min(t["merge_max_gap"] * s, t["merge_gap_per_length"] * span)
    ab = b - a
    for p in pts:
        u = np.clip(((p - a) * ab).sum(1) / np.maximum((ab * ab).sum(1), 1e-9), 0.0, 1.0)
        if np.hypot(*(a + u[:, None] * ab - p).T).min() <= t["merge_offset_px"]:
            continue
        ok = False
        for end in (0, -1) if beyond else ():
            out = _end_direction(path, end, END_REACH * s)
            d = p - path[end]
            along, across = float(d @ out), abs(float(d[0] * out[1] - d[1] * out[0]))
            ok |= 0 < along <= reach and \
                across <= t["merge_offset_px"] + t["merge_offset_slope"] * along
        if not ok:
            return False
    return True


def _width_px(rows: pd.DataFrame) -> np.ndarray:
    area = rows["area_px"].to_numpy(float)
    return area / np.maximum(rows["stem_px"].to_numpy(float), np.sqrt(area))


def absorb(rows: pd.DataFrame, t: dict) -> np.ndarray:
    """Per row, the position of the line it lies on (-1: none). Lines are straight pieces and chains at
    least merge_min_line long. What lies on them, of the same polarity and not much wider: any
    component within their span, and past their ends fragments too short to have a direction of
    their own (a faint scratch on a textured background leaves specks; linking joins the rest)."""
    s = float(rows["short_side"].iloc[0])
    cand = pieces(rows, t)
    lines = cand[cand["chord_px"] >= t["merge_min_line"] * s].sort_values("chord_px", ascending=False)
    box = np.array(rows["bbox"].tolist(), float)
    width, pts = _width_px(rows), points(rows)
    polarity, short = rows["polarity"].to_numpy(), (rows["stem_px"] < t["merge_min_stem_px"]).to_numpy()
    owner = np.full(len(rows), -1)
    reach = t["merge_max_gap"] * s
    for li in rows.index.get_indexer(lines.index):
        if owner[li] >= 0:
            continue
        path = pts[li]
        lo, hi = path.min(0) - reach, path.max(0) + reach
        near = (owner < 0) & (polarity == polarity[li]) & (width <= 2 * width[li] + 2) \
            & (box[:, 0] >= lo[0]) & (box[:, 1] >= lo[1]) & (box[:, 2] <= hi[0]) & (box[:, 3] <= hi[1])
        near[li] = False
        for j in np.flatnonzero(near):
            if on_line(path, pts[j], t, s, beyond=short[j]):
                owner[j] = li
        if (owner == li).any():
            owner[li] = li
    return owner


def merge_scratches(rows: pd.DataFrame, thresholds: dict | None = None) -> pd.DataFrame:
    """The rows of one scan with every chain of collinear stroke pieces joined into one row."""
    t = {**THRESHOLDS, **(thresholds or {})}
    for _ in range(MAX_PASSES):
        if rows.empty:
            break
        cand = pieces(rows, t)
        pairs = links(cand, t)
        group = np.full(len(rows), -1)
        if len(pairs):
            graph = coo_matrix((np.ones(len(pairs)), (pairs[:, 0], pairs[:, 1])), shape=(len(cand),) * 2)
            group[rows.index.get_indexer(cand.index)] = connected_components(graph, directed=False)[1]
        joined = _regroup(rows, group)
        owner = absorb(joined, t)
        if len(joined) == len(rows) and not (owner >= 0).any():
            break
        rows = _regroup(joined, owner)
    return rows


def _regroup(rows: pd.DataFrame, group: np.ndarray) -> pd.DataFrame:
    """Rows with every group (same non-negative id) of two or more joined into one row."""
    ids, counts = np.unique(group[group >= 0], return_counts=True)
    many = ids[counts > 1]
    if not len(many):
        return rows
    joined = [join(rows[group == g]) for g in many]
    keep = rows[~np.isin(group, many)]
    return pd.concat([keep, pd.DataFrame(joined)], ignore_index=True).sort_values("label", ignore_index=True)
