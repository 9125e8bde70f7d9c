"""A detector's fill with line_detect's lines (``DetectInpaint(lines=True)``) and ``fastdet_lines``,
the published fastdet weights so; its P averaged over mirror images (``flips``) and ``fastdet_tta``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dustbench
from dustbench.errors import DustbenchError
from dustbench.fill import dilate_mask, telea_inpaint
from dustbench.io import to_float
from dustbench.methods import create_method, load_model_file
from dustbench.methods.detect_inpaint import mirrored_mean
from dustbench.methods.line_scratches import detect_lines
from dustbench.methods.loaded import module_method
from dustbench.models.pretrained import DIR_ENV, create_model, publish, read_manifest
from dustbench.sources.procedural import procedural_image

ROOT = Path(__file__).resolve().parents[1]


class Flags(torch.nn.Module):
    """A stand-in detector: P(artifact) 1 on the pixels of ``where`` (H×W bool), 0 elsewhere."""

    def __init__(self, where: np.ndarray):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(1, 3, 1, 1))  # gives the method its 3 channels
        self.register_buffer("where", torch.from_numpy(where.astype(np.float32)))

    def forward(self, x):
        return self.where.expand_as(x) + 0 * x


def _scene():
    """Grain with a long faint dark scratch (row 60) and a bright 3×3 speck away from it."""
    rng = np.random.default_rng(0)
    image = (0.45 + 0.02 * rng.standard_normal((160, 200, 3))).astype(np.float32)
    image[59:61, :] -= np.float32(0.12)
    image[120:123, 40:43] = np.float32(0.95)
    speck = np.zeros(image.shape[:2], bool)
    speck[120:123, 40:43] = True
    return image, speck


def _method(flags: np.ndarray, **options):
    return module_method(Flags(flags), channels=3, info={"kind": "detector", "threshold": 0.5, "dilate": 1},
                         **options)


def test_lines_are_filled_with_what_the_detector_flags_and_only_then():
    image, speck = _scene()
    lines = detect_lines(image)
    assert lines[59:61].mean() > 0.9 and not lines[speck].any()  # the scratch is a line, the speck is not
    alone, both = _method(speck), _method(speck, lines=True)
    assert np.array_equal(alone(image), telea_inpaint(image, speck, dilate=1))
    expected = telea_inpaint(image, (dilate_mask(speck, 1) > 0) | lines, dilate=0)  # lines undilated
    assert np.array_equal(both(image), expected)
    assert both.options["lines"] is True and "lines" not in alone.options  # recorded only when on
    nothing = np.zeros(image.shape[:2], bool)  # a detector that flags nothing: line_detect itself
    assert np.array_equal(_method(nothing, lines=True)(image), create_method("line_detect")(image))


@pytest.mark.parametrize("bad", ["yes", "1", 2, 0.5, 1.0])
@pytest.mark.parametrize("switch", ["lines", "flips"])
def test_lines_and_flips_must_be_switches(switch, bad):
    with pytest.raises(DustbenchError, match=f"{switch} must be true or false"):
        _method(np.zeros((8, 8), bool), **{switch: bad})


def test_mirrored_mean_is_the_mean_of_the_four_mirrored_maps():
    """A score that depends on where a pixel is (not flip-equivariant) against the closed form."""
    image = np.zeros((3, 4, 3), np.float32)
    position = np.arange(12, dtype=np.float32).reshape(3, 4)  # what the score gives whatever it sees
    out = mirrored_mean(lambda view: position.copy(), image)
    expected = (position + position[::-1] + position[:, ::-1] + position[::-1, ::-1]) / 4
    assert out.dtype == np.float32 and np.array_equal(out, expected)
    assert np.allclose(out, 5.5)  # each mirrored quadruple sums to 4 × the mean index


def test_flips_average_the_detectors_p_over_mirror_images_in_one_image_and_in_batches():
    """A detector that flags only the top-left corner flags each corner at P 1/4 with flips: below a 0.5
    threshold, nothing is filled; a flip-symmetric speck stays at P 1 and is filled as without flips."""
    image, speck = _scene()
    corner = np.zeros(image.shape[:2], bool)
    corner[:4, :4] = True
    flipped = _method(corner, flips=True)
    p = flipped.probability(image, tile=None)
    assert np.allclose(p[:4, :4], 0.25) and np.allclose(p[-4:, -4:], 0.25) and p[50:100, 50:100].max() == 0
    assert flipped.options["flips"] is True and "flips" not in _method(corner).options  # recorded only when on
    assert np.array_equal(flipped(image), image) and not np.array_equal(_method(corner)(image), image)
    symmetric = np.zeros(image.shape[:2], bool)
    symmetric[78:82, 98:102] = True  # the centre of the 160×200 scene, the same every way round
    assert np.array_equal(_method(symmetric, flips=True)(image), _method(symmetric)(image))
    batch = np.stack([image, image[::-1].copy()])
    assert np.array_equal(flipped.run_batch(batch, None), np.stack([flipped(b) for b in batch]))


def test_fastdet_lines_runs_the_published_detector_at_its_published_point():
    entry = read_manifest()["models"]["fastdet"]
    assert entry["row"] == "fastdet_balanced"
    card = json.loads((ROOT / "leaderboard/models/fastdet_balanced.card.json").read_text())
    assert {k: card["inference"][k] for k in entry["inference"]} == entry["inference"]  # its validation point
    method = create_method("fastdet_lines")
    published = load_model_file(ROOT / "leaderboard/models/fastdet_balanced.pt", tile=None)
    image, _ = _scene()
    image[20:24, 150:154] = np.float32(0.05)  # a dark speck too
    assert np.array_equal(method.probability(image, tile=None), published.probability(image, tile=None))
    assert (method.options["threshold"], method.options["dilate"], method.options["lines"]) == (0.999, 1, True)
    assert method.name == "fastdet_lines" and "fastdet_balanced" in method.trained_on
    # a damaged scene with pixels the published detector is sure of (P >= 0.999), and a long scratch
    damaged = dustbench.synthesize(procedural_image("dead_leaves", (256, 256), np.random.default_rng(0)),
                                   "negative_scan_heavy", np.random.default_rng(0)).damaged
    image = to_float(damaged)
    image[100:102] = np.clip(image[100:102] - np.float32(0.15), 0, 1)
    flagged, lines = published.detect(image, tile=None), detect_lines(image)
    assert flagged.any() and lines.any() and not (flagged & lines).all()
    expected = telea_inpaint(image, (dilate_mask(flagged, 1) > 0) | lines, dilate=0)
    assert np.array_equal(method(image), expected)
    assert create_method("fastdet_lines", threshold=0.5).options["threshold"] == 0.5


def test_fastdet_lines_says_so_when_the_published_weights_record_no_operating_point(tmp_path, monkeypatch):
    publish(create_model("fastdet"), "fastdet", {}, tmp_path, steps=1)  # as `export --pretrained-dir` writes it
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    with pytest.raises(DustbenchError, match=r"no operating point \('inference' in .*manifest.json\)"):
        create_method("fastdet_lines")
    monkeypatch.setenv(DIR_ENV, str(tmp_path / "none"))
    with pytest.raises(DustbenchError, match="no published weights for model 'fastdet'"):
        create_method("fastdet_lines")


def test_fastdet_tta_runs_the_published_detector_with_flips_at_the_point_validation_chose():
    """TTA_POINT is what calibrate_detector picks for the flipped detector on builtin-v2:validation."""
    from dustbench.data.eval_data import open_data
    from dustbench.methods.calibrate import calibrate_detector
    from dustbench.methods.fastdet_rows import TTA_POINT

    method = create_method("fastdet_tta")
    published = load_model_file(ROOT / "leaderboard/models/fastdet_balanced.pt", tile=None)
    image, _ = _scene()
    mean = mirrored_mean(lambda view: published.probability(np.ascontiguousarray(view), tile=None), image)
    assert np.array_equal(method.probability(image, tile=None), mean)
    assert {k: method.options[k] for k in TTA_POINT} == TTA_POINT and method.options["flips"] is True
    found = calibrate_detector(method, open_data("builtin-v2", "validation"), "psnr", visible=0.25)
    assert {k: found[k] for k in TTA_POINT} == TTA_POINT
    assert create_method("fastdet_tta", threshold=0.9).options["threshold"] == 0.9
