"""Shared fixtures."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


@pytest.fixture
def load_benchmark(monkeypatch):
    """``load_benchmark(name)``: ``benchmarks/<name>.py`` loaded as a fresh module. The thread settings
    such a script makes in ``os.environ`` at import are undone after the test."""
    def load(name: str):
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            monkeypatch.setenv(var, "1")  # records the old value (or its absence), restored after the test
        spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
