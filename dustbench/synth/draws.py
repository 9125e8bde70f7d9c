"""The random draws every sampler shares: a preset's ``[lo, hi]`` range, n values at a time.

Kept apart from :mod:`~dustbench.synth.params` so that the families' samplers
(:mod:`~dustbench.synth.families`), which params dispatches to, can use them without an import cycle.
"""
from __future__ import annotations

import numpy as np

from .. import portable_math as pm

SIGNS = np.array([-1.0, 1.0])


def keyed_rng(entropy, key: int) -> np.random.Generator:
    """A sample's generator for one kind of draw (grain, infrared): from the sample's own seed (an int
    or ints) with spawn key `key`, so those draws never touch its damage's."""
    entropy = [int(v) for v in entropy] if np.ndim(entropy) else int(entropy)
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(key,)))


def uniform(rng: np.random.Generator, rng_range, n: int) -> np.ndarray:
    """n uniform draws in ``[lo, hi]``.

    >>> uniform(np.random.default_rng(0), [2.0, 2.0], 3).tolist()
    [2.0, 2.0, 2.0]
    """
    lo, hi = rng_range
    return rng.uniform(lo, hi, n)


def loguniform(rng: np.random.Generator, rng_range, n: int) -> np.ndarray:
    """n log-uniform draws in ``[lo, hi]`` (uniform when lo is 0 or the range is empty).

    >>> bool(np.all((loguniform(np.random.default_rng(0), [0.001, 0.1], 50) >= 0.001)))
    True
    """
    # Sizes are heavy-tailed: many small artifacts, a few large ones.
    lo, hi = rng_range
    if lo <= 0 or hi <= lo:
        return rng.uniform(lo, hi, n)
    return pm.exp(rng.uniform(pm.log(lo), pm.log(hi), n))
