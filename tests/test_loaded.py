"""Loading models from files: TorchScript, torch.export .pt2, dustbench checkpoints; refusals."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from dustbench.errors import DustbenchError, UnknownNameError
from dustbench.methods import load_method, load_model_file
from dustbench.models.checkpoint import CHECKPOINT_FORMAT, write_checkpoint
from dustbench.models import create_model, list_models, register_model

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


class TinyConv(nn.Module):
    """A 3×3 conv with a sigmoid: N×C×H×W in [0, 1] -> same shape."""

    def __init__(self, channels: int = 3, width: int = 4):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(channels, width, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(width, channels, 3, padding=1))

    def forward(self, x):
        return torch.sigmoid(self.body(x) + 4 * (x - 0.5))


@register_model("test_tiny_conv")
def tiny_conv(channels: int = 3, width: int = 4) -> nn.Module:
    return TinyConv(channels, width)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyConv().eval()


def expected(model, image):
    with torch.no_grad():
        y = model(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
    return y[0].permute(1, 2, 0).numpy()


def image(shape=(40, 52, 3), seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


def export_pt2(model, path):
    h, w = torch.export.Dim("h", min=4), torch.export.Dim("w", min=4)
    program = torch.export.export(model, (torch.rand(1, 3, 16, 16),), dynamic_shapes=({2: h, 3: w},))
    torch.export.save(program, str(path))


def test_suffix_lists_agree():
    from dustbench import methods
    from dustbench.methods import loaded

    assert methods.MODEL_SUFFIXES == loaded.MODEL_SUFFIXES


def test_model_registry():
    assert "test_tiny_conv" in list_models()
    assert isinstance(create_model("test_tiny_conv", width=2), TinyConv)
    with pytest.raises(UnknownNameError, match="did you mean 'test_tiny_conv'"):
        create_model("test_tiny_cnv")
    with pytest.raises(DustbenchError, match="no config option 'widht'; did you mean 'width'"):
        create_model("test_tiny_conv", widht=2)


@pytest.mark.parametrize("fmt", ["torchscript", "export", "checkpoint"])
def test_each_format_loads_and_matches_the_model(fmt, model, tmp_path):
    if fmt == "torchscript":
        path = tmp_path / "m.pt"
        torch.jit.script(model).save(str(path))
    elif fmt == "export":
        path = tmp_path / "m.pt2"
        export_pt2(model, path)
    else:
        path = tmp_path / "m.ckpt"
        write_checkpoint(path, model, "test_tiny_conv", {"channels": 3, "width": 4}, epoch=7)
    method = load_model_file(path)
    assert method.options["format"] == fmt and method.options["path"] == str(path)
    assert method.param_count == sum(p.numel() for p in model.parameters())
    assert not method.needs_mask and not method.is_oracle
    x = image()
    out = method(x)
    assert out.shape == x.shape and out.dtype == np.float32
    np.testing.assert_allclose(out, expected(model, x), atol=1e-5)


def test_checkpoint_written_by_hand_and_load_method(model, tmp_path):
    path = tmp_path / "hand.pt"
    torch.save({"format": CHECKPOINT_FORMAT, "model": "test_tiny_conv", "config": {"channels": 3},
                "state_dict": model.state_dict(), "notes": "trained elsewhere"}, path)
    method = load_method(str(path), {"tile": None})
    assert method.options["model"] == "test_tiny_conv" and method.options["tile"] is None
    np.testing.assert_allclose(method(image()), expected(model, image()), atol=1e-5)


def test_tiled_inference_on_large_image_is_close(model, tmp_path):
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    x = image((150, 170, 3))
    out = load_model_file(path, tile=64, overlap=16)(x)
    # two 3×3 convs: receptive radius 2 <= 16 // 4, so tiling is exact
    np.testing.assert_allclose(out, expected(model, x), atol=1e-5)


def test_grey_image_with_rgb_model_and_rgb_image_with_grey_model(model, tmp_path):
    path = tmp_path / "rgb.pt"
    torch.jit.script(model).save(str(path))
    grey = image((30, 20, 1))
    out = load_model_file(path)(grey)
    want = expected(model, np.repeat(grey, 3, axis=2)).mean(axis=2, keepdims=True)
    np.testing.assert_allclose(out, want, atol=1e-5)
    assert load_model_file(path)(grey[:, :, 0]).shape == (30, 20)

    torch.manual_seed(1)
    grey_model = TinyConv(channels=1).eval()
    path1 = tmp_path / "grey.pt"
    torch.jit.script(grey_model).save(str(path1))
    rgb = image((30, 20, 3))
    out = load_model_file(path1)(rgb)
    want = np.concatenate([expected(grey_model, rgb[:, :, c:c + 1]) for c in range(3)], axis=2)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_fixed_shape_export_fails_with_hint(model, tmp_path):
    path = tmp_path / "static.pt2"
    torch.export.save(torch.export.export(model, (torch.rand(1, 3, 16, 16),)), str(path))
    with pytest.raises(DustbenchError, match="static.pt2.*dynamic_shapes"):
        load_model_file(path)(image())


def test_pickled_module_is_refused_with_export_advice(model, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(DustbenchError, match=r"whole\.pt.*refusing.*TinyConv.*torch\.jit\.script"):
        load_model_file(path)


@pytest.mark.parametrize("case", ["missing", "suffix", "junk", "truncated", "state_dict", "unknown_model"])
def test_bad_files_give_clear_errors_naming_the_file(case, model, tmp_path):
    path = tmp_path / "bad.pt"
    if case == "suffix":
        path = tmp_path / "model.onnx"
        path.write_bytes(b"x")
    elif case == "junk":
        path.write_bytes(np.random.default_rng(0).bytes(500))
    elif case == "truncated":
        torch.jit.script(model).save(str(path))
        path.write_bytes(path.read_bytes()[:300])
    elif case == "state_dict":
        torch.save(model.state_dict(), path)
    elif case == "unknown_model":
        write_checkpoint(path, model, "test_tiny_conv", {})
        ckpt = torch.load(path, weights_only=True)
        torch.save({**ckpt, "model": "no_such_model"}, path)
    with pytest.raises(DustbenchError, match=path.name) as info:
        load_model_file(path)
    if case == "state_dict":
        assert "bare state_dict" in str(info.value)
    if case == "unknown_model":
        assert "unknown model 'no_such_model'" in str(info.value)


def test_a_files_tile_option_is_apply_methods_default_and_never_nests(model, tmp_path, monkeypatch):
    """`-o tile=64 --tile 128`: one tiling, at 128 (the file's 64 only when the caller gives none)."""
    from dustbench.methods import apply_method
    from dustbench.methods.loaded import LoadedModel
    from dustbench.methods.tiling import tile_layout

    shapes = []
    forward = LoadedModel._call_module
    monkeypatch.setattr(LoadedModel, "_call_module", lambda self, x: shapes.append(tuple(x.shape)) or forward(self, x))
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    method = load_method(str(path), {"tile": 64, "overlap": 16, "tile_batch": 1})
    x = image((256, 240, 3), seed=3)
    tiles = lambda t, o: len(tile_layout(256, t, o)) * len(tile_layout(240, t, o))  # noqa: E731
    out = apply_method(method, x, tile=128, overlap=16)
    assert len(shapes) == tiles(128, 16) and min(s[2] for s in shapes) > 64  # 128-px tiles, none split again
    np.testing.assert_allclose(out, expected(model, x), atol=1e-5)
    for run in (lambda: apply_method(method, x), lambda: method(x)):  # the file's own tiling: 64/16
        shapes.clear()
        np.testing.assert_allclose(run(), expected(model, x), atol=1e-5)
        assert len(shapes) == tiles(64, 16) and max(max(s[2:]) for s in shapes) <= 64
    shapes.clear()
    apply_method(method, x, tile=None)  # explicit: whole, once
    assert shapes == [(1, 3, 256, 240)]
