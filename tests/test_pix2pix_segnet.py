"""pix2pix and segnet through the registry and the shared trainer; the detect-inpaint method."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch

from dustbench.errors import DustbenchError
from dustbench.methods import apply_method, list_methods, load_model_file
from dustbench.methods.detect_inpaint import DetectInpaint, detection_scores, fill_mask
from dustbench.methods.loaded import INFO_FILE
from dustbench.models import create_model, list_models
from dustbench.models.layers import count_parameters
from dustbench.models.patchgan import receptive_field
from dustbench.models.pix2pix import Pix2PixTask
from dustbench.models.segnet import SegNetTask
from dustbench.data import Sample
from dustbench.train import TrainConfig, train
from dustbench.data.train_sources import MemoryPairs
from dustbench.train.export import export_model
from dustbench.train.validate import task_method, validate, validate_task

from test_trainer import tiny_pairs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")
SMALL = {"pix2pix": {"ngf": 4}, "segnet": {"width": 4}}


def test_registered_with_tasks():
    assert {"pix2pix", "segnet"} <= set(list_models())
    with pytest.raises(DustbenchError, match="did you mean 'ngf'"):
        create_model("pix2pix", ngff=8)


@pytest.mark.parametrize("name", ["pix2pix", "segnet"])
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (2, 3, 37, 29), (1, 3, 130, 65)])
def test_shapes_pad_to_the_downsampling_factor(name, shape):
    torch.manual_seed(0)
    model = create_model(name, **SMALL[name]).eval()
    x = torch.rand(shape)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and 0.0 <= float(y.min()) and float(y.max()) <= 1.0


def test_parameter_counts_and_structure():
    # the papers' widths: pix2pix unet_128 prints "41.829 M"; SegNet (VGG-16 encoder) ~29.5 M
    assert count_parameters(create_model("pix2pix")) == 41_828_995
    assert count_parameters(create_model("segnet")) == 29_473_218
    # the leaderboard's CPU recipes (dustbench.reproduce.RECIPES)
    assert count_parameters(create_model("pix2pix", ngf=8)) == 655_443
    assert count_parameters(create_model("segnet", width=8)) == 462_586
    g = create_model("pix2pix", ngf=4)
    convs = [m for m in g.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(convs) == 7 and all(c.stride == (2, 2) and c.kernel_size == (4, 4) for c in convs)
    drops = [m for m in g.modules() if isinstance(m, torch.nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.5 for d in drops)
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in g.modules()) and g.factor == 128
    task = Pix2PixTask("pix2pix", g)
    assert receptive_field(task.discriminator) == 70 and task.discriminator.net[0].in_channels == 6
    s = create_model("segnet", width=4)
    assert [sum(isinstance(m, torch.nn.Conv2d) for m in b) for b in s.encoder] == [2, 2, 3, 3, 3]
    assert [sum(isinstance(m, torch.nn.Conv2d) for m in b) for b in s.decoder] == [3, 3, 3, 2, 2]
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        scores, prob = s.eval()(x, True), s(x)
    assert scores.shape == (1, 2, 40, 40)
    assert torch.allclose(prob[:, 0], torch.softmax(scores, 1)[:, 1]) and torch.equal(prob[:, 0], prob[:, 2])


def _batch(seed=0, n=2, size=32):
    g = torch.Generator().manual_seed(seed)
    clean = torch.rand(n, 3, size, size, generator=g)
    mask = (torch.rand(n, 1, size, size, generator=g) > 0.9).float() * 0.8
    damaged = clean * (1 - mask) + mask  # bright specks
    return {"damaged": damaged, "clean": clean, "mask": mask}


def _task(name, lr, **options):
    torch.manual_seed(0)
    task = {"pix2pix": Pix2PixTask, "segnet": SegNetTask}[name](name, create_model(name, **SMALL[name]), options)
    task.optimizers = task.build_optimizers(lr)
    for opt in task.optimizers.values():
        for group in opt.param_groups:
            group.setdefault("initial_lr", group["lr"])
    return task


def test_one_step_lowers_the_loss():
    batch = _batch()
    p2p = _task("pix2pix", 2e-4, schedule="linear", d_width=8)

    def l1():
        torch.manual_seed(1)  # the same dropout masks before and after
        with torch.no_grad():
            return float((p2p.model(batch["damaged"]) - batch["clean"]).abs().mean())

    before = l1()
    losses = p2p.training_step(batch, 0)
    assert {"d", "adversarial", "l1", "total"} <= set(losses)
    assert l1() < before
    seg = _task("segnet", 1e-3)
    target = seg.labels(batch["mask"])
    assert int(target.sum()) == int((batch["mask"] > 0.05).sum())

    def loss():  # the task's own loss (focal + soft Dice by default)
        with torch.no_grad():
            return float(seg.loss(seg.model(batch["damaged"], True), target))

    before = loss()
    for step in range(10):  # Adam's first few unit-size steps are noisy on the Dice term; ten are not
        seg.training_step(batch, step)
    assert loss() < before - 0.02


def test_pix2pix_schedule_and_lr_warning():
    task = _task("pix2pix", 2e-4, d_width=8)
    for factor, want in ((1.0, 1.0), (0.6, 1.0), (0.5, 1.0), (0.25, 0.5), (0.0, 0.0)):
        assert abs(task.lr_factor(factor) - want) < 1e-12  # of the trainer's linear decay
    assert task.optimizers["model"].param_groups[0]["betas"] == (0.5, 0.999)
    with pytest.warns(UserWarning, match="differs from pix2pix's 0.0002"):
        Pix2PixTask("pix2pix", create_model("pix2pix", ngf=2)).build_optimizers(5e-4)


def test_fill_and_detection_scores():
    rng = np.random.default_rng(0)
    image = rng.random((20, 24, 3), dtype=np.float32)
    mask = np.zeros((20, 24), bool)
    mask[10, 12] = True
    for fill in ("telea", "median"):
        out = fill_mask(image, mask, fill, dilate=1)
        changed = np.abs(out - image).max(axis=2) > 0
        assert changed[9:12, 11:14].any() and not changed[:8].any() and not changed[:, :10].any()
    s = detection_scores(np.array([[1, 1, 0, 0]], bool), np.array([[1, 0, 1, 0]], bool))
    assert (s["tp"], s["fp"], s["fn"]) == (1, 1, 1)
    assert s["precision"] == 0.5 and s["recall"] == 0.5 and abs(s["iou"] - 1 / 3) < 1e-12
    assert detection_scores(np.zeros((2, 2), bool), np.zeros((2, 2), bool))["iou"] == 1.0
    assert "detect_inpaint" not in list_methods()  # model-backed: loaded from files, not built by name


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """pix2pix and segnet trained 2 steps by the shared trainer, exported to TorchScript."""
    pairs = tiny_pairs()
    val = [Sample("v0", *pairs[0])]
    root = tmp_path_factory.mktemp("p2p_seg")
    files = {}
    for name, lr in (("pix2pix", 2e-4), ("segnet", 1e-3)):
        result = train(TrainConfig(name, out=str(root / name), data=MemoryPairs(pairs, patch=32, samples_per_epoch=4),
                                   model_config=SMALL[name], task_options={"d_width": 4} if name == "pix2pix" else {},
                                   batch_size=2, patch=32, max_steps=2, val=val, progress=False, plot=False, lr=lr))
        assert result.step == 2 and "val_psnr" in result.val
        files[name] = (root / f"{name}.pt", export_model(result.checkpoint, root / f"{name}.pt"), result)
    return files, pairs


def test_export_round_trip(exported):
    files, pairs = exported
    path, card, result = files["pix2pix"]
    assert card["parameters"] == count_parameters(create_model("pix2pix", ngf=4)) and "kind" not in card
    method = load_model_file(path, tile=None)
    assert not isinstance(method, DetectInpaint)
    x = torch.rand(1, 3, 33, 47)
    with torch.no_grad():
        want = result.task.model.eval()(x)
    assert float((method.module(x) - want).abs().max()) < 1e-5
    card_md = path.with_suffix(".card.md").read_text()
    assert "constant for the first half" in card_md


def test_exported_segnet_is_a_detector(exported, tmp_path):
    files, pairs = exported
    path, card, result = files["segnet"]
    assert card["kind"] == "detector" and card["inference"]["threshold"] == 0.5
    extra = {INFO_FILE: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.load(str(path), _extra_files=extra)
    assert json.loads(extra[INFO_FILE])["kind"] == "detector"
    for source in (path, result.checkpoint):  # the TorchScript file and the training checkpoint alike
        method = load_model_file(source, tile=None)
        assert isinstance(method, DetectInpaint) and method.options["label_threshold"] == 0.05
    damaged = pairs[0][0].astype(np.float32) / 255
    prob = method.probability(damaged)
    assert prob.shape == damaged.shape[:2] and 0 <= prob.min() and prob.max() <= 1
    restored = method(damaged)
    flagged = method.detect(damaged)
    assert restored.shape == damaged.shape
    assert np.array_equal(restored[~_dilate(flagged)], damaged[~_dilate(flagged)])
    strict = load_model_file(path, threshold=1.0, fill="median")  # `dustbench evaluate segnet.pt -o threshold=1`
    assert strict.options["threshold"] == 1.0 and strict.options["fill"] == "median"
    assert strict.options["label_threshold"] == 0.05 and strict.options["dilate"] == 1
    with pytest.raises(DustbenchError, match="unknown"):
        load_model_file(path, treshold=0.4)
    with pytest.raises(DustbenchError, match="detector models only"):
        load_model_file(files["pix2pix"][0], threshold=0.4)


def test_validation_runs_the_method_the_export_becomes(exported):
    """One detect→fill path: the trainer validates the Method that loading the exported file gives
    (the task's current inference options included), through apply_method, and scores it the same."""
    files, pairs = exported
    path, _, result = files["segnet"]
    task = result.task
    samples = [Sample(f"v{i}", *p) for i, p in enumerate(pairs)]
    samples.append(Sample("grey", pairs[0][0].mean(axis=2).astype(np.uint8),
                          pairs[0][1].mean(axis=2).astype(np.uint8), pairs[0][2]))
    original = dict(task.options)
    default = validate_task(task, samples)
    try:
        task.options.update(threshold=0.45, dilate=2, fill="median", radius=2.0)
        ours = task_method(task)
        theirs = load_model_file(path, tile=None, threshold=0.45, dilate=2, fill="median", radius=2.0)
        assert isinstance(ours, DetectInpaint) and isinstance(theirs, DetectInpaint)
        keys = ("kind", "threshold", "dilate", "fill", "radius", "label_threshold")
        assert {k: ours.options[k] for k in keys} == {k: theirs.options[k] for k in keys}
        for s in samples:  # eager network vs TorchScript file: the same restored pixels
            image = s.damaged.astype(np.float32) / 255
            a, b = (apply_method(m, image, s.mask, tile=None) for m in (ours, theirs))
            assert a.shape == image.shape and np.allclose(a, b, atol=2e-5)
        task.model.train(True)
        scores = validate_task(task, samples)
        assert task.model.training  # validation leaves the network as it found it
        assert scores == pytest.approx(validate(theirs, samples), abs=1e-4)
        assert scores != default  # the task's current options are the ones used
    finally:
        task.options.clear()
        task.options.update(original)


def _dilate(mask: np.ndarray, r: int = 1) -> np.ndarray:
    import cv2

    return cv2.dilate(mask.astype(np.uint8), np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0
