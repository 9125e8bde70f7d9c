"""dustbench in a researcher's own torch code: evaluate any function or nn.Module, metrics on torch
batches, timm-style model listing with patterns and published (pretrained) weights."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

import dustbench
from dustbench.cli import main
from dustbench.data import open_data
from dustbench.errors import DustbenchError
from dustbench.io import from_float, to_float
from dustbench.methods import list_methods, load_method
from dustbench.metrics import MetricInputError, psnr, ssim
from dustbench.models import create_model, list_models
from dustbench.models.pretrained import (DIR_ENV, MANIFEST, init_weights, pretrained_dir, publish,
                                         publish_torchscript, read_manifest)
from dustbench.registry import Registry

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::UserWarning")


def brighten(image):
    return np.clip(image * 0.9 + 0.05, 0, 1).astype(np.float32)


class SmallNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.drop = nn.Dropout(0.5)  # must be off: the module is put in eval mode

    def forward(self, x):
        return torch.sigmoid(self.drop(self.conv(x)) + 4 * (x - 0.5))


def test_evaluate_takes_a_function():
    result = dustbench.evaluate(brighten, "builtin", progress=False, limit=3, n_resamples=50)
    samples = list(open_data("builtin"))[:3]
    want = [psnr(s.clean, from_float(brighten(to_float(s.damaged)), s.clean.dtype)) for s in samples]
    assert [r["psnr"] for r in result.rows] == pytest.approx(want, abs=1e-9)
    assert result.summary["method"] == "brighten" and result.summary["options"]["callable"].endswith("brighten")
    same = dustbench.evaluate(lambda image: image, "builtin", progress=False, limit=3, n_resamples=50)
    ident = dustbench.evaluate("identity", "builtin", progress=False, limit=3, n_resamples=50)
    assert same.summary["method"] == "lambda"
    assert [r["psnr"] for r in same.rows] == [r["psnr"] for r in ident.rows]


def test_evaluate_takes_an_nn_module_like_its_torchscript_file(tmp_path):
    torch.manual_seed(0)
    net = SmallNet().train()
    result = dustbench.evaluate(net, "builtin", progress=False, limit=2, n_resamples=50)
    assert not net.training and result.summary["method"] == "module:SmallNet"
    assert result.summary["param_count"] == 84
    torch.jit.script(net).save(str(tmp_path / "net.pt"))
    from_file = dustbench.evaluate(str(tmp_path / "net.pt"), "builtin", progress=False, limit=2, n_resamples=50)
    assert [r["psnr"] for r in result.rows] == [r["psnr"] for r in from_file.rows]
    grey = np.random.default_rng(0).random((20, 23), dtype=np.float32)  # grey into an RGB module: repeat, average
    with torch.no_grad():
        want = net(torch.from_numpy(grey)[None, None].repeat(1, 3, 1, 1)).mean(dim=1)[0].numpy()
    np.testing.assert_allclose(load_method(net, {"tile": 16, "overlap": 8})(grey), want, atol=1e-6)
    with pytest.raises(DustbenchError, match="do not apply to a torch.nn.Module"):
        load_method(net, {"radius": 2})
    with pytest.raises(DustbenchError, match="cannot use a int as a method"):
        load_method(42)


def _hwc(batch):
    return [t.permute(1, 2, 0).numpy() for t in batch]


def test_psnr_and_ssim_take_torch_batches():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 40, 50, generator=g)
    y = (x + 0.05 * torch.randn(x.shape, generator=g)).clamp(0, 1)
    per_psnr = [psnr(a, b) for a, b in zip(_hwc(x), _hwc(y))]
    assert psnr(x, y, reduction="none") == per_psnr and psnr(x, y) == pytest.approx(np.mean(per_psnr))
    reference = [structural_similarity(a.astype(np.float64), b.astype(np.float64), gaussian_weights=True, sigma=1.5,
                                       use_sample_covariance=False, channel_axis=-1, data_range=1.0)
                 for a, b in zip(_hwc(x), _hwc(y))]
    np.testing.assert_allclose(ssim(x, y, reduction="none"), reference, atol=1e-6)
    assert ssim(x, y) == pytest.approx(np.mean(reference), abs=1e-6)
    x8, y8 = (x * 255).round().to(torch.uint8), (y * 255).round().to(torch.uint8)  # data range from the dtype
    assert psnr(x8, y8) == pytest.approx(np.mean([psnr(a, b) for a, b in zip(_hwc(x8), _hwc(y8))]))
    assert psnr(x[0], y[0]) == per_psnr[0]  # one C×H×W image
    assert psnr(x.half(), y.half()) == psnr(x.half().float(), y.half().float())
    with pytest.raises(MetricInputError, match="both be torch tensors"):
        psnr(x, y.numpy())


def test_names_take_fnmatch_patterns_in_the_library_and_the_cli(capsys):
    reg = Registry("thing")
    for name in ("alpha", "alpine", "beta"):
        reg.register(name)(lambda: None)
    assert reg.names("al*") == ["alpha", "alpine"] and reg.names(["b*", "*pine"]) == ["alpine", "beta"]
    assert reg.names() == ["alpha", "alpine", "beta"] and reg.names("z*") == []
    assert list_models("dust*") == ["dust_gan"] and list_methods("median*") == ["median", "median_tuned"]
    assert dustbench.list_models("dust*") == ["dust_gan"]
    assert main(["list", "models", "dust*"]) == 0
    assert capsys.readouterr().out.split() == ["dust_gan", "pretrained", "weights"]
    assert main(["list", "presets", "rain_*"]) == 0
    names = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert names == sorted(n for n in dustbench.library() if n.startswith("rain_")) and len(names) >= 2
    assert main(["list", "methods", "nothing*"]) == 1 and "no methods match" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["dust_gan", "fastdet", "pix2pix", "segnet"])
def test_pretrained_model_reproduces_the_committed_torchscript_file_exactly(name):
    model = create_model(name, pretrained=True)
    assert type(model).__module__ == f"dustbench.models.{name}" and not model.training
    entry = read_manifest()["models"][name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(entry["source"])
    x = torch.rand(2, 3, 45, 61, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(model(x), scripted(x))
    assert list_models(pretrained=True) == ["dust_gan", "fastdet", "pix2pix", "segnet"]


def test_published_weights_drop_in_through_the_manifest(tmp_path, monkeypatch):
    with pytest.raises(DustbenchError, match="trained with config"):
        create_model("pix2pix", pretrained=True, ngf=16)
    torch.manual_seed(3)
    small = create_model("dust_gan", width=8)
    entry = publish(small, "dust_gan", {"width": 8}, tmp_path, steps=7)
    manifest = json.loads((tmp_path / MANIFEST).read_text())
    assert manifest["models"]["dust_gan"] == entry and entry["weights"] == "dust_gan.pt" and entry["steps"] == 7
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    assert pretrained_dir() == tmp_path and list_models(pretrained=True) == ["dust_gan"]
    loaded = create_model("dust_gan", pretrained=True)
    for key, value in small.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    with pytest.raises(DustbenchError, match="no published weights for model 'pix2pix'"):
        create_model("pix2pix", pretrained=True)
    (tmp_path / "dust_gan.pt").write_bytes((tmp_path / "dust_gan.pt").read_bytes() + b"x")
    with pytest.raises(DustbenchError, match="does not match the SHA-256"):
        create_model("dust_gan", pretrained=True)


def test_publish_torchscript_checks_names_and_shapes(tmp_path, monkeypatch):
    source = read_manifest()["models"]["pix2pix"]["source"]
    with pytest.raises(DustbenchError, match="do not fit 'pix2pix'"):
        publish_torchscript(source, "pix2pix", {"ngf": 16}, tmp_path)
    entry = publish_torchscript(source, "pix2pix", {"ngf": 8}, tmp_path)
    assert entry["config"] == {"ngf": 8} and entry["source"] == source
    shipped = create_model("pix2pix", pretrained=True).state_dict()
    monkeypatch.setenv(DIR_ENV, str(tmp_path))
    again = create_model("pix2pix", pretrained=True).state_dict()
    assert all(torch.equal(again[k], shipped[k]) for k in shipped)


def test_init_weights_from_a_published_name():
    config, state, record = init_weights("dust_gan", {}, "dust_gan")
    assert config == {} and record["source"] == "dust_gan" and record["sha256"] == \
        read_manifest()["models"]["dust_gan"]["sha256"]
    published = create_model("dust_gan", pretrained=True).state_dict()
    assert state.keys() == published.keys() and all(torch.equal(state[k], published[k]) for k in state)
    with pytest.raises(DustbenchError, match="holds weights of 'segnet', not 'dust_gan'"):
        init_weights("dust_gan", {}, str(pretrained_dir() / "segnet.pt"))
    with pytest.raises(DustbenchError, match="trained with config"):
        init_weights("dust_gan", {"width": 8}, "dust_gan")
