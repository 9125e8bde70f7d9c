"""The infrared plane of a synthesized sample: what a film scanner's fourth channel sees.

Colour dyes are nearly transparent in infrared; dust, dirt, hairs and lint are not. So the
infrared plane of a colour film is a near-flat field with the damage dark in it, and scanners'
infrared cleaning (Digital ICE, iSRD, VueScan's and SilverFast's) takes it as a damage map. The
plane is drawn from the same damage layer as the picture, after sampling its own parameters
(:func:`sample_infrared`; recorded like every other parameter), and rendered deterministically
(:func:`render_infrared`: :func:`damage_transmission` in the damage's frame, then
:func:`infrared_plane`, which a transform that moves the damage applies after moving it):

* **field**: ``level × (1 − vignetting · r²)``, r the distance from the centre over the half
  diagonal (the lamp's fall-off);
* **the film's own image** (:data:`FILMS`): dye films (colour negative, E-6 slides) show nothing of
  the picture; silver (black-and-white) absorbs infrared as it absorbs light, and Kodachrome's cyan
  layer in part, so their picture is in the plane too: transmission ``10 ** (−strength · D)``, D the
  density the clean picture implies (``D_MAX`` times the value of its channel). Infrared cleaning
  then takes the picture for damage: the known failure cases;
* **damage**: every sprite multiplies the plane by ``1 − response · alpha``; the response by family
  (:data:`RESPONSE`: opaque particles 1, stains partly) and, for a scratch, by the side of the film
  it is on: a base-side scratch refracts the light away and shows, an emulsion-side one, where dye
  was scraped off, mostly does not (:data:`SCRATCH_SIDES`; each scratch's side drawn from the
  record's seed);
* **noise**: the scanner's, white, ``noise`` × full scale (std), from the grain module's exact
  integer noise (:mod:`dustbench.synth.grain`), then quantised to 16 bits.

Same record → same bytes on every CPU: IEEE arithmetic in float32/float64 and the portable math.
Calibrated against the one real infrared crop in ``../shared/real-dev/ir`` by
``benchmarks/bench_infrared.py`` (contrast of dust against the field, noise, edge width).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import portable_math as pm
from ..errors import DustbenchError, did_you_mean
from ..io import dtype_max
from .draws import keyed_rng
from .families import FAMILIES
from .grain import _noise
from .layer import Layer, pack

INFRARED_VERSION = 2  # 2: blur 0.4–0.8 px (was 0.8–1.6), calibrated on the real plane's edges
INFRARED_KEY = 0x6972  # spawn key that keeps a sample's infrared draws apart from its damage and grain
D_MAX = 2.0  # density of the densest picture value, for films whose picture shows in infrared
# film type -> (how strongly its picture absorbs infrared, which value of the clean picture is its density)
FILMS: dict[str, tuple[float, str]] = {
    "colour_negative": (0.0, "none"),  # dyes pass infrared: infrared cleaning works
    "slide": (0.0, "none"),  # E-6 dyes: the same
    "kodachrome": (0.45, "red"),  # its cyan dye absorbs infrared in part: cleaning harms
    "silver_bw": (1.0, "luma"),  # silver absorbs infrared as light: cleaning fails
}
# family -> infrared response (multiplies its alpha); scratches by side (SCRATCH_SIDES)
RESPONSE = {"dust": 1.0, "dirt": 1.0, "hair": 1.0, "lint": 1.0, "mold": 0.7, "blotch": 0.35, "scratch": 0.0}
SCRATCH_SIDES = {"base": 0.85, "emulsion": 0.1}
# level and noise: fractions of full scale; blur: the infrared image's own softness (px), the
# infrared channel being focused through the same lens at another wavelength
RANGES = {"level": (0.86, 0.97), "vignetting": (0.0, 0.06), "noise": (0.006, 0.012), "blur": (0.4, 0.8),
          "base_share": (0.4, 0.8)}
_LN10 = 2.302585092994045684
_BYTES_STD = math.sqrt(65535.0) / 2  # std of three uniform bytes summed (grain._noise without a blur)
_LUMA = (0.299, 0.587, 0.114)


def parse_film(name: str) -> str:
    """A film type of :data:`FILMS` (clear error otherwise)."""
    if name not in FILMS:
        raise DustbenchError(f"unknown film type {name!r} for the infrared plane{did_you_mean(name, FILMS)}; "
                             f"known: {', '.join(FILMS)}")
    return name


def infrared_rng(entropy) -> np.random.Generator:
    """A sample's infrared generator: from the sample's own seed (an int or ints), apart from its
    damage and grain draws."""
    return keyed_rng(entropy, INFRARED_KEY)


def sample_infrared(film: str, rng: np.random.Generator) -> dict[str, Any]:
    """The parameters of a sample's infrared plane (JSON-serializable)."""
    film = parse_film(film)
    out: dict[str, Any] = {"version": INFRARED_VERSION, "film": film}
    for key, (lo, hi) in RANGES.items():
        out[key] = float(rng.uniform(lo, hi))
    out["seed"] = int(rng.integers(0, 2**31))
    return out


def _field(shape: tuple[int, int], level: float, vignetting: float) -> np.ndarray:
    h, w = shape
    y = (np.arange(h, dtype=np.float64) - (h - 1) / 2.0) / (max(h, 2) / 2.0)
    x = (np.arange(w, dtype=np.float64) - (w - 1) / 2.0) / (max(w, 2) / 2.0)
    r2 = (y * y)[:, None] + (x * x)[None, :]
    r2 *= 0.5  # over the half diagonal squared (1 + 1)
    return (level * (1.0 - vignetting * r2)).astype(np.float32)


def _picture(clean: np.ndarray, film: str) -> np.ndarray | None:
    """Infrared transmission of the film's own picture (float32 H×W), None for dye films."""
    strength, channel = FILMS[film]
    if strength == 0.0:
        return None
    v = clean.astype(np.float64) / dtype_max(clean.dtype)
    if v.ndim == 3 and v.shape[2] == 1:  # grey as H×W×1: the one channel is red and luma alike
        v = v[..., 0]
    if v.ndim == 3 and channel == "red":
        v = v[..., 0]
    elif v.ndim == 3:
        v = v[..., 0] * _LUMA[0] + v[..., 1] * _LUMA[1] + v[..., 2] * _LUMA[2]
    density = D_MAX * np.clip(v if channel == "luma" else 1.0 - v, 0.0, 1.0)
    return np.asarray(pm.exp(-strength * _LN10 * density), np.float32)


def _responses(layer: Layer, record: dict, params: dict) -> np.ndarray:
    """Each sprite's infrared response: its family's, a scratch's by the side drawn for it."""
    rng = np.random.default_rng(params["seed"])
    sides = {j: rng.random(g["n"]) < params["base_share"]  # True: base side
             for j, g in enumerate(record["groups"]) if g["family"] == "scratch"}
    out = np.empty(len(layer.sprites), np.float32)
    for i, sp in enumerate(layer.sprites):
        name = FAMILIES[sp.family - 1]
        if name == "scratch" and sp.group in sides:
            out[i] = SCRATCH_SIDES["base" if sides[sp.group][sp.artifact] else "emulsion"]
        else:
            out[i] = RESPONSE[name]
    return out


def _blur(a: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian blur (edges reflected) as a fixed sequence of IEEE multiply-adds, one ufunc each:
    the same bits on every CPU (OpenCV's SIMD kernels may sum in another order)."""
    radius = max(1, int(math.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    w = np.asarray(pm.exp(-(x * x) / (2.0 * sigma * sigma)))
    w = (w / w.sum()).astype(np.float32)
    for axis in (0, 1):
        padded = np.pad(a, [(radius, radius) if k == axis else (0, 0) for k in range(2)], mode="reflect")
        n = a.shape[axis]
        out = padded.take(range(0, n), axis=axis) * w[0]
        for k in range(1, w.size):
            out += padded.take(range(k, k + n), axis=axis) * w[k]
        a = out
    return a


def damage_transmission(layer: Layer, record: dict, params: dict) -> np.ndarray:
    """How much infrared the damage of `layer` lets through (float32 H×W, 1 = all): the product of
    every sprite's ``1 − response · alpha``, softened as the infrared image is; all ones without
    sprites. `record` is the damage's synthesis record, `params` from :func:`sample_infrared`. Pure."""
    passed = np.ones(layer.shape, np.float32)
    if not layer.sprites:
        return passed
    flat = passed.reshape(-1)
    response = _responses(layer, record, params)
    for b in pack(layer):
        v = flat.take(b.pos)
        v *= np.float32(1.0) - b.per_pixel(response) * b.alpha
        np.put(flat, b.pos, v)
    return _blur(passed, params["blur"])


def infrared_plane(clean: np.ndarray, transmission: np.ndarray, params: dict) -> np.ndarray:
    """The infrared plane (uint16 H×W) of a picture: field × the film's picture (from `clean`) ×
    the damage's `transmission` (:func:`damage_transmission`, in `clean`'s frame) + noise. Pure."""
    if tuple(clean.shape[:2]) != tuple(transmission.shape):
        raise ValueError(f"infrared: the clean image is {clean.shape[:2]}, the damage's transmission "
                         f"{transmission.shape}")
    ir = _field(transmission.shape, params["level"], params["vignetting"])
    picture = _picture(clean, params["film"])
    if picture is not None:
        ir *= picture
    ir *= transmission  # exact where it is 1 (no damage): x · 1 is x in IEEE arithmetic
    (z,) = _noise(np.random.default_rng([params["seed"], 1]), 1, *transmission.shape, np.ones(1, np.float32))
    z *= np.float32(params["noise"] / _BYTES_STD)
    ir += z
    return np.rint(np.clip(ir, 0.0, 1.0) * np.float32(65535.0)).astype(np.uint16)


def render_infrared(clean: np.ndarray, layer: Layer, record: dict, params: dict) -> np.ndarray:
    """The infrared plane (uint16 H×W) of a sample: `clean` its clean picture, `layer` its damage
    (``render(record, clean.shape)``), `params` from :func:`sample_infrared`. Pure."""
    if tuple(clean.shape[:2]) != tuple(layer.shape):
        raise ValueError(f"infrared: the clean image is {clean.shape[:2]}, the damage layer {layer.shape}")
    return infrared_plane(clean, damage_transmission(layer, record, params), params)


__all__ = ["FILMS", "INFRARED_VERSION", "RESPONSE", "SCRATCH_SIDES", "damage_transmission", "infrared_plane",
           "infrared_rng", "parse_film", "render_infrared", "sample_infrared"]
