"""dust_gan and its parts: registry, shapes, parameter counts, layers, loss terms by hand, VGG-19 keys."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from dustbench.errors import DustbenchError
from dustbench.models import create_model, list_models
from dustbench.models import losses as L
from dustbench.models.dust_gan import DustGanTask, DustGenerator
from dustbench.models.layers import count_parameters, median_filter
from dustbench.models.patchgan import PatchDiscriminator, receptive_field
from dustbench.models.vgg import (CONV_INDICES, ENV_VAR, LAYERS, VGG19Features, load_vgg19, map_vgg19_state_dict,
                                  resolve_vgg_weights)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_registry_has_dust_gan_and_unknown_options_fail():
    assert "dust_gan" in list_models()
    with pytest.raises(DustbenchError, match="did you mean 'width'"):
        create_model("dust_gan", widht=8)


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 3, 5, 7), (2, 3, 37, 29), (1, 3, 64, 33)])
def test_every_registered_model_keeps_odd_shapes(name, shape):
    torch.manual_seed(0)
    model = create_model(name).eval()
    x = torch.rand(shape)
    with torch.no_grad():
        y = model(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    assert float(y.min()) >= 0.0 and float(y.max()) <= 1.0


def test_dust_gan_starts_at_identity_and_scripts():
    torch.manual_seed(0)
    x = torch.rand(2, 3, 31, 22)
    for bound, tol in (("clamp", 0.0), ("sigmoid", 1e-4)):
        model = create_model("dust_gan", width=8, bound=bound).eval()
        with torch.no_grad():
            assert float((model(x) - x).abs().max()) <= tol
    plain = create_model("dust_gan", width=8, residual=False).eval()
    with torch.no_grad():
        assert float((plain(x) - x).abs().max()) > 0.05  # direct prediction: no identity start
    model.train()  # batch-norm in training mode still scripts
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(model.eval())
    with torch.no_grad():
        assert torch.equal(scripted(x), model(x))


def test_parameter_counts_are_stable():
    # The numbers quoted in dust_gan.py and baselines/dust_gan/README.md.
    assert count_parameters(create_model("dust_gan")) == 182_683
    assert count_parameters(create_model("dust_gan", width=8)) == 12_169
    assert count_parameters(create_model("dust_gan", residual=False)) == 182_683 - 32 * 3 * 9
    d = PatchDiscriminator(6, 64)
    assert count_parameters(d) == 2_768_705
    assert receptive_field(d) == 70
    assert d(torch.rand(1, 6, 70, 70)).shape == (1, 1, 6, 6)


def test_generator_structure_follows_the_paper():
    g = create_model("dust_gan")
    assert isinstance(g, DustGenerator)
    assert len(g.blocks) == 7
    assert [b.body[0].dilation[0] for b in g.blocks] == [1, 2, 4, 8, 4, 2, 1]
    assert all(isinstance(b.body[1], torch.nn.BatchNorm2d) for b in g.blocks)
    assert g.down.body[0].stride == (2, 2)


@pytest.mark.parametrize("k", [3, 5])
def test_median_filter_matches_scipy(k):
    from scipy.ndimage import median_filter as scipy_median

    x = torch.rand(2, 3, 9, 12, generator=torch.Generator().manual_seed(1))
    want = scipy_median(x.numpy(), size=(1, 1, k, k), mode="nearest")
    np.testing.assert_array_equal(median_filter(x, k).numpy(), want)


# -- loss terms against hand computations on a 1×1×2×2 image -----------------------------------------
A = torch.tensor([[[[0.0, 0.5], [1.0, 0.25]]]])
B = torch.tensor([[[[0.5, 0.5], [0.0, 0.75]]]])


def test_pixel_and_gradient_loss_by_hand():
    # pixel: differences -0.5, 0, 1, -0.5 -> squares 0.25, 0, 1, 0.25 -> mean 0.375
    assert math.isclose(float(L.pixel_loss(A, B)), 0.375)
    # ∇x A = [0.5, -0.75], ∇x B = [0, 0.75] -> diffs 0.5, -1.5 -> MSE (0.25 + 2.25)/2 = 1.25
    # ∇y A = [1, -0.25],  ∇y B = [-0.5, 0.25] -> diffs 1.5, -0.5 -> MSE (2.25 + 0.25)/2 = 1.25
    assert math.isclose(float(L.gradient_loss(A, B)), 2.5)


class _FakeExtractor(torch.nn.Module):
    """Two 'layers': the image itself and twice its square (stands in for VGG in the unit test)."""

    def extract(self, x):
        return [x, 2 * x * x]


def test_perceptual_loss_by_hand():
    # layer 1: mean |A - B| = (0.5 + 0 + 1 + 0.5)/4 = 0.5
    # layer 2: 2·|A² - B²| = 2·(0.25, 0, 1, 0.5) -> mean 0.875
    loss = L.PerceptualLoss(_FakeExtractor())(A, B)
    assert math.isclose(float(loss), 0.5 + 0.875)


def test_adversarial_losses_by_hand():
    real, fake = torch.tensor([2.0, -1.0]), torch.tensor([0.5, -3.0])
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731
    d = 0.5 * (-(math.log(sig(2.0)) + math.log(sig(-1.0))) / 2 - (math.log(1 - sig(0.5)) + math.log(1 - sig(-3.0))) / 2)
    assert math.isclose(float(L.discriminator_loss(real, fake)), d, rel_tol=1e-6)
    g = -(math.log(sig(0.5)) + math.log(sig(-3.0))) / 2
    assert math.isclose(float(L.generator_adversarial_loss(fake)), g, rel_tol=1e-6)


def test_total_loss_is_the_weighted_sum_of_eq7():
    fake_logits = torch.tensor([0.3])
    terms = L.restoration_losses(A, B, L.LossWeights(), L.PerceptualLoss(_FakeExtractor()), fake_logits)
    want = 1 * 0.375 + 2 * 2.5 + 1 * 1.375 + 0.01 * float(L.generator_adversarial_loss(fake_logits))
    assert math.isclose(float(terms["total"]), want, rel_tol=1e-6)
    no_gan = L.restoration_losses(A, B, L.LossWeights(perceptual=0, adversarial=0))
    assert set(no_gan) == {"pixel", "gradient", "total"}


# -- VGG-19 --------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def vgg_file(tmp_path_factory):
    """A VGG-19 state dict saved the way torchvision names it (plus classifier keys, DataParallel prefix)."""
    torch.manual_seed(3)
    reference = VGG19Features()
    state = {f"module.{k}": v.clone() for k, v in reference.state_dict().items()}
    state["module.classifier.0.weight"] = torch.zeros(4, 2)
    path = tmp_path_factory.mktemp("vgg") / "vgg19.pth"
    torch.save(state, path)
    return path, reference


def test_vgg19_layout_matches_torchvision():
    assert LAYERS["relu1_2"] == 3 and LAYERS["relu5_4"] == 35 and LAYERS["pool5"] == 36
    assert len(CONV_INDICES) == 16
    n = sum(p.numel() for p in VGG19Features().parameters())
    assert n == 20_024_384  # torchvision's vgg19().features


def test_vgg19_loads_torchvision_keys(vgg_file):
    path, reference = vgg_file
    model = load_vgg19(path)
    for k, v in reference.state_dict().items():
        assert torch.equal(model.state_dict()[k], v), k
    assert not any(p.requires_grad for p in model.parameters())
    named = {f"conv{b}_{i}.{t}": reference.state_dict()[f"features.{LAYERS[f'conv{b}_{i}']}.{t}"]
             for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 4)) for i in range(1, n + 1) for t in ("weight", "bias")}
    mapped = map_vgg19_state_dict(named)
    assert torch.equal(mapped["features.34.weight"], reference.state_dict()["features.34.weight"])


def test_vgg19_bad_state_dicts_fail_clearly(vgg_file):
    path, reference = vgg_file
    state = dict(reference.state_dict())
    del state["features.34.weight"]
    with pytest.raises(DustbenchError, match="missing"):
        map_vgg19_state_dict(state)
    state = dict(reference.state_dict())
    state["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    with pytest.raises(DustbenchError, match="shape"):
        map_vgg19_state_dict(state)


def test_vgg_weights_resolution(monkeypatch, tmp_path, vgg_file):
    monkeypatch.delenv(ENV_VAR, raising=False)
    assert resolve_vgg_weights(None) is None
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "missing.pth"))
    with pytest.raises(DustbenchError, match="no such file"):
        resolve_vgg_weights(None)
    monkeypatch.setenv(ENV_VAR, str(vgg_file[0]))
    assert resolve_vgg_weights(None) == vgg_file[0]


def test_task_switches_perceptual_off_loudly_without_weights(monkeypatch, vgg_file):
    monkeypatch.delenv(ENV_VAR, raising=False)
    with pytest.warns(UserWarning, match="perceptual loss off"):
        task = DustGanTask("dust_gan", create_model("dust_gan", width=8), {"d_width": 8})
    assert task.perceptual is None and task.notes()["perceptual"].startswith("off")
    task = DustGanTask("dust_gan", create_model("dust_gan", width=8),
                       {"d_width": 8, "vgg_weights": str(vgg_file[0]), "vgg_layers": ["relu1_2", "relu2_2"]})
    assert task.notes()["perceptual"].startswith("on")
    task.optimizers = task.build_optimizers(1e-4)
    batch = {"damaged": torch.rand(2, 3, 32, 32), "clean": torch.rand(2, 3, 32, 32)}
    losses = task.training_step(batch, 0)
    assert {"pixel", "gradient", "perceptual", "adversarial", "d", "total"} <= set(losses)


def _loss(task, batch):
    with torch.no_grad():
        out = task.model(batch["damaged"])  # training mode: batch statistics, as in the step
        return float(F.mse_loss(out, batch["clean"]) + 2 * L.gradient_loss(out, batch["clean"]))


@pytest.mark.parametrize("adversarial", [0.0, 0.01])
def test_one_optimizer_step_lowers_the_loss(adversarial):
    torch.manual_seed(0)
    clean = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    damaged = clean.clone()
    damaged[:, :, 10:14, 10:14] = 1.0  # a white speck
    batch = {"damaged": damaged, "clean": clean}
    task = DustGanTask("dust_gan", create_model("dust_gan", width=8),
                       {"d_width": 8, "w_adversarial": adversarial, "w_perceptual": 0})
    task.optimizers = task.build_optimizers(1e-4)
    before = _loss(task, batch)
    task.training_step(batch, 0)
    assert _loss(task, batch) < before
