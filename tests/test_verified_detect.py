"""Speck candidates, the learned verifier (file, fit, thresholds) and the verified_* methods, on
hand-made images with known answers."""
from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.data import open_data
from dustbench.errors import DustbenchError
from dustbench.evaluation.harness import _run_key
from dustbench.io import from_float, write_image
from dustbench.methods import create_method
from dustbench.methods.speck_candidates import FEATURES, speck_candidates
from dustbench.methods.speck_verifier import SpeckVerifier, load_verifier, verifier_from_dict
from dustbench.methods.verified_detect import VERIFIER
from dustbench.train.verifier import candidate_table, choose_thresholds, fill_ratio, fit_verifier

N = len(FEATURES)
COLUMN = {name: i for i, name in enumerate(FEATURES)}


def grainy(shape=(96, 96), level=0.45, sigma=0.01, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (level + sigma * rng.standard_normal((*shape, 3))).astype(np.float32)


def constant(logit: float, thresholds=(0.5, 0.5)) -> SpeckVerifier:
    """A verifier giving every candidate sigmoid(logit)."""
    return SpeckVerifier(np.zeros(N), np.ones(N), [[(np.zeros((N, 1)), np.array([logit]))]],
                         dict(zip(("specks", "lines"), thresholds)))


# -- candidates -------------------------------------------------------------------------------------
def test_candidates_are_the_specks_with_their_shape_and_polarity():
    image = grainy()
    image[20:23, 20:23] = 0.9           # bright 3×3
    image[60:62, 30:38] = 0.05          # dark 2×8 bar
    found = speck_candidates(image)
    assert len(found.features) == 2
    f = {int(p): row for p, row in zip(found.features[:, COLUMN["polarity"]], found.features)}
    assert math.isclose(f[1][COLUMN["log_area"]], math.log(9), rel_tol=1e-6)
    assert math.isclose(f[-1][COLUMN["log_area"]], math.log(16), rel_tol=1e-6)
    assert math.isclose(f[1][COLUMN["fill"]], 1.0) and math.isclose(f[-1][COLUMN["fill"]], 1.0)
    # principal axes: a square is round (elongation 1), a 2×8 bar is sqrt(var 8 / var 2) long
    assert abs(f[1][COLUMN["log_elongation"]]) < 1e-6
    expected = 0.5 * math.log((63 / 12 + 1 / 12) / (3 / 12 + 1 / 12))
    assert math.isclose(f[-1][COLUMN["log_elongation"]], expected, rel_tol=1e-5)
    assert f[1][COLUMN["peak_level"]] > 100 and f[-1][COLUMN["peak_level"]] > 100
    mask = found.mask(np.ones(2, bool))
    assert mask.sum() == 9 + 16 and mask[21, 21] and mask[61, 35]
    only_dark = found.mask(found.features[:, COLUMN["polarity"]] < 0)
    assert only_dark.sum() == 16 and not only_dark[21, 21]


def test_no_candidates_on_plain_grain_or_a_step_edge():
    image = grainy()
    assert len(speck_candidates(image).features) == 0
    image[:, 48:] += 0.3                 # an edge is not narrower than the disc
    found = speck_candidates(image)
    assert len(found.features) == 0 and not found.mask(np.zeros(0, bool)).any()


def test_grey_damage_has_no_chroma_and_coloured_damage_has_some():
    image = grainy(sigma=0.002)
    image[20:24, 20:24] = 0.9
    image[60:64, 60:64] = (0.9, 0.45, 0.45)
    f = speck_candidates(image).features
    chroma = sorted(f[:, COLUMN["chroma"]])
    assert chroma[0] < 0.1 and chroma[1] > 1.0


# -- labels: does filling a candidate help? -----------------------------------------------------------
def test_fill_ratio_is_small_for_damage_and_large_for_picture():
    clean = grainy(sigma=0.002)
    clean[70:73, 70:73] = 0.95                      # a catchlight: part of the picture
    damaged = clean.copy()
    damaged[20:23, 20:23] = 0.95                    # a speck: damage
    found = speck_candidates(damaged)
    ratio = fill_ratio(damaged, clean, found)
    row = {tuple(at): int(np.flatnonzero((found.ids[:, 0] == 1) & (found.ids[:, 1] == found.labels[1][at]))[0])
           for at in ((21, 21), (71, 71))}
    assert len(ratio) == len(found.features) == 2
    assert ratio[row[21, 21]] < 0.01                # the fill restores the picture under the speck
    assert ratio[row[71, 71]] > 1e6                 # filling the catchlight only adds error


# -- the verifier file ---------------------------------------------------------------------------------
def test_probability_is_the_mean_of_hand_computed_perceptrons():
    rng = np.random.default_rng(1)
    mean, scale = rng.normal(size=N), rng.uniform(0.5, 2, N)
    members = [[(rng.normal(size=(N, 4)), rng.normal(size=4)), (rng.normal(size=(4, 1)), rng.normal(size=1))]
               for _ in range(3)]
    v = SpeckVerifier(mean, scale, members, {"specks": 0.5, "lines": 0.5})
    x = rng.normal(size=(5, N))
    expected = np.zeros(5)
    for (w1, b1), (w2, b2) in members:
        hidden = np.maximum(((x - mean) / scale) @ w1 + b1, 0)
        expected += 1 / (1 + np.exp(-(hidden @ w2 + b2)[:, 0])) / 3
    np.testing.assert_allclose(v.probability(x), expected, rtol=1e-12)
    assert v.param_count == 3 * (N * 4 + 4 + 4 + 1)


def test_a_verifier_file_round_trips(tmp_path):
    v = constant(0.3, (0.4, 0.7))
    v.info = {"trained_on": "x"}
    v.save(tmp_path / "v.json")
    back = load_verifier(tmp_path / "v.json")
    assert back.thresholds == {"specks": 0.4, "lines": 0.7} and back.info == {"trained_on": "x"}
    np.testing.assert_array_equal(back.probability(np.ones((2, N))), v.probability(np.ones((2, N))))


@pytest.mark.parametrize("change, words", [
    (lambda d: d.update(format="pickle"), "not a speck verifier"),
    (lambda d: d.update(features=["area"]), "learn it again"),
    (lambda d: d.update(mean=[0.0] * (N - 1)), "mean must be"),
    (lambda d: d.update(scale=[0.0] * N), "scale must be positive"),
    (lambda d: d["members"][0][0].update(weights=[[float("nan")]] * N), "finite"),
    (lambda d: d["members"][0][0].update(bias=[0.0, 0.0]), "member 0 layer 0 weights"),
    (lambda d: d["members"].append([]), "member 1 must be a non-empty list"),
    (lambda d: d.update(members=[]), "members must be a list"),
    (lambda d: d["members"][0].append({"weights": [[0.0, 0.0]], "bias": [0.0]}), "member 0 layer 1 weights"),
    (lambda d: d.update(thresholds={"specks": 0.5}), "thresholds must give"),
    (lambda d: d["thresholds"].update(lines=1.5), "lines threshold"),
    (lambda d: d["members"][0][0].update(bias=["1.5"]), "not an array of numbers"),
    (lambda d: d["members"][0][0].update(weights=[[True]] * N), "not an array of numbers"),
    (lambda d: d.update(mean=[10 ** 400] * N), "not an array of numbers"),
    (lambda d: d.update(info={"trained_on": ["a", "list"]}), "trained_on is words"),
])
def test_bad_verifier_files_are_refused_by_name(tmp_path, change, words):
    d = constant(0.0).to_dict()
    change(d)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(d))
    with pytest.raises(DustbenchError, match=words) as err:
        load_verifier(path)
    assert str(path) in str(err.value)


def test_unreadable_verifier_files_are_named(tmp_path):
    with pytest.raises(DustbenchError, match="no such verifier file"):
        create_method("verified_specks", weights=str(tmp_path / "missing.json"))
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(DustbenchError, match="x.json: not valid JSON"):
        load_verifier(tmp_path / "x.json")
    with pytest.raises(DustbenchError, match="not a speck verifier"):
        verifier_from_dict([1, 2], "list.json")
    (tmp_path / "deep.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(DustbenchError, match="deep.json"):
        load_verifier(tmp_path / "deep.json")
    for bad in (123, True, "", ["a.json"]):
        with pytest.raises(DustbenchError, match="weights must be the path of a verifier file"):
            create_method("verified_specks", weights=bad)


def test_a_rewritten_verifier_file_is_read_again_and_keys_a_resumed_run(tmp_path):
    path = tmp_path / "v.json"
    constant(10.0).save(path)
    first = create_method("verified_specks", weights=str(path))
    stat = path.stat()
    constant(-10.0).save(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))    # the same time: only the bytes differ
    second = create_method("verified_specks", weights=str(path))
    assert first.verifier.probability(np.zeros((1, N)))[0] > 0.99 > second.verifier.probability(np.zeros((1, N)))[0]
    assert first.weights_sha256 != second.weights_sha256
    data = open_data("builtin", "test")
    assert _run_key(first, data, 512, 32, "error") != _run_key(second, data, 512, 32, "error")


# -- fitting and choosing --------------------------------------------------------------------------------
def test_fit_separates_a_separable_table_and_is_deterministic():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, N)).astype(np.float32)
    y = x[:, 1] + 0.5 * x[:, 3] > 0.8
    a = fit_verifier(x, y, seed=3, members=2, epochs=10, batch=128, progress=False)
    b = fit_verifier(x, y, seed=3, members=2, epochs=10, batch=128, progress=False)
    assert len(a.members) == 2 and ((a.probability(x) >= 0.5) == y).mean() > 0.97
    for (wa, ba), (wb, bb) in zip(sum(a.members, []), sum(b.members, [])):
        np.testing.assert_array_equal(wa, wb)
        np.testing.assert_array_equal(ba, bb)
    assert not np.array_equal(a.members[0][0][0], a.members[1][0][0])   # each member from its own seed
    with pytest.raises(DustbenchError, match="both positives and negatives"):
        fit_verifier(x, np.zeros(len(x), bool), progress=False)


def test_thresholds_are_chosen_by_psnr_with_ties_to_the_higher():
    clean = grainy(sigma=0.002)
    damaged = clean.copy()
    damaged[20:23, 20:23] = 0.95
    # every candidate at P = sigmoid(0.4) = 0.599: thresholds up to 0.5 fill the speck (all the same
    # gain), 0.6 and above fill nothing
    chosen = choose_thresholds(constant(0.4), [(damaged, clean)], grid=(0.3, 0.5, 0.6), progress=False)
    for use in ("specks", "lines"):
        gains = chosen[use]["gains_db"]
        assert chosen[use]["threshold"] == 0.5
        assert gains["0.3"] == gains["0.5"] > 10 and gains["0.6"] == 0
    with pytest.raises(DustbenchError, match="no validation pairs"):
        choose_thresholds(constant(0.4), [], progress=False)


# -- the methods ------------------------------------------------------------------------------------------
def test_only_the_kept_candidates_change(tmp_path):
    image = grainy()
    image[20:23, 20:23] = 0.9
    keep_all, keep_none = tmp_path / "all.json", tmp_path / "none.json"
    constant(10.0).save(keep_all)
    constant(-10.0).save(keep_none)
    restored = create_method("verified_specks", weights=str(keep_all))(image)
    changed = np.any(restored != image, axis=2)
    assert changed[20:23, 20:23].all() and changed.sum() == 9
    assert np.array_equal(create_method("verified_specks", weights=str(keep_none))(image), image)


def test_verified_detect_adds_the_long_lines():
    image = grainy((200, 200), sigma=0.02)
    image[:, 100:102] += 0.15           # a faint scratch: no speck candidate passes the verifier alone
    specks = create_method("verified_specks").detect(image)
    both = create_method("verified_detect").detect(image)
    assert (both >= specks).all() and both[:, 100:102].mean() > 0.9


def test_published_verifier_and_settings():
    v = load_verifier(VERIFIER)
    assert v.info["thresholds_chosen_on"] == "builtin-v2:validation"
    assert "builtin-train+procedural" in v.info["trained_on"]
    method = create_method("verified_detect")
    assert method.options["threshold"] == v.thresholds["lines"] and method.param_count == v.param_count
    assert method.trained_on == v.info["trained_on"]
    assert create_method("verified_specks").options["threshold"] == v.thresholds["specks"]
    for bad in ({"threshold": 1.5}, {"threshold": True}, {"dilate": -1}):
        with pytest.raises(DustbenchError, match="verified_specks"):
            create_method("verified_specks", **bad)


def test_the_table_is_the_same_with_any_number_of_workers():
    one = candidate_table(3, seed=7, workers=1, progress=True)     # a progress bar must not drop a pair
    two = candidate_table(3, seed=7, workers=2, progress=True)     # one pair per chunk: both workers draw
    for key in ("features", "positive", "pair"):
        np.testing.assert_array_equal(one[key], two[key])
    assert one["positive"].any() and not one["positive"].all()
    assert set(one["pair"]) == {0, 1, 2}


def test_train_verifier_command_writes_a_file_the_methods_run(tmp_path, capsys):
    clean = grainy((64, 64), sigma=0.004)
    damaged = clean.copy()
    damaged[20:23, 30:33] = 0.95
    for name, image in (("damaged", damaged), ("clean", clean)):
        (tmp_path / "val" / "validation" / name).mkdir(parents=True)
        write_image(tmp_path / "val" / "validation" / name / "a.png", from_float(image, np.uint8))
    out = tmp_path / "v.json"
    assert main(["train-verifier", "--out", str(out), "--samples", "3", "--validation", str(tmp_path / "val"),
                 "--no-progress"]) == 0
    assert "wrote" in capsys.readouterr().out
    v = load_verifier(out)
    assert len(v.members) == 8 and v.info["thresholds_chosen_on"] == f"{tmp_path / 'val'}:validation"
    assert set(v.info["threshold_gains_db"]) == {"specks", "lines"}
    restored = create_method("verified_detect", weights=str(out))(damaged)
    assert restored.shape == damaged.shape
    assert main(["train-verifier", "--out", str(tmp_path / "v.pt")]) == 2
    assert main(["train-verifier", "--out", str(out), "--validation", str(tmp_path / "none")]) == 2
    assert main(["train-verifier", "--out", str(out), "--samples", "0"]) == 2
    assert main(["train-verifier", "--out", str(out), "--threads", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--samples must be at least 1" in err and "--threads must be at least 1" in err
    assert "a verifier is a .json file" in err and f"--validation {tmp_path / 'none'}: no such folder" in err
