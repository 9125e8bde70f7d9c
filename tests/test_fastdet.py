"""fastdet, the CPU-budget detector: size, receptive field, where its compute runs, that it trains
as segnet does, and that an exported file is a detector row."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dustbench.errors import DustbenchError
from dustbench.models import create_model
from dustbench.models.fastdet import FastDetTask
from dustbench.models.layers import count_parameters
from dustbench.models.task import task_class


def test_size_within_the_cpu_budget():
    assert count_parameters(create_model("fastdet")) == 80_210  # the figure in its docstring (≤ 200 k)
    assert count_parameters(create_model("fastdet")) < count_parameters(create_model("segnet", width=8)) / 5


def test_receptive_field_covers_large_specks():
    """Gradient of one output pixel reaches ~250 px of input: measured, not computed from the layers."""
    torch.manual_seed(0)
    model = create_model("fastdet").eval()
    for block in model.body:  # blocks start as the identity (zero BatchNorm scale): open them
        torch.nn.init.ones_(block.bn.weight)
    x = torch.rand(1, 3, 512, 512, requires_grad=True)
    model(x, True)[0, 1, 256, 256].backward()
    cols = torch.nonzero(x.grad.abs().sum((0, 1, 2)) > 0).flatten()
    width = int(cols.max() - cols.min() + 1)
    assert 200 <= width <= 300


def test_no_convolution_runs_at_full_resolution():
    model = create_model("fastdet").eval()
    seen = []
    hooks = [m.register_forward_hook(lambda m, i, o: seen.append(o.shape[-1]))
             for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert max(seen) == 32 and seen.count(16) == 1 + 8  # down + the 8 body blocks at a quarter


def test_trains_as_a_detector_and_learns_a_speck():
    """A few steps on a bright square over noise: its probability there rises above the background's."""
    assert task_class("fastdet") is FastDetTask
    torch.manual_seed(0)
    task = FastDetTask("fastdet", create_model("fastdet", width=8, channels=8, blocks=2), {"label_threshold": 0.2})
    task.optimizers = task.build_optimizers(5e-3)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 32, 32, generator=g) * 0.2 + 0.3
    mask = torch.zeros(4, 1, 32, 32)
    mask[:, :, 12:18, 12:18] = 1.0
    x = torch.where(mask > 0, torch.ones_like(x), x)
    for step in range(60):
        task.training_step({"damaged": x, "clean": x, "mask": mask}, step)
    task.model.eval()
    with torch.no_grad():
        p = task.model(x)[:, 0]
    assert float(p[:, 13:17, 13:17].mean()) > 0.5 > float(p[:, :8, :8].mean())
    info = FastDetTask.file_info({"threshold": 0.6})
    assert info["kind"] == "detector" and info["model"] == "fastdet" and info["threshold"] == 0.6
    assert np.isfinite(float(p.sum()))


def test_residual_inputs_are_the_lumas_top_hats():
    """residual=r: the stem's two extra inputs are 4x the bright and dark top-hats of the luma, as
    OpenCV's morphology computes them with a (2r+1)-px square (its borders neutral, like max-pooling's)."""
    import cv2

    rng = np.random.default_rng(0)
    x = rng.random((2, 3, 37, 53), dtype=np.float32)
    x[0, :, 10:13, 20:22] = 1.0   # a bright speck ...
    x[1, :, 30:32, 5:9] = 0.0     # ... and a dark one
    model = create_model("fastdet", residual=3).eval()
    with torch.no_grad():
        inputs = model.inputs(torch.from_numpy(x)).numpy()
    assert inputs.shape == (2, 5, 37, 53) and np.array_equal(inputs[:, :3], x)
    kernel = np.ones((7, 7), np.uint8)
    for i in range(2):
        luma = (0.299 * x[i, 0] + 0.587 * x[i, 1] + 0.114 * x[i, 2]).astype(np.float32)
        bright = luma - cv2.morphologyEx(luma, cv2.MORPH_OPEN, kernel)
        dark = cv2.morphologyEx(luma, cv2.MORPH_CLOSE, kernel) - luma
        np.testing.assert_allclose(inputs[i, 3], 4 * bright, atol=1e-5)
        np.testing.assert_allclose(inputs[i, 4], 4 * dark, atol=1e-5)
    assert inputs[0, 3, 11, 21] > 1.0 and inputs[1, 4, 31, 6] > 1.0  # the specks stand out


def test_residual_costs_only_the_stem_and_exports():
    plain, residual = create_model("fastdet"), create_model("fastdet", residual=3)
    assert count_parameters(residual) - count_parameters(plain) == 2 * 16 * 9  # the stem's two extra inputs
    grey = create_model("fastdet", in_channels=1, residual=2).eval()
    scripted = torch.jit.script(grey)  # what export writes: TorchScript of any size
    x = torch.rand(1, 1, 30, 18)
    with torch.no_grad():
        assert torch.equal(scripted(x), grey(x)) and grey(x).shape == (1, 1, 30, 18)
    with pytest.raises(DustbenchError, match="residual"):
        create_model("fastdet", residual=-1)


def test_a_residual_detector_runs_on_the_images_it_was_made_for():
    """Its stem takes 5 inputs, but it is run on 3-channel images: the module says so (in_channels)."""
    from dustbench.methods.loaded import module_method

    method = module_method(create_model("fastdet", residual=3).eval())
    assert method.options["channels"] == 3
    assert method(np.full((20, 24, 3), 0.5, np.float32)).shape == (20, 24, 3)
