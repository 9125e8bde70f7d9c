"""Rendering whole groups at once draws what drawing artifact by artifact drew.

Blobs: the unblurred small ones of a group are filled together on a strip (one fillPoly and one
resize per supersampling factor) instead of each on its own canvas; strokes: every path of a
group is computed on padded arrays instead of one _stroke_path call each. The golden hashes in
test_render_speedups.py and test_stream_fast.py pin the end result; these compare each batched
step with its one-by-one reference, on inputs chosen to reach the edge cases.
"""
from __future__ import annotations

import numpy as np
import pytest

import dustbench.synth.blobs as blobs
import dustbench.synth.strokes as strokes
from dustbench.synth import render, sample_params
from dustbench.synth.crop import crop_params
from dustbench.synth.strokes import _paths, _stroke_path


def _splitmix(seed: int, count: int, salt: int) -> list[float]:
    """The documented hash in Python integers: splitmix64 of seed·φ + salt·C + j, top 53 bits."""
    out = []
    for j in range(1, count + 1):
        x = (seed * 0x9E3779B97F4A7C15 + salt * 0xD1B54A32D192ED03 + j) % 2**64
        x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) % 2**64
        x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) % 2**64
        out.append(((x ^ (x >> 31)) >> 11) * 2.0**-53)
    return out


def test_hash_uniform_is_splitmix64():
    seeds = np.array([0, 1, 7, 2**31 - 1, 123456789], np.int64)
    got = blobs._hash_uniform(seeds, 21, salt=1)
    assert got.tolist() == [_splitmix(int(s), 21, 1) for s in seeds]


@pytest.mark.parametrize("seed", range(6))
def test_paths_of_a_group_equal_each_stroke_path(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 9))
    # lengths from below 8 segments to beyond 400, both signs of curvature
    length = np.exp(rng.uniform(np.log(5.0), np.log(4000.0), n))
    cx, cy = rng.uniform(-50, 300, n), rng.uniform(-50, 300, n)
    angle, curvature = rng.uniform(0, np.pi, n), rng.uniform(-2, 2, n)
    seeds = rng.integers(0, 2**31, n).tolist()
    pts, m = _paths(cx, cy, length, angle, curvature, seeds)
    for j in range(n):
        one = _stroke_path(float(cx[j]), float(cy[j]), float(length[j]), float(angle[j]), float(curvature[j]), seeds[j])
        assert m[j] == len(one) and np.array_equal(pts[j, :m[j]], one)


def _sprites(layer):
    return [(sp.y0, sp.x0, sp.alpha.shape, sp.alpha.tobytes(), np.asarray(sp.color).tobytes(), sp.family)
            for sp in layer.sprites]


@pytest.mark.parametrize("preset,frame,seed", [("dust_negative_extreme_sharp", (900, 1300), 1),
                                               ("dirt_negative_heavy", (700, 700), 2),
                                               ("negative_scan_heavy", (400, 600), 3),
                                               ("mould_spots", (500, 800), 4)])
def test_blobs_filled_on_a_strip_equal_blobs_filled_one_by_one(monkeypatch, preset, frame, seed):
    """Crops cut through blobs (outlines reaching their canvas's edge) and artifact scales spread the
    supersampling factors; every sprite must be the same with the strip as without it."""
    rng = np.random.default_rng(seed)
    params = sample_params(preset, frame, rng)
    cases = [(params, frame)]
    for size_scale in (0.5, 1.0, 3.0):
        h, w = int(rng.integers(40, 200)), int(rng.integers(40, 200))
        box = (int(rng.integers(0, frame[0] - h)), int(rng.integers(0, frame[1] - w)), h, w)
        cases.append((crop_params(params, frame, box, size_scale, 0.7), (h, w)))
    for p, shape in cases:
        monkeypatch.setattr(blobs, "_STRIP_FROM", 1)
        together = render(p, shape)
        monkeypatch.setattr(blobs, "_STRIP_FROM", 10**9)
        alone = render(p, shape)
        assert together.sprites and _sprites(together) == _sprites(alone)


@pytest.mark.parametrize("preset,frame,seed", [("hair_and_lint_mix", (500, 500), 5), ("cinema_print_worn", (900, 1350), 6),
                                               ("negative_scan_heavy", (1600, 2400), 7)])
def test_strokes_drawn_without_the_grid_equal_strokes_matched_on_it(monkeypatch, preset, frame, seed):
    """Artifacts with one canvas each skip the grid of cells that pairs segments with canvases (every
    segment of the artifact is a candidate); the exact test then keeps the same segments."""
    rng = np.random.default_rng(seed)
    params = sample_params(preset, frame, rng)
    cases = [(params, frame)]
    for size_scale in (0.7, 1.5):
        h, w = int(rng.integers(60, 300)), int(rng.integers(60, 300))
        box = (int(rng.integers(0, frame[0] - h)), int(rng.integers(0, frame[1] - w)), h, w)
        cases.append((crop_params(params, frame, box, size_scale, 0.8), (h, w)))
    real = strokes._candidates
    for p, shape in cases:
        direct = render(p, shape)
        monkeypatch.setattr(strokes, "_candidates", lambda *a: real(*a[:4], -1, *a[5:]))  # always the grid
        gridded = render(p, shape)
        monkeypatch.setattr(strokes, "_candidates", real)
        assert direct.sprites and _sprites(direct) == _sprites(gridded)
