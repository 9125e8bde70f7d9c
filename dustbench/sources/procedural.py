"""Procedural clean images: as many scenes as a training run wants, with the hard negatives real
scans are full of, drawn from a seed.

The built-in photographs are a handful of scenes with no printed text, fine line art or
catchlights, so a detector trained on them learns "thin, high-contrast, small" as damage. These
images are clean by construction and hold exactly such structure (``--clean procedural`` or
``procedural:KIND``):

* ``dead_leaves``: occluding discs and boxes with power-law sizes over smooth gradients, the
  statistical model of natural images (Achddou, Gousseau, Ladjal, SSVM 2021);
* ``text``: printed lines of many sizes, weights and contrasts (OpenCV's Hershey fonts);
* ``lines``: thin line art, hatching and fine edges;
* ``points``: catchlights and star-like points with glints;
* ``foliage``: dense clutter of small elongated leaves.

Every draw comes from ``SeedSequence([seed, index])`` and every pixel from OpenCV's integer
rasteriser (no CPU-dispatched transcendental decides a pixel), so the same seed gives the same bytes
on any machine. Its speed, alone and with grain: benchmarks/bench_grain.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .. import portable_math as pm
from ..errors import DustbenchError

KINDS = ("dead_leaves", "text", "lines", "points", "foliage")
DEFAULT_SHAPE, DEFAULT_COUNT, DEFAULT_SEED = (1024, 1536), 64, 0
_FONTS = (cv2.FONT_HERSHEY_SIMPLEX, cv2.FONT_HERSHEY_DUPLEX, cv2.FONT_HERSHEY_COMPLEX, cv2.FONT_HERSHEY_TRIPLEX,
          cv2.FONT_HERSHEY_PLAIN, cv2.FONT_HERSHEY_SCRIPT_SIMPLEX, cv2.FONT_HERSHEY_COMPLEX_SMALL)
_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789 .,:-/#&()"


def _ints(rng: np.random.Generator, low: int, high: int) -> tuple[int, int, int]:
    """Three integers in [low, high): the draws of ``rng.integers(low, high, 3)``, one by one (each
    element is one bounded draw from the bit generator either way, so the same numbers and the same
    state after), as plain ints at half the cost: these calls are most of a scene's time."""
    draw = rng.integers
    return int(draw(low, high)), int(draw(low, high)), int(draw(low, high))


def _colour(rng: np.random.Generator) -> tuple[int, int, int]:
    return _ints(rng, 0, 256)


def _gradient(shape, rng: np.random.Generator) -> np.ndarray:
    """A smooth background: a linear blend of two colours along a random direction. Each pixel's
    blend step t = ramp · 256 // (span + 1) (0..255) comes from float64 that is exact here (every
    operand an integer below 2^53; a quotient within 1/(span + 1) of an integer cannot round onto
    it), and its colour from a 256-entry table of the integer blend ``(a·(256 − t) + b·t) >> 8``."""
    h, w = shape
    a, b = np.array(_colour(rng), np.int32), np.array(_colour(rng), np.int32)
    dy, dx = (int(v) for v in rng.integers(-1000, 1001, 2))
    low = min(0, (h - 1) * dy) + min(0, (w - 1) * dx)  # the ramp y·dy + x·dx is smallest at a corner
    span = max(abs(dy) * (h - 1) + abs(dx) * (w - 1), 1)
    rows = (np.arange(h, dtype=np.int64) * dy - low).astype(np.float64) * 256.0
    cols = np.arange(w, dtype=np.int64).astype(np.float64) * (256.0 * dx)
    steps = np.arange(256, dtype=np.int32)[:, None]
    table = ((a * (256 - steps) + b * steps) >> 8).astype(np.uint8)
    if pm.implementation() == "numba":
        from . import procedural_jit  # deferred: imports numba

        out = np.empty((h, w, 3), np.uint8)
        procedural_jit.gradient(rows, cols, float(span + 1), table, out)
        return out
    t = np.add(rows[:, None], cols[None, :])
    t /= span + 1
    t = t.astype(np.uint8)  # floor: the quotient is in [0, 256)
    return cv2.LUT(cv2.merge([t, t, t]), table.reshape(1, 256, 3))


def _power_law(rng: np.random.Generator, n: int, lo: float, hi: float, alpha: float = 3.0) -> np.ndarray:
    """Sizes with density ~ r^-alpha on [lo, hi] (dead leaves' scale invariance at alpha = 3)."""
    u = rng.random(n)
    a, b = pm.power(lo, 1 - alpha), pm.power(hi, 1 - alpha)
    return pm.power(a + u * (b - a), 1 / (1 - alpha))


# Each kind samples its shapes' parameters (the reference: NumPy calls, one per draw but for a text
# line's characters, in the order below) and then draws them. procedural_jit makes the same draws in
# compiled code; its arrays are these, element for element (tests/test_procedural.py).

def _sample_leaves(rng: np.random.Generator, radii: np.ndarray, h: int, w: int) -> np.ndarray:
    """Per leaf (radii largest first): centre y, x; 1 for a disc; a box's half height; colour."""
    out = np.zeros((len(radii), 7), np.int64)
    for i, r in enumerate(radii):
        out[i, 0], out[i, 1] = int(rng.integers(0, h)), int(rng.integers(0, w))
        out[i, 2] = rng.random() < 0.7
        if not out[i, 2]:
            out[i, 3] = int(r * rng.uniform(0.3, 1.0))
        out[i, 4:] = _colour(rng)
    return out


def _dead_leaves(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    short = min(h, w)
    radii = np.ascontiguousarray(np.sort(_power_law(rng, 1000, max(1.0, short / 400), short / 3, alpha=2.5))[::-1])
    leaves = _sampled(rng, "leaves", radii, h, w)  # large leaves first, small ones on top, as the model falls
    for r, (cy, cx, disc, half_h, *colour) in zip(radii.tolist(), leaves.tolist()):
        if disc:
            cv2.circle(img, (cx, cy), int(r), colour, -1, cv2.LINE_AA)
        else:
            cv2.rectangle(img, (cx - int(r), cy - half_h), (cx + int(r), cy + half_h), colour, -1)


def _sample_text(rng: np.random.Generator, h: int, w: int, n_chars: int,
                 n_fonts: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per line: its scale; x, y, thickness, font, colour, number of characters; and every line's
    characters (indices into _CHARS, ``n_chars`` long), one after another; fonts index _FONTS."""
    count = int(rng.integers(15, 40))
    scales, lines, chars = np.zeros(count), np.zeros((count, 8), np.int64), []
    for i in range(count):
        scales[i] = float(rng.uniform(0.3, 4.0)) * min(h, w) / 1000
        n = int(rng.integers(3, 30))
        chars.extend(rng.integers(0, n_chars, n).tolist())
        lines[i, :2] = int(rng.integers(-w // 4, w)), int(rng.integers(0, h + 20))
        lines[i, 2] = int(rng.integers(1, max(2, int(scales[i] * 3) + 2)))
        lines[i, 3] = int(rng.integers(n_fonts))
        lines[i, 4:7], lines[i, 7] = _colour(rng), n
    return scales, lines, np.array(chars, np.int64)


def _text(img: np.ndarray, rng: np.random.Generator) -> None:
    h, w = img.shape[:2]
    scales, lines, chars = _sampled(rng, "text", h, w, len(_CHARS), len(_FONTS))
    start = 0
    for scale, (x, y, thickness, font, r, g, b, n) in zip(scales.tolist(), lines.tolist()):
        line = "".join(_CHARS[i] for i in chars[start:start + n].tolist())
        start += n
        cv2.putText(img, line, (x, y), _FONTS[font], scale, (r, g, b), thickness, cv2.LINE_AA)


def _sample_lines(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per stroke: its kind in [0, 1) and an ellipse's angle and arc; ends p, q, colour, width, an
    ellipse's axes, hatching's step and number of strokes (zero where the kind has none)."""
    count = int(rng.integers(40, 160))
    real, ints = np.zeros((count, 3)), np.zeros((count, 12), np.int64)
    for i in range(count):
        ints[i, :4] = int(rng.integers(0, w)), int(rng.integers(0, h)), int(rng.integers(0, w)), int(rng.integers(0, h))
        real[i, 0], ints[i, 4:7], ints[i, 7] = rng.random(), _colour(rng), int(rng.integers(1, 4))
        if 0.5 <= real[i, 0] < 0.8:
            ints[i, 8:10] = int(rng.integers(2, max(3, w // 4))), int(rng.integers(2, max(3, h // 4)))
            real[i, 1:] = float(rng.uniform(0, 360)), float(rng.uniform(30, 360))
        elif real[i, 0] >= 0.8:
            ints[i, 10:] = int(rng.integers(3, 12)), int(rng.integers(5, 25))
    return real, ints


def _lines(img: np.ndarray, rng: np.random.Generator) -> None:
    real, ints = _sampled(rng, "lines", *img.shape[:2])
    for (kind, angle, arc), (px, py, qx, qy, r, g, b, width, ax, ay, step, n) in zip(real.tolist(), ints.tolist()):
        colour = (r, g, b)
        if kind < 0.5:
            cv2.line(img, (px, py), (qx, qy), colour, width, cv2.LINE_AA)
        elif kind < 0.8:
            cv2.ellipse(img, (px, py), (ax, ay), angle, 0.0, arc, colour, width, cv2.LINE_AA)
        else:  # hatching: parallel strokes
            for k in range(n):
                cv2.line(img, (px + k * step, py), (qx + k * step, qy), colour, 1, cv2.LINE_AA)


def _sample_points(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Per point: x, y, colour, radius, and a glint's ray length (0: no glint)."""
    out = np.zeros((int(rng.integers(100, 600)), 7), np.int64)
    for row in out:
        row[:2] = int(rng.integers(0, w)), int(rng.integers(0, h))
        row[2:5], row[5] = _ints(rng, 180, 256), int(rng.integers(0, 4))
        if rng.random() < 0.15:
            row[6] = int(rng.integers(4, 30))
    return out


def _points(img: np.ndarray, rng: np.random.Generator) -> None:
    img //= 3  # a darker scene makes points stand out
    for x, y, r, g, b, radius, ray in _sampled(rng, "points", *img.shape[:2]).tolist():
        cv2.circle(img, (x, y), radius, (r, g, b), -1, cv2.LINE_AA)
        if ray:  # a glint: thin rays through the point
            cv2.line(img, (x - ray, y), (x + ray, y), (r, g, b), 1, cv2.LINE_AA)
            cv2.line(img, (x, y - ray), (x, y + ray), (r, g, b), 1, cv2.LINE_AA)


def _sample_foliage(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Per leaf: its angle; x, y, axes and colour (the scene's base colour, varied)."""
    base = _colour(rng)
    count = int(rng.integers(1500, 4000))
    angles, ints = np.zeros(count), np.zeros((count, 7), np.int64)
    for i in range(count):
        ints[i, :2] = int(rng.integers(0, w)), int(rng.integers(0, h))
        length = int(rng.integers(2, max(3, min(h, w) // 40)))
        ints[i, 2:4] = length, max(1, length // int(rng.integers(2, 6)))
        ints[i, 4:] = [min(255, max(0, b + d)) for b, d in zip(base, _ints(rng, -60, 61))]
        angles[i] = float(rng.uniform(0, 180))
    return angles, ints


def _foliage(img: np.ndarray, rng: np.random.Generator) -> None:
    angles, ints = _sampled(rng, "foliage", *img.shape[:2])
    for angle, (x, y, ax, ay, r, g, b) in zip(angles.tolist(), ints.tolist()):
        cv2.ellipse(img, (x, y), (ax, ay), angle, 0.0, 360.0, (r, g, b), -1, cv2.LINE_AA)


_SAMPLE = {"leaves": _sample_leaves, "text": _sample_text, "lines": _sample_lines, "points": _sample_points,
           "foliage": _sample_foliage}


def _sampled(rng: np.random.Generator, name: str, *args):
    """The ``_sample_<name>`` draws: made in compiled code when they can be (the same numbers and the
    generator's same state after: :mod:`dustbench.generator_replay`), else by the reference."""
    if pm.implementation() == "numba":
        from .. import generator_replay  # deferred: imports numba
        from . import procedural_jit  # deferred: imports numba

        if generator_replay.replayable(rng):
            sampler, words = procedural_jit.SAMPLERS[name]
            return generator_replay.replay(rng, sampler, *args, words=words)
    return _SAMPLE[name](rng, *args)


_DRAW = {"dead_leaves": _dead_leaves, "text": _text, "lines": _lines, "points": _points, "foliage": _foliage}


def procedural_image(kind: str, shape=DEFAULT_SHAPE, rng: np.random.Generator | None = None, *,
                     dtype=np.uint8, channels: int = 3) -> np.ndarray:
    """One clean image of ``kind`` (see :data:`KINDS`): H×W×3 (or H×W with ``channels=1``), uint8 or
    uint16 (the 8-bit drawing scaled by 257, so 16-bit training sees the same scenes)."""
    if kind not in _DRAW:
        raise DustbenchError(f"procedural kind {kind!r}: choose one of {', '.join(KINDS)}")
    h, w = (int(v) for v in shape[:2])
    if not (16 <= h <= 20_000 and 16 <= w <= 20_000):
        raise DustbenchError(f"procedural image shape {tuple(shape)}: each side must be 16 to 20,000 px")
    rng = rng if rng is not None else np.random.default_rng()
    img = _gradient((h, w), rng)
    if kind != "dead_leaves":  # text, lines, points and foliage over a dead-leaves scene
        _dead_leaves(img, rng)
    _DRAW[kind](img, rng)
    if channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    elif channels != 3:
        raise DustbenchError(f"procedural images have 1 or 3 channels, not {channels}")
    if np.dtype(dtype) == np.uint16:
        return img.astype(np.uint16) * np.uint16(257)
    if np.dtype(dtype) != np.uint8:
        raise DustbenchError(f"procedural images are uint8 or uint16, not {np.dtype(dtype)}")
    return img


@dataclass(frozen=True)
class ProceduralSource:
    """A procedural clean image as a source: drawn on ``load()`` from ``SeedSequence([seed, index])``."""

    id: str
    kind: str
    index: int
    seed: int = DEFAULT_SEED
    shape: tuple = DEFAULT_SHAPE
    licence: str = "CC0 (drawn by dustbench)"

    @property
    def path(self) -> str:
        return self.id

    def load(self) -> np.ndarray:
        return procedural_image(self.kind, self.shape, np.random.default_rng(np.random.SeedSequence([self.seed,
                                                                                                   self.index])))


def procedural_sources(spec: str) -> list[ProceduralSource]:
    """``procedural`` (every kind in turn) or ``procedural:KIND``: :data:`DEFAULT_COUNT` images."""
    _, _, kind = spec.partition(":")
    if kind and kind not in KINDS:
        raise DustbenchError(f"--clean {spec}: choose procedural or procedural:KIND with KIND one of {', '.join(KINDS)}")
    kinds = (kind,) if kind else KINDS
    return [ProceduralSource(f"procedural:{kinds[i % len(kinds)]}:{i}", kinds[i % len(kinds)], i)
            for i in range(DEFAULT_COUNT)]
