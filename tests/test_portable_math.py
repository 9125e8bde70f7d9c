"""portable_math: close to NumPy's functions, exact at special values, and the same bits whatever
SIMD kernels the CPU offers (a child process with NumPy's, OpenCV's and glibc's CPU features
switched off must draw the same synthesis bytes as this one)."""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

from dustbench import portable_math as pm

RNG = np.random.default_rng(7)
CASES = [  # function, reference, inputs
    (pm.sin, np.sin, RNG.uniform(-200.0, 200.0, 20000)),
    (pm.cos, np.cos, RNG.uniform(-200.0, 200.0, 20000)),
    (pm.exp, np.exp, RNG.uniform(-745.0, 709.0, 20000)),
    (pm.log, np.log, np.exp(RNG.uniform(-700.0, 700.0, 20000))),
    (pm.log1p, np.log1p, -RNG.random(20000)),
    (pm.log1p, np.log1p, RNG.uniform(-1e-12, 1e-12, 2000)),
]


@pytest.mark.parametrize("fn,ref,x", CASES, ids=lambda c: getattr(c, "__name__", ""))
def test_within_two_ulps_of_numpy(fn, ref, x):
    got, want = fn(x), ref(x)
    assert np.all(np.abs(got - want) <= 2 * np.spacing(np.abs(want)))


@pytest.mark.parametrize("name", ["sin", "cos", "exp", "log", "log1p"])
def test_within_one_ulp_of_the_exact_value(name):
    """Against mpmath at 60 digits (NumPy's own kernels differ by CPU, so they cannot be the reference)."""
    mpmath = pytest.importorskip("mpmath")
    mpmath.mp.dps = 60
    x = {"sin": RNG.uniform(-100, 100, 400), "cos": RNG.uniform(-100, 100, 400), "exp": RNG.uniform(-700, 700, 400),
         "log": np.exp(RNG.uniform(-700, 700, 400)), "log1p": np.concatenate([-RNG.random(200), RNG.uniform(0, 1e-8, 200)])}[name]
    exact = np.array([float(getattr(mpmath, name)(mpmath.mpf(float(v)))) for v in x])
    got = getattr(pm, name)(x)
    assert np.all(np.abs(got - exact) <= np.spacing(np.abs(exact)))


def test_power_and_scalars():
    """Scalars in give NumPy scalars out (as np.sin does); power is exp(y log x) for x > 0."""
    assert isinstance(pm.sin(1.0), np.float64) and pm.sin(1.0) == pytest.approx(math.sin(1.0), abs=1e-16)
    assert pm.power(2.0, 0.5) == pytest.approx(math.sqrt(2.0), rel=1e-15)
    np.testing.assert_allclose(pm.power(np.arange(2, 9.0), 0.8), np.arange(2, 9.0) ** 0.8, rtol=1e-15)


def test_special_values():
    with np.errstate(all="raise"):  # no warning leaks from the masked-out lanes
        assert pm.log(0.0) == -np.inf and np.isnan(pm.log(-1.0)) and pm.log(np.inf) == np.inf
        assert pm.exp(1000.0) == np.inf and pm.exp(-1000.0) == 0.0 and pm.exp(-np.inf) == 0.0
        assert np.isnan(pm.sin(np.inf)) and np.isnan(pm.cos(np.nan)) and np.isnan(pm.exp(np.nan))
        assert pm.log1p(1e-300) == 1e-300 and pm.log1p(-1.0) == -np.inf and pm.log1p(np.inf) == np.inf
        assert math.copysign(1.0, pm.sin(-0.0)) == -1.0 and pm.cos(-0.0) == 1.0
        assert np.isnan(pm.sin(1e7)) and np.isnan(pm.cos(-1e22))  # beyond the exact reduction: NaN, not junk
    assert pm.exp(-745.0) == 5e-324  # the smallest subnormal, through the two-step scaling


_SPECIAL = np.array([0.0, 5e-324, 1e-310, 2.2250738585072014e-308, 1e-300, 1e-8, 0.5, 0.7071067811865475,
                     0.7071067811865476, 1.0, 2.0, math.pi / 4, math.pi / 2, math.pi, 709.78, 709.79, 745.13, 745.14, 746.0,
                     1e16, 1.6e6, 1.7e6, 1e300, np.inf, np.nan])
_SPECIAL = np.concatenate([_SPECIAL, -_SPECIAL])
_RANGES = {"sin": [(-10, 10), (-2e6, 2e6)], "cos": [(-10, 10), (-2e6, 2e6)], "exp": [(-800, 800), (-1, 1), (-746, -700)],
           "log": [(0, 1e-300), (0, 1), (0, 1e300), (1 - 1e-9, 1 + 1e-9)], "log1p": [(-1, 1), (-1e-12, 1e-12), (0, 1e10)]}


def _same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype == np.float64 and a.shape == b.shape and bool(
        np.all((np.isnan(a) & np.isnan(b)) | (a.view(np.int64) == b.view(np.int64))))


@pytest.mark.skipif(pm.implementation() != "numba", reason="numba missing: only the NumPy code runs")
@pytest.mark.parametrize("name", sorted(_RANGES))
def test_the_compiled_functions_give_the_numpy_bits(name):
    """portable_jit against the NumPy reference: every bit, over wide ranges, subnormals, the edges
    of exp's range and of the exact angle reduction, infinities, NaN, and scalars (same type out)."""
    rng = np.random.default_rng(11)
    fn, ref = getattr(pm, name), pm.NUMPY[name]
    for lo, hi in _RANGES[name]:
        x = np.concatenate([rng.uniform(lo, hi, 100_000), _SPECIAL])
        assert _same_bits(fn(x), ref(x)), (name, lo, hi)
    assert _same_bits(fn(x.reshape(-1, 5)), ref(x.reshape(-1, 5)))
    for v in _SPECIAL.tolist():
        assert type(fn(v)) is type(ref(v)) is np.float64 and _same_bits(fn(v), ref(v)), (name, v)
    x, y = rng.uniform(0, 100, (30, 40)), rng.uniform(-3, 3, (30, 40))
    assert _same_bits(pm.power(x, y), pm.NUMPY["power"](x, y))
    assert _same_bits(pm.power(x[:, :1], 0.8), pm.NUMPY["power"](x[:, :1], 0.8))


def test_numba_can_be_switched_off():
    code = "from dustbench import portable_math as pm; print(pm.implementation())"
    env = {**os.environ, "DUSTBENCH_PORTABLE_JIT": "0"}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "numpy", done.stderr[-2000:]


# Hashes of the portable functions on fixed inputs: the bits every CPU must give (x86-64 with or
# without AVX-512/AVX2/FMA, arm64). A change here is a change of every synthesized byte's inputs.
BITS = "816d916f"


def _bits() -> str:
    x = np.linspace(-50.0, 50.0, 10001)
    h = hashlib.sha256()
    for a in (pm.sin(x), pm.cos(x), pm.exp(x), pm.log(np.abs(x) + 1e-3), pm.log1p(-np.abs(x) / 51), pm.power(np.abs(x) + 1, 0.8)):
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()[:8]


def test_bits_are_the_recorded_ones():
    assert _bits() == BITS


# Film grain (dustbench.synth.grain) on a fixed image, 8-bit colour, 16-bit grey and float: the bytes every
# CPU must give. A change here changes the clean images of every run made with --grain.
GRAIN_BITS = "f4cac661"


def _grain_bits() -> str:
    from dustbench.synth.grain import apply_grain, sample_grain
    clean = (np.arange(96 * 128 * 3) % 251).astype(np.uint8).reshape(96, 128, 3)
    h = hashlib.sha256()
    for stock, image in (("portra400", clean), ("bw_coarse@2400dpi", clean[..., 0].astype(np.uint16) * 257),
                         ("slide_fine", clean.astype(np.float32) / 255)):
        params = sample_grain(stock, 157.0 if "@" not in stock else 2400 / 25.4, np.random.default_rng(9))
        h.update(json.dumps(params, sort_keys=True).encode())
        h.update(apply_grain(image, params).tobytes())
    return h.hexdigest()[:8]


def test_grain_bits_are_the_recorded_ones():
    assert _grain_bits() == GRAIN_BITS


_CHILD = """
import hashlib, json, numpy as np
from dustbench.synth import synthesize
from tests.test_portable_math import _bits
clean = (np.arange(96 * 128 * 3) % 251).astype(np.uint8).reshape(96, 128, 3)
out = {"bits": _bits()}
for name, seed in [("kitchen_sink", 5), ("negative_scan_heavy", 11), ("slide_medium", 3), ("hair_and_lint_mix", 2)]:
    s = synthesize(clean, name, np.random.default_rng(seed))
    h = hashlib.sha256(json.dumps(s.params, sort_keys=True).encode())
    for a in (s.damaged, s.mask, s.labels):
        h.update(a.tobytes())
    out[name] = h.hexdigest()
from tests.test_portable_math import _grain_bits
out["grain"] = _grain_bits()
from tests.test_infrared import infrared_bits
out["infrared"] = infrared_bits()
print(json.dumps(out))
"""


def lowest_cpu_class_env() -> dict[str, str]:
    """The environment that makes this machine behave like the lowest CPU class its libraries
    support: NumPy's dispatched SIMD targets off, OpenCV's AVX/AVX2/FMA paths off, and glibc's libm
    on its non-FMA code (x86-64; the variables are ignored elsewhere)."""
    from numpy._core._multiarray_umath import __cpu_dispatch__, __cpu_features__
    found = [f for f in __cpu_dispatch__ if __cpu_features__.get(f)]
    return {**os.environ, "NPY_DISABLE_CPU_FEATURES": " ".join(found),
            "OPENCV_CPU_DISABLE": "AVX512_SKX,AVX2,FMA3,AVX,NEON_DOTPROD,NEON_FP16,NEON_BF16",
            "GLIBC_TUNABLES": "glibc.cpu.hwcaps=-AVX512F,-AVX2,-FMA,-AVX",
            "NUMBA_CPU_NAME": "generic",  # portable_jit compiled for a baseline x86-64 / arm64, no FMA
            "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}


def _run(env) -> dict:
    done = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, timeout=300,
                          cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_synthesis_bytes_do_not_depend_on_the_cpu_class():
    """Guards "same seed, same bytes" across machines: the golden presets and the portable bits come
    out the same with every dispatched SIMD target (NumPy, OpenCV) and glibc's FMA code disabled."""
    here = {**os.environ, "PYTHONPATH": os.pathsep.join([os.getcwd(), os.environ.get("PYTHONPATH", "")])}
    assert _run(lowest_cpu_class_env()) == _run(here)


def test_synthesis_calls_no_cpu_dispatched_transcendental():
    """Guards the rule itself: the modules that decide synthesized pixels and recorded parameters
    call portable_math, never NumPy's or libm's sin/cos/exp/log/power (whose bits vary by CPU)."""
    import re
    from pathlib import Path
    root = Path(pm.__file__).parent
    banned = re.compile(r"\b(np|numpy|math)\.(sin|cos|tan|exp|exp2|expm1|log|log2|log10|log1p|power|float_power|"
                        r"arctan2|arctan|arcsin|arccos|atan2|atan|asin|acos|pow|tanh|sinh|cosh|cbrt)\(|\*\*\s*0?\.\d")
    files = sorted((root / "synth").glob("*.py")) + [root / "data" / "augment.py", root / "transforms.py"]
    found = [f"{f.relative_to(root)}:{i}: {line.strip()}" for f in files
             for i, line in enumerate(f.read_text().splitlines(), 1) if banned.search(line.split("#")[0])]
    assert not found, "\n".join(found)
