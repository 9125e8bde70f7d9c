"""Sampling: presets + image shape + Generator -> a JSON-serializable parameter record.

All randomness of a synthetic sample is drawn here (each family's own draws by its sampler in
:mod:`~dustbench.synth.families`, called from here); rendering is a pure function of the record.
Positions are fractions of width/height, sizes fractions of the short side, so the same record
renders the same picture at any resolution. Fine shape detail (the wobble of a blob's outline,
the wiggle of a hair) comes from a per-artifact ``shape_seed`` that the renderer expands with its
own local Generator, which keeps records compact even with thousands of specks.
"""
from __future__ import annotations

import math
from typing import Any, Iterable

import numpy as np

from .draws import uniform
from .families import family
from .presets import REFERENCE_SHORT_SIDE, Preset, PresetError, expand, resolve_presets
from .stamps import StampError, load_stamps

PARAMS_VERSION = 1
MAX_ARTIFACTS = 200_000  # per preset and sample: ~100x the densest library preset on a 3:2 frame


def expected_count(density: float, shape: tuple[int, int]) -> float:
    """Mean number of artifacts for `density` (per reference megapixel) on an image of `shape`.

    The reference frame has a short side of REFERENCE_SHORT_SIDE px; the count scales with the
    frame's aspect (area / short side²), never with its pixel count.
    """
    h, w = shape[:2]
    aspect_area = (h * w) / float(min(h, w)) ** 2
    return density * REFERENCE_SHORT_SIDE**2 * aspect_area / 1e6


def _colors(rng: np.random.Generator, p: Preset, n: int) -> np.ndarray:
    level = uniform(rng, p["level"], n)
    pol = p["polarity"]
    if pol == "color":
        palette = np.asarray(p["colors"], dtype=np.float64)
        base = palette[rng.integers(0, len(palette), n)]
        return np.clip(base + rng.uniform(-0.05, 0.05, (n, 3)), 0.0, 1.0)
    if pol == "mixed":
        bright = rng.random(n) < p["bright_fraction"]
        level = np.where(bright, 1.0 - level, level)
    # A slight per-artifact tint: real dirt is rarely perfectly neutral.
    tinted = rng.uniform(-0.02, 0.02, (n, 3))
    tinted += level[:, None]
    return np.minimum(np.maximum(tinted, 0.0, out=tinted), 1.0, out=tinted)  # np.clip, cheaper


def _as_lists(g: dict[str, Any], lists: bool) -> dict[str, Any]:
    return {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in g.items()} if lists else g


def _draw_count(p: Preset, scale: float, shape, rng: np.random.Generator) -> tuple[float, int]:
    """The group's density (per reference megapixel) and its number of artifacts, within memory."""
    density = float(rng.uniform(*p["density"])) * scale
    expected = expected_count(density, shape)
    if not expected <= MAX_ARTIFACTS:  # also NaN: a scale or shape that no sample can hold
        raise PresetError(f"preset {p.name!r}: {expected:.3g} artifacts expected on a {shape[0]}×{shape[1]} image "
                          f"(density {density:.3g} per reference megapixel); the limit is {MAX_ARTIFACTS:,} "
                          "per preset and sample")
    return density, int(rng.poisson(expected))


def _sample_group(p: Preset, scale: float, shape, rng: np.random.Generator, lists: bool = True) -> dict[str, Any]:
    if p.family == "stamp":  # before any draw: procedural groups keep their exact random stream
        return _as_lists(_sample_stamps(p, scale, shape, rng), lists)
    density, n = _draw_count(p, scale, shape, rng)
    g: dict[str, Any] = {"preset": p.name, "family": p.family, "density": density, "n": n}
    g["x"] = rng.random(n)
    g["y"] = rng.random(n)
    g["opacity"] = uniform(rng, p["opacity"], n)
    g["blur"] = uniform(rng, p["blur"], n)
    g["color"] = _colors(rng, p, n)
    g["shape_seed"] = rng.integers(0, 2**31, n)
    family(p.family).sample(p, shape, rng, g)  # the family's own columns (see synth/families.py)
    return _as_lists(g, lists)


def _sample_stamps(p: Preset, scale: float, shape, rng: np.random.Generator) -> dict[str, Any]:
    """Real sprites: which stamp, where, turned and mirrored how, how large and how opaque."""
    where = f"{p.source}: preset {p.name!r}"
    try:
        stamps = load_stamps(p["stamps"])
    except StampError as exc:
        raise PresetError(f"{where}: key 'stamps': {exc}") from None
    rows = stamps.rows(p["families"])
    if not rows.size:
        wanted = ", ".join(p["families"]) or "any family"
        raise PresetError(f"{where}: key 'families': the stamp folder {stamps.folder} holds no stamps of {wanted}")
    density, n = _draw_count(p, scale, shape, rng)
    x, y = rng.random(n), rng.random(n)
    pick = rows[rng.integers(0, rows.size, n)]
    # Always drawn, so switching rotate/flip off changes nothing else.
    angle = rng.uniform(0.0, 2 * math.pi, n) * float(p["rotate"])
    flip = (rng.random(n) < 0.5) & bool(p["flip"])
    factor = uniform(rng, p["scale"], n)
    opacity = uniform(rng, p["opacity"], n)
    families = [stamps.families[i] for i in pick]
    limits = {f: stamps.size_limits(f) for f in set(families)}
    lo = np.array([limits[f][0] for f in families])
    hi = np.array([limits[f][1] for f in families])
    size = np.clip(stamps.sizes[pick] * factor, lo, hi) if n else np.zeros(0)
    # "size" (fraction of the short side, like blob sizes) fixes the drawn scale: crops rescale it.
    g = {"preset": p.name, "family": "stamp", "density": density, "n": n, "stamps": str(stamps.folder),
         "digest": stamps.digest, "stamp": pick, "families": families, "x": x, "y": y, "angle": angle,
         "flip": flip, "size": size, "opacity": opacity}
    return g


def sample_params(presets: str | Preset | Iterable, shape: tuple[int, ...], rng: np.random.Generator,
                  lists: bool = True) -> dict[str, Any]:
    """Draw every artifact of `presets` (all of them, mixes expanded) for an image of `shape`.

    Returns a JSON-serializable record; ``render(record, shape)`` turns it into pixels.
    ``lists=False`` leaves the per-artifact values as numpy arrays (same values, same draws): for
    :func:`~dustbench.synth.crop.crop_params`, which keeps a few of thousands and makes those lists.
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError("rng must be a numpy.random.Generator (e.g. np.random.default_rng(seed))")
    if len(shape) < 2 or min(shape[:2]) < 1:
        raise ValueError(f"invalid image shape {tuple(shape)}")
    selected = resolve_presets(presets)
    groups = [_sample_group(component, scale, shape, rng, lists)
              for preset in selected for component, scale in expand(preset)]
    return {"version": PARAMS_VERSION, "image_shape": [int(shape[0]), int(shape[1])],
            "presets": [p.name for p in selected], "groups": groups}


def count_by_family(params: dict[str, Any]) -> dict[str, int]:
    """Number of artifacts of each family in a parameter record."""
    counts: dict[str, int] = {}
    for g in params["groups"]:
        if g["family"] == "stamp":  # each stamp counts as the family of the artifact it was cut from
            for name in g["families"]:
                counts[name] = counts.get(name, 0) + 1
        else:
            counts[g["family"]] = counts.get(g["family"], 0) + g["n"]
    return counts
