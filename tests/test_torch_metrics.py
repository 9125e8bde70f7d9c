"""The differentiable torch PSNR/SSIM: the numpy path's values, gradients that check out, and
dustbench.psnr/ssim sending a tensor that requires a gradient there instead of detaching it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import dustbench
from dustbench import torch_metrics as tm
from dustbench.metrics import MetricInputError, psnr, ssim
from skimage.metrics import structural_similarity


def _pair(dtype=torch.float64, shape=(3, 3, 33, 41), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(*shape, generator=g, dtype=dtype)
    return x, (x + 0.05 * torch.randn(*shape, generator=g, dtype=dtype)).clamp(0, 1)


@pytest.mark.parametrize("kw", [{}, {"crop_border": 3}, {"luminance_only": True}, {"data_range": 2.0}])
@pytest.mark.parametrize("name", ["psnr", "ssim"])
def test_same_values_as_the_numpy_path(name, kw):
    x, y = _pair()
    want = np.array(getattr(dustbench.metrics, name)(x, y, reduction="none", **kw))
    np.testing.assert_allclose(getattr(tm, name)(x, y, reduction="none", **kw).numpy(), want, rtol=0, atol=1e-10)
    got32 = getattr(tm, name)(x.float(), y.float(), reduction="none", **kw).numpy()
    np.testing.assert_allclose(got32, want, rtol=0, atol=1e-5)


def test_ssim_agrees_with_skimage_directly():
    x, y = _pair(shape=(1, 3, 40, 40))
    ref = structural_similarity(x[0].permute(1, 2, 0).numpy(), y[0].permute(1, 2, 0).numpy(), gaussian_weights=True,
                                sigma=1.5, use_sample_covariance=False, channel_axis=-1, data_range=1.0)
    assert tm.ssim(x, y).item() == pytest.approx(ref, abs=1e-12)


@pytest.mark.parametrize("fn", [tm.psnr, tm.ssim])
def test_gradients_check_out(fn):
    x, y = _pair(shape=(2, 2, 12, 13))
    y.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda t: fn(x, t), (y,), eps=1e-6, atol=1e-5)


def test_dustbench_metrics_keep_the_gradient_of_a_tensor_that_requires_one():
    """They used to return a Python float and silently detach the input."""
    x, y = _pair()
    z = y.clone().requires_grad_(True)
    loss = 1 - dustbench.ssim(x, z)
    assert isinstance(loss, torch.Tensor) and loss.grad_fn is not None
    loss.backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    assert dustbench.psnr(x, z).item() == pytest.approx(psnr(x, y), abs=1e-10)
    assert isinstance(ssim(x, y), float)  # without a gradient: the float as before
    assert tm.psnr(x, x).item() == float("inf")


def test_bad_inputs_are_one_line_errors():
    x, y = _pair()
    with pytest.raises(MetricInputError, match="shape mismatch"):
        tm.psnr(x, y[:, :, :-1])
    with pytest.raises(MetricInputError, match="floating"):
        tm.ssim((x * 255).to(torch.uint8), (y * 255).to(torch.uint8))
    with pytest.raises(MetricInputError, match="at least 11"):
        tm.ssim(x[..., :8, :8], y[..., :8, :8])


def test_masked_metrics_match_the_numpy_path_and_carry_gradients():
    from dustbench.metrics import masked_metrics
    x, y = _pair(shape=(3, 3, 40, 50))
    g = torch.Generator().manual_seed(3)
    mask = (torch.rand(3, 40, 50, generator=g) > 0.97).float()
    mask[2] = 0  # an image without damage: psnr_in is NaN on both paths
    got = tm.masked_metrics(x, y, mask, reduction="none")
    for i in range(3):
        want = masked_metrics(x[i].permute(1, 2, 0).numpy(), y[i].permute(1, 2, 0).numpy(), mask[i].numpy())
        for key, value in want.items():
            assert got[key][i].item() == pytest.approx(value, abs=1e-10, nan_ok=True), (i, key)
    z = y.clone().requires_grad_(True)
    tm.masked_metrics(x[:2], z[:2], mask[:2])["psnr_in"].backward()
    assert z.grad.abs().sum() > 0


def test_agrees_with_torchmetrics():
    """torchmetrics, a well-kept independent implementation: PSNR equal; SSIM's map equal on the
    windows inside the image (torchmetrics also averages over reflect-padded border windows)."""
    fm = pytest.importorskip("torchmetrics.functional.image")
    x, y = _pair()
    np.testing.assert_allclose(tm.psnr(x, y, reduction="none").numpy(),
                               fm.peak_signal_noise_ratio(y, x, data_range=1.0, reduction="none", dim=(1, 2, 3)).numpy(),
                               atol=1e-10)
    _, full = fm.structural_similarity_index_measure(y, x, data_range=1.0, return_full_image=True)
    inside = full[..., 5:-5, 5:-5].flatten(1).mean(1)
    np.testing.assert_allclose(tm.ssim(x, y, reduction="none").numpy(), inside.numpy(), atol=1e-10)
