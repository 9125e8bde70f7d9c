"""Hostile archives and TorchScript operators (issue #25, items 1 and 2).

* A zip that holds a member twice: :mod:`zipfile` reads one copy and torch's zip reader (miniz)
  another, so a check that reads the harmless copy let torch run the other one's guard code.
* A TorchScript ``forward`` that calls a file-touching operator (``torch.from_file(...,
  shared=True)`` writes into an existing file, ``torch.save`` creates one) or an operator from an
  extension library. Each file is proven to do its harm under plain torch first, in this process,
  so a test cannot pass on a harmless file.
"""
from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
import zipfile
from typing import Tuple

import numpy as np
import pytest
import torch
from torch import nn

from dustbench.cli import main
from dustbench.methods import load_model_file
from dustbench.safe_torch import UnsafeModelError, open_archive

from test_hostile_models import good_pt2  # noqa: F401 (fixture)

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore:Duplicate name:UserWarning")

VICTIM_BYTES = b"the user's own file\n"


# -- duplicate and ambiguous zip members -----------------------------------------------------------
def _rewrite(src, dst, edit):
    """Copy the zip ``src`` to ``dst`` with ``edit(list of (name, bytes))`` applied to its members."""
    with zipfile.ZipFile(src) as z:
        members = [(n, z.read(n)) for n in z.namelist()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate it writes
        with zipfile.ZipFile(dst, "w") as z:
            for name, data in edit(members):
                z.writestr(name, data)
    return dst


def _evil_program(data: bytes, marker) -> bytes:
    program = json.loads(data)
    program["guards_code"] = [f"__import__('os').system('touch {marker}') == 0"]
    return json.dumps(program).encode()


def _twice(marker):
    """models/model.json twice: the evil copy first (torch reads it), the harmless one last
    (what zipfile returns for the name)."""
    def edit(members):
        out = []
        for name, data in members:
            if name.endswith("/models/model.json"):
                out.append((name, _evil_program(data, marker)))
            out.append((name, data))
        return out
    return edit


def test_the_duplicate_member_archive_runs_code_under_plain_torch(good_pt2, tmp_path):  # noqa: F811
    marker = tmp_path / "ran"
    path = _rewrite(good_pt2, tmp_path / "twice.pt2", _twice(marker))
    with zipfile.ZipFile(path) as z:  # zipfile sees the harmless copy...
        name = next(n for n in z.namelist() if n.endswith("/models/model.json"))
        assert b"touch" not in z.read(name)
    code = f"import torch; torch.export.load({str(path)!r}).module()(torch.rand(1, 3, 16, 16))"
    subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=300)
    assert marker.exists(), "...but torch must run the other copy, or this file proves nothing"


@pytest.mark.parametrize("suffix", [".pt2", ".pt"])
def test_duplicate_member_archive_is_refused_and_runs_nothing(suffix, good_pt2, tmp_path, capsys):  # noqa: F811
    marker = tmp_path / "ran"
    path = _rewrite(good_pt2, tmp_path / f"twice{suffix}", _twice(marker))
    with pytest.raises(UnsafeModelError, match=rf"twice\{suffix}: refusing.*appears twice"):
        load_model_file(path)(np.full((16, 16, 3), 0.5, np.float32))
    argv = ["evaluate", str(path), "--data", "builtin", "--limit", "1", "--out", str(tmp_path / "ev"), "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"twice{suffix}" in err and "appears twice" in err, err
    assert not marker.exists()


def test_torchscript_file_with_a_duplicate_member_is_refused(tmp_path):
    good = tmp_path / "good.pt"
    torch.jit.script(nn.Conv2d(3, 3, 1)).save(str(good))
    path = _rewrite(good, tmp_path / "twice.pt",
                    lambda members: members + [m for m in members if "/code/" in m[0] and m[0].endswith(".py")])
    with pytest.raises(UnsafeModelError, match=r"twice\.pt: refusing.*/code/.*appears twice"):
        load_model_file(path)


def _zip(names, **kwargs) -> bytes:
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        with zipfile.ZipFile(buf, "w", **kwargs) as z:
            for name in names:
                z.writestr(zipfile.ZipInfo(name), b"x")
    return buf.getvalue()


@pytest.mark.parametrize("names", [
    ["m/a.json", "m/a.json"], ["m/a.json", "m/A.JSON"], ["m/a.json", "m/./a.json"], ["m/b/../a.json"],
    ["m/a.json", "m/x\\a.json"], ["/m/a.json"], ["m//a.json"], ["m/a.json#evil"]],
    ids=["duplicate", "case", "dot", "dotdot", "backslash", "absolute", "empty", "nul"])
def test_ambiguous_member_names_are_refused(names, tmp_path):
    path = tmp_path / "odd.pt"
    path.write_bytes(_zip(names).replace(b"json#", b"json\0"))  # zipfile cannot write a NUL in a name itself
    with pytest.raises(UnsafeModelError, match=r"odd\.pt: refusing.*zip member"):
        open_archive(path)


@pytest.mark.parametrize("layout", ["prepended", "comment"])
def test_archives_that_readers_could_place_differently_are_refused(layout, tmp_path):
    data = _zip(["m/a.json"])
    path = tmp_path / "odd.pt"
    path.write_bytes(b"junk" * 8 + data if layout == "prepended" else data[:-2] + b"\x04\x00abcd")
    assert zipfile.ZipFile(path).read("m/a.json") == b"x"  # zipfile itself reads it
    with pytest.raises(UnsafeModelError, match=r"odd\.pt: refusing"):
        open_archive(path)


def test_plain_archives_pass(tmp_path):
    path = tmp_path / "ok.pt"
    path.write_bytes(_zip(["m/", "m/a.json", "m/b/a.json", "m/.data/version"]))
    with open_archive(path) as z:
        assert len(z.namelist()) == 4


# -- operators of TorchScript files ----------------------------------------------------------------
class FromFile(nn.Module):
    """Maps ``victim`` (which exists) and ``fresh`` (which does not) with shared=True and writes."""

    def __init__(self, victim: str, fresh: str):
        super().__init__()
        self.victim, self.fresh = victim, fresh
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x):
        mapped = torch.from_file(self.victim, shared=True, size=8, dtype=torch.uint8)
        mapped.fill_(88)
        created = torch.from_file(self.fresh, shared=True, size=8, dtype=torch.uint8)
        created.fill_(88)
        return self.conv(x) + (mapped.sum() + created.sum()).float() * 0


class _Writes(nn.Module):
    """A harmless convolution that knows the path its forward will try to create."""

    def __init__(self, fresh: str):
        super().__init__()
        self.fresh = fresh
        self.conv = nn.Conv2d(3, 3, 1)


class Save(_Writes):
    def forward(self, x):
        torch.save(x, self.fresh)
        return self.conv(x)


torch.library.define("dustbench_hostile::touch", "(Tensor x, str path) -> Tensor")


@torch.library.impl("dustbench_hostile::touch", "CompositeExplicitAutograd")
def _touch(x, path):
    open(path, "w").close()
    return x.clone()


class Extension(_Writes):
    def forward(self, x):
        return torch.ops.dustbench_hostile.touch(self.conv(x), self.fresh)


class SetState(nn.Module):
    """torch.jit.load runs ``__setstate__``, before the loaded module can be inspected."""

    def __init__(self, fresh: str):
        super().__init__()
        self.fresh = fresh

    def forward(self, x):
        return x * 1.0

    @torch.jit.export
    def __getstate__(self) -> Tuple[str, bool]:
        return self.fresh, self.training

    @torch.jit.export
    def __setstate__(self, state: Tuple[str, bool]) -> None:
        self.fresh, self.training = state
        torch.save(torch.zeros(1), self.fresh)


class Hooked(nn.Module):
    """Its forward is harmless; the forward pre-hook that runs before it is not."""

    def __init__(self, fresh: str):
        super().__init__()
        self.fresh = fresh
        self.conv = nn.Conv2d(3, 3, 1)
        self.register_forward_pre_hook(_save_input)

    def forward(self, x):
        return self.conv(x)


def _save_input(module: Hooked, inputs: Tuple[torch.Tensor]) -> None:
    torch.save(inputs[0], module.fresh)


def _hostile(case, tmp_path):
    """(saved TorchScript file, victim file, path that must not appear) for ``case``."""
    victim, fresh = tmp_path / "victim.bin", tmp_path / "created.bin"
    victim.write_bytes(VICTIM_BYTES)
    module = {"from_file": lambda: FromFile(str(victim), str(fresh)), "save": lambda: Save(str(fresh)),
              "extension": lambda: Extension(str(fresh)), "setstate": lambda: SetState(str(fresh)),
              "hook": lambda: Hooked(str(fresh))}[case]()
    path = tmp_path / f"{case}.pt"
    torch.jit.script(module.eval()).save(str(path))
    fresh.unlink(missing_ok=True)  # SetState's save ran it
    return path, victim, fresh


CASES = ["from_file", "save", "extension", "setstate", "hook"]
REFUSED = {"from_file": "aten::from_file", "save": "aten::save", "extension": "dustbench_hostile::touch",
           "setstate": "__setstate__", "hook": "aten::save"}


@pytest.mark.parametrize("case", CASES)
def test_the_hostile_scripts_do_harm_under_plain_torch(case, tmp_path):
    path, victim, fresh = _hostile(case, tmp_path)
    torch.jit.load(str(path))(torch.rand(1, 3, 8, 8))
    assert fresh.exists()
    if case == "from_file":
        assert victim.read_bytes() != VICTIM_BYTES


@pytest.mark.parametrize("case", CASES)
def test_library_loader_refuses_the_operator_and_runs_nothing(case, tmp_path):
    path, victim, fresh = _hostile(case, tmp_path)
    with pytest.raises(UnsafeModelError, match=rf"{case}\.pt.*: refusing.*{REFUSED[case]}"):
        load_model_file(path)(np.full((8, 8, 3), 0.5, np.float32))
    assert victim.read_bytes() == VICTIM_BYTES and not fresh.exists()


@pytest.mark.parametrize("case", ["from_file", "save"])
@pytest.mark.parametrize("command", ["evaluate", "restore"])
def test_cli_refuses_the_operator_in_one_line_and_runs_nothing(case, command, tmp_path, capsys):
    path, victim, fresh = _hostile(case, tmp_path)
    scan = tmp_path / "scan.png"
    from dustbench.io import write_image
    write_image(scan, np.full((16, 16, 3), 128, np.uint8))
    argv = {"evaluate": ["evaluate", str(path), "--data", "builtin", "--limit", "1", "--out", str(tmp_path / "ev")],
            "restore": ["restore", str(path), str(scan), "--out", str(tmp_path / "re")]}[command]
    assert main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"{case}.pt" in err and REFUSED[case] in err, err
    assert "Traceback" not in err
    assert victim.read_bytes() == VICTIM_BYTES and not fresh.exists()


class RawAlias(nn.Module):
    """aten::_reshape_alias takes strides unchecked: a view reaching outside the tensor's memory."""

    def forward(self, x):
        return torch.ops.aten._reshape_alias(x, [1], [1 << 20]) * 0 + x


@pytest.mark.parametrize("module,op", [(RawAlias(), "aten::_reshape_alias")])
def test_memory_escaping_internals_are_not_on_the_allow_list(module, op, tmp_path):
    path = tmp_path / "alias.pt"
    torch.jit.script(module.eval()).save(str(path))
    with pytest.raises(UnsafeModelError, match=op):
        load_model_file(path)


def test_an_oversized_member_is_refused_before_it_is_read(tmp_path, monkeypatch):
    """A zip bomb in place of code: refused by its declared size (limit lowered here to stay fast)."""
    import dustbench.model_archive as model_archive
    path = tmp_path / "big.pt"
    torch.jit.script(nn.Conv2d(3, 3, 1)).save(str(path))
    monkeypatch.setattr(model_archive, "_MEMBER_LIMIT", 64)
    with pytest.raises(UnsafeModelError, match="claims .* bytes"):
        load_model_file(path)


def test_torch_loads_the_very_bytes_that_were_checked(tmp_path, monkeypatch):
    """Read once: torch gets the checked bytes, not the path (a file swapped in between is not read)."""
    import io as _io
    path = tmp_path / "ok.pt"
    torch.jit.script(nn.Conv2d(3, 3, 1)).save(str(path))
    seen = []
    original = torch.jit.load
    monkeypatch.setattr(torch.jit, "load", lambda f, *a, **k: seen.append(type(f)) or original(f, *a, **k))
    load_model_file(path)(np.full((8, 8, 3), 0.5, np.float32))
    assert seen == [_io.BytesIO]
