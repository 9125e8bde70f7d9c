"""Products over an array's last axis (``a @ w``) with the same bits on every CPU: BT.601 luma, the
metrics' Y, a small perceptron's layers.

NumPy hands a matrix product to BLAS, and BLAS picks its kernel by CPU class. On the same floats,
OpenBLAS's AVX-512 kernel fuses each multiply and add (one rounding) where its AVX2 kernel does not
(two), so the luma of one image came out a last bit apart on two machines, and a threshold on it
decided a few pixels otherwise: ``line_detect``'s published scores moved by up to 0.001 dB on 4 of
80 images on an AVX-512 VM, and came back exactly with ``OPENBLAS_CORETYPE=Haswell``. Here every
product and every sum is a NumPy operation of its own (IEEE, one rounding each, never fused), in the
order of the last axis: ``(a0·w0 + a1·w1) + a2·w2``. For a float32 luma that is what the AVX2 kernel
computes, so the figures published from such a machine stand; for float64 (the metrics' Y, the
verifier's layers) the AVX2 kernel fuses too, and the result is what a CPU without FMA gives.
Synthesis on grey images changed its bytes once (2026-12-07): an artifact colour's grey value was
BLAS's dot product, fused on every CPU with FMA and not on others; it is now what a CPU without FMA
gave, on every CPU. The 2×2 products that place a stamp (``synth/stamps.py``) came here last
(2026-12-08); no pinned synthesis had changed under another kernel (``OPENBLAS_CORETYPE=Prescott``).
"""
from __future__ import annotations

import numpy as np

LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601: colour -> grey


def dot_last(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    """``a @ w`` for ``a`` of shape (..., C) and ``w`` of shape (C,) or (C, K), C ≥ 1, summed in the
    order of C, one rounding per product and per sum. Floating: for float operands the dtype
    ``a @ w`` gives; integer ones are promoted with float32 by NumPy's rules (uint8 → float32)."""
    a, w = np.asarray(a), np.asarray(w)
    if w.ndim not in (1, 2) or a.ndim < 1 or a.shape[-1] != w.shape[0] or not w.shape[0]:
        raise ValueError(f"dot_last: cannot multiply {a.shape} by {w.shape} over the last axis")
    dtype = np.result_type(a.dtype, w.dtype, np.float32 if a.dtype.kind in "biu" else a.dtype)
    a, w = a.astype(dtype, copy=False), w.astype(dtype, copy=False)
    term = (lambda c: a[..., c] * w[c]) if w.ndim == 1 else (lambda c: a[..., c, None] * w[c])
    out = np.asarray(term(0))
    for c in range(1, w.shape[0]):
        out += term(c)  # its own rounding: a product is never fused into the sum
    return out if out.ndim else out[()]


def luma(image: np.ndarray) -> np.ndarray:
    """BT.601 luma of an H×W×3 image (or of colours, shape (..., 3)): ``dot_last(image, LUMA)``."""
    return dot_last(image, LUMA)
