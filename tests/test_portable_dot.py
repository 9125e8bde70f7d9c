"""dustbench.portable_dot: products over the last axis that give the same bits on every CPU."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dustbench.portable_dot import LUMA, dot_last, luma

ROOT = Path(__file__).resolve().parents[1]


def test_luma_is_each_product_and_sum_rounded_in_channel_order():
    rgb = np.array([[[0.1, 0.7, 0.3], [1.0, 1.0, 1.0]], [[0.0, 0.0, 0.0], [0.25, 0.5, 0.75]]], np.float32)
    f = np.float32
    by_hand = [[(f(r) * f(0.299) + f(g) * f(0.587)) + f(b) * f(0.114) for r, g, b in row] for row in rgb]
    out = luma(rgb)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    assert np.array_equal(out, np.array(by_hand, np.float32))
    assert np.allclose(out, rgb @ LUMA, rtol=1e-6, atol=0)  # the same product, rounded maybe otherwise


@pytest.mark.parametrize("a_dtype, w_dtype", [(np.float32, np.float32), (np.float64, np.float32),
                                              (np.float32, np.float64), (np.uint8, np.float32)])
def test_dot_last_gives_matmuls_dtype_and_values(a_dtype, w_dtype):
    rng = np.random.default_rng(0)
    a = (rng.random((5, 4, 3)) * 200).astype(a_dtype)
    w = rng.normal(size=3).astype(w_dtype)
    out = dot_last(a, w)
    assert out.dtype == (a @ w).dtype and out.shape == (5, 4)
    assert np.allclose(out, a @ w, rtol=1e-5)


def test_dot_last_a_layer_and_a_single_colour():
    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(7, 4)), rng.normal(size=(4, 2))
    out = dot_last(x, w)
    by_hand = ((x[:, [0]] * w[0] + x[:, [1]] * w[1]) + x[:, [2]] * w[2]) + x[:, [3]] * w[3]
    assert out.shape == (7, 2) and np.array_equal(out, by_hand)
    colour = np.array([1.0, 0.5, 0.0], np.float32)
    grey = luma(colour)
    assert np.ndim(grey) == 0 and grey == np.float32(0.299) + np.float32(0.5) * np.float32(0.587)


def test_dot_last_refuses_shapes_that_do_not_multiply():
    with pytest.raises(ValueError, match=r"\(4, 2\) by \(3,\)"):
        dot_last(np.zeros((4, 2)), LUMA)
    with pytest.raises(ValueError, match="cannot multiply"):
        dot_last(np.zeros((4, 3)), np.zeros((3, 2, 2)))


def _cpu_flags() -> set[str]:
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    line = next((ln for ln in text.splitlines() if ln.startswith("flags")), "")
    return set(line.split(":", 1)[-1].split())


_PROBE = """
import json, numpy as np
from dustbench.fit.detect import luma
from dustbench.io import with_channels
from dustbench.metrics import psnr
from dustbench.methods.speck_verifier import SpeckVerifier
from dustbench.portable_dot import LUMA
from dustbench.synth.composite import _target_color
rng = np.random.default_rng(3)
img = rng.random((64, 65, 3), dtype=np.float32)
ref = (img * 255).astype(np.uint8)
v = SpeckVerifier(mean=np.zeros(6), scale=np.ones(6), thresholds={},
                  members=[[(rng.normal(size=(6, 16)), rng.normal(size=16)), (rng.normal(size=(16, 1)), np.zeros(1))]])
print(json.dumps({"luma": luma(img).tobytes().hex(), "grey": with_channels(img, 1).tobytes().hex(),
                  "matmul": (img @ LUMA).tobytes().hex(),
                  "psnr_y": psnr(ref, (img * 250).astype(np.uint8), luminance_only=True).hex(),
                  "verifier": v.probability(rng.normal(size=(300, 6))).tobytes().hex(),
                  "colours": [float(_target_color(c, ref[..., 0])) for c in img[0, :40]]}))
"""


def _probe(coretype: str | None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_CORETYPE"} | {"PYTHONPATH": str(ROOT)}
    env |= {"OPENBLAS_CORETYPE": coretype} if coretype else {}
    done = subprocess.run([sys.executable, "-c", _PROBE], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64") or not {"avx2", "fma"} <= _cpu_flags(),
                    reason="OpenBLAS's x86 kernels are chosen here by name; Haswell's needs AVX2 and FMA")
def test_luma_metrics_and_verifier_do_not_depend_on_the_blas_kernel():
    """The kernel this CPU gets, the oldest x86-64 one (Prescott), the AVX2 one (Haswell) and, where the
    CPU has it, the AVX-512 one (SkylakeX) give the same bits: nothing here goes through BLAS (whose
    AVX-512 kernel fuses multiply-adds in a luma, and whose dot product of an artifact's colour with
    the luma weights fused them on every FMA CPU, in synthesis of grey images). And the float32 luma
    is what the AVX2 kernel computes for ``img @ LUMA``, which the published figures were made with."""
    avx512 = {"avx512f", "avx512dq", "avx512bw", "avx512vl"} <= _cpu_flags()
    probes = {name: _probe(name) for name in (None, "Prescott", "Haswell") + (("SkylakeX",) if avx512 else ())}
    portable = {name: {k: v for k, v in p.items() if k != "matmul"} for name, p in probes.items()}
    assert all(p == portable["Haswell"] for p in portable.values())
    assert probes["Haswell"]["luma"] == probes["Haswell"]["matmul"] == probes["Haswell"]["grey"]
