"""The closure check's comparison: what was fitted against what the fitted preset gives back.

Per family, the count and the median size must come back within the tolerance — and so must the
family's *proportion* of the damage: its count and its damaged area, each relative to how the
typical family came back (the median over the families of again / fitted, weighted by their
fitted shares), so that one family gone wrong does not drag the others' proportions with it. Counts and sizes alone miss a fit
whose families trade places (scratches read as lint tufts that, drawn again, come back partly as
hairs); proportions catch that. A family that the fitted preset produces but the fit did not have
(lint from crossing strokes, blotches from faint wide strokes) fails as soon as it is noticeable.
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .classify import FIT_FAMILIES
from .estimate import size_column

CLOSURE_TOLERANCE = 1.5  # every ratio within [1 / this, this]
MIN_SHARE = 0.05  # families under this share (of the components, or of the area) in both ...
MIN_COUNT = 10  # ... or with fewer components than this in both are too small to compare


def totals(components: pd.DataFrame | None) -> tuple[pd.Series, pd.Series]:
    """(count, damaged area) of every family present."""
    if components is None or components.empty:
        return pd.Series(dtype=float), pd.Series(dtype=float)
    by = components.groupby("family")
    return by.size().astype(float), by["area"].sum()


def _within(ratio: float, tolerance: float) -> bool:
    return 1 / tolerance <= ratio <= tolerance  # NaN: False


def weighted_median(values: np.ndarray, weights: np.ndarray) -> float:
    """The value below which half of the weight lies (NaN when there is none)."""
    order = np.argsort(values)
    v, w = np.asarray(values, float)[order], np.asarray(weights, float)[order]
    if not len(v) or w.sum() <= 0:
        return math.nan
    return float(v[np.searchsorted(np.cumsum(w), 0.5 * w.sum())])


def proportions(fitted: pd.Series, again: pd.Series, counts: pd.DataFrame) -> pd.Series:
    """Per family, again / fitted relative to the typical family's: the median of that ratio over
    the families large enough to compare, each weighted by its fitted share (so the remnants of
    one big family cannot outvote it). inf: a family that was not fitted; NaN: too small to compare."""
    fams = counts.index
    f, a = fitted.reindex(fams, fill_value=0.0), again.reindex(fams, fill_value=0.0)
    share = np.maximum(f / max(f.sum(), 1e-300), a / max(a.sum(), 1e-300))
    big = (share >= MIN_SHARE) & (counts.max(axis=1) >= MIN_COUNT)
    ratio = (a / f.where(f > 0)).where(big)
    ref = (f > 0) & big
    baseline = weighted_median(ratio[ref].to_numpy(), f[ref].to_numpy())
    return (ratio / baseline).where(f > 0, np.where(big, math.inf, math.nan))


def compare(stats: dict, fitted: pd.DataFrame, again: pd.DataFrame | None,
            tolerance: float = CLOSURE_TOLERANCE) -> pd.DataFrame:
    """One row per family fitted or found again; `within` is False where a count, a median size
    or a proportion left the tolerance, and `problem` says which."""
    count, area = totals(fitted)
    count_again, area_again = totals(again)
    fams = [f for f in FIT_FAMILIES if f in stats or f in count_again.index]
    counts = pd.DataFrame({"fitted": count, "again": count_again}).reindex(fams, fill_value=0.0)
    vs_count = proportions(count, count_again, counts)
    vs_area = proportions(area, area_again, counts)
    out = []
    for fam in fams:
        st = stats.get(fam, {"count": 0})
        sub = again[again["family"] == fam] if again is not None else pd.DataFrame()
        col = size_column(fam)
        median = st[col]["median"] if st.get(col) else math.nan
        size_again = float(sub[col].median()) if len(sub) else math.nan
        row = {"family": fam, "count": st["count"], "count_again": len(sub),
               "count_ratio": len(sub) / st["count"] if st["count"] else math.inf, "size": col,
               "median_size": median, "median_size_again": size_again,
               "size_ratio": size_again / median if median else math.nan,
               "share": _share(count, fam), "share_again": _share(count_again, fam),
               "area_share": _share(area, fam), "area_share_again": _share(area_again, fam),
               "count_vs_others": float(vs_count[fam]), "area_vs_others": float(vs_area[fam])}
        problems = _problems(row, fam in stats, tolerance)
        out.append({**row, "within": not problems, "problem": "; ".join(problems)})
    return pd.DataFrame(out)


def _share(total: pd.Series, fam: str) -> float:
    return float(total.get(fam, 0.0) / total.sum()) if total.sum() > 0 else 0.0


def _problems(row: dict, fitted: bool, tolerance: float) -> list[str]:
    out = []
    if fitted and not _within(row["count_ratio"], tolerance):
        out.append(f"count {row['count']} -> {row['count_again']}")
    if fitted and not _within(row["size_ratio"], tolerance):
        out.append(f"median {row['size']} {row['median_size']:.3g} -> {row['median_size_again']:.3g}")
    for key, share, what in (("count_vs_others", "share", "of the components"),
                             ("area_vs_others", "area_share", "of the damaged area")):
        rel = row[key]
        if math.isnan(rel) or _within(rel, tolerance):
            continue
        why = "not fitted" if rel == math.inf else f"{rel:.2f}× the typical family's change"
        out.append(f"{100 * row[share]:.0f} % -> {100 * row[f'{share}_again']:.0f} % {what} ({why})")
    return out


def summary(result: pd.DataFrame) -> str:
    """One line naming every family outside the tolerance, and why ('' when all are within)."""
    bad = result[~result["within"]]
    return "; ".join(f"{r.family}: {r.problem}" for r in bad.itertuples())
