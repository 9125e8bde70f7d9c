"""morph_detect, the training-free detect-then-fill row: hand-made images with known answers, its
rules one at a time, its options checked, and its defaults chosen on validation (never on test)."""
import json

import numpy as np
import pytest

from dustbench.errors import DustbenchError
from dustbench.methods import create_method
from dustbench.methods.morph_detect import DEFAULTS, GRID, detect_specks, tophat, tune_morph
from dustbench.methods.tuning import tune_if_needed


def _flat(value=0.3, shape=(48, 48), noise=0.0, seed=0):
    rng = np.random.default_rng(seed)
    img = np.full((*shape, 3), value, np.float32)
    if noise:
        img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 1)


def _speck(img, y, x, size, delta):
    out = img.copy()
    out[y:y + size, x:x + size] = np.clip(out[y:y + size, x:x + size] + np.float32(delta), 0, 1)
    return out


def test_tophat_is_the_excess_over_the_opening():
    img = _speck(_flat(), 20, 20, 3, 0.5)[:, :, 0]
    res = tophat(img, 3, 1)
    assert np.allclose(res[20:23, 20:23], 0.5, atol=1e-6) and np.count_nonzero(res > 1e-6) == 9
    assert np.all(tophat(img, 3, -1) < 1e-6)  # nothing darker than its surroundings


@pytest.mark.parametrize("value,delta,polarity", [(0.3, 0.5, "bright"), (0.6, -0.45, "dark"), (0.3, 0.5, "both"),
                                                 (0.6, -0.45, "both")])
def test_a_speck_on_a_flat_field_is_found_and_filled(value, delta, polarity):
    clean = _flat(value)
    damaged = _speck(clean, 20, 20, 3, delta)
    flagged = detect_specks(damaged, polarity=polarity)
    truth = np.zeros(flagged.shape, bool)
    truth[20:23, 20:23] = True
    assert np.array_equal(flagged, truth)
    restored = create_method("morph_detect", polarity=polarity)(damaged)
    assert np.abs(restored - clean).max() < 1e-3  # Telea from a flat surround: the background
    assert np.array_equal(restored[~truth], damaged[~truth])  # only flagged pixels change


def test_the_wrong_polarity_is_left_alone():
    damaged = _speck(_flat(), 20, 20, 3, -0.4)
    assert not detect_specks(damaged, polarity="bright").any()


def test_faint_large_and_textured_candidates_are_not_damage():
    clean = _flat()
    assert not detect_specks(_speck(clean, 20, 20, 3, 60 / 255)).any()  # below `contrast` (90 levels)
    big = _speck(clean, 10, 10, 12, 0.5)  # 144 px > max_area 64 (and wider than the disc)
    assert not detect_specks(big, radius=8).any()
    assert detect_specks(big, radius=8, max_area=200).any()
    # a bright speck beside a dark stroke: oscillating structure (a letter's edge), not dust on the picture
    texture = _speck(_speck(clean, 20, 20, 2, 0.5), 20, 23, 2, -0.25)
    assert not detect_specks(texture).any()
    assert detect_specks(texture, isolation=1.0).any()


def test_the_threshold_follows_the_noise():
    rng_noise = 30 / 255  # grain of 30 levels sigma: 6 sigma = 180 levels above a 100-level speck
    damaged = _speck(_flat(0.4, (64, 64), noise=rng_noise), 30, 30, 3, 100 / 255)
    assert not detect_specks(damaged)[30:33, 30:33].any()
    assert detect_specks(damaged, k_noise=0, isolation=0, contrast=90)[30:33, 30:33].any()


def test_grey_images_work():
    damaged = _speck(_flat(), 20, 20, 3, 0.5)[:, :, :1]
    assert detect_specks(damaged).sum() == 9


@pytest.mark.parametrize("option,value", [("radius", 0), ("radius", 2.5), ("contrast", 0), ("isolation", -1),
                                          ("max_area", True), ("polarity", "up"), ("k_noise", "6"), ("dilate", -1)])
def test_bad_options_are_refused_by_name(option, value):
    with pytest.raises(DustbenchError, match=option):
        create_method("morph_detect", **{option: value})


def test_tuning_picks_the_best_scoring_setting_and_records_the_grid():
    clean = _flat()
    pairs = [(_speck(clean, 20, 20, 3, 0.5), clean), (_speck(clean, 5, 30, 2, 0.45), clean)]
    result = tune_morph(pairs, grid={"contrast": (90.0, 200.0)})
    assert result["contrast"] == 90.0 and len(result["grid"]) == 2  # 200 levels misses both specks
    scores = {g["contrast"]: g["score"] for g in result["grid"]}
    assert scores[90.0] > scores[200.0] and result["score"] == scores[90.0]


def test_defaults_are_what_validation_chooses():
    """The published settings are tune_morph's choice on builtin-v2:validation (not test, not real scans)."""
    from dustbench.data.builtin_sets import BuiltinData

    result = tune_morph((s.damaged, s.clean) for s in BuiltinData("validation", version="v2"))
    assert {k: result[k] for k in GRID} == {k: DEFAULTS[k] for k in GRID}


def test_tune_on_retunes_and_records(tmp_path):
    from dustbench.data.builtin_sets import BuiltinData

    data = BuiltinData("test", version="v2")
    untouched = tune_if_needed("morph_detect", {}, data)
    assert untouched == {}  # no --tune-on: its validation-chosen defaults
    fixed = {k: DEFAULTS[k] for k in GRID if k != "contrast"}
    chosen = tune_if_needed("morph_detect", dict(fixed), data, tune_on="builtin", out=tmp_path)
    assert chosen["tuned_on"].endswith("validation") and chosen["contrast"] in GRID["contrast"]
    record = json.loads((tmp_path / "tuning.json").read_text())
    assert len(record["grid"]) == len(GRID["contrast"]) and record["tuned_on"]["method"] == "morph_detect"
