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

from .measure import finish, opacity_medians

# Fitted family -> the synthesis family of the preset written for it.
SYNTH_FAMILY = {"dust": "dust", "dirt": "dirt", "hair_short": "hair", "hair_long": "hair",
                "lint": "lint", "scratch": "scratch", "blotch": "blotch"}
FIT_FAMILIES = tuple(SYNTH_FAMILY)

THRESHOLDS = {
    "stroke_slenderness": 6.0,  # length² / area (= length / width) from which a component is a stroke
    "stroke_min_length": 0.006,  # shorter "strokes" are specks with a tail: blobs
    "lint_junctions": 2,  # a stroke whose skeleton branches this often is a tangle of fibres
    "scratch_turning": 0.6,  # rad: straighter than this ...
    "scratch_min_length": 0.08,  # ... and at least this long (library scratches: 0.1–0.9, hairs ≤ 0.3 and curved)
    "hair_long_min_length": 0.05,  # the library's boundary between short and long hairs
    "blotch_min_diameter": 0.02,  # library blotches 0.02–0.3; dirt up to 0.03 but opaque
    "blotch_faint_diameter": 0.008,  # a faint blob at least this large is a stain, not dirt
    "blotch_max_opacity": 0.35,  # "faint": library stains have opacity ≤ 0.3, dirt ≥ 0.3
    "dirt_min_diameter": math.sqrt(0.002 * 0.003),  # library dust ≤ 0.003, dirt ≥ 0.002: the geometric middle
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


RULES = (
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
    if own.notna().any():
        df = finish(rows, fallback=own.fillna(df["opacity"]))
        df["family"] = assign(df, thresholds)
    return df


def describe_rules(thresholds: dict | None = None) -> list[str]:
    t = {**THRESHOLDS, **(thresholds or {})}
    out = [f"{r.family}: {r.when}" for r in RULES]
    return out + [f"{k} = {v:.4g}" for k, v in t.items()]
