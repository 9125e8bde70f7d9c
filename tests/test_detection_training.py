"""#16's detector: losses for rare pixels, and its operating point chosen on validation pairs."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dustbench.data import Sample
from dustbench.methods import Method
from dustbench.methods.calibrate import calibrate_detector
from dustbench.methods.classical import dilate_mask
from dustbench.methods.detect_inpaint import DetectInpaint
from dustbench.metrics import psnr
from dustbench.models.losses import focal_loss, soft_dice_loss


def test_focal_loss_reduces_to_cross_entropy_and_dice_to_overlap():
    g = torch.Generator().manual_seed(0)
    scores, target = torch.randn(2, 2, 8, 8, generator=g), (torch.rand(2, 8, 8, generator=g) > 0.8).long()
    # gamma 0, alpha 1/2: every pixel weighs 1/2 -> half the cross-entropy
    assert float(focal_loss(scores, target, 0.0, 0.5)) == pytest.approx(0.5 * float(F.cross_entropy(scores, target)))
    # easy pixels weigh less: with gamma 2 the loss is far below the cross-entropy
    assert float(focal_loss(scores, target, 2.0, 0.5)) < 0.5 * float(F.cross_entropy(scores, target))
    t = target.float()
    assert float(soft_dice_loss(t, target, eps=0.0)) == pytest.approx(0.0)
    assert float(soft_dice_loss(1 - t, target, eps=0.0)) == pytest.approx(1.0)


class Oracle(Method):
    """A stand-in detector: P(artifact) = the true opacity blurred, plus a false alarm of 0.4 at one spot."""

    name = "fake_detector"

    def __init__(self, masks):
        super().__init__(options={})
        self.masks = masks

    def run(self, image, mask):
        key = round(float(image.sum()), 3)
        p = self.masks[key].copy()
        p[0:3, 0:3] = np.maximum(p[0:3, 0:3], 0.4)  # a false alarm on clean pixels
        return np.repeat(p[:, :, None], image.shape[2], axis=2)


def _pairs(n=3, size=48, seed=0):
    rng = np.random.default_rng(seed)
    samples, masks = [], {}
    for i in range(n):
        clean = (rng.random((size, size, 3)) * 0.2 + 0.4).astype(np.float32)
        opacity = np.zeros((size, size), np.float32)
        for _ in range(6):
            y, x = rng.integers(5, size - 5, 2)
            opacity[y - 1:y + 2, x - 1:x + 2] = rng.uniform(0.6, 1.0)
        damaged = (clean * (1 - opacity[:, :, None])).astype(np.float32)  # dark specks
        c8, d8 = np.rint(clean * 255).astype(np.uint8), np.rint(damaged * 255).astype(np.uint8)
        masks[round(float((d8.astype(np.float32) / 255).sum()), 3)] = opacity
        samples.append(Sample(f"s{i}", d8, c8, np.rint(opacity * 255).astype(np.uint8)))
    return samples, masks


def test_calibration_picks_an_operating_point_on_validation_pairs():
    samples, masks = _pairs()
    method = DetectInpaint(Oracle(masks), threshold=0.5, dilate=1)
    f1 = calibrate_detector(method, samples, "f1")
    assert f1["threshold"] > 0.4 and f1["score"] == pytest.approx(1.0)  # above the false alarm, all damage
    best = calibrate_detector(method, samples, "psnr")
    assert best["threshold"] > 0.4  # filling the false alarm only loses PSNR
    chosen = DetectInpaint(Oracle(masks), threshold=best["threshold"], dilate=best["dilate"])
    for s in samples:
        image = s.damaged.astype(np.float32) / 255
        out = np.rint(chosen(image) * 255).astype(np.uint8)
        assert psnr(s.clean, out) > psnr(s.clean, s.damaged)
        touched = dilate_mask(chosen.detect(image), best["dilate"]) > 0
        assert np.array_equal(out[~touched], s.damaged[~touched])  # do no harm: the rest is returned as it came
    grid = {(g["threshold"], g["grow"], g["dilate"]) for g in best["grid"]}
    assert len(grid) == len(best["grid"]) and best["images"] == 3
    assert all(g["grow"] < g["threshold"] for g in best["grid"])


def test_flag_grows_from_sure_pixels_to_what_touches_them():
    from dustbench.errors import DustbenchError
    from dustbench.fill import check_inference_options, flag
    prob = np.zeros((7, 9), np.float32)
    prob[1, 1:6] = [0.6, 0.6, 0.95, 0.6, 0.6]   # a hair: a sure core, a fainter length
    prob[2, 6] = 0.6                            # touching it diagonally (8-connected)
    prob[5, 1:4] = 0.7                          # unsure everywhere: no core, never flagged
    assert flag(prob, 0.9).sum() == 1
    grown = flag(prob, 0.9, grow=0.5)
    assert grown.sum() == 6 and grown[2, 6] and not grown[5].any()
    assert flag(prob, 0.9, grow=0.65).sum() == 1    # the length is below the growth level
    assert not flag(np.zeros_like(prob), 0.9, grow=0.5).any()
    with pytest.raises(DustbenchError, match="grow must be"):
        check_inference_options(0.5, 1, 3.0, "telea", grow=0.5)


class Cored(Method):
    """P(artifact) = 1 at the centre of each speck, 0.6 over the rest of it, and an unconnected 0.7
    false alarm: only a sure threshold grown down to the rims finds the specks and nothing else."""

    name = "cored_detector"

    def __init__(self, masks):
        super().__init__(options={})
        self.masks = masks

    def run(self, image, mask):
        m = self.masks[round(float(image.sum()), 3)]
        p = np.where(m > 0, np.float32(0.6), np.float32(0.0))
        for y, x in zip(*np.nonzero(m > 0)):
            if (m[y - 1:y + 2, x - 1:x + 2] > 0).all():
                p[y, x] = 1.0
        p[0:3, 0:3] = 0.7
        return np.repeat(p[:, :, None], image.shape[2], axis=2)


def test_calibration_chooses_growth_when_it_finds_the_rest_of_the_damage():
    samples, masks = _pairs()
    method = DetectInpaint(Cored(masks), threshold=0.5, dilate=0)
    best = calibrate_detector(method, samples, "psnr", dilates=(0,))
    assert best["grow"] == 0.5 and best["threshold"] > 0.7
    no_growth = max(g["psnr"] for g in best["grid"] if g["grow"] == 0)
    assert best["score"] > no_growth + 0.5
    grown = DetectInpaint(Cored(masks), threshold=best["threshold"], grow=best["grow"], dilate=0)
    assert grown.options["grow"] == 0.5 and "grow" not in method.options   # recorded only when used
    image = samples[0].damaged.astype(np.float32) / 255
    assert np.array_equal(grown.detect(image), masks[round(float(image.sum()), 3)] > 0)


def test_label_contrast_keeps_only_damage_that_shows():
    """Opacity says how much dust covers a pixel, not whether it shows: with ``label_contrast`` L a
    pixel is an artifact only where the damage changed it by more than L/255 in some channel."""
    from dustbench.errors import DustbenchError
    from dustbench.models import create_model
    from dustbench.models.task import task_class

    clean = torch.full((1, 3, 4, 4), 0.2)
    damaged = clean.clone()
    damaged[0, 1, 0, 0] += 9 / 255   # shows (green channel, 9 levels)
    damaged[0, :, 0, 1] += 7 / 255   # opaque but too faint to fill
    damaged[0, 2, 3, 3] += 50 / 255  # shows, but below the opacity bar
    mask = torch.zeros(1, 1, 4, 4)
    mask[0, 0, 0, :2], mask[0, 0, 1, 1], mask[0, 0, 3, 3] = 0.9, 0.9, 0.1  # (1, 1): covered, unchanged
    make = task_class("fastdet")
    plain = make("fastdet", create_model("fastdet"), {"label_threshold": 0.2})
    shows = make("fastdet", create_model("fastdet"), {"label_threshold": 0.2, "label_contrast": 8})
    assert plain.labels(mask).nonzero().tolist() == [[0, 0, 0], [0, 0, 1], [0, 1, 1]]
    assert shows.labels(mask, damaged, clean).nonzero().tolist() == [[0, 0, 0]]
    assert "|damaged - clean| > 8/255" in shows.notes()["labels"] and "label_contrast" not in plain.file_info(plain.options)
    assert shows.file_info(shows.options)["label_contrast"] == 8.0
    with pytest.raises(DustbenchError, match="needs the damaged and clean"):
        shows.labels(mask)
    with pytest.raises(DustbenchError, match="label_contrast must be in"):
        make("fastdet", create_model("fastdet"), {"label_contrast": -1})


def test_detection_scores_use_the_labels_the_detector_was_trained_on(monkeypatch):
    """A detector trained with label_contrast is scored against those labels (the changed pixels under
    the opacity bar), beside the visible damage and any damage."""
    from types import SimpleNamespace

    from dustbench.report import reproduce

    clean = np.full((4, 4, 3), 0.5, np.float32)
    damaged = clean.copy()
    damaged[0, 0, 1] += 9 / 255   # covered and shows
    damaged[0, 1] += 5 / 255      # covered, too faint
    mask = np.zeros((4, 4), np.float32)
    mask[0, :2] = 0.9
    flagged = np.zeros((4, 4), bool)
    flagged[0, :2] = True
    monkeypatch.setattr(reproduce, "open_data", lambda data, split: [Sample("a", damaged, clean, mask)])
    method = SimpleNamespace(options={"threshold": 0.5, "label_threshold": 0.2, "label_contrast": 8.0},
                             detect=lambda image: flagged)
    got = reproduce.detection_metrics(method, "x")["against"]
    labels = got["labels (opacity > 0.2 and |damaged - clean| > 8/255)"]
    assert (labels["tp"], labels["fp"], labels["fn"]) == (1, 1, 0)
    assert (got["any damage (mask > 0)"]["tp"], got["any damage (mask > 0)"]["fp"]) == (2, 0)
