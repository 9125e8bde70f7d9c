"""Families: which synthesis family each measured component belongs to, by a table of rules.

The rules read a component's shape only — sizes relative to the short side, slenderness, the
branching of its skeleton, straightness, opacity — and the first rule that matches wins. The
thresholds sit where the built-in library's families meet, so damage drawn with a library preset
is named back as the family that drew it (tests/test_fit_roundtrip.py checks that).

Known to fail, by construction: a hair shorter than ~5 of its widths reads as dirt; two hairs
that cross read as lint; a dust speck and a dirt particle of the same size cannot be told apart
(the cut is at the geometric middle of the library's overlap); a stain larger than the blank-scan
median window becomes background and is not seen at all.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import math

import pandas as pd

from ..synth.families import fit_classes
from .measure import DEFAULT_OPACITY, finish, opacity_medians

# Fitted family -> the synthesis family of the preset written for it (each family's `fit` classes).
SYNTH_FAMILY = {cls: fam for cls, (fam, _) in fit_classes().items()}
FIT_FAMILIES = tuple(SYNTH_FAMILY)

THRESHOLDS = {
    "stroke_slenderness": 6.0,  # length² / area (= length / width) from which a component is a stroke
    "stroke_min_length": 0.006,  # shorter "strokes" are specks with a tail: blobs
    "lint_junctions": 2,  # a stroke whose skeleton branches this often is a tangle of fibres
    "scratch_turning": 0.6,  # rad: straighter than this ...
    "scratch_stem_share": 0.8,  # ... with at most 20 % of its skeleton in spurs, even if they branch
    "scratch_min_length": 0.08,  # ... and at least this long (library scratches: 0.1–0.9, hairs ≤ 0.3 and curved)
    "hair_long_min_length": 0.05,  # the library's boundary between short and long hairs
    "blotch_min_diameter": 0.02,  # library blotches 0.02–0.3; dirt up to 0.03 but opaque
    "blotch_faint_diameter": 0.008,  # a faint blob at least this large is a stain, not dirt
    "blotch_max_opacity": 0.35,  # "faint": library stains have opacity ≤ 0.3, dirt ≥ 0.3
    "dirt_min_diameter": math.sqrt(0.002 * 0.003),  # library dust ≤ 0.003, dirt ≥ 0.002: the geometric middle
    # Joining broken scratches (merge.py, before the rules): which pieces, and which pairs of them.
    "merge_min_stem_px": 8.0,  # a shorter stem has no reliable direction
    "merge_min_slenderness": 4.0,  # stem² / pixel area: a piece of a line, not a blob with a tail
    "merge_max_angle": 0.2,  # rad between two stems (+ the direction error of the shorter one)
    "merge_max_gap": 0.35,  # between facing ends, along the line (rain: gaps up to ~0.3 of the frame)
    "merge_gap_per_length": 2.0,  # ... and at most this × the two stems' lengths
    "merge_max_overlap_px": 3.0,  # facing ends may overlap this much (ends are half a width short)
    "merge_offset_px": 2.5,  # sideways offset of the facing ends at no gap ...
    "merge_offset_slope": 0.08,  # ... plus this × the gap (a scratch bends a little across a gap)
    "merge_min_line": 0.03,  # a straight piece or chain this long takes in the fragments lying on it
}


# Fitted ranges are kept inside the bounds the rules give each family, so that damage drawn from a
# fitted preset is named back as the same family: (preset key, lower-bound key, upper-bound key).
BOUNDS = {
    "dust": ("size", None, "dirt_min_diameter"),
    "dirt": ("size", "dirt_min_diameter", "blotch_min_diameter"),
    "blotch": ("size", "blotch_faint_diameter", None),
    "hair_short": ("length", "stroke_min_length", "hair_long_min_length"),
    "hair_long": ("length", "hair_long_min_length", None),
    "scratch": ("length", "scratch_min_length", None),
}


def bounds(fam: str, thresholds: dict | None = None) -> tuple[str, float, float] | None:
    """(preset key, low, high) that a fitted family's range must stay within, or None."""
    if fam not in BOUNDS:
        return None
    t = {**THRESHOLDS, **(thresholds or {})}
    key, lo, hi = BOUNDS[fam]
    return key, (t[lo] if lo else 0.0), (t[hi] if hi else math.inf)


@dataclass(frozen=True)
class Rule:
    family: str
    when: str  # the rule in words, for docs and reports
    test: Callable[[pd.DataFrame, dict], pd.Series]


def _stroke(df, t):
    return (df["slenderness"] >= t["stroke_slenderness"]) & (df["length"] >= t["stroke_min_length"])


def _column(df, name, default):
    return df[name] if name in df else pd.Series(default, index=df.index)  # tables made by hand lack some


def _joined(df):
    return _column(df, "pieces", 1) >= 2


def _straight_line(df, t):
    """Collinear pieces joined into one (merge.py), or one piece whose main stem holds most of its
    skeleton: the spurs that grain or a crossing hair add to a scratch do not make it a tangle."""
    line = _joined(df) | (_column(df, "stem_px", 0.0) >= t["scratch_stem_share"] * _column(df, "skeleton_px", 1.0))
    return line & _stroke(df, t) & (df["turning"] < t["scratch_turning"]) & (df["length"] >= t["scratch_min_length"])


RULES = (
    Rule("scratch", "a stroke straighter than scratch_turning, at least scratch_min_length long, made of "
                    "collinear pieces (merge.py) or with ≥ scratch_stem_share of its skeleton on its main stem",
         _straight_line),
    Rule("lint", "a stroke whose skeleton has ≥ lint_junctions junctions (crossing fibres)",
         lambda df, t: _stroke(df, t) & (df["junctions"] >= t["lint_junctions"])),
    Rule("scratch", "a stroke straighter than scratch_turning and at least scratch_min_length long",
         lambda df, t: _stroke(df, t) & (df["turning"] < t["scratch_turning"])
         & (df["length"] >= t["scratch_min_length"])),
    Rule("hair_long", "any other stroke at least hair_long_min_length long",
         lambda df, t: _stroke(df, t) & (df["length"] >= t["hair_long_min_length"])),
    Rule("hair_short", "any other stroke (length / width ≥ stroke_slenderness, length ≥ stroke_min_length)",
         lambda df, t: _stroke(df, t)),
    Rule("blotch", "a blob of diameter ≥ blotch_min_diameter, or ≥ blotch_faint_diameter and opacity < "
                   "blotch_max_opacity", lambda df, t: (df["diameter"] >= t["blotch_min_diameter"])
         | ((df["diameter"] >= t["blotch_faint_diameter"]) & (df["opacity"] < t["blotch_max_opacity"]))),
    Rule("dirt", "a blob of diameter ≥ dirt_min_diameter", lambda df, t: df["diameter"] >= t["dirt_min_diameter"]),
    Rule("dust", "any smaller blob", lambda df, t: pd.Series(True, index=df.index)),
)


def assign(df: pd.DataFrame, thresholds: dict | None = None) -> pd.Series:
    """The fitted family of every row (a measured and `finish`-ed component)."""
    t = {**THRESHOLDS, **(thresholds or {})}
    family = pd.Series("", index=df.index, dtype=object)
    for rule in RULES:
        hit = (family == "") & rule.test(df, t).fillna(False).astype(bool)
        family[hit] = rule.family
    return family


def classify(rows: pd.DataFrame, thresholds: dict | None = None) -> pd.DataFrame:
    """Sizes and families for raw measurements (see measure.measure), all images together.

    Unresolved components borrow their opacity from the resolved ones; first by polarity, then,
    once families are known, from their own family — and the families are assigned again.
    """
    if rows.empty:
        return rows.assign(family=pd.Series(dtype=object))
    df = finish(rows)
    df["family"] = assign(df, thresholds)
    own = opacity_medians(df, "family", min_count=3)
    # Scratches are mostly narrower than a pixel: only opacity × width shows, and what the few
    # resolved ones (crossings, wide stretches) or the blobs of the same polarity measure says
    # nothing of the rest. At the library's typical opacity the width carries the product, and a
    # fitted scratch stays a thin line instead of a wide faint band (which reads as blotches).
    own[df["family"] == "scratch"] = DEFAULT_OPACITY
    if own.notna().any():
        df = finish(rows, fallback=own.fillna(df["opacity"]))
        df["family"] = assign(df, thresholds)
    return df


def describe_rules(thresholds: dict | None = None) -> list[str]:
    """The family rules and the thresholds in effect, as text (the scratch-joining links come from
    :func:`dustbench.fit.merge.describe_links`)."""
    t = {**THRESHOLDS, **(thresholds or {})}
    out = [f"{r.family}: {r.when}" for r in RULES]
    return out + [f"{k} = {v:.4g}" for k, v in t.items()]
