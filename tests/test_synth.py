"""Synthesis in memory: sampling, rendering, compositing, masks, labels, regeneration, resolution."""
from __future__ import annotations

import copy
import json
import math
import random

import cv2
import numpy as np
import pytest

from dustbench.io import ImageFormatError
from dustbench.synth import (FAMILIES, Layer, Sprite, artifact_mask, composite, count_by_family, expected_count,
                             family_labels, regenerate, render, sample_params, synthesize)
from dustbench.io import mask_to_image

DTYPES = [np.uint8, np.uint16, np.float32]
HI = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}


def texture(shape, dtype, seed=0):
    """Gradient + noise in the dtype's full range (float32 in [0, 1])."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    f = np.linspace(0.15, 0.85, w)[None, :] * np.ones((h, 1))
    if len(shape) == 3:
        f = f[:, :, None] * np.array([1.0, 0.8, 0.6])
    f = np.clip(f + rng.normal(0, 0.05, shape), 0, 1)
    if dtype == np.float32:
        return f.astype(np.float32)
    return np.rint(f * HI[dtype]).astype(dtype)


# --- dtype and shape --------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", [(), (3,), (1,)], ids=["grey", "rgb", "hw1"])
def test_synthesize_keeps_dtype_and_shape(dtype, layout):
    """Guards the image contract: uint8/uint16/float32, H×W / H×W×3 / H×W×1 in, same dtype and shape
    out; the clean input is not modified; mask float32 H×W in [0, 1], labels uint8 H×W."""
    clean = texture((72, 96, *layout), dtype, 1)
    original = clean.copy()
    s = synthesize(clean, "negative_scan_medium", np.random.default_rng(0))
    assert s.damaged.dtype == clean.dtype and s.damaged.shape == clean.shape
    np.testing.assert_array_equal(clean, original)
    assert s.damaged is not clean and np.any(s.damaged != clean)
    assert s.mask.dtype == np.float32 and s.mask.shape == clean.shape[:2]
    assert 0.0 <= s.mask.min() and s.mask.max() <= 1.0 and s.mask.max() > 0
    assert s.labels.dtype == np.uint8 and s.labels.shape == clean.shape[:2]
    if dtype == np.float32:
        assert 0.0 <= s.damaged.min() and s.damaged.max() <= 1.0


@pytest.mark.parametrize("bad", [np.zeros((8, 8), np.int32), np.zeros((8, 8, 4), np.uint8),
                                 np.zeros((8,), np.uint8), np.zeros((0, 8), np.uint8), [[0, 1]]],
                         ids=["int32", "rgba", "1d", "empty", "list"])
def test_synthesize_rejects_non_images(bad):
    """Guards input validation: unsupported arrays raise ImageFormatError, not a numpy error."""
    with pytest.raises(ImageFormatError):
        synthesize(bad, "dust_slide_light_sharp", np.random.default_rng(0))


# --- the mask marks exactly where the image changed -------------------------------------------

MASK_PRESETS = ["negative_scan_heavy", "slide_scan_medium", "stain_yellowed", "scratch_emulsion_color_heavy",
                "water_marks_heavy", "lint_negative_heavy", "hair_out_of_focus_slide", "rain_bright_intermittent"]


@pytest.mark.parametrize("preset", MASK_PRESETS)
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_mask_marks_exactly_where_the_image_changed(preset, dtype):
    """Guards the ground truth: every changed pixel has mask > 0; where mask == 0 the damaged image
    equals the clean one exactly; labels are non-zero only under the mask and name a family that
    the params actually drew; the saved (rounded-up) mask is > 0 wherever the image changed."""
    clean = texture((90, 120, 3), dtype, 2)
    s = synthesize(clean, preset, np.random.default_rng(5))
    changed = (s.damaged != clean).any(axis=2)
    assert changed.sum() > 20, "the preset produced (almost) no visible damage"
    untouched = s.mask == 0
    assert not np.any(changed & untouched), "pixels changed where the mask is 0"
    np.testing.assert_array_equal(s.damaged[untouched], clean[untouched])
    assert np.all(mask_to_image(s.mask, dtype)[changed] > 0)
    assert not np.any((s.labels > 0) & untouched)
    assert s.labels.max() <= len(FAMILIES)
    drawn = {FAMILIES.index(f) + 1 for f, n in count_by_family(s.params).items() if n > 0}
    assert set(np.unique(s.labels)) - {0} <= drawn
    assert set(np.unique(s.labels)) - {0}, "no labels at all"


def test_labels_follow_the_family_of_each_artifact():
    """Guards label ids against FAMILIES order: a dust-only and a scratch-only preset label 1 and 5."""
    clean = texture((120, 180), np.uint8)
    dust = synthesize(clean, "dirt_negative_heavy", np.random.default_rng(0))
    scratch = synthesize(clean, "scratch_base_heavy", np.random.default_rng(0))
    assert set(np.unique(dust.labels)) == {0, FAMILIES.index("dirt") + 1}
    assert set(np.unique(scratch.labels)) == {0, FAMILIES.index("scratch") + 1}


# --- compositing against hand computations ----------------------------------------------------

def _one_sprite(alpha_value: float, color=(1.0, 1.0, 1.0), shape=(4, 5), family=1) -> Layer:
    """A 2×2 sprite at (row 1, col 2) with constant alpha and a flat colour."""
    alpha = np.full((2, 2), alpha_value, np.float32)
    return Layer(shape, [Sprite(1, 2, alpha, np.asarray(color, np.float32), family)])


def _half_up(x: float) -> int:
    return math.floor(x + 0.5)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=lambda d: np.dtype(d).name)
def test_composite_matches_hand_computation_grey(dtype):
    """Guards the blending formula: alpha 0.5 white over grey 100 gives round(100 + 0.5·(max-100))
    inside the sprite and leaves every other pixel alone."""
    hi = HI[dtype]
    clean = np.full((4, 5), 100, dtype)
    out = composite(clean, _one_sprite(0.5))
    expected = clean.copy()
    expected[1:3, 2:4] = _half_up(100 + 0.5 * (hi - 100))  # 178 for uint8, 32818 for uint16
    assert expected[1, 2] == (178 if dtype == np.uint8 else 32818)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == dtype and clean[1, 2] == 100


def test_composite_matches_hand_computation_colour_and_float():
    """Guards per-channel blending on RGB, the BT.601 grey of a colour on grey images, alpha 1 and
    float32 images (no rounding)."""
    rgb = np.full((4, 5, 3), 100, np.uint8)
    out = composite(rgb, _one_sprite(0.5, color=(1.0, 0.0, 0.5)))
    np.testing.assert_array_equal(out[1, 2], [_half_up(100 + 0.5 * 155), _half_up(100 - 50),
                                              _half_up(100 + 0.5 * (127.5 - 100))])  # 178, 50, 114
    grey = np.full((4, 5), 100, np.uint8)
    luma = 0.299 * 255  # pure red seen by a grey film/scanner
    assert composite(grey, _one_sprite(0.5, color=(1.0, 0.0, 0.0)))[1, 2] == _half_up(100 + 0.5 * (luma - 100))
    assert composite(grey, _one_sprite(1.0, color=(0.2, 0.2, 0.2)))[2, 3] == 51
    f = np.full((4, 5), 0.4, np.float32)
    out = composite(f, _one_sprite(0.5))
    assert out.dtype == np.float32 and out[1, 2] == pytest.approx(0.7, abs=1e-6) and out[0, 0] == np.float32(0.4)


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_alpha_zero_leaves_bytes_untouched(dtype):
    """Guards exactness outside the artifacts: a sprite of alpha 0 changes no byte at all."""
    clean = texture((4, 5, 3), dtype, 3)
    out = composite(clean, _one_sprite(0.0, color=(0.0, 1.0, 0.3)))
    assert out.tobytes() == clean.tobytes()


def test_composite_extremes_stay_in_range():
    """Guards against overflow/wrap-around: alpha 1 white on max and black on 0 stay max and 0."""
    for dtype in (np.uint8, np.uint16):
        hi = HI[dtype]
        assert composite(np.full((4, 5), hi, dtype), _one_sprite(1.0))[1, 2] == hi
        assert composite(np.full((4, 5), hi, dtype), _one_sprite(0.999))[1, 2] == hi
        assert composite(np.zeros((4, 5), dtype), _one_sprite(1.0, color=(0, 0, 0)))[1, 2] == 0
        assert composite(np.zeros((4, 5), dtype), _one_sprite(0.999, color=(0, 0, 0)))[1, 2] == 0


def test_composite_rejects_a_layer_of_another_shape():
    """Guards shape checks: a layer rendered for another frame is a ValueError."""
    with pytest.raises(ValueError):
        composite(np.zeros((5, 4), np.uint8), _one_sprite(0.5))


def test_mask_and_labels_match_hand_computation():
    """Guards artifact_mask ("over": 1-(1-a)(1-b)) and family_labels (strongest wins, < 1/255 ignored)."""
    a = Sprite(0, 0, np.full((2, 2), 0.5, np.float32), np.zeros(3, np.float32), family=1)
    b = Sprite(1, 1, np.full((2, 2), 0.8, np.float32), np.zeros(3, np.float32), family=5)
    faint = Sprite(3, 3, np.full((1, 1), 0.001, np.float32), np.zeros(3, np.float32), family=2)
    layer = Layer((4, 4), [a, b, faint])
    expected_mask = np.zeros((4, 4), np.float32)
    expected_mask[0:2, 0:2] = 0.5
    expected_mask[1:3, 1:3] = 0.8
    expected_mask[1, 1] = 1 - 0.5 * 0.2
    expected_mask[3, 3] = 0.001
    np.testing.assert_allclose(artifact_mask(layer), expected_mask, atol=1e-6)
    expected_labels = np.zeros((4, 4), np.uint8)
    expected_labels[0:2, 0:2] = 1
    expected_labels[1:3, 1:3] = 5
    np.testing.assert_array_equal(family_labels(layer), expected_labels)


# --- regeneration -----------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_regenerate_from_json_params_is_exact(dtype):
    """Guards reproducibility: params through a JSON round trip + the clean image rebuild the damaged
    image, mask and labels bit for bit."""
    clean = texture((80, 110, 3), dtype, 4)
    s = synthesize(clean, "negative_scan_heavy", np.random.default_rng(11))
    params = json.loads(json.dumps(s.params))
    r = regenerate(clean, params)
    assert r.damaged.tobytes() == s.damaged.tobytes()
    assert r.mask.tobytes() == s.mask.tobytes()
    assert r.labels.tobytes() == s.labels.tobytes()


# --- randomness -------------------------------------------------------------------------------

@pytest.mark.parametrize("rng", [0, None, np.random.RandomState(0), random.Random(0), np.random.SeedSequence(0)],
                         ids=["int", "none", "RandomState", "random.Random", "SeedSequence"])
def test_sample_params_rejects_non_generators(rng):
    """Guards explicit randomness: anything but a numpy Generator is a TypeError."""
    with pytest.raises(TypeError, match="Generator"):
        sample_params("dust_slide_light_sharp", (64, 64), rng)


def test_same_seed_same_params_different_seed_different_params():
    """Guards seeding: equal seeds give equal records, different seeds different ones."""
    p = [sample_params("negative_scan_medium", (100, 150), np.random.default_rng(s)) for s in (1, 1, 2)]
    assert p[0] == p[1]
    assert p[0] != p[2]
    assert json.loads(json.dumps(p[0])) == p[0], "params must be JSON-serializable as they are"


def test_library_never_touches_global_random_state():
    """Guards isolation: synthesize, sample_params and render leave numpy's and Python's global
    random state exactly as they were."""
    np.random.seed(1)
    random.seed(1)
    before_np, before_py = np.random.get_state(), random.getstate()
    clean = texture((64, 96, 3), np.uint8)
    s = synthesize(clean, "kitchen_sink", np.random.default_rng(0))
    regenerate(clean, s.params)
    after_np = np.random.get_state()
    assert before_np[0] == after_np[0] and np.array_equal(before_np[1], after_np[1]) and before_np[2:] == after_np[2:]
    assert random.getstate() == before_py


def test_sample_params_rejects_bad_shapes():
    """Guards shape checks in sampling."""
    for shape in [(0, 10), (10,), ()]:
        with pytest.raises(ValueError):
            sample_params("dust_slide_light_sharp", shape, np.random.default_rng(0))


# --- resolution-relative sizes ----------------------------------------------------------------

def test_expected_count_depends_on_aspect_only():
    """Guards the density unit: counts per megapixel of the 3000×2000 reference frame, scaled by the
    aspect only (a 1 MP and a 24 MP frame of the same aspect expect the same count)."""
    assert expected_count(10.0, (2000, 3000)) == pytest.approx(60.0)
    assert expected_count(10.0, (200, 300)) == pytest.approx(60.0)
    assert expected_count(10.0, (4000, 6000, 3)) == pytest.approx(60.0)
    assert expected_count(10.0, (3000, 2000)) == pytest.approx(60.0)
    assert expected_count(10.0, (500, 500)) == pytest.approx(40.0)


RES_PRESETS = ["negative_scan_heavy", "slide_archive_dirty", "kitchen_sink", "water_damaged", "vertical_rain_scratches"]


@pytest.mark.parametrize("preset", RES_PRESETS)
def test_same_counts_at_every_resolution(preset):
    """Guards resolution independence of sampling: the same seed draws the same artifacts (same
    count per family, same relative geometry) on a frame and on the same frame at 2× and 4×."""
    base = (75, 110)
    ref = sample_params(preset, base, np.random.default_rng(3))
    assert sum(count_by_family(ref).values()) > 0
    for k in (2, 4):
        p = sample_params(preset, (base[0] * k, base[1] * k, 3), np.random.default_rng(3))
        assert count_by_family(p) == count_by_family(ref)
        assert p["groups"] == ref["groups"]


SIZE_KEYS = ("size", "width", "length", "blur", "spread", "wobble")


def _sizes_in_pixels(params: dict, k: int) -> dict:
    """The params a 'sizes in pixels' bug would render at k×: every size 1/k as large relative to the frame."""
    p = copy.deepcopy(params)
    for g in p["groups"]:
        for key in SIZE_KEYS:
            if key in g:
                g[key] = [v / k for v in g[key]]
    return p


def _compare(mask_1x: np.ndarray, mask_kx: np.ndarray) -> tuple[float, float]:
    """(mass ratio, blurred relative L1) of the k× mask area-downscaled to 1× against the 1× mask.

    The blur (σ = 2 px at 1×) forgives sub-pixel placement of thin strokes, not wrong sizes."""
    h, w = mask_1x.shape
    down = cv2.resize(mask_kx, (w, h), interpolation=cv2.INTER_AREA)
    mass = float(down.sum() / mask_1x.sum())
    b1, bk = (cv2.GaussianBlur(m, (0, 0), 2.0) for m in (mask_1x, down))
    return mass, float(np.abs(b1 - bk).sum() / b1.sum())


# Measured on 120×180 (seeds 0-2): mass 0.77-1.06 and blurred L1 0.08-0.24 for these presets at
# 2× and 4×; a sizes-in-pixels bug gives mass 0.06-0.30 and L1 0.69-0.94, a mirrored layout L1 > 1.5.
MASS_RANGE = (0.6, 1.6)
MAX_BLURRED_L1 = 0.45
SCALE_PRESETS = ["stain_dark_heavy", "hair_long_negative_heavy", "hair_out_of_focus_negative", "scratch_base_heavy",
                 "scratch_curved_heavy", "rain_dark_continuous", "dust_slide_coarse", "dirt_slide_heavy",
                 "mould_spots", "water_marks_heavy"]


@pytest.mark.parametrize("preset", SCALE_PRESETS)
def test_mask_at_4x_downscaled_matches_mask_at_1x(preset):
    """Guards sizes as fractions of the short side: the mask rendered at 2× and 4× and downscaled
    (INTER_AREA) has the 1× mask's mass and layout; the same params rendered with sizes fixed in
    pixels fail the same bounds (so the check can tell)."""
    base = (120, 180)
    params = sample_params(preset, base, np.random.default_rng(0))
    m1 = artifact_mask(render(params, base))
    assert m1.sum() > 0
    for k in (2, 4):
        shape = (base[0] * k, base[1] * k)
        mass, l1 = _compare(m1, artifact_mask(render(params, shape)))
        assert MASS_RANGE[0] <= mass <= MASS_RANGE[1], f"{k}×: mass ratio {mass:.2f}"
        assert l1 <= MAX_BLURRED_L1, f"{k}×: blurred L1 {l1:.2f}"
    bug_mass, bug_l1 = _compare(m1, artifact_mask(render(_sizes_in_pixels(params, 4), (base[0] * 4, base[1] * 4))))
    assert not MASS_RANGE[0] <= bug_mass <= MASS_RANGE[1] and bug_l1 > MAX_BLURRED_L1


def _single_blob(radius_px: float, short: int = 64) -> dict:
    """Params of one round, smooth, fully opaque, unblurred dust speck of `radius_px` in the centre."""
    g = {"preset": "hand", "family": "dust", "density": 0.0, "n": 1, "x": [0.5], "y": [0.5], "opacity": [1.0],
         "blur": [0.0], "color": [[0.0, 0.0, 0.0]], "shape_seed": [0], "size": [2 * radius_px / short],
         "roughness": [0.0], "elongation": [1.0], "angle": [0.0]}
    return {"version": 1, "image_shape": [short, short], "presets": ["hand"], "groups": [g]}


@pytest.mark.parametrize("radius", [1.0, 2.0, 4.0])
def test_small_blob_keeps_its_area(radius):
    """Guards anti-aliasing of small blobs: the alpha of one opaque round speck sums to its area
    (the 24-gon's, ½·n·r²·sin(2π/n)) within 15%, as an area-sampling scanner would record it."""
    short = 64
    mask = artifact_mask(render(_single_blob(radius, short), (short, short)))
    area = 0.5 * 24 * radius**2 * math.sin(2 * math.pi / 24)
    assert mask.sum() == pytest.approx(area, rel=0.15)


def test_large_blob_keeps_its_area():
    """Guards blob geometry (size is a diameter in short-side units): a 20 px radius speck covers
    its area within 10%."""
    mask = artifact_mask(render(_single_blob(20.0, 64), (64, 64)))
    area = 0.5 * 24 * 20.0**2 * math.sin(2 * math.pi / 24)
    assert mask.sum() == pytest.approx(area, rel=0.10)
    ys, xs = np.nonzero(mask > 0.5)
    assert abs(xs.mean() - 32) < 1 and abs(ys.mean() - 32) < 1
