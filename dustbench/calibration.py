"""Calibration: how close a film-scan preset comes to real 35 mm damage, measured with ``dustbench.fit``.

The targets (:data:`TARGETS`) are the real statistics in docs/presets.md: per-frame counts and
median sizes from published annotations of ten blank 35 mm frames (short side ~3,400 px), and the
contrast of real colour-negative half-frame scans (~1.1 MP) against hand-restored references. A
preset is *calibrated* when every measurement is within :data:`TOLERANCE` (×/÷ 1.5) of its target.

How each is measured, as the real figure was:

* **Counts and sizes**, like the annotations: every component of the preset (mixes expanded) is
  drawn alone on blank mid-grey 3:2 frames of short side ``short`` (or on ``crop``-sized crops of
  such frames at that scan scale, counts then scaled to the frame by area), and the project's own
  component measurement runs on it: ``fit.detect`` against the blank, ``fit.measure``,
  ``fit.classify``. Components are drawn alone because fit reads strokes that cross anything as
  one tangle ("lint"), which annotators separate (docs/fitting.md); the dust/dirt cut is moved to
  the geometric middle of the two real medians (:data:`DUST_DIRT_CUT`), as fit's own cut sits in
  the middle of the library's ranges. Counts are per fit family, summed over the components.
* **Contrast and changed pixels**, like the real pairs: the whole preset drawn on the built-in
  photographs resized to whole frames of ``megapixels``; *changed* = some channel differs by more
  than 20/255; *contrast* = the median 8-bit |difference| of the channel values beyond 20/255.
  (This reproduces the 2 % and ~66/255 measured for the uncalibrated heavy negative mix.)
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd

from .fit.classify import classify
from .fit.detect import detect
from .fit.measure import measure
from .sources import builtin_sources
from .synth import resolve_presets, synthesize
from .synth.presets import expand
from .synth.scale import FRAME_ASPECT

TOLERANCE = 1.5
ANNOTATED_SHORT_SIDE = 3400  # px: the annotated 35 mm scans (about 4968×3400)
DUST_MEDIAN, DIRT_MEDIAN = 0.0024, 0.0034  # real median equivalent diameters, fractions of the short side
DUST_DIRT_CUT = math.sqrt(DUST_MEDIAN * DIRT_MEDIAN)
CHANGED_LEVEL = 20  # /255: "differs" in the real pair statistics
PAIR_MEGAPIXELS = 1.1  # the real colour-negative half-frame scans


@dataclass(frozen=True)
class Target:
    key: str
    what: str
    value: float  # for sizes: a fraction of the short side (shown in px at the measured scale)
    unit: str
    source: str


TARGETS = (
    Target("dust", "dust specks per frame", 760, "count", "annotations"),
    Target("dirt", "dirt particles per frame", 270, "count", "annotations"),
    Target("hair_short", "short hairs per frame", 134, "count", "annotations"),
    Target("hair_long", "long hairs per frame", 40, "count", "annotations"),
    Target("scratch", "scratches per frame", 7, "count", "annotations"),
    Target("dust_size", "dust median diameter", DUST_MEDIAN, "px", "annotations"),
    Target("dirt_size", "dirt median diameter", DIRT_MEDIAN, "px", "annotations"),
    Target("contrast", "median abs. difference where > 20/255", 33, "/255", "negative pairs"),
    Target("changed", "pixels differing by > 20/255", 0.6, "%", "negative pairs (0.5-0.7 %)"),
)


def _blank(shape) -> np.ndarray:
    return np.full((*shape, 3), 128, np.uint8)


def component_stats(presets, short: int = ANNOTATED_SHORT_SIDE, frames: int = 2, crop=None,
                    seed: int = 0) -> dict:
    """Counts per frame (by fit family) and median dust/dirt diameters (fractions of `short`) of the
    components of `presets`, each drawn alone (see the module docstring)."""
    frame = (short, int(math.ceil(FRAME_ASPECT * short)))
    shape = tuple(crop) if crop is not None else frame
    per_frame = frame[0] * frame[1] / (shape[0] * shape[1]) / frames
    blank = _blank(shape)
    counts: dict[str, float] = {}
    found = []
    components = [c for p in resolve_presets(presets) for c, _ in expand(p)]
    for k, comp in enumerate(components):
        rows = []
        for f in range(frames):
            rng = np.random.default_rng(np.random.SeedSequence([seed, k, f]))
            s = synthesize(blank, comp, rng, scan_scale=short)
            rows.append(measure(detect(s.damaged, blank), f"{comp.name}/{f}"))
        df = pd.concat(rows, ignore_index=True)
        if df.empty:
            continue
        df["short_side"] = short  # sizes relative to the frame, not to a crop of it
        df = classify(df, {"dirt_min_diameter": DUST_DIRT_CUT})
        for fam, n in df["family"].value_counts().items():
            counts[fam] = counts.get(fam, 0.0) + n * per_frame
        found.append(df[["family", "diameter"]])
    every = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=["family", "diameter"])
    sizes = {f"{fam}_size": float(every.loc[every["family"] == fam, "diameter"].median()) for fam in ("dust", "dirt")}
    return {"counts": counts, **sizes}


def pair_photos(megapixels: float = PAIR_MEGAPIXELS) -> list[np.ndarray]:
    """The built-in photographs resized (bicubic) to whole frames of about `megapixels`."""
    out = []
    for src in builtin_sources():
        im = src.load()
        h, w = im.shape[:2]
        f = math.sqrt(megapixels * 1e6 / (h * w))
        out.append(cv2.resize(im, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC))
    return out


def pixel_stats(presets, photos: list[np.ndarray], draws: int = 2, seed: int = 0) -> dict:
    """Share of changed pixels (%) and median contrast (/255) of `presets` drawn on whole `photos`."""
    changed, beyond = [], []
    for i, photo in enumerate(photos):
        for d in range(draws):
            s = synthesize(photo, presets, np.random.default_rng(np.random.SeedSequence([seed, 1 << 20, i, d])))
            diff = np.abs(s.damaged.astype(np.int16) - photo.astype(np.int16))
            changed.append(float((diff > CHANGED_LEVEL).any(axis=2).mean()))
            beyond.append(diff[diff > CHANGED_LEVEL])
    values = np.concatenate(beyond) if beyond else np.zeros(0)
    return {"changed": 100 * float(np.mean(changed)), "contrast": float(np.median(values)) if values.size else 0.0}


def compare(measured: dict, short: int = ANNOTATED_SHORT_SIDE) -> list[dict]:
    """One row per target that `measured` holds: target, measured, ratio, met (within TOLERANCE)."""
    flat = {**measured.get("counts", {}), **{k: v for k, v in measured.items() if k != "counts"}}
    rows = []
    for t in TARGETS:
        if t.key not in flat and t.unit != "count":
            continue
        value = float(flat.get(t.key, 0.0))
        target = t.value * short if t.unit == "px" else t.value
        value = value * short if t.unit == "px" else value
        ratio = value / target if target else math.nan
        rows.append({"key": t.key, "what": t.what, "unit": t.unit, "target": target, "measured": value,
                     "ratio": ratio, "met": bool(1 / TOLERANCE <= ratio <= TOLERANCE), "source": t.source})
    return rows


def calibrate(presets, short: int = ANNOTATED_SHORT_SIDE, frames: int = 2, crop=None, draws: int = 2,
              photos: list[np.ndarray] | None = None, seed: int = 0) -> list[dict]:
    """Every target row for `presets` (see :func:`compare`)."""
    photos = pair_photos() if photos is None else photos
    stats = {**component_stats(presets, short, frames, crop, seed), **pixel_stats(presets, photos, draws, seed)}
    return compare(stats, short)


def table(rows: list[dict], title: str) -> str:
    """A markdown table of :func:`compare` rows with MET/MISSED per row."""
    out = [f"### {title}", "", "| measurement | target | measured | ratio | |", "|---|---|---|---|---|"]
    for r in rows:
        unit = "" if r["unit"] == "count" else f" {r['unit']}"
        out.append(f"| {r['what']} | {r['target']:.4g}{unit} | {r['measured']:.4g}{unit} | {r['ratio']:.2f} | "
                   f"{'MET' if r['met'] else 'MISSED'} |")
    return "\n".join(out)


__all__ = ["ANNOTATED_SHORT_SIDE", "DUST_DIRT_CUT", "TARGETS", "TOLERANCE", "Target", "calibrate", "compare",
           "component_stats", "pair_photos", "pixel_stats", "table"]
