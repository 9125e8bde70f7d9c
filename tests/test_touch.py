"""What a method touched: precision, recall and F1 of its changed pixels against the damage."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from dustbench.evaluation import evaluate
from dustbench.io import from_float, read_image, to_float, write_image
from dustbench.methods import create_method
from dustbench.metrics import MetricInputError, touch_metrics
from dustbench.report.leaderboard import build_leaderboard
from dustbench.sources import builtin_sources


def test_touch_metrics_counted_by_hand():
    clean = np.full((10, 10), 100, np.uint8)
    mask = np.zeros((10, 10), np.uint8)
    mask[2, 2:6] = 255  # four damaged pixels, three of them visibly (> 2 levels)
    damaged = clean.copy()
    damaged[2, 2:5] = 200
    damaged[2, 5] = 101
    restored = damaged.copy()
    restored[2, 2:4] = 100  # repairs two of the three visible ones ...
    restored[2, 5] = 110  # ... touches the invisible one (inside the region) ...
    restored[9, 9] = 0  # ... and one clean pixel far from the damage
    got = touch_metrics(clean, damaged, restored, mask, dilate_px=1)
    assert got["touch_precision"] == 3 / 4 and got["touch_recall"] == 2 / 3
    assert got["touch_f1"] == pytest.approx(2 * (3 / 4) * (2 / 3) / (3 / 4 + 2 / 3))
    assert got["touched_fraction"] == 4 / 100
    nothing = touch_metrics(clean, damaged, damaged, mask)
    assert math.isnan(nothing["touch_precision"]) and nothing["touch_recall"] == 0 and nothing["touch_f1"] == 0
    assert math.isnan(touch_metrics(clean, clean, clean, mask)["touch_recall"])  # no visible damage
    with pytest.raises(MetricInputError, match="mask shape"):
        touch_metrics(clean, damaged, restored, mask[:5])


def opaque_specks(photo, n=60, seed=0):
    """Hard-edged, fully opaque black and white specks of 2-6 px: a perfect mask has no fringe."""
    rng = np.random.default_rng(seed)
    mask = np.zeros(photo.shape[:2], np.uint8)
    damaged = photo.copy()
    for k in range(n):
        y, x, r = int(rng.integers(8, photo.shape[0] - 8)), int(rng.integers(8, photo.shape[1] - 8)), int(rng.integers(1, 4))
        mask[y - r:y + r, x - r:x + r] = 255
        damaged[y - r:y + r, x - r:x + r] = 0 if k % 2 else 255
    return damaged, mask


def test_oracle_inpaint_touches_all_opaque_damage_and_nothing_else():
    photo = read_image(builtin_sources()[0].path)
    damaged, mask = opaque_specks(photo)
    restored = from_float(create_method("oracle_inpaint")(to_float(damaged), mask), np.uint8)
    got = touch_metrics(photo, damaged, restored, mask)
    assert got["touch_recall"] >= 0.95 and got["touch_precision"] == 1.0


@pytest.fixture(scope="module")
def sparse_pairs(tmp_path_factory):
    """Whole photographs with sparse opaque specks (~0.5 % of the pixels, like real scans), masks given."""
    root = tmp_path_factory.mktemp("sparse")
    for i, source in enumerate(builtin_sources()[:3]):
        photo = read_image(source.path)
        damaged, mask = opaque_specks(photo, n=40, seed=i)
        for part, image in (("damaged", damaged), ("clean", photo), ("mask", mask)):
            write_image(root / part / f"{i}.png", image)
    return root


def test_touch_columns_identity_median_and_oracle(sparse_pairs, tmp_path):
    for name in ("identity", "median", "oracle_inpaint"):
        evaluate(name, sparse_pairs, tmp_path / "r" / name, progress=False)
    rows = {n: pd.read_csv(tmp_path / "r" / n / "per_image.csv") for n in ("identity", "median", "oracle_inpaint")}
    assert rows["identity"]["touch_precision"].isna().all() and (rows["identity"]["touch_recall"] == 0).all()
    assert (rows["median"]["touch_precision"] < 0.1).all()  # a filter over the whole frame
    assert (rows["oracle_inpaint"]["touch_recall"] >= 0.95).all()
    board = build_leaderboard([tmp_path / "r"], tmp_path / "lb", plots=False)["table"].set_index("method")
    assert math.isnan(board.at["identity", "touch_precision"]) and board.at["identity", "touch_recall"] == 0
    assert board.at["median", "touch_precision"] < 0.1 and board.at["oracle_inpaint", "touch_recall"] >= 0.95
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    identity_line = next(line for line in md.splitlines() if line.startswith("| ") and " identity " in line)
    assert "– / 0.00 / 0.00" in identity_line  # precision undefined: shown as a dash
