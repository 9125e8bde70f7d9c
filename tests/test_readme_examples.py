"""The README's Python examples run as written, on tiny data made here (the names they leave to the
reader — clean, scan, my_fn, my_net, output, target — and a dataset at data/)."""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch

from dustbench.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def _identity_net() -> torch.nn.Module:
    net = torch.nn.Conv2d(3, 3, 1)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3).view(3, 3, 1, 1))
        net.bias.zero_()
    return net


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    assert main(["make-dataset", "--clean", "builtin", "--out", str(root / "data"), "--train-patches", "8",
                 "--patch", "64", "--val-images", "1", "--test-images", "1", "--quiet"]) == 0
    return root


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_python_block_runs(index, workdir, monkeypatch):
    assert len(BLOCKS) >= 2, "the README's Python examples were not found"
    monkeypatch.chdir(workdir)
    rng = np.random.default_rng(index)
    names = {
        "clean": rng.integers(0, 65535, (96, 144, 3), dtype=np.uint16),
        "scan": rng.integers(0, 255, (300, 400, 3), dtype=np.uint8),
        "my_fn": lambda image: image,
        "my_net": _identity_net(),
        "target": torch.rand(2, 3, 32, 32),
        "output": torch.rand(2, 3, 32, 32, requires_grad=True),
    }
    exec(compile(BLOCKS[index], f"README.md python block {index + 1}", "exec"), names)  # noqa: S102
