"""The functions of :mod:`dustbench.portable_math`, compiled by numba: the same IEEE operations in
the same order, one pass per element instead of some thirty NumPy passes over the array.

numba compiles without fast-math, so no multiply and add are contracted into an FMA and nothing
is reordered: every result has the bits of the NumPy implementation, on every CPU (compared value
for value in tests/test_portable_math.py, special values included, also with numba generating
code for a generic x86-64). Each function is a NumPy ufunc, compiled once per machine and kept in
numba's cache (beside this file, or in the user's cache directory when the package is read-only).
Measured in docs/performance.md: 7× faster on 1,000 values, 40× on 10 (the synthesis of a training
patch calls these hundreds of times on small arrays).
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, vectorize

from . import fdlibm as fd

_F64 = ["float64(float64)"]
_LG_EVEN, _LG_ODD, _S_TAIL = fd.LG[0::2], fd.LG[1::2], fd.S[1:]


@njit(cache=True, inline="always")
def _horner(z: float, coeffs) -> float:
    """portable_math._horner for one value: the last coefficient, then times z plus the next."""
    acc = coeffs[len(coeffs) - 1]
    for i in range(len(coeffs) - 2, -1, -1):
        acc = acc * z
        acc = acc + coeffs[i]
    return acc


@njit(cache=True)
def _sin_cos(a: float, shift: int) -> float:
    if not abs(a) < fd.MAX_ANGLE:  # also inf and NaN
        return math.nan
    if a == 0:
        return a if shift == 0 else 1.0  # sin(-0.0) is -0.0
    n = np.rint(a * fd.INV_PIO2)
    r = a - n * fd.PIO2_1
    r = r - n * fd.PIO2_2
    r = r - n * fd.PIO2_3
    q = (int(n) % 4 + shift) % 4
    z = r * r
    if q % 2 == 0:
        out = r + (z * r) * (fd.S[0] + z * _horner(z, _S_TAIL))
    else:
        hz = 0.5 * z
        w = 1.0 - hz
        out = w + (((1.0 - w) - hz) + (z * z) * _horner(z, fd.C))
    return -out if q >= 2 else out


@vectorize(_F64, cache=True)
def sin(x):
    return _sin_cos(x, 0)


@vectorize(_F64, cache=True)
def cos(x):
    return _sin_cos(x, 1)


@njit(cache=True)
def _exp(a: float) -> float:
    if math.isnan(a):
        return math.nan
    clipped = min(max(a, fd.EXP_LO), fd.EXP_HI)
    k = np.rint(clipped * fd.INV_LN2)
    hi = clipped - k * fd.LN2_HI
    lo = k * fd.LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * _horner(t, fd.P)
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    half = int(math.floor(k / 2.0))  # k // 2: two steps, so 2**k never overflows or flushes first
    return math.ldexp(math.ldexp(y, half), int(k) - half)


@njit(cache=True)
def _log(a: float) -> float:
    if not a > 0:
        return -math.inf if a == 0 else math.nan
    if a == math.inf:
        return math.inf
    m, e = math.frexp(a)  # a = m * 2**e, m in [0.5, 1)
    low = m < fd.SQRT_HALF
    if low:
        m = m * 2.0
    k = float(e - 1) if low else float(e)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * _horner(w, _LG_EVEN) + w * _horner(w, _LG_ODD)
    hfsq = 0.5 * f * f
    return k * fd.LN2_HI - ((hfsq - (s * (hfsq + r) + k * fd.LN2_LO)) - f)


@vectorize(_F64, cache=True)
def exp(x):
    return _exp(x)


@vectorize(_F64, cache=True)
def log(x):
    return _log(x)


@vectorize(_F64, cache=True)
def log1p(x):
    if x == math.inf:
        return math.inf
    u = 1.0 + x
    d = u - 1.0
    return x if d == 0 else _log(u) * (x / d)  # Kahan's correction


@vectorize(["float64(float64, float64)"], cache=True)
def power(x, y):
    return _exp(y * _log(x))
