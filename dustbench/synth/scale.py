"""Physical scale: an image as a crop of a film frame scanned at a known resolution.

Preset sizes are fractions of the frame's short side and densities are counts per frame. By
default an image *is* the whole frame (``scan_scale=None``): a 192-px thumbnail then gets specks
0.24 % of 192 px wide, i.e. half a pixel. With ``scan_scale = S`` (the frame's short side in px,
e.g. 3780 for 35 mm film at 4000 dpi) the image is a crop of a 3:2 frame of short side S: the
parameters are sampled for that virtual frame, placed at random around the image, and rewritten
for the crop with :func:`~dustbench.synth.crop.crop_params` (exact: the crop shows what the frame
would show there). So specks have the pixel size real scans show and the crop gets its share of
the frame's count, including long hairs and scratches that reach in from outside it.

``scan_scale`` may also be a range ``(lo, hi)``: each sample draws S log-uniformly (training
augmentation). Text forms (``--scan-scale``): ``3400``, ``35mm@4000dpi`` (see :data:`FILM_FORMATS`),
and ranges ``2000..4000`` or ``35mm@2400dpi..35mm@4000dpi``. :meth:`ScanScale.parse` reads all of
these once, where the value enters; :func:`draw_scaled_params` is the one draw of "a frame size,
then the damage on that frame" that every pipeline shares.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from ..errors import DustbenchError
from .crop import crop_params
from .params import sample_params
from .. import portable_math as pm

# Short side of the exposed image area in mm (what a film scanner's crop of one frame measures).
FILM_FORMATS = {"35mm": 24.0, "half-frame": 18.0, "645": 41.5, "6x6": 56.0, "6x7": 56.0, "6x9": 56.0,
                "4x5": 95.0}
FRAME_ASPECT = 1.5  # the virtual frame is 3:2, like 35 mm and the reference frame of densities
MM_PER_INCH = 25.4

MAX_SCAN_SCALE = 1_000_000  # px on the frame's short side: far beyond any scanner (8x10" at 4000 dpi is 32,000)


def short_side_px(film: str, dpi: float) -> int:
    """The frame's short side in px for `film` (a key of FILM_FORMATS) scanned at `dpi`."""
    if film not in FILM_FORMATS:
        raise DustbenchError(f"unknown film format {film!r}: use one of {', '.join(FILM_FORMATS)}")
    return int(round(FILM_FORMATS[film] / MM_PER_INCH * float(dpi)))


@dataclass(frozen=True)
class ScanScale:
    """The frame's short side in px: fixed (``lo == hi``) or drawn log-uniformly in [lo, hi] per sample.

    Make one with :meth:`parse` where a value enters (an argument, a config, a record); code past
    that point takes ``ScanScale | None`` (None: the image is the whole frame).

        >>> ScanScale.parse("35mm@2400dpi..35mm@4000dpi")
        ScanScale(lo=2268, hi=3780)
        >>> ScanScale.parse(3400).label(), ScanScale.parse([2000, 4200]).label(), str(ScanScale(2000, 4200))
        (3400, [2000, 4200], '2000..4200')
    """

    lo: int
    hi: int

    def __post_init__(self):  # direct construction is checked too: every ScanScale is usable
        whole = all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (self.lo, self.hi))
        if not (whole and 8 <= self.lo <= self.hi <= MAX_SCAN_SCALE):
            raise DustbenchError(f"scan scale range ({self.lo!r}, {self.hi!r}): need whole px, "
                                 f"8 <= low <= high <= {MAX_SCAN_SCALE:,}")
        object.__setattr__(self, "lo", int(self.lo))  # numpy ints would not serialize to JSON
        object.__setattr__(self, "hi", int(self.hi))

    @classmethod
    def parse(cls, value: Any) -> "ScanScale | None":
        """None, a ScanScale, S (a number of px), a (lo, hi) pair or list (a record's ``[lo, hi]``), or
        the text forms of ``--scan-scale``; anything else is a DustbenchError saying what is expected."""
        if value is None or isinstance(value, ScanScale):
            return value
        if isinstance(value, str):
            return _parse_text(value)
        if isinstance(value, Iterable) and np.ndim(value) > 0:
            values = list(value)
            if len(values) != 2:
                raise DustbenchError(f"scan scale range {tuple(values)}: need (low, high) in px")
            lo, hi = (_scale_px(v, f"scan scale range {tuple(values)}") for v in values)
            if not lo <= hi:
                raise DustbenchError(f"scan scale range {tuple(values)}: need 8 <= low <= high (px)")
            return cls(lo, hi)
        side = _scale_px(value, f"scan scale {value}")
        return cls(side, side)

    @property
    def fixed(self) -> bool:
        return self.lo == self.hi

    def draw(self, rng: np.random.Generator) -> int:
        """The frame's short side for one sample: a fixed scale draws nothing (the stream of `rng`
        stays as without scales); a range draws log-uniformly (portable math: same bytes everywhere)."""
        if self.fixed:
            return self.lo
        return int(round(float(pm.exp(rng.uniform(pm.log(self.lo), pm.log(self.hi))))))

    def fits(self, shape) -> bool:
        """Whether an image of `shape` can be a crop of the smallest frame this scale allows."""
        return min(int(v) for v in tuple(shape)[:2]) <= self.lo

    def label(self) -> int | list[int]:
        """JSON form for records: S, or [lo, hi]; :meth:`parse` reads it back."""
        return self.lo if self.fixed else [self.lo, self.hi]

    def __str__(self) -> str:  # the --scan-scale text, which parse reads back
        return str(self.lo) if self.fixed else f"{self.lo}..{self.hi}"


def _one_side(text: str, whole: str) -> int:
    t = text.strip().lower()
    m = re.fullmatch(r"([0-9a-z-]+)@(\d+(?:\.\d+)?)(?:dpi)?", t)
    try:
        px = short_side_px(m.group(1), float(m.group(2))) if m else int(float(t))
    except (ValueError, OverflowError, DustbenchError) as exc:
        detail = f" ({exc})" if isinstance(exc, DustbenchError) else ""
        raise DustbenchError(f"--scan-scale {whole!r}: expected the frame's short side in px (3400), FILM@DPI "
                             f"(35mm@4000dpi) or a range LO..HI{detail}") from None
    return px


def _parse_text(text: str) -> ScanScale | None:
    if text.strip().lower() in ("", "none", "frame", "whole"):
        return None
    parts = text.split("..")
    if len(parts) > 2:
        raise DustbenchError(f"--scan-scale {text!r}: a range has two ends, LO..HI")
    return ScanScale.parse(tuple(_one_side(p, text) for p in parts) if len(parts) == 2 else _one_side(parts[0], text))


def _scale_px(value: Any, what: str) -> int:
    try:
        px = float(value)
    except (TypeError, ValueError):
        px = math.nan
    if not (math.isfinite(px) and 8 <= round(px) <= MAX_SCAN_SCALE):
        raise DustbenchError(f"{what}: the frame's short side must be a number of px, at least 8 and at most {MAX_SCAN_SCALE:,}")
    return int(round(px))


def parse_scan_scale(text: Any) -> ScanScale | None:
    """``--scan-scale`` text (or any value :meth:`ScanScale.parse` takes) -> None or a ScanScale."""
    return ScanScale.parse(text)


def scale_label(scale: ScanScale | None) -> int | list[int] | None:
    """JSON form for records and configs: None (whole frame), S, or [lo, hi]."""
    return None if scale is None else scale.label()


def check_fits(shape, scale: ScanScale | None, what: str = "image") -> None:
    """An image cannot be a crop of a frame smaller than itself: a clear error instead."""
    if scale is not None and not scale.fits(shape):
        raise DustbenchError(f"{what} is {min(shape[:2])} px on its short side: it cannot be a crop of a frame "
                             f"whose short side is {scale.lo} px (scan scale); use a larger scan scale, or none "
                             "(the image is then the whole frame)")


def frame_around(shape, short: int, rng: np.random.Generator) -> tuple[tuple[int, int], tuple[int, int]]:
    """A 3:2 frame of short side `short` around an image of `shape`, oriented like it, and where the
    image sits in it: ((frame h, frame w), (y0, x0)). Two draws from `rng`."""
    h, w = int(shape[0]), int(shape[1])
    check_fits(shape, ScanScale(short, short))
    long = max(int(math.ceil(FRAME_ASPECT * short)), h, w)
    fh, fw = (long, short) if h > w else (short, long)
    return (fh, fw), (int(rng.integers(0, fh - h + 1)), int(rng.integers(0, fw - w + 1)))


def scaled_params(presets, shape, rng: np.random.Generator, scan_scale: int | None = None, box=None,
                  size_scale: float = 1.0, opacity_scale: float = 1.0, window=None) -> dict[str, Any]:
    """Damage parameters for an image of `shape` (optionally only its region ``box = (y0, x0, h, w)``).

    ``scan_scale=None``: the image is the whole frame (``sample_params`` on it; then ``crop_params``
    for a box or the augmentation factors), exactly as before scales existed. Otherwise the image
    is a crop of a frame of short side `scan_scale` px (see the module docstring); the record says
    so under ``"scan_scale"``. ``window``: see :func:`~dustbench.synth.crop.crop_params`.
    """
    shape = tuple(int(v) for v in shape[:2])
    box = tuple(int(v) for v in box) if box is not None else None
    plain = box is None and size_scale == 1.0 and opacity_scale == 1.0 and window is None
    if scan_scale is None:  # arrays while crop_params follows: it makes lists of the few it keeps
        params = sample_params(presets, shape, rng, lists=plain)
        return params if plain else crop_params(params, shape, box or (0, 0, *shape), size_scale, opacity_scale,
                                                window)
    frame, (fy, fx) = frame_around(shape, int(scan_scale), rng)
    y0, x0, h, w = box or (0, 0, *shape)
    params = crop_params(sample_params(presets, frame, rng, lists=False), frame, (fy + y0, fx + x0, h, w),
                         size_scale, opacity_scale, window)
    return {**params, "scan_scale": int(scan_scale)}


def draw_scaled_params(presets, shape, rng: np.random.Generator, scale: ScanScale | None, box=None,
                       size_scale: float = 1.0, opacity_scale: float = 1.0, window=None) -> tuple[int | None, dict]:
    """Draw the sample's frame size from `scale`, then its damage (:func:`scaled_params`), in that
    order on `rng`: every pipeline makes these two draws alike, so one seed gives one sample.
    Returns ``(short side drawn or None, params)``; callers that add grain draw it at that size."""
    short = None if scale is None else scale.draw(rng)
    return short, scaled_params(presets, shape, rng, short, box, size_scale, opacity_scale, window)


__all__ = ["FILM_FORMATS", "MAX_SCAN_SCALE", "ScanScale", "check_fits", "draw_scaled_params", "frame_around",
           "parse_scan_scale", "scale_label", "scaled_params", "short_side_px"]
