"""The method registry and the classical baselines (identity, median, median_tuned, oracle_inpaint)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dustbench.errors import DustbenchError, UnknownNameError
from dustbench.methods import (Method, create_method, list_methods, load_method, method_info, register_method,
                               tune_median)
from dustbench.methods.classical import dust_and_scratches, median_blur

# Options that methods without usable defaults need in generic tests.
REQUIRED_OPTIONS = {"median_tuned": {"radius": 2, "threshold": 8, "tuned_on": "test"}}


def rand_image(shape, seed=0, levels=None):
    """Random float32 image; on the 8-bit grid when levels == 255 (like a decoded 8-bit file)."""
    x = np.random.default_rng(seed).random(shape, dtype=np.float32)
    if levels:
        x = np.rint(x * levels).astype(np.float32) / np.float32(levels)
    return x


def reference_dust_and_scratches(image, radius, threshold, eight_bit):
    """Slow, direct definition: per channel, median of the replicate-padded (2r+1)² square;
    replace where |x - median| > threshold 8-bit levels (compared in integer levels for 8-bit
    images, so the boundary case 'exactly threshold' is decided without rounding)."""
    h, w, c = image.shape
    k = 2 * radius + 1
    padded = np.pad(image, ((radius, radius), (radius, radius), (0, 0)), mode="edge")
    med = np.empty_like(image)
    for y in range(h):
        for x in range(w):
            med[y, x] = np.median(padded[y:y + k, x:x + k].reshape(-1, c), axis=0)
    if eight_bit:
        diff = np.abs(np.rint(image * 255.0) - np.rint(med * 255.0))
    else:
        diff = np.abs(image.astype(np.float64) - med) * 255
    return np.where(diff > threshold, med, image)


# --- registry -------------------------------------------------------------------------------

def test_builtins_are_listed():
    assert {"identity", "median", "median_tuned", "oracle_inpaint"} <= set(list_methods())
    assert list_methods() == sorted(list_methods())


def test_unknown_method_suggests_close_name():
    with pytest.raises(UnknownNameError, match="did you mean 'median'"):
        create_method("medain")


def test_unknown_option_lists_valid_options():
    with pytest.raises(DustbenchError, match=r"no option 'raduis'; did you mean 'radius'.*threshold"):
        create_method("median", raduis=3)


@pytest.mark.parametrize("options", [{"radius": 0}, {"radius": 17}, {"radius": 2.5},
                                     {"threshold": -1}, {"threshold": 300}, {"precision": "quick"}])
def test_median_rejects_bad_values(options):
    with pytest.raises(DustbenchError):
        create_method("median", **options)


def test_options_are_recorded_and_json_serializable():
    method = create_method("median", radius=3, threshold=12)
    assert method.name == "median" and method.options == {"radius": 3, "threshold": 12, "precision": "exact"}
    json.dumps(method.options)
    assert method_info("oracle_inpaint")["is_oracle"] and not method_info("median")["needs_mask"]


def test_register_function_factory_records_options():
    @register_method("test_scale_factory")
    def make(gain: float = 0.5):
        class Scale(Method):
            def run(self, image, mask):
                return image * gain
        return Scale()

    method = create_method("test_scale_factory")
    assert method.name == "test_scale_factory" and method.options == {"gain": 0.5}
    assert np.allclose(method(np.ones((2, 2, 1), np.float32)), 0.5)
    with pytest.raises(ValueError, match="already registered"):
        register_method("median")(make)


def test_load_method_by_name():
    assert load_method("median", {"radius": 1}).options["radius"] == 1


# --- the contract, for every registered method -----------------------------------------------

@pytest.mark.parametrize("name", [n for n in list_methods() if not n.startswith("test_")])
@pytest.mark.parametrize("shape", [(23, 31, 3), (17, 12, 1), (9, 14)])
def test_every_method_keeps_shape_dtype_range(name, shape):
    image = rand_image(shape, seed=1)
    before = image.copy()
    mask = np.zeros(shape[:2], bool)
    mask[4:7, 5:9] = True
    method = create_method(name, **REQUIRED_OPTIONS.get(name, {}))
    channels = shape[2] if len(shape) == 3 else 1
    layer = np.concatenate([mask[:, :, None], np.broadcast_to(0.5 * mask[:, :, None], shape[:2] + (channels,))],
                           axis=2).astype(np.float32)  # opaque grey specks where the mask is, for layer oracles
    infrared = np.where(mask, 0.2, 0.9).astype(np.float32)  # a flat field, dark where the mask is
    out = method(image, mask=mask, layer=layer, infrared=infrared)
    assert out.shape == image.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 1
    assert np.array_equal(image, before), "methods must not modify their input"
    # a registered method learns nothing, or says what its learned parameters were learned from
    assert (method.param_count == 0) == (method.trained_on is None) and (method.is_oracle == method.needs_mask)


def test_input_is_checked():
    identity = create_method("identity")
    with pytest.raises(DustbenchError, match="float32"):
        identity(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(DustbenchError, match=r"\[0, 1\]"):
        identity(np.full((4, 4, 3), 2.0, np.float32))


def test_identity_returns_input_values():
    image = rand_image((8, 9, 3))
    assert np.array_equal(create_method("identity")(image), image)


# --- median ----------------------------------------------------------------------------------

@pytest.mark.parametrize("radius", [1, 2, 3, 5, 16])
@pytest.mark.parametrize("threshold", [0, 10, 40, 255])
@pytest.mark.parametrize("levels", [255, None], ids=["8bit", "float"])
def test_median_matches_direct_reference(radius, threshold, levels):
    image = rand_image((9, 11, 3), seed=radius, levels=levels)
    out = create_method("median", radius=radius, threshold=threshold)(image)
    ref = reference_dust_and_scratches(image, radius, threshold, eight_bit=levels == 255)
    assert np.array_equal(out, ref.astype(np.float32))
    if threshold == 255:
        assert np.array_equal(out, image)  # nothing differs by more than full scale


def test_median_threshold_boundary_is_strict():
    image = np.full((5, 5, 1), 100 / 255, np.float32)
    image[2, 2] = np.float32(110) / np.float32(255)
    assert np.array_equal(dust_and_scratches(image, 1, 10), image)  # differs by exactly 10: kept
    assert dust_and_scratches(image, 1, 9)[2, 2, 0] == np.float32(100) / np.float32(255)


def test_median_fast_precision_quantises_only_slow_case():
    image = rand_image((12, 13, 1), seed=5)  # full float precision, not on the 8-bit grid
    exact, fast = median_blur(image, 3, "exact"), median_blur(image, 3, "fast")
    assert not np.array_equal(exact, fast) and np.abs(exact - fast).max() <= 0.5 / 255 + 1e-7
    assert np.array_equal(median_blur(image, 2, "exact"), median_blur(image, 2, "fast"))


def test_median_removes_isolated_speck():
    image = np.full((15, 15, 3), 0.4, np.float32)
    image[7, 7] = 1.0
    out = create_method("median", radius=1, threshold=20)(image)
    assert np.array_equal(out, np.full_like(image, 0.4))


# --- median_tuned ----------------------------------------------------------------------------

def test_median_tuned_requires_tuning():
    with pytest.raises(DustbenchError, match="tune"):
        create_method("median_tuned")


def test_tune_median_finds_known_best():
    # Flat grey with genuine 1-px dark dots (10 levels: real detail) and 3×3 white specks far from
    # them. Radius 1 cannot remove a 3×3 speck, radius 2 can; thresholds 0 and 5 also erase the
    # dots, 200 spares the specks (127 levels); 40 is right. Radius 3 ties radius 2: smaller wins.
    pairs = []
    for seed in range(2):
        rng = np.random.default_rng(seed)
        clean = np.full((40, 40, 1), 128, np.float32)
        clean[rng.integers(0, 8, 6), rng.integers(0, 40, 6)] = 118
        damaged = clean.copy()
        for x0 in rng.choice(np.arange(2, 35, 5), 4, replace=False):
            damaged[25:28, x0:x0 + 3] = 255
        pairs.append((damaged / 255, clean / 255))
    result = tune_median(pairs, radii=(1, 2, 3), thresholds=(0, 5, 40, 200))
    assert (result["radius"], result["threshold"]) == (2, 40)
    assert result["score"] == float("inf") and len(result["grid"]) == 12
    scores = {(g["radius"], g["threshold"]): g["score"] for g in result["grid"]}
    assert scores[1, 40] < scores[2, 40] and scores[2, 5] < scores[2, 40] and scores[2, 200] < scores[2, 40]
    method = create_method("median_tuned", radius=result["radius"], threshold=result["threshold"],
                           tuned_on="synthetic specks", score=result["score"])
    assert method.options["tuned_on"] == "synthetic specks" and method.options["radius"] == 2
    assert np.array_equal(method(pairs[0][0]), pairs[0][1])


# --- oracle_inpaint --------------------------------------------------------------------------

def test_oracle_inpaint_restores_hole_in_gradient():
    y, x = np.mgrid[0:40, 0:48].astype(np.float32)
    clean = np.stack([0.2 + 0.5 * x / 47, 0.3 + 0.4 * y / 39, 0.5 + 0.2 * (x + y) / 85], -1).astype(np.float32)
    mask = np.zeros((40, 48), bool)
    mask[18:21, 20:23] = True
    damaged = clean.copy()
    damaged[mask] = [1.0, 0.0, 1.0]
    method = create_method("oracle_inpaint")
    assert method.is_oracle and method.needs_mask
    out = method(damaged, mask)
    assert np.abs(out - clean).max() < 0.02  # the ramp rises 0.011 per px: about one pixel's worth
    grown = np.zeros_like(mask)
    grown[17:22, 19:24] = True  # dilate=1 (3×3 square): only these pixels may change
    assert np.array_equal(out[~grown], damaged[~grown])
    with pytest.raises(DustbenchError, match="mask"):
        method(damaged)


def test_non_oracle_methods_never_see_the_mask():
    seen = []

    @register_method("test_mask_spy")
    class Spy(Method):
        def run(self, image, mask):
            seen.append(mask)
            return image

    create_method("test_mask_spy")(rand_image((4, 4, 1)), np.ones((4, 4), bool))
    assert seen == [None]
