"""The infrared plane in `dustbench make-dataset --infrared FILM` and in `FilmDamage(infrared=FILM)`:
the plane is stored / returned with the sample, rebuilt from its record, drawn from its own
generator (every other byte is that of a run without it), and placed where the damage is, whatever
the pipeline did to the image before the transform."""
from __future__ import annotations

import hashlib
import importlib
import json
import os
from pathlib import Path

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # importing albumentations: no version check online

import datasets  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dustbench import regenerate  # noqa: E402
from dustbench.cli import main  # noqa: E402
from dustbench.data import DatasetConfig, as_torch, iter_split, load_split, make_dataset, open_data  # noqa: E402
from dustbench.errors import DustbenchError  # noqa: E402
from dustbench.io import encode_image, read_image  # noqa: E402
from dustbench.sources import builtin_sources  # noqa: E402
from dustbench.synth.infrared import infrared_rng, sample_infrared  # noqa: E402
from dustbench.transforms import FilmDamage, replay  # noqa: E402

md = importlib.import_module("dustbench.data.make_dataset")  # the package attribute is the function

# opaque specks of a few px (a 2000-px frame): dark in infrared, and enough of them in a small crop
PRESET, SCALE = "dust_slide_extreme_sharp", 2000
KW = dict(seed=3, train_patches=6, patch=64, presets=PRESET, scan_scale=SCALE)
FILM = "colour_negative"


def _make(out: Path, **over):
    mp = pytest.MonkeyPatch()
    mp.setattr(md, "TRAIN_CHUNK", 2)  # 6 patches -> 3 chunks, so --num-proc 2 has work to share
    try:
        return make_dataset(DatasetConfig(clean="builtin", out=str(out), **{**KW, **over}), progress=False)
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """The same dataset with and without the infrared column."""
    root = tmp_path_factory.mktemp("ir_ds")
    _make(root / "ir", infrared=FILM)
    _make(root / "plain")
    return root / "ir", root / "plain"


def digest(out: Path) -> dict[str, str]:
    """md5 of every file of the saved DatasetDict (not the card, which records the command)."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and ".work" not in p.parts and p.parent != out)
    return {str(p.relative_to(out)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


# --- make-dataset --------------------------------------------------------------------------------

def test_make_dataset_stores_the_plane_and_its_record_rebuilds_it(made):
    ir_ds, _ = made
    assert "infrared" in datasets.load_from_disk(str(ir_ds))["test"].features
    for split in ("train", "validation", "test"):
        for row in iter_split(ir_ds, split):
            plane, params = row["infrared"], json.loads(row["params"])
            assert plane.dtype == np.uint16 and plane.shape == row["damaged"].shape[:2]
            assert params["infrared"] == sample_infrared(FILM, infrared_rng(row["sample_seed"]))  # the row's own key
            assert np.array_equal(regenerate(row["clean"], params).infrared, plane)  # byte for byte
    row = next(iter_split(ir_ds, "test"))
    opaque = row["mask"] > 0.5 * np.iinfo(row["mask"].dtype).max
    assert opaque.sum() > 20 and np.mean(row["infrared"][opaque] < 0.8 * np.median(row["infrared"])) > 0.8
    tensor = as_torch(ir_ds)["test"][0]["infrared"]
    assert tuple(tensor.shape) == (1, *row["infrared"].shape) and str(tensor.dtype) == "torch.float32"
    assert np.allclose(tensor[0].numpy(), row["infrared"] / 65535.0, atol=1e-7)
    manifest = json.loads((ir_ds / "dustbench.json").read_text())
    assert manifest["infrared"] == FILM and manifest["config"]["infrared"] == FILM
    card = (ir_ds / "README.md").read_text()
    assert "`infrared`" in card and f"`{FILM}`" in card and f"--infrared {FILM}" in card


def test_every_other_column_keeps_its_bytes(made):
    ir_ds, plain_ds = made
    for split in ("train", "validation", "test"):
        a, b = load_split(ir_ds, split), load_split(plain_ds, split)
        assert "infrared" not in b.features and len(a) == len(b)
        for x, y in zip(a, b):
            px, py = json.loads(x.pop("params")), json.loads(y.pop("params"))
            assert x.pop("infrared") is not None and x == y  # raw PNG bytes of every image column
            assert px.pop("infrared") and px == py
    plain = DatasetConfig(clean="builtin", out="o", **KW)
    assert "infrared" not in plain.identity() and "--infrared" not in plain.cli()  # older datasets resume
    with pytest.raises(DustbenchError, match="other settings"):
        _make(plain_ds, infrared=FILM)


def test_num_proc_2_gives_the_same_bytes(made, tmp_path):
    ir_ds, _ = made
    _make(tmp_path / "p2", infrared=FILM, num_proc=2)
    assert digest(tmp_path / "p2") == digest(ir_ds)


def test_evaluate_hands_the_plane_to_the_infrared_track(made, tmp_path, capsys):
    ir_ds, plain_ds = made
    assert main(["evaluate", "infrared_clean", "--data", str(ir_ds), "--out", str(tmp_path / "ev"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "ev" / "summary.json").read_text())
    metrics = summary["metrics"]
    assert summary["needs_infrared"] and summary["data"]["n_images"] == 1
    assert metrics["psnr"]["mean"] > metrics["psnr_input"]["mean"] + 3.0  # the plane found the specks
    capsys.readouterr()
    assert main(["evaluate", "infrared_clean", "--data", str(plain_ds), "--out", str(tmp_path / "no"), "--quiet"]) == 2
    assert "infrared plane" in capsys.readouterr().err


def test_a_plane_of_the_wrong_size_is_named(made, tmp_path):
    ir_ds, _ = made
    dd = datasets.load_from_disk(str(ir_ds))
    small = {"bytes": encode_image(np.zeros((10, 10), np.uint16)), "path": None}
    test = dd["test"].cast_column("infrared", datasets.Image(decode=False)).map(lambda r: {"infrared": small})
    datasets.DatasetDict({"test": test}).save_to_disk(str(tmp_path / "broken"))
    data = open_data(str(tmp_path / "broken"))
    with pytest.raises(DustbenchError, match=r"test-0000000: the infrared plane is \(10, 10\)"):
        data.get(data.ids()[0])


def test_an_unknown_film_is_a_one_line_error(tmp_path, capsys):
    out = tmp_path / "x"
    rc = main(["make-dataset", "--clean", "builtin", "--out", str(out), "--train-patches", "2", "--patch", "64",
               "--infrared", "silver", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "unknown film type 'silver'" in err and "silver_bw" in err
    assert not out.exists()


# --- FilmDamage ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def frame():
    return np.ascontiguousarray(read_image(builtin_sources()[0].path)[40:340, 10:460])  # 300×450 RGB uint8


def _damage(**kw):
    return FilmDamage(PRESET, scan_scale=SCALE, seed=3, **kw)


def test_the_plane_leaves_the_damage_alone_and_replays(frame):
    plain, with_ir = _damage(), _damage(infrared=FILM)
    planes = []
    for _ in range(3):
        a, b = plain(image=frame), with_ir(image=frame)
        assert b["infrared"].dtype == np.uint16 and b["infrared"].shape == frame.shape[:2]
        assert all(np.array_equal(a[k], b[k]) for k in ("image", "clean", "mask", "labels"))
        record = dict(b["damage_params"])
        assert record.pop("infrared") == sample_infrared(FILM, infrared_rng(record["seed"]))  # the sample's own key
        assert record == a["damage_params"]
        assert np.array_equal(replay(b["clean"], json.dumps(b["damage_params"]))["infrared"], b["infrared"])
        planes.append(b["infrared"])
    assert not np.array_equal(planes[0], planes[1])  # each sample its own plane
    grey = _damage(infrared="slide")(image=frame[..., 1].astype(np.uint16) * 257)
    assert grey["infrared"].shape == frame.shape[:2] and "infrared" in _damage().get_transform_init_args_names()
    with pytest.raises(DustbenchError, match="unknown film type"):
        FilmDamage(infrared="agfa")


PIPELINES = {"whole": [], "crop_flip": ["Crop", "HorizontalFlip"], "crop_transpose": ["Crop", "Transpose"],
             "crop_rotate": ["Crop", "Rotate"]}


@pytest.mark.parametrize("pipeline", PIPELINES)
def test_the_plane_is_dark_where_the_damage_is(frame, pipeline):
    """Opaque damage is dark in the plane and clear pixels are not, after crops, flips, turns and
    rotations before the transform (a plane left in the box's orientation would miss the mask)."""
    A = pytest.importorskip("albumentations")
    steps = {"Crop": lambda: A.Crop(60, 20, 380, 270), "HorizontalFlip": lambda: A.HorizontalFlip(p=1),
             "Transpose": lambda: A.Transpose(p=1), "Rotate": lambda: A.Rotate(limit=(20, 35), p=1)}
    opaque_px = 0
    for seed in range(2):
        aug = A.Compose([steps[s]() for s in PIPELINES[pipeline]] + [_damage(infrared=FILM)],
                        save_applied_params=True, seed=seed)
        out = aug(image=frame)
        ir, mask = out["infrared"].astype(np.float64), out["mask"]
        assert ir.shape == mask.shape == out["image"].shape[:2]
        level = np.median(ir)
        opaque = mask > 0.5
        opaque_px += int(opaque.sum())
        assert np.mean(ir[opaque] < 0.8 * level) > 0.9 and np.mean(ir[mask == 0] < 0.8 * level) < 0.02
        assert np.array_equal(replay(out["clean"], out["damage_params"])["infrared"], out["infrared"])
    assert opaque_px > 40


def test_undamaged_samples_get_the_field_and_silver_shows_the_picture(frame):
    luma = (frame.astype(np.float64) @ [0.299, 0.587, 0.114]).ravel()
    dye = _damage(infrared=FILM, p=0.0)(image=frame)
    assert not dye["damage_params"]["applied"] and np.array_equal(dye["image"], frame)
    field = dye["infrared"].astype(np.float64)
    assert field.std() < 0.03 * field.mean() and abs(np.corrcoef(field.ravel(), luma)[0, 1]) < 0.3
    for p in (0.0, 1.0):  # silver absorbs infrared as it absorbs light: the picture, dense where bright
        silver = _damage(infrared="silver_bw", p=p)(image=frame)["infrared"].astype(np.float64)
        assert np.corrcoef(silver.ravel(), luma)[0, 1] < -0.8 and silver.std() > 10 * field.std()


def test_grey_images_as_hxwx1_take_every_film(frame):
    grey = frame[..., 1:2]  # H×W×1: its one channel is the red and the luma of silver and Kodachrome
    for film in ("silver_bw", "kodachrome"):
        plane = _damage(infrared=film, p=0.0)(image=grey)["infrared"].astype(np.float64)
        flat = _damage(infrared=film, p=0.0)(image=grey[..., 0])["infrared"].astype(np.float64)
        assert np.array_equal(plane, flat)  # H×W×1 and H×W: the same plane
        corr = np.corrcoef(plane.ravel(), grey.ravel().astype(np.float64))[0, 1]
        assert (corr < -0.8) if film == "silver_bw" else (corr > 0.8)  # Kodachrome: dense where red is low
