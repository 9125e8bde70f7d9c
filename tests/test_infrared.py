"""The infrared plane (dustbench.synth.infrared) and infrared cleaning (dustbench.methods.infrared_clean).

Checked against what the model says on tiny hand-made layers (a field, one opaque speck, scratches
on either side of the film), then end to end: deterministic per record, the damage's draws left
alone, infrared cleaning repairing colour film and failing on silver film as it does in practice.
"""
from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

from dustbench.errors import DustbenchError
from dustbench.io import to_float
from dustbench.methods.infrared_clean import infrared_clean, infrared_mask
from dustbench.metrics import psnr
from dustbench.synth import Layer, Sprite, regenerate, render, synthesize
from dustbench.synth.infrared import (FILMS, RESPONSE, SCRATCH_SIDES, infrared_rng, parse_film, render_infrared,
                                      sample_infrared)

SHAPE = (48, 64)


def _params(film="colour_negative", **over):
    p = {"version": 1, "film": film, "level": 0.9, "vignetting": 0.0, "noise": 0.0, "blur": 0.8, "base_share": 0.5,
         "seed": 5}
    return {**p, **over}


def test_a_dye_film_shows_a_flat_field_and_the_damage_only():
    clean = (np.arange(SHAPE[0] * SHAPE[1] * 3) % 251).astype(np.uint8).reshape(*SHAPE, 3)  # a busy picture
    speck = Sprite(20, 30, np.ones((3, 3), np.float32), np.zeros(3, np.float32), 1, 0, 0)  # opaque dust
    record = {"groups": [{"family": "dust", "n": 1}]}
    ir = render_infrared(clean, Layer(SHAPE, [speck]), record, _params()).astype(np.float64) / 65535
    far = np.ones(SHAPE, bool)
    far[15:29, 25:39] = False
    assert np.all(np.abs(ir[far] - 0.9) < 1.5 / 65535)  # the picture is not in the plane
    assert ir[21, 31] < 0.9 * 0.5  # the speck's centre: opaque, softened by the 0.8-px blur


def test_silver_film_carries_its_picture_in_infrared():
    ramp = np.tile(np.linspace(0, 255, SHAPE[1]).astype(np.uint8), (SHAPE[0], 1))
    ir = render_infrared(ramp, Layer(SHAPE, []), {"groups": []}, _params("silver_bw")).astype(np.float64) / 65535
    row = ir[10]
    assert np.all(np.diff(row) <= 0) and row[0] > 0.85 and row[-1] < 0.9 * 10**-1.9  # T = 10^(-2 v)
    kodachrome = render_infrared(np.dstack([ramp] * 3), Layer(SHAPE, []), {"groups": []}, _params("kodachrome"))
    assert np.all(np.diff(kodachrome[10].astype(np.int64)) >= 0)  # cyan dye: dense where red is low


def test_scratches_show_by_the_side_of_the_film_they_are_on():
    line = np.ones((1, 40), np.float32)
    sprites = [Sprite(10 + 6 * i, 10, line, np.zeros(3, np.float32), 5, i, 0) for i in range(5)]
    record = {"groups": [{"family": "scratch", "n": 5}]}
    params = _params(blur=0.5)
    ir = render_infrared(np.zeros((*SHAPE, 3), np.uint8), Layer(SHAPE, sprites), record, params) / 65535
    base = np.random.default_rng(params["seed"]).random(5) < params["base_share"]  # as drawn for the record
    assert base.any() and not base.all()
    x = np.arange(-2, 3)
    centre = 1 / np.exp(-x * x / (2 * 0.5**2)).sum()  # a 1-px line keeps this share at its centre (blur 0.5 px)
    for i, on_base in enumerate(base):
        depth = 0.9 - ir[10 + 6 * i, 30]
        k = SCRATCH_SIDES["base" if on_base else "emulsion"]
        assert depth == pytest.approx(0.9 * k * centre, abs=2 / 65535)


def test_the_plane_is_reproduced_from_the_record_and_leaves_the_damage_alone():
    clean = np.full((80, 120, 3), 140, np.uint8)
    plain = synthesize(clean, "kitchen_sink", np.random.default_rng(4))
    s = synthesize(clean, "kitchen_sink", np.random.default_rng(4), infrared="colour_negative")
    assert np.array_equal(s.damaged, plain.damaged) and "infrared" not in plain.params
    again = regenerate(clean, json.loads(json.dumps(s.params)))
    assert again.infrared.dtype == np.uint16 and np.array_equal(again.infrared, s.infrared)
    other = synthesize(clean, "kitchen_sink", np.random.default_rng(5), infrared="colour_negative")
    assert not np.array_equal(other.infrared, s.infrared)


# sha256 of the planes of two films on fixed samples: a change here changes every infrared byte
IR_BITS = "e6883030bfd2e323"  # version 2 (blur 0.4–0.8 px)


def infrared_bits() -> str:
    clean = (np.arange(96 * 128 * 3) % 251).astype(np.uint8).reshape(96, 128, 3)
    h = hashlib.sha256()
    for film, seed in (("colour_negative", 1), ("silver_bw", 2), ("kodachrome", 3)):
        s = synthesize(clean, "kitchen_sink", np.random.default_rng(seed), scan_scale=600, infrared=film)
        h.update(json.dumps(s.params["infrared"], sort_keys=True).encode())
        h.update(s.infrared.tobytes())
    return h.hexdigest()[:16]


def test_the_bits_are_the_recorded_ones():
    """Also run under the lowest CPU class by tests/test_portable_math.py (its child process)."""
    assert infrared_bits() == IR_BITS


def test_unknown_films_and_mismatched_shapes_are_clear_errors():
    with pytest.raises(DustbenchError, match="unknown film type 'silver'.*silver_bw"):
        parse_film("silver")
    with pytest.raises(ValueError, match="the clean image is"):
        render_infrared(np.zeros((4, 4), np.uint8), Layer((5, 4), []), {"groups": []}, _params())
    with pytest.raises(DustbenchError, match="one channel"):
        infrared_mask(np.zeros((4, 4, 3), np.uint16))
    assert set(FILMS) >= {"colour_negative", "slide", "silver_bw", "kodachrome"} and RESPONSE["dust"] == 1.0


def test_the_mask_finds_a_dark_speck_in_noise_and_nothing_in_noise_alone():
    rng = np.random.default_rng(0)
    field = 50000 + rng.normal(0, 400, (64, 64))
    assert not infrared_mask(np.clip(field, 0, 65535).astype(np.uint16)).any()
    field[30:33, 40:43] -= 20000
    mask = infrared_mask(np.clip(field, 0, 65535).astype(np.uint16))
    assert mask[30:33, 40:43].all() and mask.sum() == 9


@pytest.mark.parametrize("film", ["colour_negative", "silver_bw"])
def test_infrared_cleaning_repairs_colour_film_and_fails_on_silver(film):
    """On colour film the plane's mask fills nearly as well as the true mask (Telea both); on silver
    film the picture's dense parts look like damage and the fill ruins them."""
    from dustbench.fill import fill_mask
    from dustbench.sources.builtin import builtin_sources
    photo = [p for p in (src.load() for src in builtin_sources()) if min(p.shape[:2]) >= 384 and p.ndim == 3][1]
    s = synthesize(np.ascontiguousarray(photo[64:320, 64:320]), "negative_scan_heavy", np.random.default_rng(1),
                   scan_scale=2500, infrared=film)
    clean, damaged = to_float(s.clean), to_float(s.damaged)
    gain = psnr(clean, infrared_clean(damaged, s.infrared)) - psnr(clean, damaged)
    oracle = psnr(clean, fill_mask(damaged, s.mask > 0.02, "telea", 1)) - psnr(clean, damaged)
    if film == "colour_negative":
        assert gain > 4.0 and gain > 0.8 * oracle, (gain, oracle)
    else:
        assert gain < -5.0, gain
    with pytest.raises(DustbenchError, match="infrared plane"):
        infrared_clean(damaged, s.infrared[:10])


def test_render_is_unchanged_by_the_layer_kept_on_the_sample():
    s = synthesize(np.full((40, 50), 0.5, np.float32), "dust_*", np.random.default_rng(1))
    assert s.layer is not None and len(s.layer.sprites) == len(render(s.params, (40, 50)).sprites)


# --- RGBI scans -----------------------------------------------------------------------------------

def _rgbi(path, extra="unspecified", planar=False, dtype=np.uint16):
    import tifffile
    top = np.iinfo(dtype).max
    data = np.random.default_rng(3).integers(0, top, (40, 52, 4), endpoint=True).astype(dtype)
    tifffile.imwrite(path, np.moveaxis(data, -1, 0) if planar else data, photometric="rgb",
                     planarconfig="separate" if planar else "contig", extrasamples=[extra],
                     resolution=(4000, 4000), resolutionunit=2, description="RGBI test scan")
    return data


@pytest.mark.parametrize("planar", [False, True])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_rgbi_tiffs_are_read_as_rgb_and_infrared(tmp_path, planar, dtype):
    from dustbench.io import read_image, read_scan
    path = tmp_path / "scan.tif"
    data = _rgbi(path, planar=planar, dtype=dtype)
    for mode in ("auto", "yes"):
        rgb, ir = read_scan(path, mode)
        assert rgb.dtype == ir.dtype == dtype and np.array_equal(rgb, data[..., :3]) and np.array_equal(ir, data[..., 3])
    rgb, ir = read_scan(path, "no")
    assert ir is None and np.array_equal(rgb, read_image(path))


def test_alpha_is_alpha_unless_told_otherwise(tmp_path):
    from dustbench.io import read_scan
    data = _rgbi(tmp_path / "rgba.tif", extra="unassalpha")
    assert read_scan(tmp_path / "rgba.tif")[1] is None
    assert np.array_equal(read_scan(tmp_path / "rgba.tif", "yes")[1], data[..., 3])
    plain = tmp_path / "rgb.png"
    from dustbench.io import write_image
    write_image(plain, data[..., :3])
    assert read_scan(plain, "yes")[1] is None  # not a TIFF: no infrared
    with pytest.raises(DustbenchError, match="no such file"):
        read_scan(tmp_path / "missing.tif")


def test_restore_writes_the_infrared_plane_back_untouched(tmp_path):
    """An RGBI TIFF round-trips through restore: RGB restored, infrared bit-exact, still marked as
    infrared (not alpha), resolution and description kept."""
    import tifffile
    from dustbench.methods.restore import restore
    src = tmp_path / "in" / "scan.tif"
    src.parent.mkdir()
    data = _rgbi(src)
    [rec] = restore("median", [src], tmp_path / "out", options={"radius": 2}, progress=False)
    with tifffile.TiffFile(rec.output) as tif:
        page = tif.pages.first
        out = page.asarray()
        assert [int(v) for v in page.extrasamples] == [0] and page.description == "RGBI test scan"
        assert page.tags[282].value == (4000, 1)
    assert out.dtype == np.uint16 and np.array_equal(out[..., 3], data[..., 3])
    assert not np.array_equal(out[..., :3], data[..., :3])
    [rec] = restore("median", [src], tmp_path / "alpha", options={"radius": 2}, infrared="no", progress=False)
    assert tifffile.imread(rec.output).shape == (40, 52, 3)


def test_restore_hands_the_plane_to_the_infrared_track(tmp_path):
    """infrared_clean restores an RGBI scan from its own plane: the speck dark in infrared is filled,
    every other pixel keeps its bytes, the plane goes back as it came."""
    import tifffile
    from dustbench.methods.restore import restore
    rng = np.random.default_rng(4)
    rgb = np.full((64, 64, 3), 30000, np.uint16)
    rgb[30:33, 40:43] = 60000  # a speck, bright in the picture
    ir = np.clip(50000 + rng.normal(0, 300, (64, 64)), 0, 65535).astype(np.uint16)
    ir[30:33, 40:43] = 20000  # and dark in infrared
    src = tmp_path / "scan.tif"
    tifffile.imwrite(src, np.dstack([rgb, ir]), photometric="rgb", extrasamples=["unspecified"])
    [rec] = restore("infrared_clean", [src], tmp_path / "out", progress=False)
    out = tifffile.imread(rec.output)
    assert np.array_equal(out[..., 3], ir) and np.all(np.abs(out[30:33, 40:43, :3].astype(int) - 30000) < 100)
    untouched = np.ones((64, 64), bool)
    untouched[30:33, 40:43] = False
    assert np.array_equal(out[..., :3][untouched], rgb[untouched])
    with pytest.raises(DustbenchError, match="infrared plane, which this image does not have"):
        restore("infrared_clean", [src], tmp_path / "none", infrared="no", progress=False)


# --- the infrared track in the harness ------------------------------------------------------------

@pytest.fixture(scope="module")
def ir_pairs(tmp_path_factory):
    """A synth folder with infrared planes (colour negative), and the same pairs without them."""
    from dustbench.synth.job import SynthConfig, run_synth
    root = tmp_path_factory.mktemp("ir_pairs")
    clean = root / "clean_in"
    clean.mkdir()
    from dustbench.io import write_image
    y, x = np.mgrid[0:160, 0:200] / 160.0
    picture = 0.5 + 0.2 * np.sin(5 * x + 2 * y)
    write_image(clean / "a.png", (np.dstack([picture, 0.9 * picture, 1 - picture]) * 255).astype(np.uint8))
    for name, film in (("ir", "colour_negative"), ("plain", None)):
        run_synth(SynthConfig(clean=str(clean), out=str(root / name), n=4, seed=5, presets="negative_scan_heavy",
                              scan_scale=1500, infrared=film, contact_sheet=False), progress=False)
    return root


def test_the_harness_hands_the_infrared_plane_to_the_infrared_track_only(ir_pairs):
    from dustbench.evaluation import evaluate
    from dustbench.methods import method_info
    identity = evaluate("identity", str(ir_pairs / "ir"), progress=False)
    cleaned = evaluate("infrared_clean", str(ir_pairs / "ir"), progress=False)
    assert method_info("infrared_clean")["needs_infrared"] and not method_info("median")["needs_infrared"]
    assert cleaned.summary["needs_infrared"] and not identity.summary["needs_infrared"]
    assert cleaned.psnr > identity.psnr + 3.0
    with pytest.raises(DustbenchError, match="takes the scanner's infrared plane, which this image does not have"):
        evaluate("infrared_clean", str(ir_pairs / "plain"), progress=False)


def test_an_infrared_plane_of_the_wrong_size_is_named(ir_pairs, tmp_path):
    import shutil
    from dustbench.data import open_data
    from dustbench.io import write_image
    broken = tmp_path / "broken"
    shutil.copytree(ir_pairs / "ir", broken)
    first = sorted((broken / "infrared").iterdir())[0]
    write_image(first, np.zeros((10, 10), np.uint16))
    data = open_data(str(broken))
    with pytest.raises(DustbenchError, match=f"{first.name}.*infrared plane is"):
        data.get(data.ids()[0])


def test_the_infrared_suites_are_builtin_v2_with_planes():
    """builtin-v2-ir(-silver): builtin-v2's very samples, each with a 16-bit plane, fingerprinted
    as published; the silver suite's planes carry the picture, the dye films' do not."""
    from dustbench.data import open_data
    from dustbench.data.builtin_sets import builtin_splits
    plain = list(open_data("builtin-v2", "validation"))
    suites = {spec: open_data(spec, "validation") for spec in ("builtin-v2-ir", "builtin-v2-ir-silver")}
    for spec, data in suites.items():
        assert data.check_published()["matches"], spec
        for a, b in zip(plain, data):
            assert a.id == b.id and np.array_equal(a.damaged, b.damaged) and np.array_equal(a.mask, b.mask)
            assert b.infrared.dtype == np.uint16 and b.infrared.shape == b.damaged.shape[:2]
            assert b.params["infrared"]["film"] in (("silver_bw",) if "silver" in spec else ("colour_negative", "slide"))
    dye, silver = next(iter(suites["builtin-v2-ir"])), next(iter(suites["builtin-v2-ir-silver"]))
    assert silver.infrared.std() > 4 * dye.infrared.std()  # the picture is in the silver plane
    assert ("builtin-v2-ir", "test") in builtin_splits(infrared=True) and ("builtin-v2-ir", "test") not in builtin_splits()


def test_the_stream_carries_the_infrared_plane_warped_with_the_patch():
    import torch
    from dustbench.data.stream import DamageStream
    kw = dict(patch=64, seed=3, samples_per_epoch=64, patches_per_visit=4, scan_scale=(2000, 4200))
    plain, with_ir = DamageStream("builtin", **kw), DamageStream("builtin", infrared="colour_negative", **kw)
    dark = damaged = 0
    for g in range(12):
        x, y = plain.sample(g), with_ir.sample(g)
        assert all(torch.equal(x[k], y[k]) for k in ("damaged", "clean", "mask", "labels"))  # the same damage
        assert y["infrared"].shape == (1, 64, 64) and y["infrared"].dtype == torch.float32
        assert json.loads(y["infrared_params"])["film"] == "colour_negative"
        assert torch.equal(with_ir.sample(g)["infrared"], y["infrared"])  # a pure function of (seed, epoch, g)
        level = float(y["infrared"].median())
        opaque = y["mask"][0] > 0.5
        dark += int((y["infrared"][0][opaque] < 0.8 * level).sum())
        damaged += int(opaque.sum())
    assert damaged > 20 and dark / damaged > 0.5  # opaque damage is dark in the plane
    with pytest.raises(DustbenchError, match="unknown film type"):
        DamageStream("builtin", infrared="agfa", **kw)


def test_infrared_clean_names_itself_in_its_option_errors():
    from dustbench.errors import DustbenchError
    from dustbench.methods.infrared_clean import InfraredClean

    for bad, message in (({"dilate": -1}, "infrared_clean: dilate"), ({"fill": "nope"}, "infrared_clean: fill"),
                         ({"radius": 0}, "infrared_clean: radius")):
        with pytest.raises(DustbenchError, match=message):
            InfraredClean(**bad)
