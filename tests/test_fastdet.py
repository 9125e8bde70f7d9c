"""fastdet, the CPU-budget detector: size, receptive field, where its compute runs, that it trains
as segnet does, and that an exported file is a detector row."""
from __future__ import annotations

import numpy as np
import torch

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
