"""Procedural clean images: deterministic per seed (the same bytes in a child process with the CPU's
SIMD features off), every kind draws structure, and they work wherever a clean source is accepted."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.sources import open_sources, procedural_image, source_from_record, source_record
from dustbench.sources.procedural import KINDS


def _digest(kind: str) -> str:
    image = procedural_image(kind, (96, 128), np.random.default_rng(np.random.SeedSequence([3, 1])))
    return hashlib.sha256(image.tobytes()).hexdigest()


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_deterministic_and_draws_something(kind):
    a = procedural_image(kind, (120, 160), np.random.default_rng(5))
    b = procedural_image(kind, (120, 160), np.random.default_rng(5))
    assert a.dtype == np.uint8 and a.shape == (120, 160, 3) and np.array_equal(a, b)
    assert a.std() > 10 and len(np.unique(a.reshape(-1, 3), axis=0)) > 50
    grey16 = procedural_image(kind, (120, 160), np.random.default_rng(5), dtype=np.uint16, channels=1)
    assert grey16.dtype == np.uint16 and grey16.shape == (120, 160)


# sha256 prefixes of _digest(kind), pinned 2026-12-07: the scenes published models were trained on
# stay the scenes a seed draws (a faster drawing must draw the same numbers in the same order)
PINNED = {"dead_leaves": "e99088e23fef6693", "text": "78e789ca29d713d4", "lines": "57fa6c7e5d816db4",
          "points": "5a36ba9d93e6fd7f", "foliage": "a1f70ede6f8f8ef3"}


def test_the_same_bytes_as_published():
    assert {k: _digest(k)[:16] for k in KINDS} == PINNED


def test_the_numpy_reference_draws_the_published_scenes():
    """Without numba (or with it switched off) every draw is a NumPy call: the same scenes."""
    from dustbench import portable_math as pm
    before = pm.use()
    try:
        pm.use("numpy")
        assert {k: _digest(k)[:16] for k in KINDS} == PINNED
    finally:
        pm.use(before)


@pytest.mark.parametrize("name", ["leaves", "text", "lines", "points", "foliage"])
def test_the_compiled_draws_are_the_references(name):
    """procedural_jit's samplers against procedural's NumPy ones: every array, element for element,
    and the generator's state after, over seeds and shapes (narrow ones: bounds of one or two values)."""
    pytest.importorskip("numba")
    from dustbench.generator_replay import replay
    from dustbench.sources import procedural, procedural_jit

    sampler, _ = procedural_jit.SAMPLERS[name]
    extra = (len(procedural._CHARS), len(procedural._FONTS)) if name == "text" else ()
    for seed, (h, w) in enumerate([(16, 16), (17, 900), (333, 20), (700, 1200)]):
        ours, theirs = np.random.default_rng([seed, 5]), np.random.default_rng([seed, 5])
        ours.integers(0, 3, seed), theirs.integers(0, 3, seed)  # some start with a kept 32-bit half
        radii = (np.linspace(min(h, w) / 3, 1.0, 1000),) if name == "leaves" else ()
        got = replay(ours, sampler, *radii, h, w, *extra, words=16)  # short blocks: drawn again
        expected = procedural._SAMPLE[name](theirs, *radii, h, w, *extra)
        for a, b in zip(got if isinstance(got, tuple) else (got,), expected if isinstance(expected, tuple) else
                        (expected,)):
            assert a.dtype == b.dtype and np.array_equal(a, b), (name, seed)
        assert ours.bit_generator.state == theirs.bit_generator.state


def test_same_bytes_with_the_cpus_simd_features_off():
    from tests.test_portable_math import lowest_cpu_class_env
    code = ("import json; from tests.test_procedural import _digest; from dustbench.sources.procedural import KINDS;"
            "print(json.dumps({k: _digest(k) for k in KINDS}))")
    done = subprocess.run([sys.executable, "-c", code], env=lowest_cpu_class_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {k: _digest(k) for k in KINDS}


def test_as_a_clean_source_everywhere(tmp_path, capsys):
    sources = open_sources("procedural:text")
    assert len(sources) == 64 and all(s.kind == "text" for s in sources)
    again = source_from_record(json.loads(json.dumps(source_record(sources[3]))))
    assert again == sources[3] and np.array_equal(again.load(), sources[3].load())
    with pytest.raises(DustbenchError, match="procedural:KIND"):
        open_sources("procedural:clouds")
    assert main(["synth", "--clean", "procedural", "--out", str(tmp_path / "s"), "--n", "2", "--quiet",
                 "--no-contact-sheet"]) == 0
    assert main(["make-dataset", "--clean", "procedural:lines", "--out", str(tmp_path / "d"), "--train-patches", "4",
                 "--patch", "64", "--val-images", "1", "--test-images", "1", "--quiet"]) == 0


def _spectrum_slope(image: np.ndarray) -> float:
    """Slope of the radially averaged power spectrum (log-log) of a 512² grey crop, Hann-windowed."""
    import cv2
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)[:512, :512]
    grey -= grey.mean()
    win = np.hanning(grey.shape[0])[:, None] * np.hanning(grey.shape[1])[None]
    power = np.abs(np.fft.fftshift(np.fft.fft2(grey * win))) ** 2
    y, x = np.indices(power.shape)
    r = np.hypot(y - power.shape[0] // 2, x - power.shape[1] // 2).astype(int)
    profile = np.bincount(r.ravel(), power.ravel()) / np.bincount(r.ravel())
    f = np.arange(len(profile))
    keep = (f >= 4) & (f <= min(power.shape) // 2 - 4)
    return float(np.polyfit(np.log(f[keep]), np.log(profile[keep]), 1)[0])


def test_power_spectra_fall_like_the_photographs():
    """Natural images' power falls as ~1/f^2..3: the procedural kinds' slopes lie within the built-in
    photographs' range, widened by 0.4 (measured 2026-12-06: photos -3.05..-2.13, kinds -2.84..-1.82)."""
    from dustbench.sources import builtin_sources
    photos = [_spectrum_slope(s.load()) for s in builtin_sources()]
    lo, hi = min(photos) - 0.4, max(photos) + 0.4
    for kind in KINDS:
        slope = _spectrum_slope(procedural_image(kind, (600, 800), np.random.default_rng(0)))
        assert lo <= slope <= hi, (kind, slope, (lo, hi))


def test_sources_join_with_plus():
    both = open_sources("builtin-train+procedural:points")
    alone = open_sources("builtin-train")
    assert [s.id for s in both[:len(alone)]] == [s.id for s in alone] and len(both) == len(alone) + 64
    with pytest.raises(DustbenchError, match="empty part"):
        open_sources("procedural+")
