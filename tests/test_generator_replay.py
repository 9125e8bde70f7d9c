"""generator_replay against NumPy's own scalar calls: every number, and the generator's state after
(the kept 32-bit half included), over wide bounds, rejections, exact powers of two and short blocks."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")
from numba import njit  # noqa: E402

from dustbench.generator_replay import integer, random, replay, replayable, uniform  # noqa: E402

INTEGER, RANDOM, UNIFORM = 0, 1, 2


@njit(cache=True)
def _script(words, cursor, kinds, lows, highs):
    """One draw per entry: an integer in [low, high), a random() or a uniform(low, high)."""
    out = np.empty(kinds.size)
    for i in range(kinds.size):
        if kinds[i] == INTEGER:
            out[i] = integer(words, cursor, lows[i], highs[i])
        elif kinds[i] == RANDOM:
            out[i] = random(words, cursor)
        else:
            out[i] = uniform(words, cursor, lows[i] / 3.0, highs[i] * 1.5)
    return out


def _numpy(rng: np.random.Generator, kinds, lows, highs) -> list[float]:
    draws = {INTEGER: lambda lo, hi: int(rng.integers(lo, hi)), RANDOM: lambda lo, hi: rng.random(),
             UNIFORM: lambda lo, hi: rng.uniform(lo / 3.0, hi * 1.5)}
    return [draws[k](int(lo), int(hi)) for k, lo, hi in zip(kinds.tolist(), lows, highs)]


def _script_of(meta: np.random.Generator, n: int):
    kinds = meta.choice(3, n, p=[0.7, 0.15, 0.15])
    lows = meta.integers(-50_000, 50_000, n)
    spans = meta.integers(1, 100_000, n)
    odd = meta.random(n)
    spans[odd < 0.1] = meta.integers(1, 3, n)[odd < 0.1]  # one value (no draw) or two
    spans[odd > 0.95] = 2**32 - meta.integers(0, 2**31, n)[odd > 0.95]  # frequent rejections
    spans[(odd > 0.93) & (odd <= 0.95)] = 2**32  # every 32-bit value: no rejection step
    kinds[(kinds == UNIFORM) & (lows < 0)] = INTEGER
    return kinds, lows, lows + spans


@pytest.mark.parametrize("trial", range(12))
def test_the_same_draws_and_state_as_numpy(trial):
    meta = np.random.default_rng(trial)
    kinds, lows, highs = _script_of(meta, int(meta.integers(1, 2000)))
    seed = int(meta.integers(2**32))
    ours, theirs = np.random.default_rng(seed), np.random.default_rng(seed)
    for _ in range(trial % 3):  # start with a kept half (an odd number of 32-bit draws before)
        ours.integers(0, 7), theirs.integers(0, 7)
    expected = _numpy(theirs, kinds, lows, highs)
    got = replay(ours, _script, kinds, lows, highs, words=int(meta.integers(1, 64)))  # short blocks: drawn again
    assert got.tolist() == expected
    assert ours.bit_generator.state == theirs.bit_generator.state
    assert ours.integers(0, 1000, 9).tolist() == theirs.integers(0, 1000, 9).tolist()


def test_nothing_drawn_leaves_the_generator_alone():
    rng = np.random.default_rng(4)
    rng.integers(0, 5)
    before = rng.bit_generator.state
    empty = np.zeros(0, np.int64)
    assert replay(rng, _script, empty, empty, empty).size == 0 and rng.bit_generator.state == before


@njit(cache=True)
def _unbounded(words, cursor, high):
    total = 0
    while cursor[3] == 0:  # a bound that never ends its draws: every block runs short
        total += integer(words, cursor, 0, high)
    return total


def test_a_sampler_that_never_ends_is_stopped_and_the_generator_left_alone():
    rng = np.random.default_rng(8)
    before = rng.bit_generator.state
    with pytest.raises(RuntimeError, match="drew more than"):
        replay(rng, _unbounded, 10)
    assert rng.bit_generator.state == before


def test_only_pcg64_is_replayed():
    assert replayable(np.random.default_rng(0))
    assert not replayable(np.random.Generator(np.random.MT19937(0)))
    assert not replayable(np.random.Generator(np.random.PCG64DXSM(0)))
