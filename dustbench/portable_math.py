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

The same arithmetic runs compiled by numba when it is installed (:mod:`dustbench.portable_jit`:
one pass per element instead of some thirty NumPy passes, which mattered because synthesis calls
these hundreds of times per training patch on small arrays); the NumPy code below is the
reference, used without numba or with ``DUSTBENCH_PORTABLE_JIT=0``. Both give the same bits.
"""
from __future__ import annotations

import os

import numpy as np

from . import fdlibm as fd

__all__ = ["sin", "cos", "exp", "log", "log1p", "power"]


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
    n = np.rint(x * fd.INV_PIO2)
    r = x - n * fd.PIO2_1
    r = r - n * fd.PIO2_2
    r = r - n * fd.PIO2_3
    return r, np.mod(n, 4).astype(np.int8)


def _kernel_sin(r: np.ndarray) -> np.ndarray:
    z = r * r
    return r + (z * r) * (fd.S[0] + z * _horner(z, fd.S[1:]))


def _kernel_cos(r: np.ndarray) -> np.ndarray:
    z = r * r
    hz = 0.5 * z
    w = 1.0 - hz
    return w + (((1.0 - w) - hz) + (z * z) * _horner(z, fd.C))


def _sin_cos(x, shift: int):
    a = np.asarray(x, dtype=np.float64)
    finite = np.abs(a) < fd.MAX_ANGLE  # also False for inf and NaN
    r, q = _reduce(np.where(finite, a, 0.0))
    q = (q + shift) % 4
    s, c = _kernel_sin(r), _kernel_cos(r)
    out = np.where(q % 2 == 0, s, c)
    out = np.where(q >= 2, -out, out)
    out = np.where(a == 0, a if shift == 0 else 1.0, out)  # sin(-0.0) is -0.0
    return _out(x, np.where(finite, out, np.nan))


def _exp(x):
    a = np.asarray(x, dtype=np.float64)
    clipped = np.clip(np.where(np.isnan(a), 0.0, a), fd.EXP_LO, fd.EXP_HI)
    k = np.rint(clipped * fd.INV_LN2)
    hi = clipped - k * fd.LN2_HI
    lo = k * fd.LN2_LO
    r = hi - lo
    t = r * r
    c = r - t * _horner(t, fd.P)
    y = 1.0 - ((lo - (r * c) / (2.0 - c)) - hi)
    with np.errstate(over="ignore", under="ignore"):
        # Two steps so that 2**k itself never overflows or flushes to zero before the product.
        half = (k // 2).astype(np.int32)
        out = np.ldexp(np.ldexp(y, half), (k - half).astype(np.int32))
    return _out(x, np.where(np.isnan(a), np.nan, out))


def _log(x):
    a = np.asarray(x, dtype=np.float64)
    safe = np.where((a > 0) & np.isfinite(a), a, 1.0)
    m, e = np.frexp(safe)  # safe = m * 2**e, m in [0.5, 1)
    low = m < fd.SQRT_HALF
    m = np.where(low, m * 2.0, m)
    k = (e - low).astype(np.float64)
    f = m - 1.0
    s = f / (2.0 + f)
    z = s * s
    w = z * z
    r = z * _horner(w, fd.LG[0::2]) + w * _horner(w, fd.LG[1::2])
    hfsq = 0.5 * f * f
    out = k * fd.LN2_HI - ((hfsq - (s * (hfsq + r) + k * fd.LN2_LO)) - f)
    out = np.where(a == 0, -np.inf, np.where(a < 0, np.nan, out))
    return _out(x, np.where(np.isposinf(a), np.inf, np.where(np.isnan(a), np.nan, out)))


def _log1p(x):
    a = np.asarray(x, dtype=np.float64)
    u = 1.0 + a
    d = u - 1.0
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(d == 0, a, np.asarray(_log(u)) * (a / np.where(d == 0, 1.0, d)))
    return _out(x, np.where(np.isposinf(a), np.inf, out))


# The NumPy implementations: the reference, and what runs when numba is missing or switched off.
NUMPY = {"sin": lambda x: _sin_cos(x, 0), "cos": lambda x: _sin_cos(x, 1), "exp": _exp, "log": _log,
         "log1p": _log1p, "power": lambda x, y: _exp(np.multiply(y, _log(x)))}
_ACTIVE: dict = {}  # name -> the function in use; filled on first use (use())


def _quiet(ufunc):
    """The ufunc with floating-point flags ignored, as the NumPy code ignores them: exp(1000)
    overflows to inf and log1p(-inf) is NaN by design, not errors to report."""
    def call(*args):
        with np.errstate(all="ignore"):
            return ufunc(*args)
    return call


def use(name: str | None = None) -> str:
    """Choose the implementation: "numba" (:mod:`dustbench.portable_jit`; the default where
    numba imports, unless ``DUSTBENCH_PORTABLE_JIT=0``) or "numpy". Both give the same bits, the
    compiled one several times faster. Returns the one in use (``use()``: which one that is)."""
    if name is None and _ACTIVE:
        return _ACTIVE["implementation"]
    module = None
    wanted = name or ("numpy" if os.environ.get("DUSTBENCH_PORTABLE_JIT", "1") == "0" else "numba")
    if wanted == "numba":
        try:
            from . import portable_jit as module  # deferred: imports numba
        except ImportError:
            if name:  # asked for by name: say why not
                raise
    elif wanted != "numpy":
        raise ValueError(f"portable math implementation {name!r}: use 'numba' or 'numpy'")
    if module is None:
        table = {**NUMPY, "implementation": "numpy"}
    else:  # ufuncs: scalars in give NumPy scalars out, as NumPy's own do
        table = {"sin": module.sin, "cos": module.cos, "log": module.log, "exp": _quiet(module.exp),
                 "log1p": _quiet(module.log1p), "power": _quiet(module.power), "implementation": "numba"}
    _ACTIVE.update(table)  # the same keys every time: a thread calling meanwhile sees one or the other
    return _ACTIVE["implementation"]


def implementation() -> str:
    """"numba" or "numpy": the implementation in use (see :func:`use`)."""
    return use()


def _call(name: str, *args):
    if not _ACTIVE:
        use()
    return _ACTIVE[name](*args)


def sin(x):
    """``sin(x)``, float64, the same bits on every CPU (angles up to ~1e6 rad)."""
    return _call("sin", x)


def cos(x):
    """``cos(x)``, float64, the same bits on every CPU (angles up to ~1e6 rad)."""
    return _call("cos", x)


def exp(x):
    """``exp(x)``, float64, the same bits on every CPU."""
    return _call("exp", x)


def log(x):
    """``log(x)``, float64, the same bits on every CPU (``-inf`` at 0, NaN below)."""
    return _call("log", x)


def log1p(x):
    """``log(1 + x)``, accurate for small ``x`` (Kahan's correction), the same bits on every CPU."""
    return _call("log1p", x)


def power(x, y):
    """``x ** y`` for ``x > 0`` as ``exp(y log x)``, the same bits on every CPU."""
    return _call("power", x, y)
