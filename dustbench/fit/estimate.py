"""Estimation: classified components of a set of scans -> preset records in the library's format.

Synthesis draws sizes log-uniformly in [lo, hi] and other parameters uniformly; the fitted ranges
have the median and quartiles of what was measured (a uniform law on [lo, hi] has its median at
the middle and its quartiles (hi − lo) / 4 from it, so lo, hi = median ∓ (q75 − q25)), which keeps
the median that the closure check compares and ignores the tails that merged or clipped
components produce. Densities are counts per
reference megapixel (see synth.params.expected_count), so a preset fitted on 24 MP scans draws
the same damage on a 1 MP image of the same frame.
"""
from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..synth.families import family
from ..synth.params import expected_count
from ..synth.presets import Preset, validate_preset
from .classify import FIT_FAMILIES, SYNTH_FAMILY, THRESHOLDS, bounds

MIN_FOR_RANGE = 4  # fewer measurements than this: the range spans them, widened by 10 %
BLOBS = tuple(cls for cls in FIT_FAMILIES if family(SYNTH_FAMILY[cls]).kind == "blob")  # sized by diameter
NEAR_AXIS = math.radians(10)  # scratches within this of vertical/horizontal count as aligned
FULL_FRAME = 0.9  # aligned scratches whose longest quarter crosses this much of the frame run its whole height
MAX_GAPS = 0.9  # an intermittent scratch with more of its length missing is not seen as one
DARK_LEVEL, BRIGHT_LEVEL = [0.0, 0.02], [0.98, 1.0]  # opacity was measured against black / white


@dataclass
class ImageInfo:
    """What was measured on one scan."""

    id: str
    shape: tuple[int, int]
    sigma: float  # noise sigma (median over blocks), [0, 1] units
    threshold: float  # median low threshold, [0, 1] units
    components: int
    damaged_fraction: float


@dataclass
class Fit:
    """Fitted presets (`records`: name -> TOML table, the mix named `name` last) and their statistics."""

    name: str
    records: dict[str, dict[str, Any]]
    stats: dict[str, dict[str, Any]]
    components: pd.DataFrame = field(repr=False)
    images: list[ImageInfo] = field(repr=False)

    @property
    def empty(self) -> bool:
        return not self.records

    def presets(self) -> dict[str, Preset]:
        """The records validated by the same loader as the library (raises PresetError if not)."""
        return {k: validate_preset(k, v, f"fit {self.name!r}") for k, v in self.records.items()}

    def to_toml(self, header: str = "") -> str:
        lines = [f"# {line}" if line else "#" for line in header.splitlines()]
        for name, record in self.records.items():
            lines += ["", f"[{name}]"] + [f"{k} = {_toml_value(v)}" for k, v in record.items()]
        text = "\n".join(lines).lstrip("\n") + "\n"
        tomllib.loads(text)  # what we write must read back
        return text


def _toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    if isinstance(v, (float, np.floating)):
        return repr(float(f"{float(v):.5g}"))
    return "[" + ", ".join(_toml_value(x) for x in v) + "]"


def uniform_range(values, low: float = 0.0, high: float = math.inf, log: bool = False) -> list[float] | None:
    """[lo, hi] of the uniform (with `log`: log-uniform) law with the values' median and quartiles."""
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v) & ((v > 0) if log else True)]
    if v.size == 0:
        return None
    v = np.log(v) if log else v
    if v.size < MIN_FOR_RANGE:
        pad = 0.1 * max(v.max() - v.min(), abs(v.max()) * (0.0 if log else 1.0), 0.1 if log else 0.0)
        lo, hi = v.min() - pad, v.max() + pad
    else:
        # A uniform law on [lo, hi] has its median in the middle and quartiles (hi − lo) / 4 from it.
        q25, q50, q75 = np.percentile(v, [25, 50, 75])
        lo, hi = q50 - (q75 - q25), q50 + (q75 - q25)
    if log:
        lo, hi = math.exp(lo), math.exp(hi)
    lo, hi = min(max(lo, low), high), min(max(hi, low), high)
    return [float(lo), float(max(hi, lo))]


def density_range(counts: list[int], shapes: list[tuple[int, int]]) -> tuple[float, list[float]]:
    """Mean density (count per reference megapixel) over the scans, and a range around it that
    spans their scan-to-scan spread (±10 % at least, ±50 % at most)."""
    units = np.array([expected_count(1.0, s) for s in shapes])
    counts_a = np.asarray(counts, np.float64)
    mean = float(counts_a.sum() / units.sum())
    per_image = counts_a / units
    spread = float(per_image.std() / mean) if mean > 0 and len(per_image) > 1 else 0.0
    r = min(max(spread, 0.1), 0.5)
    return mean, [mean * (1 - r), mean * (1 + r)]


def _polarity(df: pd.DataFrame) -> dict[str, Any]:
    if df["color"].mean() >= 0.5:
        colours = np.array(df.loc[df["color"], "colour"].tolist())
        hue = np.arctan2(math.sqrt(3) * (colours[:, 1] - colours[:, 2]),
                         2 * colours[:, 0] - colours[:, 1] - colours[:, 2])
        picks = np.argsort(hue)[np.linspace(0, len(hue) - 1, min(6, len(hue))).round().astype(int)]
        return {"polarity": "color", "colors": [[round(float(c), 3) for c in colours[i]] for i in picks]}
    bright = float((df["polarity"] == "bright").mean())
    if bright >= 0.9:
        return {"polarity": "bright", "level": BRIGHT_LEVEL}
    if bright <= 0.1:
        return {"polarity": "dark", "level": DARK_LEVEL}
    return {"polarity": "mixed", "level": DARK_LEVEL, "bright_fraction": round(bright, 3)}


def _resolved_or_all(df: pd.DataFrame) -> pd.DataFrame:
    res = df[df["resolved"]]
    return res if len(res) >= MIN_FOR_RANGE else df


def family_record(fam: str, df: pd.DataFrame, density: list[float], description: str,
                  thresholds: dict | None = None) -> dict[str, Any]:
    """One preset table for fitted family `fam` from its components."""
    rec = _family_record(fam, df, density, description)
    limits = bounds(fam, thresholds)
    if limits:
        key, lo, hi = limits
        a, b = rec[key]
        a, b = min(max(a, lo), hi), min(max(b, lo), hi)
        rec[key] = [a, max(a, b)]
    if fam == "scratch":
        turning = {**THRESHOLDS, **(thresholds or {})}["scratch_turning"]
        rec["curvature"] = [min(v, turning) for v in rec["curvature"]]
    return rec


def _family_record(fam: str, df: pd.DataFrame, density: list[float], description: str) -> dict[str, Any]:
    rec: dict[str, Any] = {"family": SYNTH_FAMILY[fam], "description": description, "density": density}
    rec.update(_polarity(df))
    # Scratch widths were sized with each row's own opacity (most assumed, see classify): all rows.
    rec["opacity"] = uniform_range((df if fam == "scratch" else _resolved_or_all(df))["opacity"], 0.02, 1.0)
    blur = uniform_range(df.loc[df["resolved"], "blur"], 0.0)
    if blur is not None and len(df[df["resolved"]]) >= MIN_FOR_RANGE:
        rec["blur"] = blur
    if fam in BLOBS:
        rec["size"] = uniform_range(df["diameter"], log=True)
        sized = df[df["area_px"] >= 12]
        if len(sized) >= MIN_FOR_RANGE:
            rec["elongation"] = uniform_range(sized["elongation"], 1.0)
        rough = uniform_range(df["roughness"], 0.0, 1.0)
        if rough is not None and df["roughness"].notna().sum() >= MIN_FOR_RANGE:
            rec["roughness"] = rough
        return rec
    if fam == "lint":
        fibres = lint_fibres(df)
        lo, hi = np.percentile(fibres, [10, 90])
        rec["fibres"] = [int(lo), int(max(hi, lo))]
        per_fibre = df["length"] / fibres
        rec["length"] = uniform_range(per_fibre, log=True)
        s = df["short_side"].astype(float)
        spread = np.sqrt(np.maximum((df["spread_px"] / s) ** 2 - per_fibre**2 / 12, 0.0))
        rec["spread"] = uniform_range(spread, 0.0)
    else:
        rec["length"] = uniform_range(df["length"], log=True)
    rec["width"] = uniform_range(df["width"], log=True)
    rec["curvature"] = uniform_range(df["turning"], 0.0, 2 * math.pi)
    if fam == "scratch":
        rec.update(_scratch_layout(df))
    return rec


def _scratch_layout(df: pd.DataFrame) -> dict[str, Any]:
    """Orientation (when ≥ 80 % are within NEAR_AXIS of an axis), whether they run the whole frame
    along it (rain: the longest quarter crosses FULL_FRAME of it; the rest are rain too, split where
    a gap or a faint stretch runs too long), and the fraction of their length missing (gaps)."""
    out: dict[str, Any] = {}
    if "gaps" in df and (df["gaps"] > 0).any():
        out["gaps"] = uniform_range(df["gaps"], 0.0, MAX_GAPS)
    angle = df["angle"].to_numpy()
    vertical = float(np.mean(np.abs(angle - math.pi / 2) < NEAR_AXIS))
    horizontal = float(np.mean(np.minimum(angle, math.pi - angle) < NEAR_AXIS))
    if vertical < 0.8 and horizontal < 0.8:
        return out
    axis = 1 if vertical >= 0.8 else 0  # bbox (x0, y0, x1, y1): the extent along the frame's axis
    box = np.array(df["bbox"].tolist(), np.float64)
    frame = np.array([f[1 - axis] for f in df["frame"]], np.float64) if "frame" in df else np.full(len(df), np.inf)
    across = (box[:, 2 + axis] - box[:, axis]) / frame
    out["orientation"] = "vertical" if axis else "horizontal"
    if np.percentile(across, 75) >= FULL_FRAME:
        out["full_height"] = True
    return out


def _describe(values: pd.Series) -> dict[str, float]:
    v = values[np.isfinite(values)]
    if v.empty:
        return {}
    q = np.percentile(v, [10, 50, 90])
    return {"p10": float(q[0]), "median": float(q[1]), "p90": float(q[2])}


def size_column(fam: str) -> str:
    """The measurement that is a family's 'size': diameter for blobs, length for strokes."""
    return "diameter" if fam in BLOBS else "length"


def lint_fibres(df: pd.DataFrame) -> pd.Series:
    """Fibres of a tangle: two skeleton ends per fibre, 2 to 12."""
    return np.clip(np.round(df["ends"] / 2), 2, 12)


def preset_sizes(fam: str, df: pd.DataFrame) -> pd.Series:
    """Per component, the value the preset's size range describes (lint: length per fibre)."""
    return df["length"] / lint_fibres(df) if fam == "lint" else df[size_column(fam)]


def family_stats(df: pd.DataFrame) -> dict[str, Any]:
    return {"count": int(len(df)), "resolved": int(df["resolved"].sum()),
            "bright_fraction": float((df["polarity"] == "bright").mean()),
            **{col: _describe(df[col]) for col in ("diameter", "length", "width", "opacity", "turning", "blur",
                                                    "elongation", "roughness", "gaps", "pieces") if col in df}}


def fit_presets(components: pd.DataFrame, images: list[ImageInfo], name: str, source: str = "",
                thresholds: dict | None = None) -> Fit:
    """Fit one preset per family found, and a mix named `name` of all of them."""
    shapes = [im.shape for im in images]
    records: dict[str, dict[str, Any]] = {}
    stats: dict[str, dict[str, Any]] = {}
    for fam in FIT_FAMILIES:
        df = components[components["family"] == fam] if not components.empty else components
        if df.empty:
            continue
        counts = [int((df["image"] == im.id).sum()) for im in images]
        mean, density = density_range(counts, shapes)
        what = f"{len(df)} components in {len(images)} scan(s)" + (f" of {source}" if source else "")
        records[f"{name}_{fam}"] = family_record(fam, df, density, f"{fam.replace('_', ' ')} fitted on {what}",
                                                thresholds)
        stats[fam] = {"density": mean, "density_range": density, "size": size_column(fam), **family_stats(df)}
    if records:
        records[name] = {"family": "mix", "description": "All damage fitted by dustbench fit-preset"
                         + (f" on {source}" if source else ""), "components": list(records)}
    return Fit(name, records, stats, components, images)
