"""NumPy ``Generator`` draws made in compiled code: the same numbers, in the same order, and the
generator left in the same state as the scalar calls would leave it.

A procedural scene draws a few numbers per shape, thousands of shapes, each draw a Python call into
NumPy (~1 µs), so the draws cost more than the drawing. Done here, a loop compiled by numba makes the
same draws from a block of the bit generator's raw 64-bit words, as NumPy's C code makes them
(``numpy/random/src/distributions/distributions.c`` and ``pcg64.h``, NumPy 1.17 to 2.x):

* ``integers(low, high)`` for 1 to 2**32 values: Lemire's bounded method
  (``buffered_bounded_lemire_uint32``) on 32-bit draws; one plain 32-bit draw for exactly 2**32
  values, none for one value;
* a 32-bit draw is the low half of a fresh 64-bit word, its high half kept for the next one
  (the bit generator's ``has_uint32`` / ``uinteger``, which lives on between calls);
* ``random()`` is ``(word >> 11) * 2**-53`` from a fresh word (the kept half stays kept);
  ``uniform(a, b)`` is ``a + (b - a) * random()``.

:func:`replay` runs a compiled sampler on such a block and sets the generator to where the scalar
calls would have left it. Only ``PCG64`` (``default_rng``'s) is replayed (:func:`replayable`); tests
compare every draw and the state after with NumPy's own calls (tests/test_generator_replay.py).

Two things to know when changing it:

* numba caches a compiled caller (``sources/procedural_jit.py``, the tests' scripts) by the
  caller's own file: after editing this module, delete the ``*.nbi``/``*.nbc`` files beside the
  callers (``__pycache__``), or the callers keep the old draws while tests of this module pass;
* NumPy's ``uniform`` is C code that a compiler may fuse into one multiply-add on some CPUs
  (numpy/numpy#22993 reports it on aarch64 and ppc64le builds); numba never fuses, so there the
  replay keeps x86-64's bits, which a NumPy call might not.
"""
from __future__ import annotations

import numpy as np
from numba import njit

_LOW32 = np.uint64(0xFFFFFFFF)
_SHIFT32 = np.uint64(32)
_SHIFT11 = np.uint64(11)
_TWO_M53 = 1.0 / 9007199254740992.0
# the cursor: [next word, 1 when a 32-bit half is kept, that half, 1 when the block ran out]
POS, HAS32, KEPT, SHORT = 0, 1, 2, 3
MAX_WORDS = 1 << 22  # 32 MiB of raw words (a scene draws < 20,000): a sampler past it has a bad bound


@njit(cache=True, inline="always")
def _word(words, cursor) -> np.uint64:
    pos = cursor[POS]
    if pos >= words.size:
        cursor[SHORT] = 1  # the caller draws a longer block and runs again
        return np.uint64(0)
    cursor[POS] = pos + 1
    return words[pos]


@njit(cache=True)
def next32(words, cursor) -> np.uint64:
    """NumPy's ``next_uint32`` for a 64-bit bit generator: the kept high half, else a new word's low half."""
    if cursor[HAS32] == 1:
        cursor[HAS32] = 0
        return np.uint64(cursor[KEPT])
    w = _word(words, cursor)
    cursor[HAS32] = 1
    cursor[KEPT] = np.int64(w >> _SHIFT32)
    return w & _LOW32


@njit(cache=True)
def integer(words, cursor, low: int, high: int) -> int:
    """``int(rng.integers(low, high))`` for ``0 < high - low <= 2**32``."""
    rng = np.uint64(high - low - 1)
    if rng == np.uint64(0):
        return low
    if rng == _LOW32:
        return low + np.int64(next32(words, cursor))
    excl = rng + np.uint64(1)
    m = next32(words, cursor) * excl
    leftover = m & _LOW32
    if leftover < excl:
        threshold = (_LOW32 - rng) % excl
        while leftover < threshold and cursor[SHORT] == 0:
            m = next32(words, cursor) * excl
            leftover = m & _LOW32
    return low + np.int64(m >> _SHIFT32)


@njit(cache=True)
def random(words, cursor) -> float:
    """``rng.random()``: 53 bits of a new word."""
    return np.float64(_word(words, cursor) >> _SHIFT11) * _TWO_M53


@njit(cache=True)
def uniform(words, cursor, low: float, high: float) -> float:
    """``rng.uniform(low, high)``: ``low + (high - low) * random()``, in that order (no FMA)."""
    span = high - low
    return low + span * random(words, cursor)


def replayable(rng: np.random.Generator) -> bool:
    """Whether :func:`replay` reproduces ``rng``'s draws (its bit generator is NumPy's PCG64)."""
    return type(rng.bit_generator) is np.random.PCG64


def replay(rng: np.random.Generator, sampler, *args, words: int = 4096):
    """``sampler(words, cursor, *args)`` on raw words from ``rng``; then ``rng`` is where the scalar
    draws the sampler stands for would have left it. A block that runs short is drawn again longer,
    up to :data:`MAX_WORDS` (past it: RuntimeError, ``rng`` untouched). The sampler's bounds are its
    own to check: ``integer`` expects ``0 < high - low <= 2**32``, as NumPy would."""
    bitgen = rng.bit_generator
    start = bitgen.state
    while True:
        block = bitgen.random_raw(words)
        cursor = np.array([0, start["has_uint32"], start["uinteger"], 0], np.int64)
        out = sampler(block, cursor, *args)
        if cursor[SHORT] == 0:
            break
        bitgen.state = start
        if words >= MAX_WORDS:
            raise RuntimeError(f"{getattr(sampler, '__name__', sampler)} drew more than {MAX_WORDS} random words: "
                               "an integer bound outside 0 < high - low <= 2**32?")
        words = min(words * 4, MAX_WORDS)
    bitgen.state = start
    bitgen.random_raw(int(cursor[POS]))  # exactly the words used
    end = bitgen.state
    end["has_uint32"], end["uinteger"] = int(cursor[HAS32]), int(cursor[KEPT])
    bitgen.state = end
    return out
