"""The element-wise steps of :func:`dustbench.synth.grain.apply_grain`, compiled by numba: the
noise's three bytes summed per pixel and, after the blur, the three colour fields mixed, then the
amplitude (looked up per value) times the field, the exponential, times the picture, clipped and
rounded, in three loops over a strip of rows (the fields mixed, the table looked up, then the
arithmetic, which LLVM vectorizes) instead of some twenty NumPy passes over whole images.

The same IEEE float32 operations in the same order as the NumPy code in ``grain.py``, which stays
the reference (used without numba, or with ``DUSTBENCH_PORTABLE_JIT=0``): numba compiles without
fast-math, so no multiply and add are contracted into an FMA, and every pixel is computed on its
own (no sum whose order could change). Same bits on every CPU; compared with the NumPy code in
tests/test_grain.py and pinned by tests/test_portable_math.py (also compiled for a generic CPU).
"""
from __future__ import annotations

import numpy as np
from numba import njit

_F32 = np.float32
# grain._EXP_TAYLOR as float32 constants: exp(y) to degree 6, highest first
_C0, _C1, _C2, _C3, _C4, _C5, _C6 = (_F32(c) for c in (1 / 720, 1 / 120, 1 / 24, 1 / 6, 1 / 2, 1.0, 1.0))


@njit(cache=True, inline="always")
def _exp(x):
    """grain._exp for one float32 value: P(x / 4) ** 4, P the Taylor polynomial (Horner)."""
    y = min(max(x, _F32(-4.0)), _F32(4.0))
    y = y * _F32(0.25)
    acc = y * _C0
    acc = (acc + _C1) * y
    acc = (acc + _C2) * y
    acc = (acc + _C3) * y
    acc = (acc + _C4) * y
    acc = (acc + _C5) * y
    acc = acc + _C6
    acc = acc * acc
    return acc * acc


@njit(cache=True, inline="always")
def _pixel(amp, field, value, high, rounding):
    """One channel of one pixel: the amplitude times the field, exponentiated, times the value, clipped."""
    v = _exp(amp * field) * _F32(value)
    v = min(max(v, _F32(0.0)), high)
    return np.rint(v) if rounding else v


@njit(cache=True)
def channel_fields(p0, p1, p2, mean, mix, three, field):
    """``field`` (pixels × C, flat) the noise of each channel of a strip. ``p0``, ``p1``, ``p2`` (flat,
    float32) are the blurred noise planes before their ``mean`` is taken off; with ``three`` they are
    mixed as grain._mix mixes them (``mix`` = rho, l11, l21, l22 in float32, each product and sum
    in its order), else ``p0`` serves every channel."""
    channels = field.size // p0.size
    for i in range(p0.size):
        a = p0[i] - mean
        b = a
        c = a
        if three:
            b = p1[i] - mean
            c = p2[i] - mean
            common = a * mix[0]
            c = ((c * mix[3]) + common) + b * mix[2]
            b = b * mix[1] + common
        j = channels * i
        if channels == 3:
            field[j] = a
            field[j + 1] = b
            field[j + 2] = c
        else:
            for ch in range(channels):
                field[j + ch] = a if ch == 0 else (b if ch == 1 else c)


@njit(cache=True)
def gather(index, table, out):
    """``out[i] = table[index[i]]`` (flat arrays): a loop of its own, so the arithmetic after it vectorizes."""
    for i in range(index.size):
        out[i] = table[index[i]]


@njit(cache=True)
def grain_tail(amplitude, field, values, high, rounding, out):
    """Flat arrays of one length: ``out`` = the picture ``values`` (converted to float32) times
    exp(``amplitude`` · ``field``), clipped to [0, ``high``] and, with ``rounding``, rounded half to
    even (``np.rint``) for an integer ``out``: grain._tail after its table lookup, pixel by pixel
    (a loop of arithmetic alone, which LLVM vectorizes)."""
    for i in range(out.size):
        out[i] = _pixel(amplitude[i], field[i], values[i], high, rounding)


@njit(cache=True)
def sum_bytes(a, b, c, out):
    """``out`` (float32) = a + b + c, three flat uint8 arrays: exact integers, as grain._noise adds them."""
    for i in range(out.size):
        out[i] = (_F32(a[i]) + _F32(b[i])) + _F32(c[i])
