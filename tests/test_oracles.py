"""Oracles that bound: the synthesis layer (opacity A, premultiplied colour P) as ground truth,
un-blending with it, and both oracles above `identity` on every built-in split."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dustbench.data import open_data
from dustbench.data.builtin_sets import builtin_splits
from dustbench.data.truth import truth_layer
from dustbench.errors import DustbenchError
from dustbench.evaluation import evaluate
from dustbench.io import mask_to_image, read_image, to_float, write_image
from dustbench.methods import Method, apply_method, create_method, method_info, register_method
from dustbench.methods.classical import unblend
from dustbench.sources import builtin_sources
from dustbench.synth import crop_params, regenerate, sample_params, synthesize
from dustbench.synth.job import SynthConfig, run_synth

FRAME = (2400, 3600)  # a 35 mm frame scanned at ~2,500 dpi: damage at the pixel scale of real scans


def photo_crop(h=64, w=80, y=100, x=150, dtype=np.uint8):
    clean = np.ascontiguousarray(read_image(builtin_sources()[0].path)[y:y + h, x:x + w])
    return clean.astype(np.uint16) * 257 if dtype == np.uint16 else clean


def scan_scale(clean, preset, seed):
    """Damage drawn for a whole scanned frame, rendered on ``clean`` as a crop of that frame."""
    rng = np.random.default_rng(seed)
    box = (1000, 1500) + clean.shape[:2]
    return regenerate(clean, crop_params(sample_params(preset, FRAME, rng), FRAME, box))


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_layer_is_the_compositing_algebra(dtype):
    """damaged = clean·(1−A) + P, up to the damaged image's rounding (one step per overlapping artifact)."""
    clean = photo_crop(96, 128, dtype=dtype)
    s = scan_scale(clean, "negative_scan_extreme", 3)
    layer = truth_layer(s.params, s.damaged, clean)
    a, p = layer[:, :, :1].astype(np.float64), layer[:, :, 1:].astype(np.float64)
    np.testing.assert_allclose(a[:, :, 0], s.mask)  # the same opacity the dataset's mask holds
    step = 1.0 / (255 if dtype == np.uint8 else 65535)
    model = to_float(clean).astype(np.float64) * (1 - a) + p
    assert np.abs(model - to_float(s.damaged)).max() <= 2 * step  # a single artifact rounds once: <= step/2
    assert (s.mask > 0.5).any() and layer.dtype == np.float32 and layer.shape == (96, 128, 4)


@pytest.mark.parametrize("dtype, exact_below", [(np.uint8, 0.75), (np.uint16, 0.999)])
def test_unblend_recovers_clean_where_it_can_and_fills_only_near_opaque(dtype, exact_below):
    clean = photo_crop(96, 128, dtype=dtype)
    s = scan_scale(clean, "negative_scan_extreme", 4)
    layer = truth_layer(s.params, s.damaged, clean)
    out = unblend(to_float(s.damaged), layer[:, :, 0], layer[:, :, 1:])
    err = np.abs(out - to_float(clean)).max(axis=2)
    a = s.mask
    assert np.array_equal(out[a == 0], to_float(s.damaged)[a == 0])  # untouched where nothing was drawn
    sure = (a > 0) & (a <= exact_below - 0.01)  # margin: overlapping artifacts round once more
    assert sure.sum() > 50 and err[sure].max() <= 2.5 / 255  # the documented bound: tolerance 2/255
    # near-opaque pixels are filled, then held to the clean values the stored damaged pixel allows
    filled = a > exact_below + 0.001
    step = 1.0 / (255 if dtype == np.uint8 else 65535)
    est = (to_float(s.damaged) - layer[:, :, 1:]) / np.maximum(1 - a, 1e-12)[:, :, None]
    half = 0.5 * step / np.maximum(1 - a, 1e-12)[:, :, None]
    inside = (out >= est - half - 1e-6) & (out <= est + half + 1e-6)
    assert inside[filled].all() and (filled.any() if dtype == np.uint8 else err[a > 0].max() <= 2.5 / 255)


def test_the_layer_tiles_like_the_image():
    clean = photo_crop(96, 128)
    s = scan_scale(clean, "negative_scan_extreme", 3)
    layer = truth_layer(s.params, s.damaged, clean)
    method = create_method("oracle_unblend")
    whole = apply_method(method, to_float(s.damaged), layer=layer, tile=None)
    tiled = apply_method(method, to_float(s.damaged), layer=layer, tile=48, overlap=16)
    diff = np.abs(whole - tiled).max(axis=2)
    assert diff[s.mask <= 0.74].max() < 1e-6  # un-blending is per pixel: exact in tiles
    assert (s.mask > 0.75).any() and diff.max() < 1 / 255  # Telea fills see a tile: projected, still close


def test_oracle_unblend_declares_the_layer_and_is_refused_without_it():
    info = method_info("oracle_unblend")
    assert info["is_oracle"] and info["needs_mask"]
    method = create_method("oracle_unblend")
    assert method.needs_layer and method.param_count == 0
    image = to_float(photo_crop(16, 16))
    with pytest.raises(DustbenchError, match="synthesis layer"):
        method(image, np.ones((16, 16), bool))
    with pytest.raises(DustbenchError, match="layer"):
        method(image, layer=np.zeros((16, 16, 2), np.float32))  # wrong channel count
    with pytest.raises(DustbenchError, match="tolerance"):
        create_method("oracle_unblend", tolerance=0)


def test_truth_reaches_only_the_oracles_that_declare_it():
    seen = {}

    def spy(name, mask, layer):
        @register_method(name)
        class Spy(Method):
            needs_mask, needs_layer, is_oracle = mask, layer, mask

            def run(self, image, truth):
                seen[name] = None if truth is None else truth.shape
                return image
        return name

    data = open_data("builtin")
    for name in (spy("test_spy_plain", False, False), spy("test_spy_mask", True, False),
                 spy("test_spy_layer", True, True)):
        evaluate(name, data, limit=1, progress=False)
    c = 192
    assert seen == {"test_spy_plain": None, "test_spy_mask": (c, c), "test_spy_layer": (c, c, 4)}


def test_truth_layer_refuses_records_that_do_not_reproduce_the_image():
    clean = photo_crop()
    s = synthesize(clean, "negative_scan_medium", np.random.default_rng(5))
    edited = s.damaged.copy()
    edited[0, 0] ^= 1
    with pytest.raises(DustbenchError, match="does not reproduce"):
        truth_layer(s.params, edited, clean, "x.png")
    with pytest.raises(DustbenchError, match="no synthesis record"):
        truth_layer(None, s.damaged, clean, "x.png")
    with pytest.raises(DustbenchError, match="cannot be rendered"):
        truth_layer({"groups": [{"family": "dust"}]}, s.damaged, clean, "x.png")
    assert truth_layer(json.dumps(s.params), s.damaged, clean).shape == (64, 80, 4)  # a params column's JSON


@pytest.mark.parametrize("spec, split", builtin_splits())
def test_both_oracles_bound_identity_and_unblend_bounds_inpaint(spec, split):
    """Every built-in split has upper references above `identity`; knowing the layer bounds higher."""
    results = {m: evaluate(m, spec, split=split, progress=False).summary["metrics"]
               for m in ("identity", "oracle_inpaint", "oracle_unblend")}
    psnr = {m: r["psnr"]["mean"] for m, r in results.items()}
    assert psnr["oracle_inpaint"] > psnr["identity"] and psnr["oracle_unblend"] > psnr["identity"]
    assert results["oracle_unblend"]["psnr_in"] > results["oracle_inpaint"]["psnr_in"]


DENSE = "dust_negative_heavy_sharp,dirt_negative_heavy"  # plenty of damage on small crops


def test_unblend_on_synth_folders_and_make_dataset_rows(tmp_path):
    src = tmp_path / "src"
    for i in range(2):
        write_image(src / f"p{i}.png", photo_crop(72, 96, 60 * i, 200))
    run_synth(SynthConfig(clean=str(src), out=str(tmp_path / "syn"), n=2, presets=DENSE,
                          contact_sheet=False), progress=False)
    folder = evaluate("oracle_unblend", tmp_path / "syn", progress=False)
    ident = evaluate("identity", tmp_path / "syn", progress=False)
    assert folder.psnr > ident.psnr + 10

    import datasets as hf_datasets

    from dustbench.data.codec import features, pack_image
    from dustbench.io import encode_image

    rows = []
    for i in range(2):
        clean = photo_crop(64, 64, 40 * i, 300)
        s = synthesize(clean, DENSE, np.random.default_rng(i))
        png = lambda a: pack_image(encode_image(a), "image")  # noqa: E731
        rows.append(dict(id=f"s{i}", damaged=png(s.damaged), clean=png(clean), mask=png(mask_to_image(s.mask, np.uint8)),
                         labels=None, families=["dust"], presets=[], params=json.dumps(s.params), source="x",
                         sample_seed=[0], frame_shape=[64, 64], box=[0, 0, 64, 64], dtype="uint8"))
    ds = tmp_path / "ds"
    hf_datasets.DatasetDict({"test": hf_datasets.Dataset.from_list(rows, features=features("image"))}
                            ).save_to_disk(str(ds))
    hf = evaluate("oracle_unblend", ds, progress=False)
    assert hf.psnr > evaluate("identity", ds, progress=False).psnr + 10

    (tmp_path / "syn" / "manifest.jsonl").unlink()  # a plain pairs folder has no record
    with pytest.raises(DustbenchError, match="no synthesis record"):
        evaluate("oracle_unblend", tmp_path / "syn", progress=False)
