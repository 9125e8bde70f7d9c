"""The element-wise steps of :func:`dustbench.synth.grain.apply_grain`, compiled by numba: the
noise's three bytes summed per pixel and, after the blur, the three colour fields mixed, then the amplitude (looked up per value) times the field, the exponential, times the
picture, clipped and rounded, in one pass over flat arrays (which LLVM vectorizes) instead of some
twenty NumPy passes.

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
def mix_fields(a, b, c, mix):
    """grain._mix in place on flat float32 planes: ``b`` becomes b·l11 + a·rho and ``c`` becomes
    (c·l22 + a·rho) + b·l21, ``mix`` = (rho, l11, l21, l22) in float32."""
    for i in range(a.size):
        common = a[i] * mix[0]
        c[i] = ((c[i] * mix[3]) + common) + b[i] * mix[2]
        b[i] = b[i] * mix[1] + common


@njit(cache=True)
def grain_tail(amplitude, field, values, high, rounding, out):
    """Flat arrays of one length: ``out`` = the picture ``values`` (converted to float32) times
    exp(``amplitude`` · ``field``), clipped to [0, ``high``] and, with ``rounding``, rounded half to
    even (``np.rint``) for an integer ``out``: grain._tail after its table lookup, pixel by pixel."""
    for i in range(out.size):
        out[i] = _pixel(amplitude[i], field[i], values[i], high, rounding)


@njit(cache=True)
def sum_bytes(a, b, c, out):
    """``out`` (float32) = a + b + c, three flat uint8 arrays: exact integers, as grain._noise adds them."""
    for i in range(out.size):
        out[i] = (_F32(a[i]) + _F32(b[i])) + _F32(c[i])
