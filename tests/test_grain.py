"""Film grain (dustbench.synth.grain): deterministic, dtype/layout kept, the stocks' published RMS
granularity met in density at the 48 µm aperture, grain size following stock and scan resolution,
off by default, and recorded by every pipeline that adds it (synth, make-dataset, stream, FilmDamage)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.io import read_image, write_image
from dustbench.synth.grain import (_APERTURE_SIDE_UM, DEFAULT_DPI, STOCKS, apply_grain, grain_clean, grain_px_per_mm,
                                   parse_grain, sample_grain)
from dustbench.synth.job import read_records

GAMMA, FOG = 2.2, 0.15
PPM_8PX = 1000 * 8 / _APERTURE_SIDE_UM  # a scan resolution at which the 48 µm aperture is 8×8 px


def density(image) -> np.ndarray:
    v = image.astype(np.float64) / (1.0 if image.dtype == np.float32 else np.iinfo(image.dtype).max)
    return -GAMMA * np.log10(v)


def nutting(d: float) -> float:
    return np.sqrt((d + FOG) / (1 + FOG))


def lag1(d: np.ndarray) -> float:
    return float(np.corrcoef(d[:, :-1].ravel(), d[:, 1:].ravel())[0, 1])


def test_same_seed_same_bytes_other_seed_other_bytes():
    image = np.random.default_rng(0).integers(0, 256, (64, 96, 3), dtype=np.uint8)
    a = sample_grain("portra400", 150.0, np.random.default_rng(1))
    b = sample_grain("portra400", 150.0, np.random.default_rng(1))
    c = sample_grain("portra400", 150.0, np.random.default_rng(2))
    assert a == b and a != c
    json.dumps(a)  # JSON-able, like every recorded parameter
    assert apply_grain(image, a).tobytes() == apply_grain(image, b).tobytes()
    assert apply_grain(image, a).tobytes() != apply_grain(image, c).tobytes()
    assert apply_grain(image, a, 5).tobytes() == apply_grain(image, a, np.random.default_rng(5)).tobytes()
    assert apply_grain(image, a, 5).tobytes() != apply_grain(image, a).tobytes()


@pytest.mark.parametrize("shape,dtype", [((40, 50), np.uint8), ((40, 50, 1), np.uint16), ((40, 50, 3), np.uint8),
                                         ((40, 50, 3), np.uint16), ((40, 50, 3), np.float32), ((40, 50), np.float32)])
def test_dtype_and_layout_are_kept(shape, dtype):
    top = 1.0 if dtype == np.float32 else np.iinfo(dtype).max
    image = (np.linspace(0.05, 1.0, int(np.prod(shape))).reshape(shape) * top).astype(dtype)
    out = apply_grain(image, sample_grain("negative_coarse", 157.0, np.random.default_rng(0)))
    assert out.dtype == image.dtype and out.shape == image.shape and not np.array_equal(out, image)
    assert out.min() >= 0 and out.max() <= top


@pytest.mark.parametrize("stock", sorted(STOCKS))
def test_rms_granularity_at_the_48um_aperture_is_the_stocks(stock):
    """Closed form: on a flat patch of density D the density noise, averaged over the 48 µm aperture
    (a square of its area), has std rms * sqrt((D + fog) / (1 + fog)); per pixel, the recorded rms_px."""
    p = sample_grain(stock, PPM_8PX, np.random.default_rng(0), jitter=0.0)
    assert p["rms_granularity"] == STOCKS[stock]["rms"] / 1000
    grey = np.full((512, 512), 0.5, np.float32)
    d0 = -GAMMA * np.log10(0.5)
    d = density(apply_grain(grey, p)) - d0
    aperture = d.reshape(64, 8, 64, 8).mean(axis=(1, 3))
    assert aperture.std() == pytest.approx(p["rms_granularity"] * nutting(d0), rel=0.15)
    assert d.std() == pytest.approx(p["rms_px"] * nutting(d0), rel=0.05)
    assert abs(d.mean()) < 0.1 * d.std()  # zero-mean in density


def test_grain_is_signal_dependent_and_colour_channels_partly_correlated():
    p = sample_grain("negative_medium", 157.0, np.random.default_rng(3), jitter=0.0)
    light, dark = (apply_grain(np.full((256, 256), v, np.float32), p) for v in (0.8, 0.2))
    assert (density(dark) - -GAMMA * np.log10(0.2)).std() > 1.5 * (density(light) - -GAMMA * np.log10(0.8)).std()
    rgb = density(apply_grain(np.full((256, 256, 3), 0.5, np.float32), p))
    r = np.corrcoef(rgb.reshape(-1, 3).T)
    assert 0.3 < r[0, 1] < 0.7 and 0.3 < r[0, 2] < 0.7 and 0.3 < r[1, 2] < 0.7  # dye clouds: correlated, not equal
    bw = apply_grain(np.full((64, 64, 3), 0.5, np.float32), sample_grain("trix400", 157.0, np.random.default_rng(3)))
    assert np.array_equal(bw[..., 0], bw[..., 1]) and np.array_equal(bw[..., 0], bw[..., 2])  # neutral silver


def test_grain_size_follows_the_stock_and_the_scan_resolution():
    grey = np.full((256, 256), 0.5, np.float32)

    def corr(stock, ppm):
        return lag1(density(apply_grain(grey, sample_grain(stock, ppm, np.random.default_rng(0), jitter=0.0))))

    fine, medium, coarse = (corr(s, 157.0) for s in ("bw_fine", "bw_medium", "bw_coarse"))
    assert fine < medium < coarse
    assert corr("negative_medium", 40.0) < corr("negative_medium", 80.0) < corr("negative_medium", 157.0) \
        < corr("negative_medium", 315.0)
    assert corr("negative_medium", 40.0) < 0.1 < 0.6 < corr("negative_medium", 157.0)


def test_scan_resolution_comes_from_the_scan_scale_the_spec_or_the_default():
    assert grain_px_per_mm("negative_medium", 4800) == 200.0  # short side 4800 px over 24 mm
    assert grain_px_per_mm("negative_medium@2540dpi", 4800) == pytest.approx(100.0)
    assert grain_px_per_mm("negative_medium", None) == pytest.approx(DEFAULT_DPI / 25.4)
    assert parse_grain("Portra400 @ 2400dpi") == "negative_medium@2400dpi" and parse_grain("none") is None


def test_bad_stock_names_the_valid_ones_and_a_close_match(capsys):
    with pytest.raises(DustbenchError) as err:
        parse_grain("portra4000")
    assert "'portra400'" in str(err.value) and "did you mean" in str(err.value)
    assert all(name in str(err.value) for name in STOCKS)
    with pytest.raises(DustbenchError):
        parse_grain("portra400@5dpi")
    assert main(["synth", "--clean", "builtin", "--out", "x", "--n", "1", "--grain", "trix4oo"]) == 2
    assert "did you mean 'trix400'" in capsys.readouterr().err


def _clean_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    write_image(folder / "a.png", rng.integers(40, 220, (48, 72, 3)).astype(np.uint8))
    write_image(folder / "b.png", rng.integers(40, 220, (50, 50)).astype(np.uint8))
    return folder


def test_synth_records_grain_and_its_clean_is_the_source_with_that_grain(tmp_path, capsys):
    src = _clean_folder(tmp_path / "src")
    common = ["synth", "--clean", str(src), "--n", "4", "--seed", "3", "--presets", "dust_slide_light_sharp",
              "--quiet", "--no-contact-sheet", "--scan-scale", "400..800"]
    assert main([*common, "--out", str(tmp_path / "g"), "--grain", "portra400"]) == 0
    assert main([*common, "--out", str(tmp_path / "n")]) == 0
    assert main([*common, "--out", str(tmp_path / "g2"), "--grain", "portra400", "--workers", "2"]) == 0
    capsys.readouterr()
    with_grain, without = read_records(tmp_path / "g"), read_records(tmp_path / "n")
    for g, n in zip(with_grain, without):
        grain = g["params"]["grain"]
        assert grain["stock"] == "negative_medium" and grain["px_per_mm"] == g["scan_scale"] / 24.0
        assert "grain" not in n["params"] and n["scan_scale"] == g["scan_scale"]
        source = read_image(g["source_path"])
        clean = read_image(tmp_path / "g" / g["clean"])
        assert np.array_equal(clean, apply_grain(source, grain))  # the record alone rebuilds it
        assert np.array_equal(read_image(tmp_path / "n" / n["clean"]), source)  # off by default: the source's bytes
        assert np.array_equal(read_image(tmp_path / "g" / g["mask"]), read_image(tmp_path / "n" / n["mask"]))
        for key in ("damaged", "clean", "mask"):  # any number of workers: the same bytes
            assert (tmp_path / "g" / g[key]).read_bytes() == (tmp_path / "g2" / g[key]).read_bytes()
    assert json.loads((tmp_path / "g" / "synth.json").read_text())["grain"] == "negative_medium"
    assert "grain" not in json.loads((tmp_path / "n" / "synth.json").read_text())


def test_film_damage_adds_grain_to_clean_and_replays_it():
    from dustbench.transforms import FilmDamage, replay

    image = np.random.default_rng(0).integers(30, 220, (64, 80, 3), dtype=np.uint8)
    plain = FilmDamage("dust_slide_light_sharp", seed=1)(image=image)
    grainy = FilmDamage("dust_slide_light_sharp", seed=1, grain="bw_coarse", scan_scale=1200)(image=image)
    assert plain["clean"] is image and "grain" not in plain["damage_params"]
    record = grainy["damage_params"]["grain"]
    assert record["px_per_mm"] == 50.0
    assert np.array_equal(grainy["clean"], apply_grain(image, record))
    again = replay(image, grainy["damage_params"])
    assert np.array_equal(again["image"], grainy["image"]) and np.array_equal(again["clean"], grainy["clean"])
    # an undamaged sample (p = 0) still carries the grain: grain is part of the clean image
    undamaged = FilmDamage("dust_slide_light_sharp", seed=1, grain="bw_coarse", scan_scale=1200, p=0.0)(image=image)
    assert not undamaged["damage_params"]["applied"] and not np.array_equal(undamaged["clean"], image)
    assert np.array_equal(undamaged["image"], undamaged["clean"])


def test_stream_adds_grain_per_sample_deterministically():
    from dustbench.data.stream import DamageStream

    images = [np.random.default_rng(i).integers(0, 256, (96, 120, 3), dtype=np.uint8) for i in range(2)]
    kw = dict(presets="dust_slide_light_sharp", patch=32, seed=4, samples_per_epoch=8, patches_per_visit=4)
    plain, grainy = DamageStream(images, **kw), DamageStream(images, grain="ektar100", **kw)
    a, b, c = plain.sample(3), grainy.sample(3), DamageStream(images, grain="ektar100", **kw).sample(3)
    assert "grain" not in a and json.loads(b["grain"])["stock"] == "negative_fine"
    assert torch_equal(b["clean"], c["clean"]) and torch_equal(b["damaged"], c["damaged"])
    assert not torch_equal(a["clean"], b["clean"]) and torch_equal(a["mask"], b["mask"])


def torch_equal(x, y) -> bool:
    return bool((x == y).all())


def test_make_dataset_rows_carry_grain_and_identity_only_when_set(tmp_path):
    from dustbench.data import iter_split
    from dustbench.data.make_dataset import DatasetConfig, make_dataset

    src = tmp_path / "src"
    src.mkdir()
    for i in range(3):
        write_image(src / f"s{i}.png", np.random.default_rng(i).integers(30, 220, (72, 80, 3), dtype=np.uint8))
    cfg = DatasetConfig(clean=str(src), out=str(tmp_path / "ds"), train_patches=3, patch=32, grain="tmax400",
                        presets="dust_slide_light_sharp")
    assert DatasetConfig(clean="x", out="y").identity().get("grain") is None and "--grain tmax400" not in cfg.cli()
    assert cfg.identity()["grain"] == "bw_medium" and "--grain bw_medium" in cfg.cli()
    make_dataset(cfg, progress=False)
    sources = {p.stem: read_image(p) for p in src.glob("*.png")}
    for split in ("train", "test"):
        for row in iter_split(tmp_path / "ds", split):
            grain = json.loads(row["params"])["grain"]
            assert grain["stock"] == "bw_medium" and grain["px_per_mm"] == pytest.approx(DEFAULT_DPI / 25.4)
            y0, x0, h, w = row["box"]
            source = next(s for k, s in sources.items() if row["source"].endswith(k) or k in row["source"])
            assert np.array_equal(row["clean"], apply_grain(source[y0:y0 + h, x0:x0 + w], grain))


def test_grain_clean_is_a_no_op_without_a_stock():
    image = np.zeros((8, 8), np.uint8)
    out, params = grain_clean(image, None, 3000, [1, 2])
    assert out is image and params is None


def test_train_grain_option_reaches_the_stream_and_builtin_train():
    from dustbench.cli import build_parser
    from dustbench.cli.train import build_config
    from dustbench.data.train_sources import SynthPatches, open_train_data

    args = build_parser().parse_args(["train", "dust_gan", "--data", "stream", "--out", "r", "--grain", "Velvia50"])
    assert build_config(args).grain == "slide_fine"
    assert build_config(build_parser().parse_args(["train", "dust_gan", "--out", "r"])).grain is None
    source = open_train_data("stream", patch=32, seed=1, steps_per_epoch=1, batch_size=16, grain="slide_fine")
    assert source.describe()["grain"] == "slide_fine" and "grain" not in open_train_data("stream", patch=32).describe()
    images = [("a", np.random.default_rng(0).integers(30, 220, (80, 80, 3), dtype=np.uint8))]
    plain = SynthPatches(images, "dust_slide_light_sharp", patch=32, pool=2, context=64)
    grainy = SynthPatches(images, "dust_slide_light_sharp", patch=32, pool=2, context=64, grain="slide_fine")
    (_, c0, m0), (_, c1, m1) = plain.pool_entry(0), grainy.pool_entry(0)
    assert not np.array_equal(c0, c1) and np.array_equal(m0, m1) and grainy.describe()["grain"] == "slide_fine"


@pytest.mark.parametrize("dtype, shape", [(np.uint8, (37, 53, 3)), (np.uint8, (40, 31)), (np.uint8, (24, 29, 1)),
                                          (np.uint16, (33, 47, 3)), (np.uint16, (30, 20)),
                                          (np.float32, (35, 41, 3)), (np.float32, (26, 22)),
                                          (np.uint8, (150, 23, 3)), (np.uint16, (131, 17)), (np.float32, (140, 9, 3)),
                                          (np.uint8, (400, 7, 3))])
@pytest.mark.parametrize("layout", ["C", "transposed"])
def test_the_compiled_grain_gives_the_numpy_bits(dtype, shape, layout):
    from dustbench import portable_math as pm
    pytest.importorskip("numba")
    rng = np.random.default_rng(sum(shape))
    image = rng.integers(0, 256, shape).astype(np.uint8)
    image = image.astype(np.uint16) * 257 + rng.integers(0, 257, shape).astype(np.uint16) if dtype == np.uint16 else \
        image.astype(np.float32) / 255 if dtype == np.float32 else image
    image[:2] = 0  # the clip and the densest value
    if layout == "transposed":  # not in row order in memory (a rot90 or transpose view)
        image = np.swapaxes(image, 0, 1)
    for stock in ("portra400", "trix400", "slide_fine@2400dpi", "bw_coarse@12000dpi", "bw_coarse@40000dpi"):
        # three fields; one; wider blurs (the last: strips of 8 × its 20-row halo)
        params = sample_grain(stock, grain_px_per_mm(stock), np.random.default_rng(3))
        out, before = {}, pm.use()
        for name in ("numpy", "numba"):
            try:
                assert pm.use(name) == name
                out[name] = apply_grain(image, params)
            finally:
                pm.use(before)
        assert out["numba"].dtype == image.dtype and out["numba"].shape == image.shape
        assert out["numba"].tobytes() == out["numpy"].tobytes(), stock
