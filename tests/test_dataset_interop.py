"""make-dataset in a researcher's torch code and on the Hub: a folder of mixed grey and RGB scans
gives rows that a plain DataLoader batches (--channels), a Hugging Face DatasetCard, and the exact
folder --push-to-hub uploads (which `datasets.load_dataset` reads back)."""
from __future__ import annotations

import importlib
import json

import cv2
import datasets
import numpy as np
import pytest
from huggingface_hub import DatasetCard
from torch.utils.data import DataLoader

from dustbench.cli import main
from dustbench.data import DatasetConfig, as_torch, iter_split, load_split, make_dataset
from dustbench.data.hub import dataset_files
from dustbench.hub import push, stage, staged_files
from dustbench.io import write_image
from dustbench.synth import families_present

md = importlib.import_module("dustbench.data.make_dataset")
KW = dict(seed=0, train_patches=12, patch=32, val_images=1, test_images=1, presets="dust_slide_light_soft,hair_and_lint_mix")


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Six smooth random 8-bit scans: three RGB, three grey (H×W), of a few sizes."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(5)
    images = {}
    for i in range(6):
        image = cv2.GaussianBlur((rng.random((64 + 4 * i, 70, 3)) * 255).astype(np.uint8), (7, 7), 2)
        images[f"scan{i}.png"] = image[:, :, 1].copy() if i % 2 else image
        write_image(folder / f"scan{i}.png", images[f"scan{i}.png"])
    return folder, images


def build(scans, tmp_path_factory, channels: str):
    folder, _ = scans
    out = tmp_path_factory.mktemp(f"ds{channels}") / "out"
    mp = pytest.MonkeyPatch()
    mp.setattr(md, "TRAIN_CHUNK", 8)
    try:
        make_dataset(DatasetConfig(clean=str(folder), out=str(out), channels=channels, **KW), progress=False)
    finally:
        mp.undo()
    return out


@pytest.fixture(scope="module")
def rgb_ds(scans, tmp_path_factory):
    return build(scans, tmp_path_factory, "3")


def test_mixed_grey_and_rgb_rows_batch_through_a_plain_dataloader(scans, rgb_ds):
    _, images = scans
    train_sources = {r["source"] for r in iter_split(rgb_ds, "train")}
    assert {images[s].ndim for s in train_sources} == {2, 3}, "the train split should mix grey and RGB sources"
    views = {"as_torch": as_torch(rgb_ds)["train"], "with_format": datasets.load_from_disk(str(rgb_ds))["train"]
             .with_format("torch")}
    for name, view in views.items():  # the default collate_fn, every column
        batch = next(iter(DataLoader(view, batch_size=12)))
        assert batch["damaged"].shape == batch["clean"].shape == (12, 3, 32, 32), name
        assert batch["mask"].shape == (12, 1, 32, 32) and batch["box"].shape == (12, 4), name
        assert len(batch["families"]) == len(batch["id"]) == 12, name
    for row in iter_split(rgb_ds, "train"):  # clean is the source crop, a grey one repeated to RGB
        y0, x0, h, w = row["box"]
        source = images[row["source"]][y0:y0 + h, x0:x0 + w]
        want = np.repeat(source[:, :, None], 3, axis=2) if source.ndim == 2 else source
        np.testing.assert_array_equal(row["clean"], want)
        assert row["families"] == families_present(row["labels"])  # a list again, read back from one string
    manifest = json.loads((rgb_ds / "dustbench.json").read_text())
    assert manifest["channels"] == "3" and manifest["image_channels"] == [3] and manifest["format_version"] == 2
    assert "`--channels 3`" in (rgb_ds / "README.md").read_text()


def test_channels_1_stores_bt601_grey_and_keep_warns_that_rows_will_not_batch(scans, tmp_path_factory, capsys):
    _, images = scans
    grey = build(scans, tmp_path_factory, "1")
    for row in iter_split(grey, "train"):
        y0, x0, h, w = row["box"]
        source = images[row["source"]][y0:y0 + h, x0:x0 + w].astype(np.float64)
        want = source if source.ndim == 2 else source @ np.array([0.299, 0.587, 0.114])
        assert row["clean"].ndim == 2 and np.abs(row["clean"] - np.rint(want)).max() <= 1
    batch = next(iter(DataLoader(as_torch(grey)["train"], batch_size=12)))
    assert batch["damaged"].shape == (12, 1, 32, 32)
    capsys.readouterr()
    kept = build(scans, tmp_path_factory, "keep")
    assert "--channels keep: the sources mix grey and RGB" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        next(iter(DataLoader(as_torch(kept)["train"], batch_size=12)))


def test_dataset_card_parses_as_a_hugging_face_dataset_card(rgb_ds):
    card = DatasetCard.load(rgb_ds / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "other" and "dustbench" in data["tags"] and data["task_categories"] == ["image-to-image"]
    assert data["size_categories"] == ["n<1K"]
    # "other" needs a name and a link (the Hub's metadata check); the link points at the card's own table
    assert data["license_name"] and data["license_link"] == "README.md#sources-and-licences"
    assert "\n## Sources and licences\n" in card.text
    assert data["configs"][0]["data_files"][0] == {"split": "train", "path": "train/data-*.arrow"}
    info = datasets.DatasetInfo._from_yaml_dict(data["dataset_info"])  # datasets' own parser
    saved = datasets.load_from_disk(str(rgb_ds))
    assert info.features == saved["train"].features
    assert {s: info.splits[s].num_examples for s in saved} == {s: len(saved[s]) for s in saved}
    assert "## Counts per family" in card.text


def test_push_folder_is_the_finished_dataset_and_load_dataset_reads_it(rgb_ds, tmp_path):
    files = dataset_files(rgb_ds)
    assert not any(".work" in name for name in files)
    staged = stage(files, tmp_path / "staged")
    assert staged_files(staged) == sorted(files)
    assert {"README.md", "dustbench.json", "preview.png", "train/state.json"} <= set(files)
    hub = datasets.load_dataset(str(staged), cache_dir=str(tmp_path / "cache"))  # what load_dataset(REPO) does
    saved = datasets.load_from_disk(str(rgb_ds))
    assert {s: len(hub[s]) for s in hub} == {s: len(saved[s]) for s in saved}
    assert hub["train"].features == saved["train"].features
    raw = load_split(rgb_ds, "test")[0]["clean"]["bytes"]
    assert hub["test"].cast_column("clean", datasets.Image(decode=False))[0]["clean"]["bytes"] == raw


def test_cli_push_to_hub_dry_run_and_the_push_call(rgb_ds, scans, tmp_path, monkeypatch, capsys):
    folder, _ = scans
    args = ["make-dataset", "--clean", str(folder), "--out", str(rgb_ds), "--train-patches", "12", "--patch", "32",
            "--presets", KW["presets"], "--quiet", "--push-to-hub", "me/dust"]
    pushed = []
    monkeypatch.setattr("dustbench.cli._args.push",
                        lambda folder, repo, kind, **kw: pushed.append((staged_files(folder), repo, kind)) or "url")
    assert main(args + ["--dry-run"]) == 0  # the dataset is finished: only the push step runs
    assert "dry run: would push" in capsys.readouterr().out and not pushed
    assert main(args) == 0
    assert pushed == [(sorted(dataset_files(rgb_ds)), "me/dust", "dataset")]
    assert main(["make-dataset", "--clean", str(folder), "--out", str(tmp_path / "x"), "--dry-run"]) == 2

    calls = []

    class FakeApi:  # the thin call: create the repository, upload the staged folder
        def __init__(self, token=None):
            calls.append(("init", token))

        def create_repo(self, repo, **kw):
            calls.append(("create_repo", repo, kw))
            return f"https://huggingface.co/datasets/{repo}"

        def upload_folder(self, **kw):
            calls.append(("upload_folder", kw))

    monkeypatch.setattr("huggingface_hub.HfApi", FakeApi)
    staged = stage({"README.md": rgb_ds / "README.md"}, tmp_path / "one")
    assert push(staged, "me/dust", "dataset", private=True) == "https://huggingface.co/datasets/me/dust"
    assert calls[1] == ("create_repo", "me/dust", {"repo_type": "dataset", "private": True, "exist_ok": True})
    assert calls[2][1]["folder_path"] == str(staged) and calls[2][1]["repo_type"] == "dataset"
