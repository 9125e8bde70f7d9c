"""LoadedModel feeds CPU models NHWC (channels_last) input, and falls back to NCHW for models that need it."""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from dustbench.methods import load_model_file


class Net(nn.Module):
    """Two convs; ``flatten`` adds a .view() on the activations, which NHWC activations cannot take."""

    def __init__(self, flatten: bool):
        super().__init__()
        torch.manual_seed(0)
        self.a, self.b = nn.Conv2d(3, 16, 3, padding=1), nn.Conv2d(16, 3, 5, padding=2)
        self.flatten = flatten
        self.register_buffer("saw_nhwc", torch.zeros(()))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.saw_nhwc.fill_(float(x.is_contiguous(memory_format=torch.channels_last)))
        f = torch.relu(self.a(x))
        if self.flatten:
            f = f.view(f.shape[0], -1).view(f.shape)
        return torch.sigmoid(self.b(f))


def reference(net: nn.Module, image: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        y = net(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
    return y[0].permute(1, 2, 0).numpy()


def test_nhwc_input_matches_nchw(tmp_path):
    net = Net(flatten=False).eval()
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    method = load_model_file(tmp_path / "net.pt", tile=None)
    image = np.random.default_rng(0).random((37, 50, 3), dtype=np.float32)
    assert np.abs(method(image) - reference(net, image)).max() < 1e-5
    assert method.module.saw_nhwc.item() == 1.0


def test_model_that_needs_nchw_still_runs(tmp_path):
    net = Net(flatten=True).eval()
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    method = load_model_file(tmp_path / "net.pt", tile=32, overlap=8)
    image = np.random.default_rng(1).random((30, 29, 3), dtype=np.float32)
    with torch.no_grad():
        x = torch.rand(1, 3, 8, 8).contiguous(memory_format=torch.channels_last)
        try:
            net(x)
            raise AssertionError("the .view() model was expected to fail on NHWC input")
        except RuntimeError:
            pass
    assert np.abs(method(image) - reference(net, image)).max() < 1e-5
    assert method.module.saw_nhwc.item() == 0.0
