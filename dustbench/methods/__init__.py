"""Restoration methods: a registry of classical baselines, plus models loaded from files.

    >>> from dustbench.methods import list_methods, create_method
    >>> median = create_method("median", radius=2, threshold=8)
    >>> restored = median(image)            # float32 H×W×C in [0, 1] -> same shape and dtype

:func:`resolve_method` takes either a registered name or a model file path, for the CLI.
"""
from __future__ import annotations

from pathlib import Path

from . import classical  # noqa: F401  (registers identity, median, median_tuned, oracle_inpaint)
from .detect_inpaint import DetectInpaint, detection_scores  # detector model files + inpainting (no torch)
from .classical import tune_median
from .registry import (Method, create_method, get_method_factory, list_methods, method_info,
                       method_options, register_method)

MODEL_SUFFIXES = (".pt", ".pth", ".pt2", ".ts", ".ckpt")  # same as loaded.MODEL_SUFFIXES

__all__ = ["DetectInpaint", "Method", "create_method", "get_method_factory", "list_methods", "load_model_file",
           "method_info", "method_options", "register_method", "resolve_method", "tune_median",
           "detection_scores"]


def load_model_file(path, device: str = "cpu", **kwargs) -> Method:
    """Load a model file as a Method; see :func:`dustbench.methods.loaded.load_model_file`."""
    from .loaded import load_model_file as _load  # torch is imported only when a model is used

    return _load(path, device, **kwargs)


def resolve_method(spec: str, device: str = "cpu", **options) -> Method:
    """A registered method by name, or a model file when ``spec`` ends in a model suffix.

    Options go to :func:`create_method` for names and to :func:`load_model_file` for files.
    """
    if Path(str(spec)).suffix.lower() in MODEL_SUFFIXES:
        return load_model_file(spec, device, **options)
    return create_method(spec, **options)
