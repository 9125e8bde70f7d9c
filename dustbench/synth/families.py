"""Damage families: one table, one :class:`Family` entry per family.

A family is one unit, as an albumentations transform is one class: its label id, shape kind,
preset keys, sampler, drawer, colours, fit classes and docs line sit together here. Adding a family
is one entry (and its sampler, when it draws more than its kind does) plus its presets in
``artifacts_library/``; everything that enumerates families reads this table: preset validation
(``presets.SCHEMA``), sampling, rendering, label maps (:data:`FAMILIES`), dataset cards,
per-family scores and plots, and fit-preset's classes.

Label ids are stable (datasets and results store them): a family keeps its id, and ids run
1..N in table order without gaps, so ``FAMILIES[id - 1]`` names a label.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .blobs import blob_sprites
from .draws import SIGNS, loguniform, uniform
from .strokes import stroke_sprites

RGB = tuple[int, int, int]
ORIENTATIONS = ("any", "vertical", "horizontal")
# Preset keys of each shape kind (the keys every family shares are presets._COMMON):
# key -> (kind, default[, allowed values]), as presets.SCHEMA reads them.
BLOB_KEYS = {"size": ("fraction", None), "roughness": ("range", [0.05, 0.2]), "elongation": ("range", [1.0, 1.5])}
STROKE_KEYS = {
    "width": ("fraction", None),
    "length": ("range", None),  # may exceed 1: a scratch along the long side of a 3:2 frame is 1.5
    "curvature": ("range", [0.0, 1.0]),  # total turning along the stroke, radians
    "taper": ("fraction", [0.0, 0.5]),  # fraction by which width and opacity fade towards the ends
}


@dataclass(frozen=True)
class Family:
    """One damage family. ``sample(preset, shape, rng, group)`` adds the family's own per-artifact
    columns to a group whose count, positions, opacity, blur, colour and shape seeds params drew
    (it may rewrite them, and ``n``); ``draw(group, shape, label_id)`` renders the group's sprites,
    in group order, each with its artifact's index in the group (``shape``: the image's (H, W), or
    one row per artifact when ``render_many`` draws groups of several images in one call)."""

    name: str
    id: int  # the label id in label maps; never reused or renumbered
    kind: str  # "blob" or "stroke": the shape its drawer makes
    keys: dict[str, tuple]  # its preset keys beyond the common ones
    sample: Callable[..., None]
    draw: Callable[..., list]
    colour: RGB  # its label's colour in label-map previews (dataset cards)
    doc: str  # one line: what the renderer draws (docs/presets.md, "Families")
    fit: tuple[tuple[str, RGB], ...] = ()  # fit-preset's classes named as this family, with outline colours


def _blob(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    n = g["n"]
    g["size"] = loguniform(rng, p["size"], n)
    g["roughness"] = uniform(rng, p["roughness"], n)
    g["elongation"] = uniform(rng, p["elongation"], n)
    g["angle"] = rng.uniform(0.0, math.pi, n)


def _blotch(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    _blob(p, shape, rng, g)
    g["rim"] = uniform(rng, p["rim"], g["n"])  # the blob drawer draws a rim for groups that have one


def _stroke(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    n = g["n"]
    g["width"] = loguniform(rng, p["width"], n)
    g["length"] = loguniform(rng, p["length"], n)
    g["curvature"] = uniform(rng, p["curvature"], n) * SIGNS[rng.integers(0, 2, n)]  # = rng.choice(SIGNS, n)
    g["taper"] = uniform(rng, p["taper"], n)
    g["angle"] = rng.uniform(0.0, math.pi, n)


def _lint(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    _stroke(p, shape, rng, g)
    lo, hi = p["fibres"]
    g["fibres"] = rng.integers(lo, hi + 1, g["n"])  # the stroke drawer scatters the fibres of such groups
    g["spread"] = uniform(rng, p["spread"], g["n"])


def _scratch(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    _stroke(p, shape, rng, g)
    h, w = shape[:2]
    n = g["n"]
    jitter = rng.normal(0.0, 0.01, n)  # radians: film-transport scratches are almost straight
    if p["orientation"] == "vertical":
        g["angle"] = math.pi / 2 + jitter
    elif p["orientation"] == "horizontal":
        g["angle"] = jitter
    g["gaps"] = uniform(rng, p["gaps"], n)  # the stroke drawer breaks and drifts groups with gaps
    g["wobble"] = uniform(rng, p["wobble"], n)
    if p["full_height"]:
        # Runs the whole frame along its orientation; length in short-side units, with margin.
        along = (h if p["orientation"] != "horizontal" else w) / min(h, w)
        g["length"] = np.full(n, along * 1.05)
        g["y" if p["orientation"] != "horizontal" else "x"] = np.full(n, 0.5)


def _mold(p, shape, rng: np.random.Generator, g: dict[str, Any]) -> None:
    """Each drawn colony becomes its spots, each a blob of its own (so the blob drawer, crops and
    label maps need nothing new): scattered normally within `spread` of the colony's centre,
    sharing its colour and blur, each at a part of its opacity."""
    h, w = shape[:2]
    lo, hi = p["spots"]
    colony = np.repeat(np.arange(g["n"]), rng.integers(lo, hi + 1, g["n"]))
    spread = uniform(rng, p["spread"], g["n"])[colony] * min(h, w)
    offset = rng.normal(0.0, 1.0, (colony.size, 2)) * spread[:, None]
    g["x"] = np.asarray(g["x"])[colony] + offset[:, 0] / w
    g["y"] = np.asarray(g["y"])[colony] + offset[:, 1] / h
    g["opacity"] = np.asarray(g["opacity"])[colony] * rng.uniform(0.5, 1.0, colony.size)
    g["blur"], g["color"] = np.asarray(g["blur"])[colony], np.asarray(g["color"])[colony]
    g["shape_seed"] = rng.integers(0, 2**31, colony.size)
    g["n"] = int(colony.size)
    _blob(p, shape, rng, g)


TABLE = (
    Family("dust", 1, "blob", BLOB_KEYS, _blob, blob_sprites, (255, 80, 80),
           "small compact blob: a 24-vertex outline with low-order radial wobble (`roughness`), stretched by "
           "`elongation`; sizes log-uniform (heavy-tailed)", fit=(("dust", (255, 215, 0)),)),
    Family("dirt", 2, "blob", BLOB_KEYS, _blob, blob_sprites, (255, 170, 0),
           "the same blob, larger, rougher, often translucent", fit=(("dirt", (255, 128, 0)),)),
    Family("hair", 3, "stroke", STROKE_KEYS, _stroke, stroke_sprites, (80, 200, 80),
           "a smooth curve of `length`, total turning `curvature` (radians, random sign) plus a gentle wiggle; "
           "width and opacity fade towards the ends by `taper`",
           fit=(("hair_short", (0, 200, 255)), ("hair_long", (0, 90, 255)))),
    Family("lint", 4, "stroke", {**STROKE_KEYS, "fibres": ("irange", [3, 6]), "spread": ("fraction", [0.005, 0.02])},
           _lint, stroke_sprites, (0, 200, 255), "`fibres` curly strokes scattered within `spread` of a centre",
           fit=(("lint", (200, 0, 255)),)),
    Family("scratch", 5, "stroke", {
        **STROKE_KEYS,
        "orientation": ("choice", "any", ORIENTATIONS),
        "full_height": ("bool", False),  # run the whole frame (film-transport "rain")
        "gaps": ("fraction", [0.0, 0.0]),  # fraction of the length missing (intermittent scratches)
        "wobble": ("fraction", [0.0, 0.0]),  # sideways drift of vertical scratches, fraction of short side
    }, _scratch, stroke_sprites, (180, 100, 255),
        "a long, nearly straight stroke; `orientation = \"vertical\"` with `full_height = true` is film-transport "
        "\"rain\"; `gaps` makes it intermittent, `wobble` lets it drift sideways", fit=(("scratch", (255, 0, 80)),)),
    Family("blotch", 6, "blob", {**BLOB_KEYS, "rim": ("fraction", [0.0, 0.0])}, _blotch, blob_sprites,
           (255, 255, 120), "a large soft blob (stains); `rim > 0` adds a darker edge (water marks)",
           fit=(("blotch", (0, 230, 90)),)),
    # Not fitted: fit-preset's rules name its spots dust, dirt or blotches.
    Family("mold", 7, "blob", {**BLOB_KEYS, "spots": ("irange", [8, 30]), "spread": ("fraction", [0.005, 0.02])},
           _mold, blob_sprites, (120, 140, 255),
           "a fungus colony: `spots` faint blobs (sized by `size`) scattered within `spread` of a centre"),
)


def _check(table: tuple[Family, ...]) -> dict[str, Family]:
    """The table by name, after checking that names are unique and ids run 1..N in order."""
    ids = [f.id for f in table]
    if ids != list(range(1, len(table) + 1)):
        raise ValueError(f"family label ids must run 1..{len(table)} in table order, got {ids}")
    by_name = {f.name: f for f in table}
    if len(by_name) != len(table) or {"mix", "stamp"} & set(by_name):
        raise ValueError("family names must be unique and not 'mix' or 'stamp' (preset kinds)")
    return by_name


BY_NAME = _check(TABLE)
FAMILIES = tuple(BY_NAME)  # label ids 1..N in this order


def family(name: str) -> Family:
    """The entry of a family name (KeyError for an unknown one).

    >>> family("scratch").id
    5
    """
    return BY_NAME[name]


def fit_classes() -> dict[str, tuple[str, RGB]]:
    """fit-preset's classes in order: class -> (the family it writes presets of, outline colour).

    >>> fit_classes()["hair_long"]
    ('hair', (0, 90, 255))
    """
    return {cls: (f.name, colour) for f in TABLE for cls, colour in f.fit}
