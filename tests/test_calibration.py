"""The calibrated film-scan mixes against real 35 mm damage (dustbench.calibration), at a reduced
size: dust, dirt and short hairs on one 1000×1500 crop of a 3,400-px frame (counts scaled to the
frame by area), contrast and changed pixels on the built-in photos at 1.1 MP. The full table,
long hairs and scratches included, is benchmarks/bench_calibration.py."""
from __future__ import annotations

import pytest

from dustbench.calibration import compare, component_stats, pair_photos, pixel_stats, table

CROP = (1000, 1500)  # 8.7 % of a 3400×5100 frame: ~66 specks, ~23 dirt particles, ~12 short hairs


@pytest.fixture(scope="module")
def photos():
    return pair_photos()


def measured(components: str, mix: str, photos) -> dict:
    rows = compare({**component_stats(components, frames=1, crop=CROP), **pixel_stats(mix, photos, draws=1)})
    return {r["key"]: r for r in rows}


@pytest.mark.parametrize("side", ["negative", "slide"])
def test_calibrated_scan_mixes_are_within_1_5x_of_real_damage(side, photos):
    """Guards the calibration of the mixes builtin-v2 uses: counts, median sizes in px at a 3,400-px
    scan, contrast and changed pixels within 1.5x of the real statistics."""
    rows = measured(f"dust_{side}_scan,dirt_{side}_scan,hair_short_{side}_scan", f"{side}_scan_heavy", photos)
    keys = ("dust", "dirt", "hair_short", "dust_size", "dirt_size", "contrast", "changed")
    assert all(rows[k]["met"] for k in keys), table([rows[k] for k in keys], side)


def test_the_measurement_tells_the_old_heavy_mix_apart(photos):
    """Guards that the check can fail: the uncalibrated heavy components (opaque specks of median
    0.12 %) miss the real dust size and contrast by about 2x."""
    rows = measured("dust_negative_heavy_sharp,dirt_negative_heavy", "dust_negative_heavy_sharp,dirt_negative_heavy,"
                    "hair_short_negative_heavy,hair_long_negative_heavy", photos)
    assert rows["dust"]["met"] and not rows["dust_size"]["met"] and rows["dust_size"]["ratio"] < 0.6
    assert not rows["contrast"]["met"] and rows["contrast"]["ratio"] > 1.6
