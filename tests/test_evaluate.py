"""`dustbench evaluate`: data layouts, model formats, tiling, bad outputs, resume, CSV/JSON schema."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

from dustbench.allocator import allocator_settings
from dustbench.cli import main
from dustbench.errors import DustbenchError, UnknownNameError
from dustbench.evaluation import COLUMNS, evaluate
from dustbench.io import from_float, read_image, to_float, write_image
from dustbench.methods import Method, create_method
from dustbench.models.checkpoint import write_checkpoint
from dustbench.models import register_model
from dustbench.data import open_data
from dustbench.data.builtin_sets import BUILTIN_CROP
from dustbench.methods import BadOutputError, apply_method
from dustbench.sources import builtin_sources
from dustbench.synth import synthesize
from dustbench.io import mask_to_image

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")


def make_pairs(root, n=3, size=(40, 48), dtype=np.uint8, masks=True, labels=True, seed=0):
    """A pairs folder from crops of the built-in photos damaged by the project's own synthesis."""
    photo = read_image(builtin_sources()[0].path)
    rng = np.random.default_rng(seed)
    for i in range(n):
        clean = np.ascontiguousarray(photo[i * 50:i * 50 + size[0], 100:100 + size[1]])
        if dtype == np.uint16:
            clean = clean.astype(np.uint16) * 257
        s = synthesize(clean, "negative_scan_light", rng)
        write_image(root / "damaged" / f"img{i}.png", s.damaged)
        write_image(root / "clean" / f"img{i}.png", clean)
        if masks:
            write_image(root / "mask" / f"img{i}.png", mask_to_image(s.mask, clean.dtype))
        if labels:
            write_image(root / "labels" / f"img{i}.png", s.labels)
    return root


class TinyConv(nn.Module):
    def __init__(self, channels: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return torch.sigmoid(self.conv(x) + 4 * (x - 0.5))


@register_model("test_eval_conv")
def _tiny(channels: int = 3) -> nn.Module:
    return TinyConv(channels)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return TinyConv().eval()


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    return make_pairs(tmp_path_factory.mktemp("pairs"))


def test_pairs_folder_schema_and_summary(pairs, tmp_path):
    evaluate("median", pairs, tmp_path / "r", options={"radius": 1}, progress=False)
    df = pd.read_csv(tmp_path / "r" / "per_image.csv", keep_default_na=False)
    assert list(df.columns) == COLUMNS and len(df) == 3
    assert list(df["image_id"]) == ["img0", "img1", "img2"]
    assert all(f for f in df["families"]) and set(";".join(df["families"]).split(";")) <= {
        "dust", "dirt", "hair", "lint", "scratch", "blotch"}
    assert (df["bit_depth"] == 8).all() and (df["height"] == 40).all()
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    for key in ("method", "options", "config", "conventions", "data", "seed", "provenance", "runtime",
                "peak_memory", "param_count", "metrics", "per_family", "test_set"):
        assert key in s, key
    assert s["method"] == "median" and s["options"]["radius"] == 1 and s["param_count"] == 0
    assert "quantised to the reference bit depth" in s["conventions"]["quantisation"]
    assert len(s["data"]["fingerprint"]) == 64 and s["data"]["n_images"] == 3 and s["data"]["has_masks"]
    assert s["runtime"]["ms_per_megapixel"] > 0 and s["peak_memory"]["rss_mib"] > 0
    prov = s["provenance"]
    assert prov["versions"]["numpy"] and prov["hardware"]["cpu_count"] >= 1 and "torch" in prov["hardware"]["threads"]
    assert "commit" in prov["git"]
    m = s["metrics"]
    assert m["psnr"]["ci_low"] <= m["psnr"]["mean"] <= m["psnr"]["ci_high"]
    assert m["psnr"]["mean"] == pytest.approx(df["psnr"].mean())
    assert m["n_masked"] == 3 and m["psnr_in"] is not None and m["psnr_out"] is not None
    # the metric is computed on the quantised restored image against the 8-bit reference
    ref, dmg = read_image(pairs / "clean" / "img1.png"), read_image(pairs / "damaged" / "img1.png")
    from dustbench.metrics import psnr
    restored = from_float(create_method("median", radius=1)(to_float(dmg)), np.uint8)
    assert df["psnr"][1] == pytest.approx(psnr(ref, restored))


def test_no_masks_derives_the_region_marked_derived_and_16bit(tmp_path):
    data = make_pairs(tmp_path / "d", n=2, dtype=np.uint16, masks=False, labels=False)
    for i in range(2):  # plus a visible speck: departures under 12/255 alone seed no derived region
        damaged = read_image(data / "damaged" / f"img{i}.png")
        damaged[10:13, 20:23] = 0
        write_image(data / "damaged" / f"img{i}.png", damaged)
    result = evaluate("identity", data, tmp_path / "r", progress=False, save_images=True)
    text = (tmp_path / "r" / "per_image.csv").read_text().splitlines()
    row = dict(zip(text[0].split(","), text[1].split(",")))
    assert row["mask_source"] == "derived" and row["bit_depth"] == "16" and row["families"] == ""
    ref, dmg = read_image(data / "clean" / "img0.png"), read_image(data / "damaged" / "img0.png")
    from dustbench.evaluation.region import derived_mask
    from dustbench.metrics import masked_metrics
    expected = masked_metrics(ref, dmg, derived_mask(dmg, ref))
    assert float(row["psnr_in"]) == pytest.approx(expected["psnr_in"]) and float(row["psnr_out"]) > 50  # faint rest
    assert float(row["clean_change_rate"]) == 0 and row["touch_precision"] == "" and float(row["touch_recall"]) == 0
    assert result.summary["data"]["mask_source"] == result.summary["metrics"]["mask_source"] == "derived"
    saved = read_image(tmp_path / "r" / "images" / "img0.png")
    assert saved.dtype == np.uint16 and np.array_equal(saved, read_image(data / "damaged" / "img0.png"))


def test_resume_skips_done_images_and_refuses_other_runs(pairs, tmp_path):
    out = tmp_path / "r"
    first = evaluate("identity", pairs, out, progress=False, limit=2)
    assert len(first.rows) == 2
    second = evaluate("identity", pairs, out, progress=False)
    assert second.summary["resumed_images"] == 2 and len(second.rows) == 3
    assert second.rows[0]["psnr"] == first.rows[0]["psnr"]
    with pytest.raises(DustbenchError, match="different run"):
        evaluate("median", pairs, out, progress=False)
    assert evaluate("median", pairs, out, progress=False, overwrite=True).summary["resumed_images"] == 0


@pytest.mark.parametrize("fmt", ["torchscript", "export", "checkpoint"])
def test_each_model_format_evaluates_like_the_module(fmt, model, pairs, tmp_path):
    path = {"torchscript": tmp_path / "m.pt", "export": tmp_path / "m.pt2", "checkpoint": tmp_path / "m.ckpt"}[fmt]
    if fmt == "torchscript":
        torch.jit.script(model).save(str(path))
    elif fmt == "export":
        dim = torch.export.Dim("h", min=4), torch.export.Dim("w", min=4)
        program = torch.export.export(model, (torch.rand(1, 3, 16, 16),), dynamic_shapes=({2: dim[0], 3: dim[1]},))
        torch.export.save(program, str(path))
    else:
        write_checkpoint(path, model, "test_eval_conv", {"channels": 3})
    result = evaluate(str(path), pairs, tmp_path / "r", progress=False, train_data="unit-test")
    s = result.summary
    assert s["options"]["format"] == fmt and s["param_count"] == 3 * 3 * 9 + 3 and s["train_data"] == "unit-test"

    class Direct(Method):  # the same module, called without any file in between
        name = "direct"

        def run(self, image, mask):
            with torch.no_grad():
                y = model(torch.from_numpy(image.transpose(2, 0, 1).copy())[None])
            return y[0].permute(1, 2, 0).numpy()

    direct = evaluate(Direct(), pairs, progress=False)
    np.testing.assert_allclose([r["psnr"] for r in result.rows], [r["psnr"] for r in direct.rows], atol=1e-3)


def test_pickled_module_is_refused_through_evaluate(model, pairs, tmp_path):
    path = tmp_path / "whole.pt"
    torch.save(model, path)
    with pytest.raises(DustbenchError, match=r"refusing.*export"):
        evaluate(str(path), pairs, tmp_path / "r", progress=False)
    code = main(["evaluate", str(path), "--data", str(pairs), "--out", str(tmp_path / "r2"), "--quiet"])
    assert code == 2


def test_unknown_method_says_did_you_mean(pairs, tmp_path):
    with pytest.raises(UnknownNameError, match="did you mean 'median'"):
        evaluate("medain", pairs, progress=False)
    with pytest.raises(DustbenchError, match="no such model file"):
        evaluate("./missing.pt", pairs, progress=False)
    (tmp_path / "model.onnx").write_bytes(b"onnx")
    with pytest.raises(DustbenchError, match="unknown model file type"):
        evaluate(str(tmp_path / "model.onnx"), pairs, progress=False)


def test_tiled_equals_whole_image(model, tmp_path):
    x = np.random.default_rng(0).random((150, 130, 3), dtype=np.float32)
    median = create_method("median", radius=2)
    whole = apply_method(median, x, tile=None)
    # radius 2 <= 8 // 4: exact up to float32 rounding of the blend weights
    np.testing.assert_allclose(apply_method(median, x, tile=48, overlap=8), whole, atol=3e-7, rtol=0)
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    from dustbench.methods import load_method
    conv = load_method(str(path))
    np.testing.assert_allclose(apply_method(conv, x, tile=64, overlap=16), apply_method(conv, x, tile=None), atol=2e-6)
    data = make_pairs(tmp_path / "big", n=1, size=(120, 150))
    tiled = evaluate(str(path), data, tile=48, overlap=16, progress=False).rows[0]
    whole = evaluate(str(path), data, tile=None, progress=False).rows[0]
    assert tiled["psnr"] == pytest.approx(whole["psnr"], abs=1e-3) and tiled["ssim"] == pytest.approx(whole["ssim"], abs=1e-5)


class Bad(Method):
    name = "bad"

    def __init__(self, kind):
        super().__init__(options={"kind": kind})
        self.kind = kind

    def run(self, image, mask):
        out = image.copy()
        if self.kind == "nan":
            out[0, 0, 0] = np.nan
        elif self.kind == "range":
            out[1, :, :] = 1.5
        elif self.kind == "shape":
            return out[:-1]
        elif self.kind == "float64":
            return out.astype(np.float64)
        elif self.kind == "uint8":
            return (out * 255).astype(np.uint8)
        return out


@pytest.mark.parametrize("kind, message", [("nan", "NaN/Inf"), ("range", "outside"), ("shape", "shape"),
                                           ("float64", "dtype float64"), ("uint8", "dtype uint8")])
def test_bad_outputs_raise_naming_the_image(kind, message, pairs):
    with pytest.raises(BadOutputError, match=rf"pairs.*img0.*{message}"):
        evaluate(Bad(kind), pairs, progress=False)


def test_bad_outputs_can_be_clipped_and_counted(pairs, tmp_path):
    result = evaluate(Bad("range"), pairs, tmp_path / "r", on_bad_output="clip", progress=False)
    assert all(r["output_fixes"] == 48 * 3 for r in result.rows)
    assert result.summary["bad_outputs"]["images"] == 3 and result.summary["bad_outputs"]["values_repaired"] == 432
    nan = evaluate(Bad("nan"), pairs, on_bad_output="clip", progress=False)
    assert nan.rows[0]["output_fixes"] == 1 and np.isfinite(nan.rows[0]["psnr"])
    with pytest.raises(BadOutputError):
        evaluate(Bad("shape"), pairs, on_bad_output="clip", progress=False)


def test_median_tuned_needs_validation_and_never_tunes_on_test(pairs, tmp_path):
    with pytest.raises(DustbenchError, match="--tune-on"):
        evaluate("median_tuned", pairs, progress=False)
    with pytest.raises(DustbenchError, match="refusing to tune on the test data"):
        evaluate("median_tuned", pairs, tune_on=str(pairs), progress=False)
    root = tmp_path / "splits"
    make_pairs(root / "test", n=2)
    make_pairs(root / "validation", n=2, seed=5)
    result = evaluate("median_tuned", root, tmp_path / "r", progress=False)
    opts = result.summary["options"]
    assert opts["tuned_on"] == "splits:validation" and opts["radius"] >= 1 and "threshold" in opts
    tuning = json.loads((tmp_path / "r" / "tuning.json").read_text())
    assert tuning["chosen"]["radius"] == opts["radius"] and len(tuning["grid"]) > 10
    assert result.summary["train_data"] == "tuned on splits:validation"
    other = evaluate("median_tuned", pairs, tune_on=str(root / "validation"), progress=False)
    assert other.summary["options"]["radius"] == opts["radius"]


def test_builtin_is_small_fixed_and_disjoint():
    test, val = open_data("builtin"), open_data("builtin", "validation")
    assert len(test) == 10 and len(val) == 5
    a, b = list(test), list(test)
    assert all(s.damaged.shape == (BUILTIN_CROP, BUILTIN_CROP, 3) for s in a)
    assert [s.digest for s in a] == [s.digest for s in b]
    assert not {s.digest for s in a} & {s.digest for s in val}
    assert all(s.mask is not None and s.families and s.presets for s in a)
    result = evaluate("identity", "builtin", progress=False, limit=3)
    assert result.summary["test_set"] == "builtin:test" and result.summary["data"]["seed"] == 1234


def test_synth_output_folder_and_hf_dataset(pairs, tmp_path):
    (pairs / "manifest.jsonl").write_text("")  # synth layout: manifest present, labels preferred
    result = evaluate("identity", pairs, progress=False)
    assert result.summary["data"]["kind"] == "pairs"
    (pairs / "manifest.jsonl").unlink()

    import datasets as hf_datasets

    from dustbench.data.codec import features, pack_image
    from dustbench.io import encode_image

    png = lambda name, i: pack_image(encode_image(read_image(pairs / name / f"img{i}.png")), "image")  # noqa: E731
    rows = [dict(id=f"s{i}", damaged=png("damaged", i), clean=png("clean", i), mask=png("mask", i), labels=None,
                 families="dust", presets=[], params="{}", source="x", sample_seed=[0], frame_shape=[1, 1],
                 box=[0, 0, 1, 1], dtype="uint8") for i in range(2)]
    ds = tmp_path / "ds"
    split = lambda rs: hf_datasets.Dataset.from_list(rs, features=features("image"))  # noqa: E731
    hf_datasets.DatasetDict({"train": split(rows[:1]), "validation": split(rows[1:]),
                             "test": split(rows)}).save_to_disk(str(ds))
    hf = evaluate("identity", ds, progress=False)
    assert hf.summary["data"]["kind"] == "hf" and [r["image_id"] for r in hf.rows] == ["s0", "s1"]
    assert hf.rows[0]["families"] == "dust"
    with pytest.raises(DustbenchError, match="splits"):
        evaluate("identity", ds, split="holdout", progress=False)


def test_cli_evaluate(pairs, tmp_path, capsys):
    out = tmp_path / "r"
    assert main(["evaluate", "median", "--data", str(pairs), "--out", str(out), "-o", "radius=1",
                 "--tile", "32", "--overlap", "8", "--quiet"]) == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "per_image.csv" in text
    summary = json.loads((out / "summary.json").read_text())
    assert summary["tile"] == 32
    # the command set the process's allocator (dustbench.allocator) and the timings say under what
    assert summary["provenance"]["hardware"]["allocator"] == allocator_settings() and allocator_settings().get("why") != "not requested"
    assert main(["evaluate", "median", "--data", str(tmp_path / "nowhere"), "--out", str(out), "--quiet"]) == 2
    assert "no such folder" in capsys.readouterr().err


def test_cli_tile_wins_over_the_model_files_and_does_not_nest(model, tmp_path, monkeypatch):
    """`-o tile=64 --tile 128` tiles once at 128; `-o tile=64` alone at 64; recorded as used."""
    from dustbench.methods.loaded import LoadedModel

    calls = []
    forward = LoadedModel._call_module
    monkeypatch.setattr(LoadedModel, "_call_module", lambda self, x: calls.append(x.shape[2:]) or forward(self, x))
    path = tmp_path / "m.pt"
    torch.jit.script(model).save(str(path))
    data = make_pairs(tmp_path / "big", n=1, size=(200, 180))
    for args, tile, n in ((["--tile", "128"], 128, 4), ([], 64, 16)):
        calls.clear()
        out = tmp_path / f"r{tile}"
        assert main(["evaluate", str(path), "--data", str(data), "--out", str(out), "-o", "tile=64",
                     "-o", "overlap=16", "-o", "tile_batch=1", *args, "--quiet"]) == 0
        summary = json.loads((out / "summary.json").read_text())
        assert (summary["tile"], summary["overlap"], summary["options"]["tile"]) == (tile, 16, 64)
        assert len(calls) == n + 1  # one warm-up call on a 64-px crop, then one per tile, none nested
        assert max(max(c) for c in calls) <= tile


def test_re_exported_model_is_not_resumed_from_old_rows(tmp_path):
    """Guards the resume key: a different model file at the same path must not reuse old rows."""
    import torch
    from dustbench.evaluation import evaluate

    class Scale(torch.nn.Module):
        def __init__(self, k: float):
            super().__init__()
            self.k = k

        def forward(self, x):
            return x * self.k

    model = tmp_path / "m.pt"
    torch.jit.script(Scale(1.0)).save(str(model))
    first = evaluate(str(model), "builtin", out=tmp_path / "res", limit=2, progress=False)
    torch.jit.script(Scale(0.5)).save(str(model))
    with pytest.raises(Exception, match="different run"):
        evaluate(str(model), "builtin", out=tmp_path / "res", limit=2, progress=False)
    second = evaluate(str(model), "builtin", out=tmp_path / "res", limit=2, progress=False, overwrite=True)
    assert second.psnr < first.psnr


def test_summary_records_the_device_used_not_auto(pairs, tmp_path, model):
    # "auto" is a request; the summary (and the board's "(1 thr, DEVICE)") must say what ran
    out = tmp_path / "auto"
    assert main(["evaluate", "identity", "--data", str(pairs), "--out", str(out), "--device", "auto",
                 "--quiet"]) == 0
    assert json.loads((out / "summary.json").read_text())["device"] == "cpu"
    assert evaluate(model, pairs, device="auto", limit=1, progress=False).summary["device"] == "cpu"


def test_result_repr_is_one_short_line(tmp_path):
    """A REPL shows the method, the data and the headline numbers, not many KB of summary."""
    from dustbench import evaluate as run_evaluate
    res = run_evaluate("identity", "builtin", limit=2, progress=False)
    text = repr(res)
    assert "\n" not in text and len(text) < 200, text
    assert text.startswith("Result(method='identity', data='builtin:test', images=2, psnr=") and " dB, ssim=" in text
