"""Every ``>>>`` example in the package's docstrings runs, as written, and shows what it prints.

The modules are found by walking ``dustbench/`` for sources that contain ``>>>``, so a new module
with examples is checked without being listed here. Examples run with ELLIPSIS and
NORMALIZE_WHITESPACE, from the repository root (they name tracked files such as
``leaderboard/models/segnet.pt`` as a user in a checkout would; whatever they write goes to
``tempfile.mkdtemp()`` folders), with one OpenCV and one torch thread: on a small shared machine
two OpenMP threads made a two-step training run ten times slower.
"""
from __future__ import annotations

import doctest
import importlib
import io
import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # importing albumentations: no version check online

import torch  # noqa: E402,F401  (loaded first, so fixed_threads fixes its thread count too)

from dustbench.threads import fixed_threads  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dustbench"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# modules whose examples need an optional dependency (the dev extra installs it)
OPTIONAL = {"dustbench.transforms": "albumentations"}

pytestmark = pytest.mark.filterwarnings("ignore:.*perceptual loss off:UserWarning")


def modules_with_examples(package: Path = PACKAGE) -> list[str]:
    """Dotted names of the package's modules whose source holds a ``>>>`` example."""
    names = []
    for path in sorted(package.rglob("*.py")):
        if ">>>" not in path.read_text(encoding="utf-8"):
            continue
        parts = path.relative_to(package.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


MODULES = modules_with_examples()


def test_examples_are_found():
    assert MODULES, f"no module under {PACKAGE} has a >>> example: the walk is broken"
    for name in ("dustbench", "dustbench.fill", "dustbench.synth", "dustbench.methods", "dustbench.train",
                 "dustbench.evaluation.harness"):
        assert name in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name, monkeypatch):
    if name in OPTIONAL:
        pytest.importorskip(OPTIONAL[name])
    monkeypatch.chdir(ROOT)
    module = importlib.import_module(name)
    tests = [t for t in doctest.DocTestFinder().find(module, name) if t.examples]
    assert tests, f"{name}: its source has '>>>' but doctest found no example in its docstrings"
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = io.StringIO()
    with fixed_threads(1):
        for test in tests:
            runner.run(test, out=report.write)
    result = runner.summarize(verbose=False)
    assert result.attempted > 0, f"{name}: no example was run"
    assert result.failed == 0, f"{name}: {result.failed} of {result.attempted} examples failed\n{report.getvalue()}"
