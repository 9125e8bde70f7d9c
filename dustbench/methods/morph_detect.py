"""``morph_detect``: a training-free detect-then-fill baseline (after Bergman et al., "Comprehensive
solutions for automatic removal of dust and scratches from images", J. Electronic Imaging 2008).

    >>> import numpy as np
    >>> from dustbench.methods import create_method
    >>> from dustbench.methods.morph_detect import detect_specks
    >>> image = np.full((64, 64, 3), 0.4, np.float32)    # a flat grey picture ...
    >>> image[30:33, 40:43] = 0.95                       # ... with a bright 3×3 speck
    >>> method = create_method("morph_detect", radius=3, contrast=90, isolation=6, max_area=64)
    >>> restored = method(image)               # float32 H×W×C in [0, 1] -> same
    >>> round(float(restored[31, 41, 0]), 3)   # the speck filled from its surroundings
    0.4
    >>> flagged = detect_specks(image, radius=3)   # bool H×W: what it would fill
    >>> int(flagged.sum()), bool(flagged[31, 41])
    (9, True)

Detection, per polarity (bright damage on negatives converted to positives, dark on slides):

1. **residual**: the grey-level top-hat of the luma — the luma minus its morphological opening by
   a disc of ``radius`` px (bright), or the closing's excess (dark). What survives is whatever is
   brighter (darker) than its surroundings and narrower than the disc: specks, hairs, scratches —
   and, in a photograph, also lettering, catchlights and fine texture.
2. **noise-aware threshold**: a pixel counts when its residual exceeds both ``contrast`` 8-bit
   levels and ``k_noise`` times the local noise sigma of the residual (the block-wise robust sigma
   ``fit-preset``'s detection uses, :func:`dustbench.fit.detect.noise_map`), so grain and texture
   raise their own bar; components are grown by hysteresis down to half that level.
3. **shape and context rules**: a component larger than ``max_area`` px is structure, not dust; a
   component whose surroundings (a ``ring``-px band) hold an opposite-polarity residual more than
   1/``isolation`` of its own peak sits in oscillating texture (a letter, foliage, a lattice) and is
   left alone: damage lies *on* the picture, texture alternates *with* it.

The flagged pixels are filled as every detect-then-fill row fills them (OpenCV Telea, the code of
``oracle_inpaint``). The settings are chosen on validation pairs (``tune_morph``, the way
``median_tuned`` is tuned), never on the test split; the published values and what they score are
in the leaderboard, with the row's limits (it cannot tell a whisker from a hair).
"""
from __future__ import annotations

import itertools
from typing import Iterable, Sequence

import cv2
import numpy as np

from ..errors import DustbenchError
from ..fit.detect import noise_map
from ..metrics import psnr
from .base import Method
from .classical import as_float_hwc, telea_inpaint
from .registry import register_method
from .residual import luma32, tophat

POLARITIES = {"both": (1, -1), "bright": (1,), "dark": (-1,)}
DEFAULTS = {"radius": 3, "contrast": 90.0, "isolation": 6.0, "max_area": 64, "polarity": "both",
            "k_noise": 6.0, "ring": 3, "dilate": 0}
# The tuning grid (validation only). Few values on purpose: each is a physical choice (speck size,
# contrast in levels, how isolated), not a knob fitted to images.
GRID = {"radius": (3, 6), "contrast": (40.0, 60.0, 90.0), "isolation": (2.0, 4.0, 6.0), "max_area": (64, 1024)}


def check_settings(radius, contrast, isolation, max_area, polarity, k_noise, ring, dilate) -> None:
    """DustbenchError naming the first setting out of range."""
    def integer(name, v, lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or not lo <= v <= hi:
            raise DustbenchError(f"morph_detect: {name} must be an integer from {lo} to {hi}, got {v!r}")

    def number(name, v, lo, hi):
        if isinstance(v, bool) or not isinstance(v, (int, float, np.number)) or not lo <= float(v) <= hi:
            raise DustbenchError(f"morph_detect: {name} must be a number from {lo:g} to {hi:g}, got {v!r}")

    integer("radius", radius, 1, 64)
    number("contrast", contrast, 1, 255)
    number("isolation", isolation, 0, 100)
    integer("max_area", max_area, 1, 10**8)
    if polarity not in POLARITIES:
        raise DustbenchError(f"morph_detect: polarity must be one of {sorted(POLARITIES)}, got {polarity!r}")
    number("k_noise", k_noise, 0, 100)
    integer("ring", ring, 1, 64)
    integer("dilate", dilate, 0, 64)


def _component_max(labels: np.ndarray, count: int, values: np.ndarray) -> np.ndarray:
    out = np.full(count, -np.inf, np.float32)
    np.maximum.at(out, labels.ravel(), values.ravel())
    return out


def detect_specks(image: np.ndarray, radius: int = 3, contrast: float = 90.0, isolation: float = 6.0,
                  max_area: int = 64, polarity: str = "both", k_noise: float = 6.0, ring: int = 3) -> np.ndarray:
    """Bool H×W: the damage ``morph_detect`` flags in a float32 H×W×C image (see the module doc)."""
    luma = luma32(image)
    ring_disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * ring + 1, 2 * ring + 1))
    residuals = {p: tophat(luma, radius, p) for p in (1, -1)}
    flagged = np.zeros(luma.shape, bool)
    for p in POLARITIES[polarity]:
        res = residuals[p]
        bar = np.float32(contrast / 255.0)
        if k_noise > 0:
            bar = np.maximum(bar, np.float32(k_noise) * noise_map(res))
        count, labels, stats, _ = cv2.connectedComponentsWithStats((res >= 0.5 * bar).astype(np.uint8),
                                                                  connectivity=8, ltype=cv2.CV_32S)
        if count <= 1:
            continue
        peak = _component_max(labels, count, res)
        keep = (_component_max(labels, count, res - bar) >= 0) & (stats[:, cv2.CC_STAT_AREA] <= max_area)
        if isolation > 0:  # the opposite polarity's strongest residual within `ring` px of each component
            near = _component_max(labels, count, cv2.dilate(residuals[-p], ring_disc))
            keep &= peak >= np.float32(isolation) * near
        keep[0] = False
        flagged |= keep[labels]
    return flagged


@register_method("morph_detect")
class MorphDetect(Method):
    """Training-free detect-then-fill: top-hat residual, noise-aware threshold, shape rules, Telea fill."""

    name = "morph_detect"
    param_count = 0

    def __init__(self, radius: int = DEFAULTS["radius"], contrast: float = DEFAULTS["contrast"],
                 isolation: float = DEFAULTS["isolation"], max_area: int = DEFAULTS["max_area"],
                 polarity: str = DEFAULTS["polarity"], k_noise: float = DEFAULTS["k_noise"],
                 ring: int = DEFAULTS["ring"], dilate: int = DEFAULTS["dilate"],
                 tuned_on: str | None = None, score: float | None = None):
        check_settings(radius, contrast, isolation, max_area, polarity, k_noise, ring, dilate)
        super().__init__(options={
            "radius": int(radius), "contrast": float(contrast), "isolation": float(isolation),
            "max_area": int(max_area), "polarity": polarity, "k_noise": float(k_noise), "ring": int(ring),
            "dilate": int(dilate), "tuned_on": tuned_on, "score": None if score is None else float(score)})

    def detect(self, image: np.ndarray) -> np.ndarray:
        o = self.options
        return detect_specks(image, o["radius"], o["contrast"], o["isolation"], o["max_area"], o["polarity"],
                             o["k_noise"], o["ring"])

    def run(self, image, mask):
        return telea_inpaint(image, self.detect(image), self.options["dilate"])


def tune_morph(pairs: Iterable[tuple[np.ndarray, np.ndarray]], grid: dict[str, Sequence] | None = None,
               fixed: dict | None = None) -> dict:
    """Grid-search ``morph_detect``'s settings on (damaged, clean) validation pairs by mean PSNR.

    ``grid`` maps setting names to values (default :data:`GRID`); ``fixed`` settings (e.g. the ones a
    user gave) are kept and left out of the search.
    Ties go to the gentler setting (fewer pixels changed). Returns ``dict(**chosen, score=,
    metric="psnr", grid=[...])`` with every setting's score.
    """
    fixed = {k: v for k, v in (fixed or {}).items() if k in DEFAULTS}
    grid = {k: v for k, v in (GRID if grid is None else grid).items() if k not in fixed}
    names = list(grid)
    settings = [dict(zip(names, values)) for values in itertools.product(*(grid[n] for n in names))]
    if not settings:
        raise DustbenchError("tune_morph: the grid is empty")
    methods = [MorphDetect(**{**DEFAULTS, **fixed, **s}) for s in settings]
    totals, changed, n = np.zeros(len(settings)), np.zeros(len(settings)), 0
    for damaged, clean in pairs:
        damaged, clean = as_float_hwc(damaged), as_float_hwc(clean)
        if damaged.shape != clean.shape:
            raise DustbenchError(f"tune_morph: pair {n} has shapes {damaged.shape} and {clean.shape}")
        for i, method in enumerate(methods):
            restored = method(damaged)
            totals[i] += min(float(psnr(clean, restored, data_range=1.0)), 100.0)
            changed[i] += float(np.count_nonzero(restored != damaged))
        n += 1
    if n == 0:
        raise DustbenchError("tune_morph: no validation pairs given")
    scored = [{**s, "score": totals[i] / n, "changed": changed[i]} for i, s in enumerate(settings)]
    best = max(scored, key=lambda g: (round(g["score"], 9), -g["changed"]))
    chosen = {k: best[k] for k in names}
    return {**fixed, **chosen, "score": float(best["score"]), "metric": "psnr",
            "grid": [{**{k: g[k] for k in names}, "score": float(g["score"])} for g in scored]}
