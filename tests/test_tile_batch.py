"""Tiles in batches (one network call for several tiles) give what one tile at a time gives."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import ndimage
from torch import nn

from dustbench.errors import DustbenchError
from dustbench.methods import apply_method
from dustbench.methods.base import FunctionMethod, Method
from dustbench.methods.detect_inpaint import DetectInpaint
from dustbench.methods.loaded import module_method
from dustbench.methods.tiling import tile_layout


def rand_image(shape, seed=0):
    return np.random.default_rng(seed).random(shape, dtype=np.float32)


class Blur(Method):
    """A local (radius 2) numpy method; records the stacks run_batch was given."""

    name = "blur"

    def __init__(self, tile_batch):
        super().__init__()
        self.tile_batch, self.stacks = tile_batch, []

    def run(self, image, mask):
        return ndimage.uniform_filter(image, size=(5, 5, 1), mode="reflect")

    def run_batch(self, images, masks):
        self.stacks.append(images.shape)
        return super().run_batch(images, masks)


class Smooth(nn.Module):
    """Conv + sigmoid; counts the images in each call."""

    def __init__(self, channels=3):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)
        self.batches = []

    def forward(self, x):
        self.batches.append(x.shape[0])
        return torch.sigmoid(self.conv(x))


def test_apply_method_hands_batches_of_one_shape_to_run_batch():
    image = rand_image((300, 250, 3))
    one = apply_method(Blur(1), image, tile=96, overlap=16)
    method = Blur(4)
    batched = apply_method(method, image, tile=96, overlap=16)
    assert np.array_equal(batched, one)
    assert method.stacks and all(len(s) == 4 and s[0] <= 4 for s in method.stacks)
    assert sum(s[0] for s in method.stacks) == len(tile_layout(300, 96, 16)) * len(tile_layout(250, 96, 16))


@pytest.mark.parametrize("channels,image_channels", [(3, 3), (1, 3), (3, 1)])
def test_a_network_runs_several_tiles_per_call_with_the_same_result(channels, image_channels):
    image = rand_image((200, 180, image_channels), seed=1)
    net = Smooth(channels).eval()
    single = apply_method(module_method(net, channels=channels), image, tile=64, overlap=16)
    net.batches.clear()
    batched = apply_method(module_method(net, channels=channels, tile_batch=5), image, tile=64, overlap=16)
    assert np.abs(batched - single).max() < 1e-6
    grey_as_batch = channels == 1 and image_channels == 3  # each channel is its own grey image
    assert max(net.batches) == 5 * (3 if grey_as_batch else 1) and len(net.batches) < 16


def test_model_tiling_itself_uses_its_tile_batch():
    image = rand_image((200, 180, 3), seed=2)
    net = Smooth().eval()
    whole = module_method(net, tile=64, overlap=16)(image)
    net.batches.clear()
    batched = module_method(net, tile=64, overlap=16, tile_batch=3)(image)
    assert np.abs(batched - whole).max() < 1e-6 and max(net.batches) == 3
    net.batches.clear()  # tiled by apply_method into tiles that fit the model's own: still batched
    apply_method(module_method(net, tile=64, overlap=16, tile_batch=3), image, tile=64, overlap=16)
    assert max(net.batches) == 3


class Halves(nn.Module):
    """Writes to its input (an in-place op), as some user models do."""

    def forward(self, x):
        return x.mul_(0.5)


@pytest.mark.parametrize("tile, batch", [(None, 1), (64, 1), (24, 1), (24, 3)])  # whole, one tile, tiled
def test_a_model_that_writes_to_its_input_leaves_the_callers_image_alone(tile, batch):
    image = np.full((40, 50, 3), 0.8, np.float32)
    out = module_method(Halves(), channels=3, tile=tile, overlap=8, tile_batch=batch)(image)
    assert np.all(image == np.float32(0.8)) and np.allclose(out, 0.4)


def test_a_method_that_returns_a_buffer_it_keeps_gets_a_copy_back():
    kept = np.zeros((20, 30, 3), np.float32)

    def fill(x):
        kept[:] = x.mean()
        return kept
    first = apply_method(FunctionMethod(fill), np.full((20, 30, 3), 0.1, np.float32), tile=None)
    apply_method(FunctionMethod(fill), np.full((20, 30, 3), 0.4, np.float32), tile=None)
    assert first is not kept and np.allclose(first, 0.1)


def test_tiles_from_a_buffer_the_method_keeps_are_blended_before_it_is_reused():
    kept: dict = {}
    calls = []

    def echo(x):  # returns the same buffer for every tile of a shape (tiles are not copied when checked)
        buf = kept.setdefault(x.shape, np.empty(x.shape, np.float32))
        buf[:] = x
        calls.append(x.shape)
        return buf
    image = rand_image((70, 90, 3), seed=4)
    out = apply_method(FunctionMethod(echo), image, tile=32, overlap=8)
    assert len(calls) > len(kept) and all(not np.shares_memory(out, b) for b in kept.values())
    np.testing.assert_allclose(out, image, atol=1e-6)  # a pixel-wise method tiles exactly


def test_detector_batch_flags_and_fills_like_one_by_one():
    images = rand_image((3, 48, 40, 3), seed=3)
    method = DetectInpaint(module_method(Smooth().eval()), threshold=0.6, dilate=1)
    one_by_one = np.stack([method.run(im, None) for im in images])
    assert np.abs(method.run_batch(images, None) - one_by_one).max() < 1e-6
    assert not np.array_equal(one_by_one, images)  # something was flagged and filled


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "4"])
def test_tile_batch_must_be_a_positive_integer(bad):
    with pytest.raises(DustbenchError, match="tile_batch must be an integer >= 1"):
        module_method(Smooth(), tile_batch=bad)


def test_output_is_a_fresh_writable_array_even_when_a_method_returns_its_input():
    image = rand_image((20, 30, 3))
    image.flags.writeable = False
    out = apply_method(FunctionMethod(lambda x: x), image, tile=None)
    assert out is not image and not np.shares_memory(out, image) and out.flags.writeable
    assert np.array_equal(out, image)
    read_only = np.zeros((20, 30, 3), np.float32)
    read_only.flags.writeable = False
    out = apply_method(FunctionMethod(lambda x: read_only), image, tile=None)
    assert out.flags.writeable and out.flags.c_contiguous


class Padded(nn.Module):
    """A network that pads its input to a multiple of ``factor`` (as the U-Nets say they do)."""

    factor = 32

    def forward(self, x):
        return x


def test_default_tile_batch_batches_downsampling_networks_on_cpu_only():
    assert module_method(Padded(), tile=64).multiple == 32
    assert module_method(Padded(), tile=64).tile_batch == 4  # deep layers small: a batch shares their cost
    assert module_method(Halves(), tile=64).tile_batch == 1  # full resolution: batching was slower
    assert module_method(Padded(), tile=64, tile_batch=1).tile_batch == 1  # the user's choice wins


def test_a_method_that_writes_to_its_tiles_leaves_the_callers_image_and_the_result_alone():
    halve = FunctionMethod(lambda x: np.multiply(x, np.float32(0.5), out=x))  # writes to its input
    image = np.full((100, 30, 3), 0.8, np.float32)  # full-width tiles: contiguous slices of the image
    out = apply_method(halve, image, tile=32, overlap=8)
    assert np.all(image == np.float32(0.8)) and np.allclose(out, 0.4)
