"""Hostile model files: no code they carry may run, through any entry point that loads a model.

Each archive is crafted at test time from a real ``torch.export`` program by one known route to
code execution; the payload would create a marker file. Where plain ``torch.export.load`` runs the
payload, a subprocess proves it first, so the test cannot pass on an archive that is harmless.
"""
from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch
from torch import nn

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.io import write_image
from dustbench.methods import load_model_file
from dustbench.safe_torch import UnsafeModelError, check_export_archive


class Shift(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.register_buffer("gain", torch.ones(1))

    def forward(self, x):
        return torch.clamp(x + 0.01 * self.conv(x) * self.gain + torch.tensor(0.0), 0, 1)


class Payload:
    """Unpickling this runs ``touch MARKER``."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _pickled(marker) -> bytes:
    buf = io.BytesIO()
    torch.save(Payload(marker), buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def good_pt2(tmp_path_factory):
    path = tmp_path_factory.mktemp("good") / "good.pt2"
    h, w = torch.export.Dim("h", min=4, max=8192), torch.export.Dim("w", min=4, max=8192)
    program = torch.export.export(Shift().eval(), (torch.rand(1, 3, 16, 16),), dynamic_shapes=({2: h, 3: w},))
    torch.export.save(program, str(path))
    return path


def _edit_json(files, key, fn):
    files[key] = json.dumps(fn(json.loads(files[key]))).encode()


def _pickle_entry(kind):
    def edit(files, top, marker):
        key = f"{top}/data/{kind}/model_{kind}_config.json"
        config = json.loads(files[key])
        name = next(iter(config["config"]))
        config["config"][name]["use_pickle"] = True
        files[key] = json.dumps(config).encode()
        files[f"{top}/data/{kind}/{config['config'][name]['path_name']}"] = _pickled(marker)
    return edit


def _sample_inputs(files, top, marker):
    files[f"{top}/data/sample_inputs/model.pt"] = _pickled(marker)


def _legacy_weights(files, top, marker):
    files[f"{top}/data/weights/model.pt"] = _pickled(marker)  # torch's 2.7-format fallback


def _opaque_constant(files, top, marker):
    def fn(config):
        name = next(iter(config["config"]))
        config["config"][name]["path_name"] = "opaque_obj_0"
        return config
    _edit_json(files, f"{top}/data/constants/model_constants_config.json", fn)
    files[f"{top}/data/constants/opaque_obj_0"] = _pickled(marker)


def _guards(files, top, marker):
    def fn(program):
        program["guards_code"] = [f"__import__('os').system('touch {marker}') == 0"]
        return program
    _edit_json(files, f"{top}/models/model.json", fn)


def _quoted_guard(files, top, marker):  # breaks out of the message literal torch pastes it into
    def fn(program):
        program["guards_code"] = [f"L['x'].size()[0] == 'a\") or __import__(\"os\").system(\"touch {marker}\") or (\"'"]
        return program
    _edit_json(files, f"{top}/models/model.json", fn)


def _expression(files, top, marker):
    def fn(program):
        rc = program["range_constraints"]
        rc[f"__import__('os').system('touch {marker}')"] = rc.pop(next(iter(rc)))
        return program
    _edit_json(files, f"{top}/models/model.json", fn)


def _target(files, top, marker):
    def fn(program):
        program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.os.system"
        return program
    _edit_json(files, f"{top}/models/model.json", fn)


CASES = {"pickled_weight": _pickle_entry("weights"), "pickled_constant": _pickle_entry("constants"),
         "sample_inputs": _sample_inputs, "legacy_weights": _legacy_weights, "opaque_constant": _opaque_constant,
         "guards_code": _guards, "quoted_guard": _quoted_guard, "sympy_expression": _expression,
         "call_target": _target}
# Routes that plain torch.export.load(...).module()(x) follows all the way to the payload (measured).
RUNS_UNDER_PLAIN_TORCH = ("pickled_weight", "pickled_constant", "sample_inputs", "guards_code")


def craft(good, dst, case, marker):
    with zipfile.ZipFile(good) as z:
        files = {n: z.read(n) for n in z.namelist()}
    top = next(iter(files)).split("/")[0]
    CASES[case](files, top, marker)
    with zipfile.ZipFile(dst, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return dst


@pytest.mark.parametrize("case", RUNS_UNDER_PLAIN_TORCH)
def test_the_crafted_archives_do_run_code_under_plain_torch(case, good_pt2, tmp_path):
    marker = tmp_path / "ran"
    path = craft(good_pt2, tmp_path / "evil.pt2", case, marker)
    code = f"import torch; torch.export.load({str(path)!r}).module()(torch.rand(1, 3, 16, 16))"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert marker.exists(), "the crafted archive is harmless: the test would prove nothing"


def test_a_real_export_passes_the_inspection(good_pt2):
    check_export_archive(good_pt2)
    image = np.random.default_rng(0).random((20, 24, 3), dtype=np.float32)
    assert load_model_file(good_pt2)(image).shape == image.shape


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_library_loader_refuses_and_runs_nothing(case, suffix, good_pt2, tmp_path):
    marker = tmp_path / "ran"
    path = craft(good_pt2, tmp_path / f"evil{suffix}", case, marker)
    with pytest.raises(UnsafeModelError, match=rf"evil\{suffix}\b.*: refusing to load it, refused as unsafe"):
        load_model_file(path)
    assert not marker.exists()


@pytest.mark.parametrize("case", ["pickled_weight", "sample_inputs", "guards_code", "legacy_weights"])
def test_every_cli_entry_point_refuses_and_runs_nothing(case, good_pt2, tmp_path, capsys):
    marker = tmp_path / "ran"
    path = craft(good_pt2, tmp_path / "evil.pt2", case, marker)
    scan = tmp_path / "scan.png"
    write_image(scan, np.full((24, 24, 3), 128, np.uint8))
    commands = {"evaluate": ["evaluate", str(path), "--data", "builtin", "--out", str(tmp_path / "ev"), "--quiet"],
                "restore": ["restore", str(path), str(scan), "--out", str(tmp_path / "re"), "--quiet"],
                "export": ["export", str(path), "--out", str(tmp_path / "out.pt")]}
    for name, argv in commands.items():
        assert main(argv) == 2, name
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "evil.pt2" in err, (name, err)
        assert not marker.exists(), name
    assert not (tmp_path / "re" / "scan.png").exists() and not (tmp_path / "out.pt").exists()


def test_pickled_checkpoint_is_refused_as_unsafe(tmp_path):
    marker = tmp_path / "ran"
    path = tmp_path / "evil.ckpt"
    torch.save({"format": "dustbench-checkpoint", "model": "dust_gan", "config": {}, "state_dict": {},
                "x": Payload(marker)}, path)
    with pytest.raises(UnsafeModelError, match=r"evil\.ckpt: refusing.*unsafe.*posix\.system"):
        load_model_file(path)
    assert not marker.exists()
    with pytest.raises(DustbenchError, match="unsafe"):
        from dustbench.models.checkpoint import read_checkpoint
        read_checkpoint(path)
    assert not marker.exists()
