"""Transcendental functions that give the same bits on every CPU.

NumPy picks a SIMD kernel for ``sin``, ``exp``, ``log``, ``power``... at run time (AVX-512 SVML
on one machine, libm on another) and glibc's libm picks FMA or non-FMA code: the results differ
in the last bit between CPU classes, and a last bit is enough to move a polygon vertex across a
rounding boundary. These functions use only IEEE-754 operations that are correctly rounded
everywhere (``+ - * /``, ``sqrt``, ``rint``, ``frexp``, ``ldexp``), each as its own ufunc call so
nothing is contracted into an FMA, with the polynomial kernels of fdlibm (Sun Microsystems, 1993).
Accuracy: sin, cos, exp, log and log1p are within an ulp of the correctly rounded result (checked
against mpmath); ``power`` is ``exp(y log x)``, whose error grows with ``|y log x|``. Synthesis needs
the same bits on every machine, not the last bit right. sin and cos reduce their argument with a
three-part pi/2 that is exact for ``|x| < 1.6e6`` rad and give NaN beyond (synthesis draws angles
in [0, 2 pi) plus a few turns).

Every path that decides a synthesized pixel or a recorded parameter calls these, never ``np.sin``
/ ``math.sin`` and kin (``tests/test_portable_math.py`` checks them against NumPy, and the golden
synthesis tests run with the CPU's SIMD features switched off).
"""
from __future__ import annotations

import numpy as np

__all__ = ["sin", "cos", "exp", "log", "log1p", "power"]

# pi/2 in three parts (fdlibm): the first two have trailing zero bits, so n * part is exact for
# the |n| < 2**20 that angles in synthesis need.
_PIO2_1, _PIO2_2, _PIO2_3 = 1.57079632673412561417e+00, 6.07710050630396597660e-11, 2.02226624871116645580e-21
_INV_PIO2 = 6.36619772367581382433e-01
_MAX_ANGLE = 2.0**20 * _PIO2_1  # |n| < 2**20 keeps n * _PIO2_1 and n * _PIO2_2 exact
_S = (-1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04,
      2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10)
_C = (4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05,
      -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11)
_LN2_HI, _LN2_LO = 6.93147180369123816490e-01, 1.90821492927058770002e-10
_INV_LN2 = 1.44269504088896338700e+00
_P = (1.66666666666666019037e-01, -2.77777777770155933842e-03, 6.61375632143793436117e-05,
      -1.65339022054652515390e-06, 4.13813679705723846039e-08)
_LG = (6.666666666666735130e-01, 3.999999999940941908e-01, 2.857142874366239149e-01, 2.222219843214978396e-01,
       1.818357216161805012e-01, 1.531383769920937332e-01, 1.479819860511658591e-01)
_SQRT_HALF = 0.70710678118654752440


def _horner(z: np.ndarray, coeffs) -> np.ndarray:
    acc = np.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = acc * z
        acc = acc + c
    return acc


def _out(x, result: np.ndarray):
    """A scalar for a scalar (Python float in, NumPy float64 out, like ``np.sin``), else the array."""
    return result[()] if np.ndim(x) == 0 else result


def _reduce(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x = n * pi/2 + r`` with ``|r| <= pi/4``: (r, n mod 4)."""
    n = np.rint(x * _INV_PIO2)
    r = x - n * _PIO2_1
    r = r - n * _PIO2_2
    r = r - n * _PIO2_3
    return r, np.mod(n, 4).astype(np.int8)


def _kernel_sin(r: np.ndarray) -> np.ndarray:
    z = r * r
    return r + (z * r) * (_S[0] + z * _horner(z, _S[1:]))


def _kernel_cos(r: np.ndarray) -> np.ndarray:
    z = r * r
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * z) * _horner(z, _C))


def _sin_cos(x, shift: int):
    a = np.asarray(x, dtype=np.float64)
    finite = np.abs(a) < _MAX_ANGLE  # also False for inf and NaN
    r, q = _reduce(np.where(finite, a, 0.0))
    q = (q + shift) % 4
    s, c = _kernel_sin(r), _kernel_cos(r)
    out = np.where(q % 2 == 0, s, c)
    out = np.where(q >= 2, -out, out)
    out = np.where(a == 0, a if shift == 0 else 1.0, out)  # sin(-0.0) is -0.0
    return _out(x, np.where(finite, out, np.nan))


def sin(x):
    """``sin(x)``, float64, the same bits on every CPU (angles up to ~1e6 rad)."""
    return _sin_cos(x, 0)


def cos(x):
    """``cos(x)``, float64, the same bits on every CPU (angles up to ~1e6 rad)."""
    return _sin_cos(x, 1)


def exp(x):
    """``exp(x)``, float64, the same bits on every CPU."""
    a = np.asarray(x, dtype=np.float64)
    clipped = np.clip(np.where(np.isnan(a), 0.0, a), -746.0, 710.0)  # beyond these exp is 0 or inf anyway; keeps k a small int
    k = np.rint(clipped * _INV_LN2)
    hi = clipped - k * _LN2_HI
    lo = k * _LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * _horner(t, _P)
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    with np.errstate(over="ignore", under="ignore"):
        # Two steps so that 2**k itself never overflows or flushes to zero before the product.
        half = (k // 2).astype(np.int32)
        out = np.ldexp(np.ldexp(y, half), (k - half).astype(np.int32))
    return _out(x, np.where(np.isnan(a), np.nan, out))


def log(x):
    """``log(x)``, float64, the same bits on every CPU (``-inf`` at 0, NaN below)."""
    a = np.asarray(x, dtype=np.float64)
    safe = np.where((a > 0) & np.isfinite(a), a, 1.0)
    m, e = np.frexp(safe)  # safe = m * 2**e, m in [0.5, 1)
    low = m < _SQRT_HALF
    m = np.where(low, m * 2.0, m)
    k = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * _horner(w, _LG[0::2]) + w * _horner(w, _LG[1::2])
    hfsq = 0.5 * f * f
    out = k * _LN2_HI - ((hfsq - (s * (hfsq + r) + k * _LN2_LO)) - f)
    out = np.where(a == 0, -np.inf, np.where(a < 0, np.nan, out))
    return _out(x, np.where(np.isposinf(a), np.inf, np.where(np.isnan(a), np.nan, out)))


def log1p(x):
    """``log(1 + x)``, accurate for small ``x`` (Kahan's correction), the same bits on every CPU."""
    a = np.asarray(x, dtype=np.float64)
    u = 1.0 + a
    d = u - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d == 0, a, np.asarray(log(u)) * (a / np.where(d == 0, 1.0, d)))
    return _out(x, np.where(np.isposinf(a), np.inf, out))


def power(x, y):
    """``x ** y`` for ``x > 0`` as ``exp(y log x)``, the same bits on every CPU."""
    return exp(np.multiply(y, log(x)))
