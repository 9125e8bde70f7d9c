"""make-dataset: splits by source, same bytes for any --num-proc/--shard, resume, 16-bit round
trip, the dataset card, clean errors, Hugging Face sources."""
from __future__ import annotations

import hashlib
import importlib
import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest

from dustbench import regenerate
from dustbench.cli import main
from dustbench.data import DatasetConfig, as_torch, decode_image, decode_row, iter_split, load_split, make_dataset
from dustbench.errors import DustbenchError
from dustbench.io import encode_image, read_image, write_image
from dustbench.sources import open_sources
from dustbench.synth import FAMILIES

md = importlib.import_module("dustbench.data.make_dataset")  # the package attribute is the function

KW = dict(seed=1, train_patches=40, patch=64, val_images=1, test_images=1,
          presets="slide_scan_medium,negative_scan_heavy,scratches_all")


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(md, "TRAIN_CHUNK", 16)  # 40 patches -> 3 chunks (tasks are planned in the parent)


def digest(out: Path) -> dict[str, str]:
    """md5 of every file of the saved DatasetDict (not the card, which records the command)."""
    files = sorted(p for p in out.rglob("*") if p.is_file() and ".work" not in p.parts
                   and p.parent != out)
    return {str(p.relative_to(out)): hashlib.md5(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="module")
def builtin_ds(tmp_path_factory):
    out = tmp_path_factory.mktemp("ds") / "a"
    mp = pytest.MonkeyPatch()
    mp.setattr(md, "TRAIN_CHUNK", 16)
    try:
        report = make_dataset(DatasetConfig(clean="builtin", out=str(out), **KW), progress=False)
    finally:
        mp.undo()
    return out, report


def test_splits_are_disjoint_by_source_and_rows_have_the_right_shapes(builtin_ds):
    out, report = builtin_ds
    assert report.complete and report.rows == {"train": 40, "validation": 1, "test": 1}
    dd = datasets.load_from_disk(str(out))
    assert set(dd) == {"train", "validation", "test"}
    manifest = json.loads((out / "dustbench.json").read_text())
    by_split = {s: {r["source"] for r in dd[s].select_columns(["source"])} for s in dd}
    assert all(by_split[a].isdisjoint(by_split[b]) for a in dd for b in dd if a < b)
    plan = manifest["plan"]["splits"]
    for s in dd:
        assert by_split[s] <= {r["id"] for r in plan[s]}
    assert len(plan["train"]) == 3 and by_split["train"] == {r["id"] for r in plan["train"]}
    shapes = {r["id"]: read_image(r["path"]).shape for recs in plan.values() for r in recs}
    for row in iter_split(out, "test"):
        assert row["clean"].shape == shapes[row["source"]] and row["damaged"].dtype == np.uint8
        assert row["labels"].shape == row["clean"].shape[:2] and set(row["families"]) <= set(FAMILIES)
    train = load_split(out, "train")
    row = decode_row(train[7])
    assert row["clean"].shape == (64, 64, 3) and row["mask"].dtype == np.uint8
    src = read_image(next(r["path"] for r in plan["train"] if r["id"] == row["source"]))
    y0, x0, h, w = row["box"]
    assert np.array_equal(row["clean"], src[y0:y0 + h, x0:x0 + w])
    # the stored parameter record rebuilds the row exactly
    again = regenerate(row["clean"], json.loads(row["params"]))
    assert np.array_equal(again.damaged, row["damaged"])
    assert row["sample_seed"] == [1, 0, 7]


def test_with_format_torch_and_as_torch_work_for_training(builtin_ds):
    import torch
    out, _ = builtin_ds
    train = datasets.load_from_disk(str(out))["train"].with_format("torch")
    batch = next(iter(torch.utils.data.DataLoader(train.select_columns(["damaged", "clean", "mask"]), batch_size=4)))
    assert batch["damaged"].shape == (4, 3, 64, 64) and batch["damaged"].dtype == torch.uint8
    ft = as_torch(out)["train"]
    batch = next(iter(torch.utils.data.DataLoader(ft.select_columns(["damaged", "clean", "mask"]), batch_size=4)))
    assert batch["clean"].dtype == torch.float32 and batch["mask"].shape == (4, 1, 64, 64)
    assert 0.0 <= float(batch["clean"].min()) and float(batch["clean"].max()) <= 1.0


def test_card_lists_sources_licences_presets_counts_command_and_preview(builtin_ds):
    out, _ = builtin_ds
    card = (out / "README.md").read_text()
    manifest = json.loads((out / "dustbench.json").read_text())
    for source in open_sources("builtin"):
        assert source.id in card and source.licence in card
    for name in ("slide_scan_medium", "negative_scan_heavy", "scratches_all"):
        assert name in card
    assert "dustbench make-dataset --clean builtin" in card and "--seed 1" in card and "seed 1" in card
    assert "## Counts per family" in card and "| dust |" in card
    assert manifest["splits"]["train"]["rows_with"]["dust"] > 0
    assert "![preview](preview.png)" in card and read_image(out / "preview.png").ndim == 3
    assert "0 duplicate image(s)" in card


def test_same_bytes_for_any_num_proc_and_for_shards_with_resume(builtin_ds, tmp_path):
    ref, _ = builtin_ds
    b = tmp_path / "b"
    make_dataset(DatasetConfig(clean="builtin", out=str(b), num_proc=2, **KW), progress=False)
    assert digest(b) == digest(ref)
    c = tmp_path / "c"
    first = make_dataset(DatasetConfig(clean="builtin", out=str(c), shard=(1, 2), **KW), progress=False)
    assert not first.complete and first.pending > 0 and not (c / "dustbench.json").exists()
    # an interrupted write leaves only a temporary file, which is not a finished chunk
    (c / ".work" / "chunks" / ".0-train-000000.xyz.arrow.tmp").write_bytes(b"partial")
    second = make_dataset(DatasetConfig(clean="builtin", out=str(c), shard=(0, 2), **KW), progress=False)
    assert second.complete and second.resumed == 0
    assert digest(c) == digest(ref)
    assert not (c / ".work").exists()
    # re-running a finished dataset does nothing
    assert make_dataset(DatasetConfig(clean="builtin", out=str(c), **KW), progress=False).made == 0


def test_resume_skips_finished_chunks(tmp_path):
    out = tmp_path / "r"
    part = make_dataset(DatasetConfig(clean="builtin", out=str(out), shard=(0, 3), **KW), progress=False)
    rest = make_dataset(DatasetConfig(clean="builtin", out=str(out), **KW), progress=False)
    assert rest.complete and rest.resumed == part.made and rest.made + rest.resumed == 5
    with pytest.raises(DustbenchError, match="other settings"):
        make_dataset(DatasetConfig(clean="builtin", out=str(out), **{**KW, "seed": 2}), progress=False)


def scans16(folder: Path, n=4, shape=(150, 170, 3)) -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    images = []
    for i in range(n):
        img = rng.integers(0, 65536, shape, dtype=np.uint16)
        img[0, 0] = [1, 257, 65534]  # values that 8 bits cannot hold
        write_image(folder / f"scan{i}.png", img)
        images.append(img)
    return images


def test_16bit_rgb_round_trips_exactly(tmp_path):
    src = tmp_path / "scans"
    images = scans16(src)
    # the pitfall this format avoids: datasets.Image gives 8 bits back for 16-bit RGB
    pil = datasets.Dataset.from_dict({"im": [{"bytes": encode_image(images[0]), "path": None}]},
                                     features=datasets.Features({"im": datasets.Image()}))[0]["im"]
    assert np.asarray(pil).dtype == np.uint8
    assert np.array_equal(decode_image(encode_image(images[0])), images[0])
    out = tmp_path / "ds"
    make_dataset(DatasetConfig(clean=str(src), out=str(out), seed=0, train_patches=6, patch=64), progress=False)
    dd = datasets.load_from_disk(str(out))
    assert dd["test"].features["clean"] == datasets.Value("binary")
    assert json.loads((out / "dustbench.json").read_text())["storage"] == "png-bytes"
    for split in ("test", "validation", "train"):
        for row in iter_split(out, split):
            source = images[int(row["source"][4])]
            y0, x0, h, w = row["box"]
            assert row["clean"].dtype == np.uint16 and row["damaged"].dtype == np.uint16
            assert np.array_equal(row["clean"], source[y0:y0 + h, x0:x0 + w])
            assert row["mask"].dtype == np.uint16
    t = as_torch(out)["test"][0]
    row = next(iter_split(out, "test"))
    assert np.allclose(t["clean"].numpy().transpose(1, 2, 0), row["clean"] / 65535.0, atol=1e-7)
    assert "16-bit" in (out / "README.md").read_text()


def test_duplicates_and_small_images_are_dropped_and_counted(tmp_path):
    src = tmp_path / "scans"
    scans16(src, n=3, shape=(80, 90, 3))
    shutil.copy(src / "scan1.png", src / "zz_copy_of_scan1.png")
    write_image(src / "tiny.png", np.zeros((40, 300, 3), np.uint8))
    out = tmp_path / "ds"
    make_dataset(DatasetConfig(clean=str(src), out=str(out), train_patches=4, patch=64), progress=False)
    plan = json.loads((out / "dustbench.json").read_text())["plan"]
    assert plan["duplicates"] == [["zz_copy_of_scan1.png", "scan1.png"]]
    assert [t[0] for t in plan["too_small"]] == ["tiny.png"]
    card = (out / "README.md").read_text()
    assert "1 duplicate image(s)" in card and "1 image(s) smaller than the 64-px patch" in card


def test_clear_errors_before_any_work(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DustbenchError, match="no PNG, JPEG or TIFF"):
        make_dataset(DatasetConfig(clean=str(empty), out=str(tmp_path / "o1")), progress=False)
    with pytest.raises(DustbenchError, match="larger than every source image"):
        make_dataset(DatasetConfig(clean="builtin", out=str(tmp_path / "o2"), patch=4096), progress=False)
    with pytest.raises(DustbenchError, match="not enough source images: 5 usable"):
        make_dataset(DatasetConfig(clean="builtin", out=str(tmp_path / "o3"), test_images=5), progress=False)
    src = tmp_path / "scans"
    scans16(src, n=3, shape=(70, 70, 3))
    (src / "broken.png").write_bytes(b"\x89PNG not really")
    with pytest.raises(DustbenchError, match="broken.png"):
        make_dataset(DatasetConfig(clean=str(src), out=str(tmp_path / "o4"), train_patches=2, patch=64), progress=False)
    assert not (tmp_path / "o4" / ".work" / "chunks").exists()  # stopped before making anything
    make_dataset(DatasetConfig(clean=str(src), out=str(tmp_path / "o5"), train_patches=2, patch=64,
                               on_error="skip"), progress=False)
    assert "broken.png" in (tmp_path / "o5" / "README.md").read_text()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(DustbenchError, match="not empty"):
        make_dataset(DatasetConfig(clean="builtin", out=str(busy)), progress=False)


def test_hugging_face_sources_saved_to_disk_and_offline_hub(tmp_path):
    images = [s.load()[:200, :220] for s in open_sources("builtin")[:4]]
    ds = datasets.Dataset.from_dict({"image": [{"bytes": encode_image(im), "path": None} for im in images]},
                                    info=datasets.DatasetInfo(license="CC0-test",
                                                              features=datasets.Features({"image": datasets.Image()})))
    hf_dir = tmp_path / "hf"
    datasets.DatasetDict({"train": ds}).save_to_disk(str(hf_dir))
    out = tmp_path / "ds"
    make_dataset(DatasetConfig(clean=str(hf_dir), out=str(out), train_patches=4, patch=64), progress=False)
    row = next(iter_split(out, "test"))
    assert row["source"].startswith("hf:hf/train/")
    assert np.array_equal(row["clean"], images[int(row["source"][-7:])])
    assert "CC0-test" in (out / "README.md").read_text()
    with pytest.raises(DustbenchError, match="save_to_disk"):
        make_dataset(DatasetConfig(clean="hf:nobody/no-such-dataset", out=str(tmp_path / "x")), progress=False)


def test_cli(tmp_path, capsys):
    out = tmp_path / "cli"
    rc = main(["make-dataset", "--clean", "builtin", "--out", str(out), "--train-patches", "3", "--patch", "64",
               "--presets", "dust_slide_light_sharp", "--quiet"])
    assert rc == 0 and "dataset in" in capsys.readouterr().out
    args = ["make-dataset", "--clean", "builtin", "--out", str(tmp_path / "e"), "--train-patches", "2", "--patch", "64",
            "--presets", "dust_slide_light_sharp", "--quiet"]
    assert main(args + ["--test-images", "9"]) == 2
    assert "not enough source images" in capsys.readouterr().err
    assert main(args + ["--test-images", "2"]) == 0  # the failed attempt left nothing in the way
