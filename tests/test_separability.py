"""Per-family separability (dustbench.report.separability) on hand-made scores and pairs, and
benchmarks/bench_separability.py end to end on one validation image of the standard suite."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from dustbench.data.eval_base import Sample
from dustbench.report.separability import average_precision, family_table, labelled_scores
from dustbench.synth import FAMILIES

DUST, HAIR = FAMILIES.index("dust") + 1, FAMILIES.index("hair") + 1


def _ap_by_hand(positive, negative):
    """AP as its definition reads, one threshold per distinct score: for each positive, the precision
    of flagging every score at least as high as its own."""
    allscores = np.concatenate([positive, negative])
    return float(np.mean([np.sum(positive >= p) / np.sum(allscores >= p) for p in positive]))


def test_average_precision_matches_its_definition_and_scikit_learns_example():
    assert average_precision(np.array([0.35, 0.8]), np.array([0.1, 0.4])) == pytest.approx(5 / 6)  # sklearn docs
    assert average_precision(np.array([3.0, 2.0]), np.array([1.0, 0.0])) == 1.0  # ranked first: perfect
    assert average_precision(np.array([0.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(0.25)  # ranked last
    assert average_precision(np.ones(5), np.ones(15)) == pytest.approx(0.25)  # all tied: the base rate
    rng = np.random.default_rng(0)
    for _ in range(20):
        pos, neg = rng.integers(0, 6, 7).astype(float), rng.integers(0, 6, 30).astype(float)  # many ties
        assert average_precision(pos, neg) == pytest.approx(_ap_by_hand(pos, neg))
    assert math.isnan(average_precision(np.zeros(0), np.ones(3)))


def _pair():
    """16×16 grey: a dust speck (2×2, +120), a hair (6 px, −70), a dust pixel changed by 2/255 only,
    all at full opacity; every other pixel untouched."""
    clean = np.full((16, 16), 100, np.uint8)
    damaged, labels, mask = clean.copy(), np.zeros((16, 16), np.uint8), np.zeros((16, 16), np.uint8)
    damaged[2:4, 2:4], labels[2:4, 2:4], mask[2:4, 2:4] = 220, DUST, 255
    damaged[10, 4:10], labels[10, 4:10], mask[10, 4:10] = 30, HAIR, 255
    damaged[5, 5], labels[5, 5], mask[5, 5] = 102, DUST, 255
    return Sample("pair", damaged, clean, mask=mask, labels=labels)


def test_positives_are_the_visible_changed_pixels_of_each_family_and_negatives_the_untouched():
    s = _pair()
    score = np.arange(256, dtype=np.float32).reshape(16, 16)
    positives, negative, change = labelled_scores(s, score)
    assert sorted(positives) == ["dust", "hair"]
    assert sorted(positives["dust"].tolist()) == [34.0, 35.0, 50.0, 51.0]  # not the 2/255 pixel (85)
    assert positives["hair"].tolist() == list(range(164, 170))
    assert negative.size == 256 - 4 - 6 - 1 and 85.0 not in negative
    assert change["dust"] == pytest.approx(np.full(4, 120 / 255))
    assert change["hair"] == pytest.approx(np.full(6, 70 / 255))
    with pytest.raises(ValueError, match="score map"):
        labelled_scores(s, score[:8])


def test_family_table_pools_images_in_family_order_and_ranks_against_every_negative():
    s = _pair()
    score = (s.mask > 0).astype(np.float32)  # every damaged pixel above every clean one
    rows = family_table([labelled_scores(s, score), labelled_scores(s, score)])
    assert [r["family"] for r in rows] == [f for f in FAMILIES if f in ("dust", "hair")]
    dust = rows[[r["family"] for r in rows].index("dust")]
    assert dust["pixels"] == 8 and dust["base"] == pytest.approx(8 / (8 + 2 * 245))
    assert dust["ap"] == 1.0 and dust["median_change"] == pytest.approx(120)


def test_the_benchmark_prints_and_writes_each_familys_average_precision(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("bench_separability")
    assert bench.main(["--detectors", "", "--limit", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "builtin-v2:validation, 1 images" in out and "top-hat z" in out
    tables = json.loads((tmp_path / "builtin-v2-validation" / "separability.json").read_text())["tables"]
    rows = tables["top-hat z"]
    assert rows and all(r["pixels"] > 0 and 0 < r["base"] < 1 and 0 < r["ap"] <= 1 for r in rows)
    assert {r["family"] for r in rows} <= set(FAMILIES)


def test_a_missing_detector_file_is_a_clear_error(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("bench_separability")
    assert bench.main(["--detectors", str(tmp_path / "none.pt"), "--limit", "1", "--out", str(tmp_path)]) == 1
    assert "none.pt" in capsys.readouterr().err
