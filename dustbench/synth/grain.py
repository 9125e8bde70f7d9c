"""Film grain as part of the clean image: sample its parameters, then apply them deterministically.

Grain is not damage: a real scan's "clean" picture is grainy, and a detector that has never seen
grain learns that every small, sharp, high-contrast detail is a speck. ``--grain STOCK`` (``synth``,
``make-dataset``, ``train``; ``DamageStream(grain=)``, ``FilmDamage(grain=)``) adds grain to each clean
image *before* the damage is drawn, so the clean target holds the grain and only the damage differs.

The model, in density terms (Dainty & Shaw, *Image Science*, 1974, ch. 6):

* the clean value ``v`` in [0, 1] is read as a gamma-encoded transmission, ``T = v ** gamma``
  (``gamma`` 2.2, what scanners write), density ``D = -log10(T)`` (``T`` kept >= 10**-3, D <= 3);
* the density fluctuation is white noise blurred to the stock's grain clump size at the scan's
  pixel pitch (a Gaussian of standard deviation ``grain_um / 2``), per-pixel white noise with the
  variance Selwyn's law gives a pixel of area ``p**2``: ``sigma(A)**2 * A = G**2``, a constant of
  the stock, so ``G = rms * sqrt(A_48)`` with the stock's RMS granularity ``rms`` read through the
  standard 48 µm circular aperture (approximated by a square of the same area, 42.5 µm; the blur's
  small loss of variance in that aperture, ``1 - sqrt(2/pi) * t / a``, is compensated);
* signal dependence after Nutting (``sigma_D**2`` grows with the developed density): the amplitude
  scales as ``sqrt((D + fog) / (1 + fog))``, the stock's table value at ``D = 1``;
* colour stocks have three dye layers: the channels' fluctuations are correlated (``correlation``),
  not identical; black-and-white silver grain is neutral (one field on every channel);
* back to values: ``v' = v * 10 ** (-dD / gamma)``, rounded to the image's dtype and clipped.

So grain per pixel shrinks as the scan resolution drops (a pixel averages more grains), and grows
towards the point variance of the clumps at high resolution. Scan resolution: the sample's scan
scale when it has one (the frame's short side in px over a 35 mm frame's 24 mm), ``STOCK@DPI`` when
given (``portra400@2400dpi``), else :data:`DEFAULT_DPI`.

Reproducible on any CPU: random integers (three uniform bytes summed: an Irwin-Hall variate, close
to Gaussian), a blur with integer weights in float32 whose every partial sum is an exact integer
(so SIMD order and FMA cannot change a bit), then IEEE arithmetic: a table of the signal dependence
per value (logarithms from :mod:`dustbench.portable_math`, tabulated once) and a polynomial exponential.
"""
from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

from .. import portable_math as pm
from ..errors import DustbenchError, did_you_mean
from ..io import check_image, dtype_max
from .draws import keyed_rng

MODEL = "density-v1"
GRAIN_KEY = 0x6772  # spawn key that keeps a sample's grain draws apart from its damage draws
DEFAULT_DPI = 4000.0  # a dedicated film scanner's usual resolution, when neither scale nor @DPI is given
SHORT_SIDE_MM = 24.0  # a scan scale is the short side of a 35 mm frame
APERTURE_UM = 48.0  # the standard aperture of published RMS granularity
_APERTURE_SIDE_UM = math.sqrt(math.pi) * APERTURE_UM / 2  # the square of the same area: 42.54 µm
GAMMA, FOG, D_MAX = 2.2, 0.15, 3.0
_LN10 = 2.302585092994045684  # ln(10) as a literal: no libm call
_NOISE_STD = math.sqrt(65535.0)  # std of 2 * (three uniform bytes) - 765
_KERNEL_SUM, _KERNEL_MAX = 144, 148  # integer blur weights near 144, at most 148: 765 * 148**2 < 2**24 (exact)
STRIP_ROWS = 64  # rows of grain made at a time (compiled): a few hundred kB of buffers, in cache
JITTER = 0.1  # each sample's RMS and grain size vary by up to +-10 % (emulsion batch, development)

# RMS granularity: 1000 x the standard deviation of diffuse density at D = 1.0, 48 µm aperture, as
# the manufacturers' data sheets state it for slide and black-and-white films (Kodak T-Max 100: 8,
# T-Max 400: 10, Tri-X 400: 17; Fujichrome Provia 100F: 8, Velvia 50: 9; Ektachrome E100: 8). Kodak
# publishes a Print Grain Index rather than RMS granularity for its colour negative films: those
# rows hold the approximate RMS figures commonly quoted for them (Ektar 100 ~8, Portra 400 ~11)
# and are approximations. grain_um (the diameter of a grain clump or dye cloud) is a modelling
# choice, not a published figure: it gives 4000-dpi scans the 1-3 px grain they show.
STOCKS: dict[str, dict[str, Any]] = {
    "slide_fine": {"rms": 8, "grain_um": 6.0, "correlation": 0.6, "like": "Velvia 50, Provia 100F, Ektachrome E100"},
    "slide_medium": {"rms": 11, "grain_um": 9.0, "correlation": 0.6, "like": "ISO 200-400 slide films"},
    "negative_fine": {"rms": 8, "grain_um": 7.0, "correlation": 0.5, "like": "Ektar 100, ISO 100-160 negatives"},
    "negative_medium": {"rms": 11, "grain_um": 10.0, "correlation": 0.5, "like": "Portra 400, ISO 400 negatives"},
    "negative_coarse": {"rms": 16, "grain_um": 14.0, "correlation": 0.5, "like": "ISO 800-1600 negatives"},
    "bw_fine": {"rms": 8, "grain_um": 5.0, "correlation": 1.0, "like": "Kodak T-Max 100"},
    "bw_medium": {"rms": 10, "grain_um": 8.0, "correlation": 1.0, "like": "Kodak T-Max 400"},
    "bw_coarse": {"rms": 17, "grain_um": 12.0, "correlation": 1.0, "like": "Kodak Tri-X 400"},
}
ALIASES = {"velvia50": "slide_fine", "provia100f": "slide_fine", "e100": "slide_fine", "ektar100": "negative_fine",
           "portra400": "negative_medium", "portra800": "negative_coarse", "tmax100": "bw_fine",
           "tmax400": "bw_medium", "trix400": "bw_coarse"}


def stock_names() -> list[str]:
    return [*STOCKS, *ALIASES]


def resolve_stock(name: str) -> str:
    """A stock or alias name -> its row in :data:`STOCKS`; an unknown name is an error with suggestions."""
    key = str(name).strip().lower()
    if key in STOCKS:
        return key
    if key in ALIASES:
        return ALIASES[key]
    hint = did_you_mean(key, stock_names(), n=3, cutoff=0.5)
    raise DustbenchError(f"unknown grain stock {name!r}{hint} (valid: none, {', '.join(stock_names())})")


def parse_grain(text) -> str | None:
    """``--grain`` text -> a normalised spec ``STOCK`` or ``STOCK@DPIdpi`` (None for ``none``/empty)."""
    if text is None or str(text).strip().lower() in ("", "none", "off"):
        return None
    m = re.fullmatch(r"\s*([A-Za-z0-9_]+)\s*(?:@\s*(\d+(?:\.\d+)?)\s*(?:dpi)?)?\s*", str(text))
    if not m:
        raise DustbenchError(f"--grain {text!r}: expected STOCK or STOCK@DPI (portra400, bw_coarse@2400dpi) or none")
    stock = resolve_stock(m.group(1))
    if m.group(2) is None:
        return stock
    dpi = float(m.group(2))
    if not 100 <= dpi <= 100_000:
        raise DustbenchError(f"--grain {text!r}: the scan resolution must be between 100 and 100,000 dpi")
    return f"{stock}@{dpi:g}dpi"


def grain_px_per_mm(spec: str, scan_scale: int | None = None) -> float:
    """Scan resolution for a sample: ``@DPI`` in the spec, else its scan scale, else :data:`DEFAULT_DPI`."""
    _, _, dpi = str(spec).partition("@")
    if dpi:
        return float(dpi.removesuffix("dpi")) / 25.4
    return float(scan_scale) / SHORT_SIDE_MM if scan_scale is not None else DEFAULT_DPI / 25.4


def sample_grain(stock: str, scan_px_per_mm: float, rng: np.random.Generator, jitter: float = JITTER) -> dict:
    """The grain parameters of one sample (JSON-able); three draws from ``rng``."""
    name = resolve_stock(stock.partition("@")[0])
    row = STOCKS[name]
    if not (math.isfinite(scan_px_per_mm) and scan_px_per_mm > 0):
        raise DustbenchError(f"grain: scan resolution {scan_px_per_mm!r} px/mm must be a positive number")
    rms = row["rms"] / 1000.0 * (1.0 + jitter * float(rng.uniform(-1.0, 1.0)))
    grain_um = row["grain_um"] * (1.0 + jitter * float(rng.uniform(-1.0, 1.0)))
    params = {"model": MODEL, "stock": name, "rms_granularity": rms, "grain_um": grain_um,
              "px_per_mm": float(scan_px_per_mm), "correlation": float(row["correlation"]), "gamma": GAMMA,
              "fog": FOG, "seed": int(rng.integers(2**63))}
    return {**params, **derived(params)}


def derived(params: dict) -> dict:
    """What the parameters mean per pixel (recorded for explanation; recomputed when applying)."""
    pixel_um = 1000.0 / params["px_per_mm"]
    sigma_px = params["grain_um"] / 2 / pixel_um
    # The pixel's own box (variance 1/12 px**2) widens the clumps' blur: a sampled Gaussian of this std
    # gives neighbouring pixels about the covariance of the continuous model (Gaussian * pixel box).
    kernel_px = math.sqrt(sigma_px * sigma_px + 1.0 / 12.0)
    t = math.sqrt(2.0) * kernel_px * pixel_um  # the field's correlation length (µm)
    loss = max(0.5, 1.0 - math.sqrt(2.0 / math.pi) * t / _APERTURE_SIDE_UM)  # its variance lost in the aperture
    white = params["rms_granularity"] * _APERTURE_SIDE_UM / pixel_um / loss  # Selwyn: sigma * sqrt(area) const
    w = _kernel(kernel_px)
    total = float(np.sum(w))
    return {"clump_sigma_px": sigma_px, "kernel_sigma_px": kernel_px, "white_rms": white,
            "rms_px": white * float(np.sum(w * w)) / (total * total)}  # per pixel at D = 1


def _kernel(sigma_px: float) -> np.ndarray:
    """Integer Gaussian weights (float32) summing to at most _KERNEL_SUM, zero tails trimmed."""
    radius = max(1, int(math.ceil(3.0 * sigma_px)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    s = max(sigma_px, 1e-3)
    g = np.asarray(pm.exp(-(x * x) / (2.0 * s * s)))
    total = _KERNEL_SUM
    while True:  # rounding up many taps could pass the exact-float32 bound: shrink until it holds
        w = np.floor(g * (total / float(np.sum(g))) + 0.5)
        if np.sum(w) <= _KERNEL_MAX:
            break
        total -= 4
    nz = np.nonzero(w)[0]
    w = w[nz[0]:nz[-1] + 1]
    return w.astype(np.float32) if w.size > 1 else np.ones(1, np.float32)  # one tap: no blur


@lru_cache(maxsize=8)
def _amplitude_table(levels: int, gamma: float, fog: float) -> np.ndarray:
    """sqrt((D + fog) / (1 + fog)) for every value 0 .. levels - 1 (Nutting's signal dependence)."""
    v = np.maximum(np.arange(levels, dtype=np.float64) / (levels - 1), float(pm.exp(-D_MAX * _LN10 / gamma)))
    d = np.minimum(-(gamma / _LN10) * np.asarray(pm.log(v)), D_MAX)
    return np.sqrt((d + fog) / (1.0 + fog))


_EXP_TAYLOR = (1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0)  # exp(y) to degree 6


def _exp(x: np.ndarray) -> np.ndarray:
    """exp(x) in float32 as ``P(x / 4) ** 4``, P exp's Taylor polynomial of degree 6: relative error
    < 4e-7 for |x| < 1 (where grain lies: its std is ~0.1), < 1e-5 for |x| < 2, < 2e-3 at the clip
    |x| = 4 (a density step of 3.8 at gamma 2.2). IEEE multiplications and additions, one ufunc each
    (nothing fused): the same bits on every CPU, twice as fast as a table. Overwrites ``x``."""
    y = np.clip(x, -4.0, 4.0, out=x)
    y *= np.float32(0.25)
    acc = y * np.float32(_EXP_TAYLOR[0])
    for c in _EXP_TAYLOR[1:-1]:  # Horner
        acc += np.float32(c)
        acc *= y
    acc += np.float32(_EXP_TAYLOR[-1])
    acc *= acc
    acc *= acc
    return acc


def _noise(rng: np.random.Generator, fields: int, h: int, w: int, kernel: np.ndarray) -> np.ndarray:
    """``fields`` planes of noise (float32 fields×H×W): three uniform bytes summed per pixel (0 .. 765),
    blurred by the integer kernel in both directions (its sum S), less the mean ``382.5 * S**2``.
    Exact in float32: integers or halves below 2**24 (see the module docstring); the std is
    ``sqrt(65535) / 2`` times the blur's."""
    n = fields * 3 * h * w
    raw = rng.bit_generator.random_raw((n + 7) // 8).astype("<u8", copy=False)  # uniform bytes, little-endian
    u = raw.view(np.uint8)[:n].reshape(fields, 3, h, w)
    out = np.empty((fields, h, w), np.float32)
    s2 = float(np.sum(kernel))
    s2 *= s2
    add3 = _sum_bytes if pm.implementation() == "numba" else _sum_bytes_numpy
    for k in range(fields):
        z = add3(u[k, 0], u[k, 1], u[k, 2])  # 0 .. 765: sums of exact integers
        if kernel.size > 1:
            cv2.sepFilter2D(z, cv2.CV_32F, kernel, kernel, dst=out[k], borderType=cv2.BORDER_REFLECT_101)
        else:
            out[k] = z
        out[k] -= np.float32(382.5 * s2)  # the mean: zero-mean, still exact (|z| < 2**23, a multiple of 1/2)
    return out


def _sum_bytes_numpy(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    z = np.add(a, b, dtype=np.float32)
    z += c
    return z


def _sum_bytes(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    """:func:`_sum_bytes_numpy` compiled (:mod:`dustbench.synth.grain_jit`): the same float32 sums."""
    from .grain_jit import sum_bytes  # deferred: imports numba

    z = np.empty(a.shape, np.float32)
    sum_bytes(a.reshape(-1), b.reshape(-1), c.reshape(-1), z.reshape(-1))
    return z


def _mix_coefficients(rho: float) -> tuple[float, float, float]:
    """(l11, l21, l22): the Cholesky factor that gives three unit fields pairwise correlation rho."""
    l11 = math.sqrt(1.0 - rho * rho)
    l21 = (rho - rho * rho) / l11
    return l11, l21, math.sqrt(max(0.0, 1.0 - rho * rho - l21 * l21))


def _mix(f: list[np.ndarray], rho: float) -> list[np.ndarray]:
    """Three independent planes -> three with pairwise correlation ``rho`` (Cholesky by hand)."""
    l11, l21, l22 = _mix_coefficients(rho)
    a, b, c = f
    common = a * np.float32(rho)
    g = b * np.float32(l11)
    g += common
    c *= np.float32(l22)
    c += common
    c += b * np.float32(l21)
    return [a, g, c]


def apply_grain(image: np.ndarray, params: dict, rng=None) -> np.ndarray:
    """``image`` with the grain of ``params`` (from :func:`sample_grain`); same dtype and layout.

    ``rng``: a Generator or a seed for the noise; default the recorded ``params["seed"]``, so a
    record alone reproduces the grain.
    """
    check_image(image, "grain image")
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(params["seed"] if rng is None else rng)
    h, w = image.shape[:2]
    channels = 1 if image.ndim == 2 else image.shape[2]
    fields = 3 if channels == 3 and params["correlation"] < 1.0 else 1
    info = derived(params)
    kernel = _kernel(info["kernel_sigma_px"])
    s = float(np.sum(kernel))
    coef = -(_LN10 / params["gamma"]) * info["white_rms"] * 2.0 / (s * s * _NOISE_STD)  # 2: the halved bytes
    amp = (_amplitude_table(65536 if image.dtype != np.uint8 else 256, float(params["gamma"]), float(params["fog"]))
           * coef).astype(np.float32)
    if pm.implementation() == "numba":
        return _apply_compiled(image, amp, rng, fields, kernel, float(params["correlation"]))
    return _tail(image, amp, _noise(rng, fields, h, w, kernel), float(params["correlation"]))


def _tail(image: np.ndarray, amp: np.ndarray, f: np.ndarray, rho: float) -> np.ndarray:
    """The grainy image from the noise planes `f` and the amplitude table `amp` (NumPy: the reference)."""
    if len(f) == 3:
        f = cv2.merge(_mix(list(f), rho))
    else:
        f = f[0][..., None] if image.ndim == 3 else f[0]
    if image.dtype == np.uint8:
        x = cv2.LUT(image, amp)  # a plain gather, the same bits everywhere
    else:
        x = np.take(amp, _amp_index(image).astype(np.intp))
    x = x.reshape(image.shape)
    x *= f
    out = _exp(x)
    out *= image
    if image.dtype == np.float32:
        return np.clip(out, 0.0, 1.0, out=out)
    return np.rint(np.clip(out, 0.0, dtype_max(image.dtype), out=out), out=out).astype(image.dtype)


def _amp_index(image: np.ndarray) -> np.ndarray:
    """The amplitude table's index of each value: the value itself, 16-bit for a float picture."""
    return image if image.dtype != np.float32 else np.rint(image * np.float32(65535.0)).astype(np.uint16)


def _apply_compiled(image: np.ndarray, amp: np.ndarray, rng: np.random.Generator, fields: int, kernel: np.ndarray,
                    rho: float) -> np.ndarray:
    """:func:`_noise` then :func:`_tail`, compiled (:mod:`dustbench.synth.grain_jit`) and done in
    strips of :data:`STRIP_ROWS` rows (more under a wide blur, whose halos would otherwise be blurred
    twice over). Each strip's noise is blurred with ``kernel``'s radius of rows around it, so every
    value it keeps sees the rows the whole-image blur sees (the reflected border only at the image's
    own edges), and every blurred value is an exact integer sum, so the order of the sums cannot
    matter: the same bits. The buffers of a strip are reused; what stays whole-image is the raw
    noise bytes (9 per colour pixel), the result, and for float32 the table indices."""
    from .grain_jit import channel_fields, gather, grain_tail, sum_bytes  # deferred: imports numba

    h, w = image.shape[:2]
    n = fields * 3 * h * w
    raw = rng.bit_generator.random_raw((n + 7) // 8).astype("<u8", copy=False)  # as _noise draws them
    u = raw.view(np.uint8)[:n].reshape(fields, 3, h, w)
    values = np.ascontiguousarray(image).reshape(h, w, -1)  # rows in memory order: strips are flat views
    index = values if image.dtype != np.float32 else _amp_index(values)
    out = np.empty(values.shape, image.dtype)
    halo = kernel.size // 2
    strip = max(STRIP_ROWS, 8 * halo)  # rows blurred twice (the halos): at most a quarter more
    z = np.empty((strip + 2 * halo, w), np.float32)
    planes = np.empty((fields, *z.shape), np.float32)
    field = np.empty(strip * values[0].size, np.float32)
    amplitude = np.empty_like(field)
    mean = np.float32(382.5 * float(np.sum(kernel)) ** 2)
    mix = np.array([rho, *_mix_coefficients(rho)] if fields == 3 else [1.0, 0.0, 0.0, 0.0], np.float32)
    high = np.float32(1.0 if image.dtype == np.float32 else dtype_max(image.dtype))
    for y0 in range(0, h, strip):
        y1 = min(h, y0 + strip)
        top, bottom = max(0, y0 - halo), min(h, y1 + halo)
        rows = bottom - top
        for k in range(fields):
            sum_bytes(*(u[k, j, top:bottom].reshape(-1) for j in range(3)), z[:rows].reshape(-1))
            if kernel.size > 1:
                cv2.sepFilter2D(z[:rows], cv2.CV_32F, kernel, kernel, dst=planes[k, :rows],
                                borderType=cv2.BORDER_REFLECT_101)
            else:
                planes[k, :rows] = z[:rows]
        size = (y1 - y0) * values[0].size
        p = [planes[min(k, fields - 1), y0 - top:y1 - top].reshape(-1) for k in range(3)]
        channel_fields(*p, mean, mix, fields == 3, field[:size])
        gather(index[y0:y1].reshape(-1), amp, amplitude[:size])
        grain_tail(amplitude[:size], field[:size], values[y0:y1].reshape(-1), high, image.dtype != np.float32,
                   out[y0:y1].reshape(-1))
    return out.reshape(image.shape)


def grain_rng(entropy) -> np.random.Generator:
    """A sample's grain generator: from the sample's own seed (an int or ints), apart from its damage."""
    return keyed_rng(entropy, GRAIN_KEY)


def grain_clean(image: np.ndarray, spec: str | None, scan_scale: int | None, entropy) -> tuple[np.ndarray, dict | None]:
    """What every pipeline calls: ``(image, None)`` without grain, else the grained image and its record."""
    if spec is None:
        return image, None
    params = sample_grain(spec, grain_px_per_mm(spec, scan_scale), grain_rng(entropy))
    return apply_grain(image, params), params


__all__ = ["ALIASES", "DEFAULT_DPI", "STOCKS", "apply_grain", "grain_clean", "grain_px_per_mm", "grain_rng",
           "parse_grain", "resolve_stock", "sample_grain", "stock_names"]
