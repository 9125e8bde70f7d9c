"""Physical scale (synth/scale.py): an image drawn as a crop of a film frame scanned at a stated
resolution — speck sizes in px, the crop's share of the frame's count, exactness against the
frame, the film table, and the option threaded through synth, make-dataset and the stream."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy import ndimage

from dustbench.cli import main
from dustbench.data import DatasetConfig, decode_row, load_split, make_dataset
from dustbench.data.stream import DamageStream
from dustbench.errors import DustbenchError
from dustbench.io import read_image
from dustbench.synth import (REFERENCE_SHORT_SIDE, composite, parse_scan_scale, regenerate, render, resolve_presets,
                             sample_params, short_side_px, synthesize)
from dustbench.synth.job import read_records, run_synth
from dustbench.synth.scale import ScanScale, check_fits, draw_scaled_params, frame_around, scale_label, scaled_params
from test_synth_job import config, make_clean, tree_bytes

REAL_MEDIAN_SPECK = 0.0024  # median dust speck of the published 35 mm annotations, fraction of the short side


def speck_preset(tmp_path, density: float = 200.0, size: float = REAL_MEDIAN_SPECK):
    path = tmp_path / "speck.toml"
    path.write_text(f'[speck]\nfamily = "dust"\ndescription = "round opaque specks of one size"\n'
                    f'density = [{density}, {density}]\nsize = [{size}, {size}]\nopacity = [1.0, 1.0]\n'
                    'roughness = [0.0, 0.0]\nelongation = [1.0, 1.0]\n', encoding="utf-8")
    return resolve_presets(str(path))


def equivalent_diameters(mask: np.ndarray) -> np.ndarray:
    """2·sqrt(area/π) of every connected speck not touching the border, area = summed opacity."""
    labels, n = ndimage.label(mask > 0)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    keep = [k for k in range(1, n + 1) if k not in border]
    return 2 * np.sqrt(np.asarray(ndimage.sum(mask, labels, keep)) / math.pi)


def test_a_real_median_speck_on_a_crop_of_a_3400px_frame_measures_about_8px(tmp_path):
    """Guards the point of scales: on a 512-px image declared as a crop of a 3,400-px-short-side
    frame, a speck of the real median size (0.24 %) is ~8 px across, as on real scans."""
    clean = np.full((512, 512), 128, np.uint8)
    s = synthesize(clean, speck_preset(tmp_path), np.random.default_rng(0), scan_scale=3400)
    d = equivalent_diameters(s.mask)
    assert len(d) >= 5 and 6.0 <= np.median(d) <= 11.0
    assert s.params["scan_scale"] == 3400 and s.params["crop"]["frame_shape"] == [3400, 5100]


def test_the_same_preset_on_the_whole_image_keeps_todays_size(tmp_path):
    """Guards the default: without a scale the image is the whole frame (0.24 % of 512 px = 1.2 px),
    and the record is exactly what sample_params draws (no extra draw, no extra key)."""
    clean = np.full((512, 512), 128, np.uint8)
    preset = speck_preset(tmp_path)
    s = synthesize(clean, preset, np.random.default_rng(0))
    assert abs(np.median(equivalent_diameters(s.mask)) - REAL_MEDIAN_SPECK * 512) < 0.25
    assert s.params == sample_params(preset, clean.shape, np.random.default_rng(0))
    assert "scan_scale" not in s.params and "crop" not in s.params


def test_a_crop_shows_exactly_what_the_frame_shows_there():
    """Guards exactness: the scaled record drawn on the image equals the frame's record drawn on the
    whole (virtual) frame and cut at the same place — long strokes reaching in from outside included."""
    shape, side, presets = (90, 130), 240, "negative_hairs_and_lint,scratches_all,dirt_slide_heavy"
    p = scaled_params(presets, shape, np.random.default_rng(4), side)
    rng = np.random.default_rng(4)
    frame, (y0, x0) = frame_around(shape, side, rng)
    full = sample_params(presets, frame, rng)
    grey = np.full((*frame, 3), 0.5, np.float32)
    whole = composite(grey, render(full, frame))[y0:y0 + shape[0], x0:x0 + shape[1]]
    crop = composite(grey[:shape[0], :shape[1]], render(p, shape))
    assert frame == (240, 360) and np.abs(whole - crop).max() < 2e-3 and np.abs(whole - 0.5).max() > 0.1


def test_a_crop_gets_its_share_of_the_frames_count():
    """Guards densities: artifacts centred in a crop average density × reference px² × crop area /
    frame short side² (the crop's share of the frame's count), not the whole frame's count."""
    preset = resolve_presets("dust_slide_medium_sharp")[0]
    shape, side = (300, 400), 3000
    centred = []
    for seed in range(60):
        g = scaled_params(preset, shape, np.random.default_rng(seed), side)["groups"][0]
        centred.append(sum(0 <= x < 1 and 0 <= y < 1 for x, y in zip(g["x"], g["y"])))
    density = np.mean(preset["density"])
    expected = density * REFERENCE_SHORT_SIDE ** 2 * (300 * 400) / side ** 2 / 1e6  # 2.1 per crop
    assert abs(np.mean(centred) - expected) < 4 * math.sqrt(expected / 60)


def test_film_table_and_text_forms():
    """Guards the units: 35 mm (24 mm short side) at 4000 dpi is 3780 px; ranges and bad text."""
    assert short_side_px("35mm", 4000) == round(24 / 25.4 * 4000) == 3780
    assert parse_scan_scale("35mm@2400dpi") == ScanScale(2268, 2268) and parse_scan_scale("6x6@1200").lo == 2646
    assert parse_scan_scale("3400") == ScanScale(3400, 3400) and parse_scan_scale(None) is None
    assert parse_scan_scale("35mm@2400dpi..35mm@4000dpi") == ScanScale(2268, 3780)
    for bad, words in (("abc", "short side in px"), ("8x10@100", "unknown film format"), ("4000..2000", "low"),
                       ("inf", "short side in px"), ("4", "at least 8")):
        with pytest.raises(DustbenchError, match=words):
            parse_scan_scale(bad)


def test_a_range_draws_one_scale_per_sample_log_uniformly():
    """Guards training-time ranges: every draw lies in the range, the median is the geometric middle."""
    rng = np.random.default_rng(0)
    draws = np.array([ScanScale(2000, 4000).draw(rng) for _ in range(2000)])
    assert draws.min() >= 2000 and draws.max() <= 4000
    assert abs(np.median(draws) / math.sqrt(2000 * 4000) - 1) < 0.03
    assert ScanScale(3400, 3400).draw(rng) == 3400


def test_synth_with_a_scale_is_deterministic_over_workers_records_it_and_keeps_16bit(tmp_path):
    """Guards synth --scan-scale: same bytes with 1 or 2 workers, with two shards, and after a resume;
    each record names its scale, 16-bit images stay 16-bit, and a record rebuilds its sample."""
    clean = make_clean(tmp_path / "clean16", np.uint16)
    outs = [tmp_path / f"w{k}" for k in (1, 2)]
    for k, out in zip((1, 2), outs):
        run_synth(config(clean, out, n=4, seed=3, workers=k, scan_scale=(300, 600)), progress=False)
    assert tree_bytes(outs[0]) == tree_bytes(outs[1])
    for shard in ((0, 2), (1, 2)):
        run_synth(config(clean, tmp_path / "shards", n=4, seed=3, shard=shard, scan_scale=(300, 600)), progress=False)
    (outs[1] / ".records" / "000002.json").unlink()
    assert run_synth(config(clean, outs[1], n=4, seed=3, scan_scale=(300, 600)), progress=False).written == [2]
    assert tree_bytes(tmp_path / "shards") == tree_bytes(outs[1]) == tree_bytes(outs[0])
    for r in read_records(outs[0]):
        assert 300 <= r["scan_scale"] <= 600 and r["params"]["scan_scale"] == r["scan_scale"]
        damaged = read_image(outs[0] / r["damaged"])
        assert damaged.dtype == np.uint16
        assert np.array_equal(regenerate(read_image(r["source_path"]), r["params"]).damaged, damaged)


def test_cli_scan_scale_and_an_image_larger_than_the_frame(tmp_path, capsys):
    """Guards the CLI: --scan-scale FILM@DPI works; an image larger than the frame is a one-line
    error naming the file."""
    clean = make_clean(tmp_path / "clean")
    assert main(["synth", "--clean", str(clean), "--out", str(tmp_path / "a"), "--n", "2", "--presets",
                 "dust_slide_heavy_sharp", "--scan-scale", "35mm@300dpi", "--quiet", "--no-contact-sheet"]) == 0
    assert {r["scan_scale"] for r in read_records(tmp_path / "a")} == {round(24 / 25.4 * 300)}
    assert main(["synth", "--clean", str(clean), "--out", str(tmp_path / "b"), "--n", "3", "--scan-scale", "50",
                 "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot be a crop of a frame whose short side is 50 px" in err and str(clean) in err


def test_make_dataset_with_a_scale_records_it_everywhere(tmp_path):
    """Guards make-dataset --scan-scale: the manifest, the card and every row's params say the
    scale; train patches rebuild from their records; a source larger than the frame is refused."""
    clean = make_clean(tmp_path / "clean")
    out = tmp_path / "ds"
    cfg = DatasetConfig(clean=str(clean), out=str(out), train_patches=6, patch=32, scan_scale=400,
                        presets="dust_slide_heavy_sharp")
    assert make_dataset(cfg, progress=False).complete
    manifest = json.loads((out / "dustbench.json").read_text())
    assert manifest["scan_scale"] == 400 and manifest["config"]["scan_scale"] == 400
    assert "crop of a film frame whose short side is 400 px" in (out / "README.md").read_text()
    for split in ("train", "test"):
        row = decode_row(load_split(out, split)[0])
        params = json.loads(row["params"])
        assert params["scan_scale"] == 400
        assert np.array_equal(regenerate(row["clean"], params).damaged, row["damaged"])
    with pytest.raises(DustbenchError, match="cannot be a crop"):
        make_dataset(DatasetConfig(clean=str(clean), out=str(tmp_path / "small"), train_patches=4, patch=32,
                                   scan_scale=50), progress=False)


def test_stream_draws_a_scale_per_sample_from_a_range():
    """Guards DamageStream(scan_scale=(lo, hi)): each sample carries the scale drawn (within the
    range), samples stay a pure function of (seed, epoch, g), whole-frame samples carry none."""
    img = np.random.default_rng(0).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    stream = DamageStream([img], "dust_slide_heavy_sharp", patch=32, seed=1, samples_per_epoch=32,
                          scan_scale=(500, 4000), augment=False)
    a, b = stream.sample(5), stream.sample(5)
    assert 500 <= a["scan_scale"] <= 4000 and all(np.array_equal(a[k], b[k]) for k in ("damaged", "mask"))
    assert len({stream.sample(g)["scan_scale"] for g in range(8)}) > 4
    plain = DamageStream([img], "dust_slide_heavy_sharp", patch=32, seed=1, samples_per_epoch=32)
    assert "scan_scale" not in plain.sample(5)
    with pytest.raises(DustbenchError, match="twice the 32-px patch"):
        DamageStream([img], patch=32, scan_scale=40)


# -- ScanScale as a value ------------------------------------------------------------------------
@pytest.mark.parametrize("value, expected", [
    (None, None), ("", None), ("none", None), (" Frame ", None), ("whole", None),
    (3400, ScanScale(3400, 3400)), (3400.4, ScanScale(3400, 3400)), (np.int64(3400), ScanScale(3400, 3400)),
    ("3400", ScanScale(3400, 3400)), ("35mm@4000dpi", ScanScale(3780, 3780)), ("6x6@1200", ScanScale(2646, 2646)),
    ((2000, 4200), ScanScale(2000, 4200)), ([2000.6, 4000], ScanScale(2001, 4000)),
    (np.array([2000, 4200]), ScanScale(2000, 4200)), ((3000, 3000), ScanScale(3000, 3000)),
    ("2000..4000", ScanScale(2000, 4000)), ("35mm@2400dpi..35mm@4000dpi", ScanScale(2268, 3780)),
    (ScanScale(500, 900), ScanScale(500, 900)),
])
def test_scan_scale_parses_every_accepted_form(value, expected):
    """Guards the one parser: numbers, pairs, records' lists, the CLI's text, and ScanScale itself."""
    assert ScanScale.parse(value) == expected and parse_scan_scale(value) == expected


@pytest.mark.parametrize("value, words", [
    ("abc", "short side in px"), ("8x10@100", "unknown film format"), ("4000..2000", "low <= high"),
    ("inf", "short side in px"), ("4", "at least 8"), ("1..2..3", "two ends"), (float("nan"), "scan scale nan"),
    (1e12, "at most 1,000,000"), ((8, float("nan")), "scan scale range"), ((100, 50, 20), "need \\(low, high\\)"),
    ((4000, 2000), "need 8 <= low <= high"), ({"lo": 1}, "scan scale"), (True, "at least 8"),
])
def test_scan_scale_refuses_with_a_clear_message(value, words):
    with pytest.raises(DustbenchError, match=words):
        ScanScale.parse(value)


def test_a_scan_scale_made_directly_is_checked_too():
    for lo, hi in ((4000, 2000), (4, 4), (2000.5, 3000), (True, 100), (8, 2_000_000)):
        with pytest.raises(DustbenchError, match="scan scale range"):
            ScanScale(lo, hi)
    assert type(ScanScale(np.int64(10), np.int64(20)).lo) is int  # JSON-ready


def test_scan_scale_draws_exactly_what_the_old_draw_scan_scale_drew():
    """Guards byte identity: the numbers below were drawn by the loose-value draw_scan_scale before
    ScanScale existed; a fixed scale draws nothing from the generator."""
    rng = np.random.default_rng(0)
    assert [ScanScale(2000, 4200).draw(rng) for _ in range(6)] == [3208, 2443, 2062, 2025, 3657, 3937]
    assert rng.random() == 0.6066357757671799
    rng = np.random.default_rng(7)
    assert [ScanScale(2268, 3780).draw(rng) for _ in range(4)] == [3121, 3587, 3371, 2545]
    assert ScanScale(3400, 3400).draw(rng) == 3400 and rng.random() == 0.30016628491122543
    rng = np.random.default_rng(1)
    assert [ScanScale(8, 1_000_000).draw(rng) for _ in range(4)] == [3249, 559137, 43, 547357]


def test_draw_scaled_params_is_the_draw_then_scaled_params():
    rng_a, rng_b = np.random.default_rng(3), np.random.default_rng(3)
    short, params = draw_scaled_params("dust_slide_heavy_sharp", (90, 120), rng_a, ScanScale(500, 900))
    assert short == ScanScale(500, 900).draw(rng_b) and params["scan_scale"] == short
    assert params == scaled_params("dust_slide_heavy_sharp", (90, 120), rng_b, short)
    short, params = draw_scaled_params("dust_slide_heavy_sharp", (90, 120), np.random.default_rng(3), None)
    assert short is None and params == sample_params("dust_slide_heavy_sharp", (90, 120), np.random.default_rng(3))


def test_scan_scale_fits_the_images_it_can_frame():
    assert ScanScale(400, 900).fits((400, 1000)) and ScanScale(400, 900).fits((300, 500, 3))
    assert not ScanScale(400, 900).fits((401, 1000)) and not ScanScale(400, 400).fits((600, 500))
    check_fits((600, 500), None)  # a whole frame fits anything
    with pytest.raises(DustbenchError, match="500 px on its short side.*short side is 400 px"):
        check_fits((600, 500), ScanScale(400, 900), "img")


@pytest.mark.parametrize("scale", [None, ScanScale(3400, 3400), ScanScale(2000, 4200)])
def test_scan_scale_label_round_trips_through_json_and_text(scale):
    """Guards records: the label is what manifests have always held (None, S, [lo, hi]) and reads back."""
    label = scale_label(scale)
    assert label == {None: None, 3400: 3400, 2000: [2000, 4200]}[None if scale is None else scale.lo]
    assert ScanScale.parse(json.loads(json.dumps(label))) == scale
    if scale is not None:
        assert ScanScale.parse(str(scale)) == scale and str(scale) in ("3400", "2000..4200")


def test_configs_and_transforms_read_the_scale_once_and_write_its_label():
    """Guards where the value enters: configs hold a ScanScale, and what they write (CLI text, identity,
    the transform's albumentations arguments) is the JSON form records always had."""
    from dustbench.synth.job import SynthConfig
    from dustbench.transforms import FilmDamage
    cfg = DatasetConfig(clean="builtin", out="ds", scan_scale="300..600")
    assert cfg.scan_scale == ScanScale(300, 600) and cfg.identity()["scan_scale"] == [300, 600]
    assert "--scan-scale 300..600" in cfg.cli() and "scan_scale" not in DatasetConfig(clean="b", out="o").identity()
    assert SynthConfig(clean="builtin", out="s", n=1, scan_scale=[400, 400]).scan_scale == ScanScale(400, 400)
    t = FilmDamage("dust_fine", scan_scale=(2000, 3000))
    assert t.scan_scale == ScanScale(2000, 3000)
    if hasattr(t, "get_transform_init_args"):  # albumentations installed
        assert t.get_transform_init_args()["scan_scale"] == [2000, 3000]
