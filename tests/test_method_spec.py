"""A method string is parsed once (dustbench.methods.spec) and the result travels on the Method."""
from __future__ import annotations

import numpy as np
import pytest

from dustbench import evaluate
from dustbench.errors import DustbenchError, UnknownNameError
from dustbench.methods import MethodSpec, load_method, parse_method_spec
from dustbench.methods.restore import restore


@pytest.mark.parametrize("text, kind, value", [
    ("median", "name", "median"),
    ("method:median", "name", "median"),
    ("file:median", "file", "median"),
    ("model.pt", "file", "model.pt"),
    ("runs/a/checkpoint", "file", "runs/a/checkpoint"),  # a folder separator: never a registered name
    ("medain", "name", "medain"),  # not a file: left to the registry's did-you-mean
])
def test_parse_kinds(text, kind, value):
    assert parse_method_spec(text) == MethodSpec(kind, value)


def test_objects_are_their_own_kind():
    assert parse_method_spec(lambda x: x).kind == "object"
    spec = MethodSpec("name", "identity")
    assert parse_method_spec(spec) is spec


def test_a_string_both_name_and_file_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "median").write_bytes(b"not a model")
    with pytest.raises(DustbenchError, match="method:median.*file:median"):
        parse_method_spec("median")
    assert load_method("method:median").name == "median"
    with pytest.raises(DustbenchError, match="unknown model file type"):  # file: means the file, named as it is
        load_method("file:median")


def test_an_existing_file_without_suffix_is_a_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "weights").write_bytes(b"x")
    assert parse_method_spec("weights") == MethodSpec("file", "weights")
    assert parse_method_spec("weights").path == tmp_path / "weights"


def test_empty_prefix_is_refused():
    with pytest.raises(DustbenchError, match="nothing after"):
        parse_method_spec("file:")


def test_unknown_name_keeps_did_you_mean():
    with pytest.raises(UnknownNameError, match="median"):
        load_method("method:medain")


def test_source_travels_on_the_method():
    assert load_method("median").source == MethodSpec("name", "median")
    assert load_method(lambda x: x).source.kind == "object"


def test_evaluate_and_restore_take_prefixed_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "identity").write_bytes(b"a file that shadows the name")
    with pytest.raises(DustbenchError, match="method:identity"):
        evaluate("identity", "builtin", limit=1, progress=False)
    res = evaluate("method:identity", "builtin", limit=1, progress=False, n_resamples=20)
    assert res.summary["method"] == "identity"
    scan = tmp_path / "scan.png"
    from dustbench.io import write_image
    write_image(scan, np.full((16, 16, 3), 128, np.uint8))
    done = restore("method:identity", [scan], tmp_path / "out", progress=False)
    assert [r.status for r in done] == ["written"]


def test_a_model_file_loaded_directly_is_keyed_on_its_bytes(tmp_path):
    torch = pytest.importorskip("torch")
    from dustbench.methods import load_model_file

    path = tmp_path / "net.pt"
    torch.jit.script(torch.nn.Identity()).save(str(path))
    method = load_model_file(path)
    assert method.source.kind == "file" and method.source.path == path
    res = evaluate(method, "builtin", limit=1, progress=False, n_resamples=20, out=tmp_path / "r")
    import json
    assert "model_sha256" in json.loads((tmp_path / "r" / "run.json").read_text())
    assert res.summary["method"].startswith("file:")
