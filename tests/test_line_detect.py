"""line_detect: long thin damage found along its length, and the picture's own lines left alone."""
import math

import cv2
import numpy as np
import pytest

from dustbench.errors import DustbenchError
from dustbench.methods import create_method, list_methods
from dustbench.methods.line_scratches import ANGLES, MIN_COUNT, RULES, _radon, _same_line, _starts, detect_lines


def grainy(shape=(200, 200), level=0.45, sigma=0.02, seed=0):
    rng = np.random.default_rng(seed)
    return (level + sigma * rng.standard_normal(shape + (3,))).astype(np.float32)


def line_mask(shape, angle_deg, offset=0.0, width=2.0):
    """Pixels within width/2 of a line through the centre (+ offset along its normal) at angle_deg."""
    yy, xx = np.mgrid[:shape[0], :shape[1]].astype(np.float64)
    cy, cx = (shape[0] - 1) / 2, (shape[1] - 1) / 2
    t = math.radians(angle_deg)
    dist = (xx - cx) * math.sin(t) - (yy - cy) * math.cos(t) - offset
    return np.abs(dist) <= width / 2


@pytest.mark.parametrize("angle", [0, 33, 90, 127])
@pytest.mark.parametrize("polarity", [1, -1])
def test_a_faint_scratch_across_grain_is_found_and_nothing_else(angle, polarity):
    image = grainy()
    line = line_mask(image.shape[:2], angle)
    image[line] += np.float32(0.12 * polarity)  # 6 times the grain's sigma, one pixel at a time no speck
    flagged = detect_lines(image)
    far = ~line_mask(image.shape[:2], angle, width=10)
    assert flagged[line].mean() > 0.9
    assert not flagged[far].any()


def test_a_step_edge_and_plain_grain_are_not_lines():
    image = grainy()
    image[:, 100:] += 0.3
    assert not detect_lines(image).any()
    assert not detect_lines(grainy(seed=1)).any()


def test_a_lattice_of_parallel_lines_is_texture():
    image = grainy()
    for x in range(20, 180, 6):  # wood grain, a striped sleeve: each line has neighbours 6 px away
        image[:, x:x + 2] += 0.12
    assert not detect_lines(image).any()


def test_a_lit_beam_with_its_shadow_is_structure():
    image = grainy()
    image[:, 100:102] += 0.15  # lit on one side ...
    image[:, 102:104] -= 0.15  # ... shaded on the other: damage adds light or takes it, not both
    assert not detect_lines(image).any()


def test_a_dotted_row_is_not_a_line():
    image = grainy()
    for x in range(4, 196, 7):  # a row of specks (lettering, catchlights): strong, but not continuous
        image[99:102, x:x + 3] += 0.3
    assert not detect_lines(image).any()


def test_windows_cover_a_large_image():
    image = grainy((300, 1100), seed=2)
    line = line_mask(image.shape[:2], 0)  # a horizontal scratch through three windows
    image[line] += 0.12
    flagged = detect_lines(image, window=512)
    for x0 in (0, 500, 1000):  # found in each
        assert flagged[:, x0:x0 + 100][line[:, x0:x0 + 100]].mean() > 0.9


def test_the_method_changes_only_what_it_flags_and_is_deterministic():
    image = grainy(seed=3)
    image[line_mask(image.shape[:2], 60)] += 0.12
    method = create_method("line_detect")
    out = method(image)
    changed = np.any(out != image, axis=2)
    assert changed.any() and not (changed & ~method.detect(image)).any()
    assert np.array_equal(out, create_method("line_detect")(image.copy()))
    assert "line_detect" in list_methods() and method.param_count == 0


@pytest.mark.parametrize("options, word", [({"score": -1}, "score"), ({"fill": 1.5}, "fill"),
                                           ({"side": "x"}, "side"), ({"radius": 0}, "radius"),
                                           ({"window": 10}, "window"), ({"dilate": True}, "dilate")])
def test_bad_settings_are_named(options, word):
    with pytest.raises(DustbenchError, match=word):
        create_method("line_detect", **options)


def test_rules_are_recorded_with_the_row():
    assert {k: create_method("line_detect").options[k] for k in RULES} == RULES


@pytest.mark.parametrize("column", [1, 2, 3, 196, 197])
def test_a_scratch_beside_the_border_is_found(column):
    # the strip between a line and the edge must not read as a line of the other polarity
    image = grainy(seed=4)
    image[:, column] -= 0.15
    assert detect_lines(image)[:, column].mean() > 0.9


def test_the_score_bar_decides():
    image = grainy(seed=5)
    line = line_mask(image.shape[:2], 45)
    image[line] += 0.12
    assert detect_lines(image)[line].mean() > 0.9
    assert not detect_lines(image, rules={"score": 1000.0}).any()


def test_a_line_across_0_and_180_degrees_is_one_line():
    assert _same_line(0.0, 43, 179.0, 242, side=286)  # the frame turns over: the column mirrors
    assert not _same_line(0.0, 43, 179.0, 43, side=286)
    assert _same_line(10.0, 100, 12.0, 104, side=286) and not _same_line(10.0, 100, 20.0, 100, side=286)


@pytest.mark.parametrize("length", [512, 513, 700, 1024, 1500])
def test_windows_overlap_by_half_and_are_evenly_spread(length):
    starts = _starts(length, 512)
    assert starts[0] == 0 and starts[-1] == max(length - 512, 0)
    steps = np.diff(starts)
    assert np.all(steps <= 256) and (len(steps) == 0 or steps.max() - steps.min() <= 1)
    assert len(starts) == (1 if length <= 512 else -(-(length - 512) // 256) + 1)


def test_bad_rules_and_polarities_are_named():
    with pytest.raises(DustbenchError, match="rules"):
        detect_lines(grainy(), rules={"scor": 3})
    with pytest.raises(DustbenchError, match="polarities"):
        detect_lines(grainy(), polarities=(0,))


def _plane_scores(z: np.ndarray, side: int) -> np.ndarray:
    """The Radon scores of one plane as the module doc defines them, one plain warp at a time: the
    reference for the windows' planes warped four to a call."""
    h, w = z.shape
    mu, sd = float(z.mean()), float(z.std()) + 1e-6
    out = np.zeros((ANGLES, side), np.float32)
    for i in range(ANGLES):
        m = cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), 180.0 * i / ANGLES, 1.0)
        m[:, 2] += ((side - w) / 2, (side - h) / 2)
        sums = np.convolve(cv2.warpAffine(z, m, (side, side)).sum(0), np.ones(2, np.float32), "same")
        counts = np.convolve(cv2.warpAffine(np.ones_like(z), m, (side, side)).sum(0), np.ones(2, np.float32), "same")
        ok = counts > MIN_COUNT
        out[i, ok] = (sums[ok] - mu * counts[ok]) / (sd * np.sqrt(counts[ok]))
    return out


@pytest.mark.parametrize("planes", [1, 2, 3, 4, 6])
def test_planes_warped_together_score_as_each_warped_alone(planes):
    """Windows' planes rotate four to a warp (the rest with the plane of ones, never two channels):
    each plane's scores must be exactly those of its own single-channel warps."""
    rng = np.random.default_rng(planes)
    zs = [np.minimum(np.abs(rng.standard_normal((96, 120))) * 2, 4).astype(np.float32) for _ in range(planes)]
    side = int(np.ceil(np.hypot(96, 120))) + 2
    together = _radon(zs, side)
    assert together.shape == (planes, ANGLES, side)
    for z, scores in zip(zs, together):
        assert np.array_equal(scores, _plane_scores(z, side))
