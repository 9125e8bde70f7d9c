"""What a data string means is decided once (dustbench.data_spec) and every opener follows it."""
from __future__ import annotations

import numpy as np
import pytest

from dustbench.data.eval_data import open_data
from dustbench.data_spec import DataSpec, parse_data_spec
from dustbench.errors import DustbenchError
from dustbench.io import write_image
from dustbench.sources import open_sources


def _pairs(root, n=1):
    for sub in ("damaged", "clean"):
        for i in range(n):
            write_image(root / sub / f"{i}.png", np.full((8, 8, 3), 50 + i, np.uint8))
    return root


@pytest.mark.parametrize("text, kind, arg", [
    ("builtin", "builtin", ""), ("builtin-v2", "builtin-v2", ""), ("builtin-train", "builtin-train", ""),
    ("procedural", "procedural", ""), ("procedural:text", "procedural", "text"),
    ("stream", "stream", ""), ("stream:ds", "stream", "ds"),
    ("stream:builtin-train+procedural", "stream", "builtin-train+procedural"),
    ("hf:org/name", "hub", ""), ("hf:org/name:train", "hub", "train"),
    ("no/such/folder", "missing", ""),
])
def test_names_and_prefixes(text, kind, arg):
    ds = parse_data_spec(text)
    assert (ds.kind, ds.arg) == (kind, arg)


def test_folders_by_what_they_hold(tmp_path):
    _pairs(tmp_path / "pairs")
    _pairs(tmp_path / "splits" / "validation")
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "dataset_dict.json").write_text("{}")
    (tmp_path / "scans").mkdir()
    (tmp_path / "a.png").write_bytes(b"x")
    kinds = {name: parse_data_spec(tmp_path / name).kind for name in ("pairs", "splits", "saved", "scans", "a.png")}
    assert kinds == {"pairs": "pairs", "splits": "split_pairs", "saved": "dataset", "scans": "folder", "a.png": "file"}
    assert parse_data_spec(tmp_path / "splits").splits() == ["validation"]
    named = parse_data_spec(f"{tmp_path / 'saved'}:train")
    assert (named.kind, named.arg, named.path) == ("dataset", "train", tmp_path / "saved")


@pytest.mark.parametrize("text, parts", [
    ("builtin-train+procedural:text", [("builtin-train", ""), ("procedural", "text")]),
    ("procedural:text+builtin-train", [("procedural", "text"), ("builtin-train", "")]),
    ("hf:a/b+hf:c/d:train", [("hub", ""), ("hub", "train")]),
])
def test_joined_whatever_part_comes_first(text, parts):
    assert [(p.kind, p.arg) for p in parse_data_spec(text).parts] == parts


def test_a_path_with_a_plus_is_a_path(tmp_path):
    (tmp_path / "a+b").mkdir()
    assert parse_data_spec(tmp_path / "a+b").kind == "folder"


def test_what_cannot_be_a_data_spec_is_refused_clearly():
    with pytest.raises(DustbenchError, match="expected a data name or a path, got a list"):
        parse_data_spec([1, 2])


def test_each_opener_refuses_kinds_it_cannot_use(tmp_path):
    from dustbench.data.train_sources import open_train_data
    from dustbench.sources.hf import hf_sources
    for name in ("builtin-v2", "stream"):
        with pytest.raises(DustbenchError, match="not a folder of clean images"):
            open_sources(name)
    with pytest.raises(DustbenchError, match="not a saved dataset or hf:NAME"):
        hf_sources("builtin")
    (tmp_path / "scans").mkdir()
    with pytest.raises(DustbenchError, match="expected 'stream', 'builtin-train'"):
        open_train_data(tmp_path / "scans")
    (tmp_path / "one").mkdir()
    (tmp_path / "one" / "state.json").write_text("{}")  # a single saved Dataset, not make-dataset's DatasetDict
    with pytest.raises(DustbenchError, match="expected 'stream', 'builtin-train'"):
        open_train_data(tmp_path / "one")


def test_joined_and_passthrough():
    ds = parse_data_spec("builtin-train+procedural:text")
    assert parse_data_spec(ds) is ds
    with pytest.raises(DustbenchError, match="empty part"):
        open_sources("builtin+")


def test_reserved_names_win_over_a_folder_of_that_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _pairs(tmp_path / "builtin")
    assert parse_data_spec("builtin").kind == "builtin"
    assert parse_data_spec("./builtin").kind == "pairs"


def test_openers_follow_the_spec(tmp_path):
    both = _pairs(tmp_path / "both", 2)
    _pairs(both / "test", 1)  # a split folder beside top-level pairs: the split is what --split names
    assert len(open_data(both, "test").ids()) == 1
    assert len(open_data(_pairs(tmp_path / "flat", 3)).ids()) == 3
    with pytest.raises(DustbenchError, match="--split validation needs"):
        open_data(tmp_path / "flat", "validation")
    assert len(open_sources(tmp_path / "flat" / "clean")) == 3
    with pytest.raises(DustbenchError, match="no such folder"):
        open_data(tmp_path / "nope")
    with pytest.raises(DustbenchError, match="no such folder"):
        open_sources(tmp_path / "nope")
    (tmp_path / "f.png").write_bytes(b"x")
    with pytest.raises(DustbenchError, match="not a folder"):
        open_sources(tmp_path / "f.png")


def test_dataset_with_split_suffix_is_explained_for_data(tmp_path):
    (tmp_path / "saved").mkdir()
    (tmp_path / "saved" / "dataset_dict.json").write_text("{}")
    with pytest.raises(DustbenchError, match="--split train"):
        open_data(f"{tmp_path / 'saved'}:train")


def test_repr_shows_only_what_is_set():
    assert repr(DataSpec("stream", "stream")) == "DataSpec(kind='stream', text='stream')"
