"""The shape parameters of :mod:`dustbench.sources.procedural`'s scenes, drawn in compiled code.

Each function here is a ``_sample_<name>`` of ``procedural.py`` (the reference) made with the draws
of :mod:`dustbench.generator_replay`: the same draws in the same order, so the same arrays, element
for element, and the generator in the same state after (tests/test_procedural.py compares them).
A scene's thousands of draws take ~1 µs each as NumPy calls, a few ns here.
"""
from __future__ import annotations

import numpy as np
from numba import njit

from ..generator_replay import integer, random, uniform


@njit(cache=True)
def _colour(words, cursor, row, at: int, low: int, high: int) -> None:
    for c in range(3):
        row[at + c] = integer(words, cursor, low, high)


@njit(cache=True)
def sample_leaves(words, cursor, radii, h: int, w: int):
    out = np.zeros((radii.size, 7), np.int64)
    for i in range(radii.size):
        row = out[i]
        row[0] = integer(words, cursor, 0, h)
        row[1] = integer(words, cursor, 0, w)
        row[2] = 1 if random(words, cursor) < 0.7 else 0
        if row[2] == 0:
            row[3] = int(radii[i] * uniform(words, cursor, 0.3, 1.0))
        _colour(words, cursor, row, 4, 0, 256)
    return out


@njit(cache=True)
def sample_text(words, cursor, h: int, w: int, n_chars: int, n_fonts: int):
    count = integer(words, cursor, 15, 40)
    scales, lines = np.zeros(count), np.zeros((count, 8), np.int64)
    chars = np.zeros(count * 29, np.int64)
    used = 0
    for i in range(count):
        scales[i] = uniform(words, cursor, 0.3, 4.0) * min(h, w) / 1000
        n = integer(words, cursor, 3, 30)
        for k in range(n):
            chars[used + k] = integer(words, cursor, 0, n_chars)
        used += n
        row = lines[i]
        row[0] = integer(words, cursor, -w // 4, w)
        row[1] = integer(words, cursor, 0, h + 20)
        row[2] = integer(words, cursor, 1, max(2, int(scales[i] * 3) + 2))
        row[3] = integer(words, cursor, 0, n_fonts)
        _colour(words, cursor, row, 4, 0, 256)
        row[7] = n
    return scales, lines, chars[:used].copy()


@njit(cache=True)
def sample_lines(words, cursor, h: int, w: int):
    count = integer(words, cursor, 40, 160)
    real, ints = np.zeros((count, 3)), np.zeros((count, 12), np.int64)
    for i in range(count):
        row = ints[i]
        row[0] = integer(words, cursor, 0, w)
        row[1] = integer(words, cursor, 0, h)
        row[2] = integer(words, cursor, 0, w)
        row[3] = integer(words, cursor, 0, h)
        real[i, 0] = random(words, cursor)
        _colour(words, cursor, row, 4, 0, 256)
        row[7] = integer(words, cursor, 1, 4)
        if 0.5 <= real[i, 0] < 0.8:
            row[8] = integer(words, cursor, 2, max(3, w // 4))
            row[9] = integer(words, cursor, 2, max(3, h // 4))
            real[i, 1] = uniform(words, cursor, 0.0, 360.0)
            real[i, 2] = uniform(words, cursor, 30.0, 360.0)
        elif real[i, 0] >= 0.8:
            row[10] = integer(words, cursor, 3, 12)
            row[11] = integer(words, cursor, 5, 25)
    return real, ints


@njit(cache=True)
def sample_points(words, cursor, h: int, w: int):
    out = np.zeros((integer(words, cursor, 100, 600), 7), np.int64)
    for i in range(out.shape[0]):
        row = out[i]
        row[0] = integer(words, cursor, 0, w)
        row[1] = integer(words, cursor, 0, h)
        _colour(words, cursor, row, 2, 180, 256)
        row[5] = integer(words, cursor, 0, 4)
        if random(words, cursor) < 0.15:
            row[6] = integer(words, cursor, 4, 30)
    return out


@njit(cache=True)
def sample_foliage(words, cursor, h: int, w: int):
    base = np.zeros(3, np.int64)
    _colour(words, cursor, base, 0, 0, 256)
    count = integer(words, cursor, 1500, 4000)
    angles, ints = np.zeros(count), np.zeros((count, 7), np.int64)
    for i in range(count):
        row = ints[i]
        row[0] = integer(words, cursor, 0, w)
        row[1] = integer(words, cursor, 0, h)
        length = integer(words, cursor, 2, max(3, min(h, w) // 40))
        row[2] = length
        row[3] = max(1, length // integer(words, cursor, 2, 6))
        for c in range(3):
            row[4 + c] = min(255, max(0, base[c] + integer(words, cursor, -60, 61)))
        angles[i] = uniform(words, cursor, 0.0, 180.0)
    return angles, ints


# name -> (sampler, raw words that cover its most draws: about 4 per leaf, 5 per foliage leaf; a short
# block is only drawn again, longer, so these set the speed, never the numbers)
SAMPLERS = {"leaves": (sample_leaves, 8192), "text": (sample_text, 4096), "lines": (sample_lines, 4096),
            "points": (sample_points, 4096), "foliage": (sample_foliage, 32768)}


@njit(cache=True)
def gradient(rows, cols, divisor: float, table, out) -> None:
    """procedural._gradient's pixels in one pass: ``table[floor((rows[y] + cols[x]) / divisor)]``,
    the same float64 sum and quotient per pixel as its NumPy code."""
    for y in range(rows.size):
        for x in range(cols.size):
            t = np.uint8((rows[y] + cols[x]) / divisor)
            for c in range(3):
                out[y, x, c] = table[t, c]
