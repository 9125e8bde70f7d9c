"""Paired and unpaired statistics over per-image scores: bootstrap CIs and paired comparisons.

Both follow ``scipy.stats`` (``bootstrap`` with the percentile method, computed here the same way
without importing scipy; ``permutation_test`` with sign flips), with dustbench's conventions: all randomness from the
``numpy.random.Generator`` passed in, inf/NaN refused (cap PSNR of identical images first), and
resampling in blocks of bounded memory. Re-exported by :mod:`dustbench.metrics`; see docs/metrics.md.
"""
from __future__ import annotations

import numpy as np

__all__ = ["bootstrap_ci", "paired_comparison"]


def _as_values(values, name="values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"{name} must be a non-empty 1-D sequence, got shape {v.shape}")
    if np.isnan(v).any():
        raise ValueError(f"{name} contains NaN")
    if np.isinf(v).any():
        raise ValueError(f"{name} contains inf (e.g. PSNR of a pixel-identical image); cap it "
                         "explicitly first, e.g. np.minimum(values, 100.0), and report the cap")
    return v


def _check_stats_args(rng, n_resamples, confidence):
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    if int(n_resamples) != n_resamples or n_resamples < 1:
        raise ValueError(f"n_resamples must be a positive integer, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")


def _batch(n: int) -> int:
    """Resamples per block, each block holding at most ~4M draws (bounded memory)."""
    return max(1, (1 << 22) // n)


def _mean_last(x, axis=-1):
    return np.mean(x, axis=axis)


def bootstrap_ci(values, rng: np.random.Generator, n_resamples=2000, confidence=0.95):
    """Percentile-bootstrap CI of the mean: returns ``(mean, low, high)``.

    ``scipy.stats.bootstrap(method="percentile")``: ``n_resamples`` resamples with replacement drawn
    as ``rng.integers(0, n, (block, n))``, quantiles ``(1 − confidence)/2`` and ``1 − (1 − confidence)/2``
    of their means. One value gives the interval (v, v). ``inf``/NaN values are refused (ValueError):
    cap PSNR of identical images explicitly first. All randomness comes from ``rng``.

    Computed here as scipy computes it, draw for draw and operation for operation (tested equal to
    ``scipy.stats.bootstrap`` to the last bit): importing scipy.stats took 0.7 s, a third of a small
    ``dustbench evaluate``'s start-up.
    """
    v = _as_values(values)
    _check_stats_args(rng, n_resamples, confidence)
    if v.size == 1:  # every resample is the value itself (scipy needs two observations)
        return float(v[0]), float(v[0]), float(v[0])
    n, total, block = v.size, int(n_resamples), _batch(v.size)
    means = np.concatenate([_mean_last(v[rng.integers(0, n, (min(block, total - k), n))])
                            for k in range(0, total, block)])
    low, high = _linear_quantiles(np.sort(means), (1 - confidence) / 2)
    return float(v.mean()), low, high


def _linear_quantiles(y: np.ndarray, alpha: float) -> tuple[float, float]:
    """The ``alpha`` and ``1 − alpha`` quantiles of sorted ``y``, as ``scipy.stats.quantile``'s
    default ('linear', Hyndman & Fan type 7) computes them."""
    p = np.asarray(alpha, dtype=y.dtype)
    p = np.stack([p, 1 - p])
    n = y.size
    jg = p * n + (1 - p)
    j = jg // 1 - 1
    g = jg % 1
    g[j < 0] = 0
    j = np.clip(j, 0.0, n - 1).astype(np.int64)
    jp1 = np.clip(jg // 1, 0.0, n - 1).astype(np.int64)
    q = (1 - g) * y[j] + g * y[jp1]
    return float(q[0]), float(q[1])


def _abs_mean_diff(a, b, axis=-1):
    return np.abs(np.mean(b - a, axis=axis))


def paired_comparison(a, b, rng: np.random.Generator, n_resamples=2000, confidence=0.95) -> dict:
    """Compare two methods scored on the same images; differences are ``b - a``.

    Returns ``n``, ``mean_diff`` (mean of b − a; positive = b scores higher), ``ci_low`` /
    ``ci_high`` (:func:`bootstrap_ci` of the differences: pairs resampled together), ``wins`` /
    ``losses`` / ``ties`` (images where b > a, b < a, b == a) and ``p_value`` of a two-sided
    sign-flip permutation test of mean difference 0 (``scipy.stats.permutation_test``,
    ``permutation_type="samples"``, statistic |mean(b − a)|): exact over all 2**n sign patterns
    when 2**n <= n_resamples (``p_method='exact'``), else ``n_resamples`` random flips with
    p = (k + 1)/(n_resamples + 1) (``p_method='monte-carlo'``). The CI's resamples are drawn
    from ``rng`` first, then the flips.
    """
    from scipy import stats  # deferred: see bootstrap_ci

    a, b = _as_values(a, "a"), _as_values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same length, got {a.size} and {b.size}")
    d = b - a
    mean, low, high = bootstrap_ci(d, rng, n_resamples, confidence)
    n = d.size
    exact = 2 ** n <= n_resamples
    if n == 1:  # both sign patterns give |d|: p = 1 (scipy needs two pairs)
        p_value = 1.0
    else:
        p_value = stats.permutation_test((a, b), _abs_mean_diff, permutation_type="samples", vectorized=True,
                                         n_resamples=int(n_resamples), alternative="greater", batch=_batch(2 * n),
                                         rng=rng).pvalue
    return {"n": n, "mean_diff": mean, "ci_low": low, "ci_high": high,
            "wins": int((d > 0).sum()), "losses": int((d < 0).sum()), "ties": int((d == 0).sum()),
            "p_value": float(min(1.0, p_value)), "p_method": "exact" if exact else "monte-carlo"}
