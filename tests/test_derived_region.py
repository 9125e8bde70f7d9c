"""The real-pairs track: damage regions derived from |damaged − clean|, marked derived everywhere."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pandas as pd
import pytest

from dustbench.data import open_data
from dustbench.data.builtin_sets import builtin_splits
from dustbench.evaluation import evaluate
from dustbench.evaluation.region import derived_mask
from dustbench.io import read_image, write_image
from dustbench.report.leaderboard import build_leaderboard
from dustbench.sources import builtin_sources


def visibly_changed(damaged, clean, levels=20):
    return (np.abs(damaged.astype(np.int32) - clean.astype(np.int32)).max(axis=2)) > levels


def jpeg(image, quality):
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(image, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


@pytest.mark.parametrize("noise", [0.0, 2.0])
def test_derived_region_recovers_damage_and_spares_clean_pixels(noise):
    """Synthetic pairs with their masks withheld (and, second, the scan re-digitised with its own
    sensor noise of 2/255): >= 90 % of the pixels the damage changed by > 20/255 are found, < 0.1 %
    of the pixels it left alone are flagged."""
    found = strong = flagged = untouched = 0
    for spec, split in builtin_splits():
        for i, s in enumerate(open_data(spec, split)):
            rng = np.random.default_rng([i, len(split)])
            scan = np.clip(np.rint(s.damaged + rng.normal(0, noise, s.damaged.shape)), 0, 255).astype(np.uint8) \
                if noise else s.damaged
            region = derived_mask(scan, s.clean)
            big, clean_px = visibly_changed(s.damaged, s.clean), np.asarray(s.mask) == 0
            found, strong = found + int((region & big).sum()), strong + int(big.sum())
            flagged, untouched = flagged + int((region & clean_px).sum()), untouched + int(clean_px.sum())
    assert strong > 1000 and found / strong >= 0.9
    assert flagged / untouched < 0.001


@pytest.mark.parametrize("source", builtin_sources(), ids=lambda s: s.id)
def test_jpeg_of_a_clean_image_alone_is_not_damage(source):
    clean = read_image(source.path)
    assert derived_mask(jpeg(clean, 75), clean).mean() < 0.001  # measured: <= 0.02 % on every built-in photo


def test_evaluate_marks_derived_regions_in_rows_summary_and_leaderboard(tmp_path):
    data = tmp_path / "real"
    for s in list(open_data("builtin"))[:3]:  # pairs as a user lays out real scans: no mask/
        write_image(data / "damaged" / f"{s.id}.png", s.damaged)
        write_image(data / "clean" / f"{s.id}.png", s.clean)
    results = {m: evaluate(m, data, tmp_path / "r" / m, progress=False) for m in ("identity", "oracle_inpaint")}
    rows = pd.read_csv(tmp_path / "r" / "identity" / "per_image.csv")
    assert (rows["mask_source"] == "derived").all() and rows["psnr_in"].notna().all()
    summary = json.loads((tmp_path / "r" / "identity" / "summary.json").read_text())
    assert summary["data"]["mask_source"] == summary["metrics"]["mask_source"] == "derived"
    assert results["oracle_inpaint"].psnr > results["identity"].psnr  # the oracle fills the derived region
    build_leaderboard([tmp_path / "r"], tmp_path / "lb", plots=False)
    board = pd.read_csv(tmp_path / "lb" / "leaderboard.csv")
    assert (board["mask_source"] == "derived").all()
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "Derived damage region" in md and md.count("(derived)") >= 4  # masked and touch cells of both rows
    truth = evaluate("identity", "builtin", tmp_path / "b", progress=False, limit=1)
    assert truth.rows[0]["mask_source"] == "truth"
