"""Film damage, procedural or from real stamps: sample parameters, render them, composite them.

    >>> import numpy as np, dustbench
    >>> clean = np.full((64, 96, 3), 160, np.uint8)       # uint8/uint16/float32, grey H×W or RGB H×W×3
    >>> rng = np.random.default_rng(0)
    >>> params = dustbench.sample_params("negative_scan_heavy", clean.shape, rng)   # a JSON-able record
    >>> layer = dustbench.render(params, clean.shape)
    >>> damaged = dustbench.composite(clean, layer)
    >>> damaged.shape, damaged.dtype                      # the clean image's shape and dtype
    ((64, 96, 3), dtype('uint8'))

or all at once with ``synthesize(clean, presets, rng)``. ``synthesize(..., scan_scale=3780)`` draws
the image as a crop of a frame scanned at that size (35 mm at 4000 dpi) instead of as the whole
frame: see :mod:`dustbench.synth.scale`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..io import check_image
from .composite import artifact_mask, composite, family_labels
from .crop import crop_params
from .params import count_by_family, expected_count, sample_params
from .presets import (DEFAULT_PRESETS, FAMILIES, REFERENCE_SHORT_SIDE, Preset, PresetError, families_present,
                      library, load_preset_file, load_presets, resolve_presets)
from .grain import apply_grain, sample_grain
from .infrared import FILMS as INFRARED_FILMS, infrared_rng, render_infrared, sample_infrared
from .layer import Layer, Sprite
from .render import render, render_many
from .scale import FILM_FORMATS, ScanScale, draw_scaled_params, parse_scan_scale, short_side_px
from .stamps import Stamp, StampError, StampSet, load_stamps, write_stamps

__all__ = [
    "DEFAULT_PRESETS", "FAMILIES", "FILM_FORMATS", "REFERENCE_SHORT_SIDE", "Layer", "Preset", "PresetError", "ScanScale",
    "INFRARED_FILMS", "Sprite", "Stamp", "StampError", "StampSet", "Synthesis", "add_infrared", "apply_grain", "artifact_mask", "composite", "count_by_family",
    "crop_params", "expected_count", "families_present", "family_labels", "infrared_rng", "library", "load_preset_file", "load_presets", "load_stamps", "parse_scan_scale",
    "regenerate", "render", "render_infrared", "render_many", "resolve_presets", "sample_grain", "sample_infrared", "sample_params", "short_side_px", "synthesize", "write_stamps",
]


@dataclass
class Synthesis:
    """One synthetic sample. `mask` is the artifacts' combined opacity (float32 H×W in [0, 1]),
    `labels` the family of the strongest artifact per pixel (uint8, 0 = none, see FAMILIES),
    `infrared` the scanner's infrared plane (uint16 H×W, :func:`add_infrared`) or None."""

    damaged: np.ndarray
    clean: np.ndarray
    mask: np.ndarray
    labels: np.ndarray
    params: dict[str, Any]
    infrared: np.ndarray | None = None
    layer: Layer | None = field(default=None, repr=False, compare=False)  # the damage drawn


def synthesize(clean: np.ndarray, presets, rng: np.random.Generator, scan_scale=None,
               infrared: str | None = None) -> Synthesis:
    """Damage `clean` with all of `presets` (names, globs, Preset objects; mixes expand).

    The image keeps its dtype (uint8, uint16, float32) and layout (grey H×W or RGB H×W×3).
    ``scan_scale``: None (the image is the whole frame), the frame's short side in px, a
    ``(lo, hi)`` range drawn log-uniformly, or a :class:`ScanScale` (see :mod:`dustbench.synth.scale`).
    ``infrared``: a film type (``dustbench.synth.infrared.FILMS``) to also draw the infrared plane
    a scanner would see, its parameters from a child of `rng` (the damage's draws are unchanged).
    """
    check_image(clean, "clean")
    _, params = draw_scaled_params(presets, clean.shape, rng, ScanScale.parse(scan_scale))
    s = regenerate(clean, params)
    return s if infrared is None else add_infrared(s, infrared, rng.spawn(1)[0])


def regenerate(clean: np.ndarray, params: dict[str, Any]) -> Synthesis:
    """Rebuild a sample exactly from its saved parameter record (e.g. a manifest line), or draw a
    record rewritten for a crop (:func:`crop_params`) on that crop of the clean frame. A record
    with ``"infrared"`` parameters gives the infrared plane too."""
    check_image(clean, "clean")
    layer = render(params, clean.shape)
    ir = render_infrared(clean, layer, params, params["infrared"]) if "infrared" in params else None
    return Synthesis(composite(clean, layer), clean, artifact_mask(layer), family_labels(layer), params, ir, layer)


def add_infrared(s: Synthesis, film: str, rng: np.random.Generator) -> Synthesis:
    """`s` with the infrared plane of film type `film` (parameters drawn from `rng`, recorded under
    ``params["infrared"]``): see :mod:`dustbench.synth.infrared`."""
    ir_params = sample_infrared(film, rng)
    s.params["infrared"] = ir_params
    s.infrared = render_infrared(s.clean, s.layer or render(s.params, s.clean.shape), s.params, ir_params)
    return s
