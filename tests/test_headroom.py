"""Per-family headroom (dustbench.report.headroom) on tiny hand-made pairs, against skimage's PSNR."""
from __future__ import annotations

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from dustbench.data.eval_base import Sample
from dustbench.errors import DustbenchError
from dustbench.report import headroom
from dustbench.synth import FAMILIES

DUST, HAIR = FAMILIES.index("dust") + 1, FAMILIES.index("hair") + 1


def _pair():
    """A flat 16×16 RGB picture with a dust speck (2×2, full opacity), a hair (one row of 6 px, full
    opacity) and one faint dust fringe pixel (opacity 0.02: below the visible cut)."""
    clean = np.full((16, 16, 3), 100, np.uint8)
    damaged = clean.copy()
    labels = np.zeros((16, 16), np.uint8)
    mask = np.zeros((16, 16), np.uint8)
    damaged[2:4, 2:4] = 220
    labels[2:4, 2:4], mask[2:4, 2:4] = DUST, 255
    damaged[10, 4:10] = 30
    labels[10, 4:10], mask[10, 4:10] = HAIR, 255
    damaged[5, 5] = 104
    labels[5, 5], mask[5, 5] = DUST, 5  # 5/255 < 0.05
    return Sample("pair", damaged, clean, mask=mask, labels=labels)


def _skimage_gain(clean, before, after):
    return peak_signal_noise_ratio(clean, after, data_range=255) - peak_signal_noise_ratio(clean, before, data_range=255)


def test_regions_keep_visible_pixels_of_each_family():
    s = _pair()
    regions = headroom.family_regions(s.labels, s.mask / np.float32(255))
    assert set(regions) == {"dust", "hair"}
    assert regions["dust"].sum() == 4 and not regions["dust"][5, 5] and regions["hair"].sum() == 6


def test_a_method_that_restores_one_family_takes_its_headroom_and_nothing_else():
    s = _pair()
    restored = s.damaged.copy()
    restored[2:4, 2:4] = 100   # the speck repaired exactly
    restored[0, 15] = 0        # and one clean pixel spoiled
    cells = headroom.image_headroom(s, {"m": restored})
    only_dust = s.damaged.copy()
    only_dust[2:4, 2:4] = 100
    assert cells["dust"]["m"] == pytest.approx(_skimage_gain(s.clean, s.damaged, only_dust), abs=1e-9)
    assert cells["dust"]["m recall"] == 1.0
    assert cells["hair"]["m"] == 0.0 and cells["hair"]["m recall"] == 0.0
    spoiled = s.damaged.copy()
    spoiled[0, 15] = 0
    assert cells["off damage"]["m"] == pytest.approx(_skimage_gain(s.clean, s.damaged, spoiled), abs=1e-9)
    assert cells["off damage"]["m"] < 0
    # on a flat picture Telea fills a hole from its border exactly: the oracle gains what repairing it gains
    assert cells["dust"]["oracle"] == pytest.approx(cells["dust"]["m"], abs=1e-9)
    assert cells["hair"]["oracle"] > 0


def test_summary_averages_over_the_images_that_hold_a_family():
    s = _pair()
    first = headroom.image_headroom(s, {"m": s.damaged})
    no_hair = Sample("b", s.damaged.copy(), s.clean, mask=s.mask.copy(), labels=s.labels.copy())
    no_hair.mask[10] = 0
    no_hair.labels[10] = 0
    no_hair.damaged[10] = 100
    second = headroom.image_headroom(no_hair, {"m": no_hair.damaged})
    summary = {line["family"]: line for line in headroom.summarise([first, second])}
    assert summary["dust"]["images"] == 2 and summary["hair"]["images"] == 1
    assert summary["dust"]["share"] == pytest.approx(8 / 14) and summary["hair"]["share"] == pytest.approx(6 / 14)
    assert summary["dust"]["oracle"] == pytest.approx((first["dust"]["oracle"] + second["dust"]["oracle"]) / 2)
    lines = headroom.table_lines(list(summary.values()), ["m"])
    assert lines[1].startswith("dust") and "+0.00 (0 %)" in lines[1] and lines[-1].startswith("off damage")


def test_a_restored_image_of_another_dtype_or_shape_is_refused():
    s = _pair()
    for bad in (s.damaged.astype(np.uint16) * 257, s.damaged[:, :, 0]):
        with pytest.raises(DustbenchError, match="row m gave"):
            headroom.image_headroom(s, {"m": bad})
