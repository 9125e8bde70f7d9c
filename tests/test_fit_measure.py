"""Detection and measurement on tiny hand-made images with known answers."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest

from dustbench.fit.classify import THRESHOLDS, assign, classify
from dustbench.fit.detect import DetectionSettings, background, detect, detect_blank, noise_map, robust_sigma
from dustbench.fit.detect import NotBlankError
from dustbench.fit.measure import measure, skeleton_stats, turning_from_sagitta


def grey(h=200, w=300, level=0.5):
    return np.full((h, w), level, np.float32)


def fit_rows(damaged, clean, **kw):
    det = detect(damaged, clean, DetectionSettings(**kw))
    return classify(measure(det, "img"))


def test_robust_sigma_matches_gaussian_and_ignores_sparse_outliers():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 0.02, 200_000)
    x[:1000] = 0.9  # 0.5 % damage must not move the noise estimate
    assert robust_sigma(x) == pytest.approx(0.02, rel=0.03)


def test_noise_map_follows_local_noise():
    rng = np.random.default_rng(1)
    diff = np.zeros((128, 256), np.float32)
    diff[:, 128:] = rng.normal(0, 0.03, (128, 128))
    diff[:, :128] = rng.normal(0, 0.005, (128, 128))
    sigma = noise_map(diff)
    assert np.median(sigma[:, :64]) == pytest.approx(0.005, rel=0.15)
    assert np.median(sigma[:, 192:]) == pytest.approx(0.03, rel=0.15)


def test_opaque_square_measures_its_area_opacity_and_polarity():
    clean = grey()
    damaged = clean.copy()
    damaged[50:60, 100:110] = 0.0  # 10×10 black square, fully opaque
    rows = fit_rows(damaged, clean)
    assert len(rows) == 1
    r = rows.iloc[0]
    assert r.polarity == "dark" and r.resolved
    assert r.opacity == pytest.approx(1.0, abs=1e-6)
    assert r.integral == pytest.approx(100.0, rel=1e-4)
    assert r.diameter * 200 == pytest.approx(2 * math.sqrt(100 / math.pi), rel=1e-3)
    assert r.elongation == pytest.approx(1.0, abs=1e-6)


def test_half_opaque_bright_speck_and_subpixel_integral():
    clean = grey(level=0.2)
    damaged = clean.copy()
    damaged[20:26, 20:26] = 0.2 + 0.5 * (1 - 0.2)  # white at opacity 0.5
    damaged[100, 100] = 0.2 + 0.3 * 0.8  # a speck covering 30 % of a pixel (or 30 % opaque)
    det = detect(damaged, clean)
    rows = measure(det, "img").sort_values("area_px")
    speck, square = rows.iloc[0], rows.iloc[1]
    assert square.polarity == "bright" and square.opacity_measured == pytest.approx(0.5, abs=1e-5)
    assert not speck.resolved and speck.integral == pytest.approx(0.3, abs=1e-5)


def test_straight_line_length_and_turning():
    img = np.zeros((400, 400), np.uint8)
    cv2.line(img, (50, 80), (330, 200), 255, 1)
    length, ends, junctions, chord, stem, sagitta = skeleton_stats(img > 0)
    true = math.hypot(280, 120)
    assert stem == pytest.approx(true, rel=0.03)
    assert (ends, junctions) == (2, 0)
    assert turning_from_sagitta(sagitta, chord) < 0.05


def test_circular_arc_turning():
    img = np.zeros((600, 600), np.uint8)
    cv2.ellipse(img, (300, 300), (200, 200), 0, 0, 90, 255, 2)  # a quarter circle turns by π/2
    length, ends, junctions, chord, stem, sagitta = skeleton_stats(img > 0)
    assert turning_from_sagitta(sagitta, chord) == pytest.approx(math.pi / 2, rel=0.05)
    assert stem == pytest.approx(200 * math.pi / 2, rel=0.04)


def test_crossing_strokes_read_as_lint_single_stroke_as_hair():
    clean = grey(600, 600)
    damaged = clean.copy()
    hair = np.zeros((600, 600), np.uint8)
    cv2.ellipse(hair, (150, 150), (60, 40), 0, 0, 200, 255, 2, cv2.LINE_AA)
    tangle = np.zeros((600, 600), np.uint8)
    for angle in (0, 60, 120):  # three fibres crossing at one point
        a = math.radians(angle)
        p, q = (450 + 40 * math.cos(a), 450 + 40 * math.sin(a)), (450 - 40 * math.cos(a), 450 - 40 * math.sin(a))
        cv2.line(tangle, tuple(map(round, p)), tuple(map(round, q)), 255, 2, cv2.LINE_AA)
    for layer in (hair, tangle):
        a = layer.astype(np.float32) / 255
        damaged = damaged * (1 - a)
    rows = fit_rows(damaged, clean).sort_values("x")
    assert rows["family"].tolist() == ["hair_long", "lint"]


def test_rules_on_sizes():
    import pandas as pd
    t = THRESHOLDS
    df = pd.DataFrame({
        "slenderness": [1.0, 1.0, 1.0, 1.0, 50.0, 50.0, 400.0],
        "length": [0.001, 0.004, 0.05, 0.01, 0.02, 0.1, 0.3],
        "diameter": [0.001, 0.004, 0.05, 0.01, 0.002, 0.004, 0.005],
        "opacity": [0.9, 0.9, 0.2, 0.2, 0.9, 0.9, 0.9],
        "junctions": [0, 0, 0, 0, 0, 0, 0],
        "turning": [0.0, 0.0, 0.0, 0.0, 2.0, 2.0, 0.1],
    })
    assert assign(df).tolist() == ["dust", "dirt", "blotch", "blotch", "hair_short", "hair_long", "scratch"]
    assert assign(df, {"dirt_min_diameter": 0.005})[1] == "dust"
    assert t["dirt_min_diameter"] == pytest.approx(math.sqrt(0.002 * 0.003))


def test_blank_background_keeps_gradient_and_finds_both_polarities():
    h, w = 300, 450
    yy, xx = np.mgrid[0:h, 0:w]
    scan = (0.3 + 0.4 * xx / w).astype(np.float32)  # vignetting-like ramp
    scan[100:104, 100:104] = 0.0
    scan[200:203, 300:303] = 1.0
    bg = background(scan)
    assert np.abs(bg[150, :, 0] - scan[150, :]).max() < 0.02
    rows = measure(detect_blank(scan), "blank")
    assert sorted(rows["polarity"]) == ["bright", "dark"]


def test_a_photo_is_not_a_blank_scan():
    from skimage import data
    with pytest.raises(NotBlankError, match="does not look like a scan of blank film"):
        detect_blank(data.camera(), where="camera.png")
