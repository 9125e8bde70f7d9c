"""dustbench: synthetic dust & scratch damage for film scans, and a shared restoration benchmark.

    >>> import dustbench
    >>> s = dustbench.synthesize(clean, "negative_scan_heavy", rng)      # damage a clean scan
    >>> dustbench.list_methods(), dustbench.create_method("median", radius=2)
    >>> result = dustbench.evaluate("median", "builtin")                 # the shared harness

Models (``list_models``, ``create_model``) import torch, so they load on first use, and so does
``dustbench.transforms`` (``FilmDamage``: albumentations-style, imports albumentations when installed).
"""
from __future__ import annotations

from .evaluation import evaluate
from .methods import create_method, list_methods, load_method
from .metrics import psnr, ssim
from .synth import (FAMILIES, Synthesis, composite, library, load_presets, regenerate, render, resolve_presets,
                    sample_params, synthesize)
from .version import __version__

__all__ = ["FAMILIES", "Synthesis", "composite", "create_method", "create_model", "evaluate", "library",
           "list_methods", "list_models", "load_method", "load_presets", "psnr", "regenerate", "render",
           "resolve_presets", "sample_params", "ssim", "synthesize", "__version__"]


def __getattr__(name):
    if name in ("list_models", "create_model"):
        from . import models  # deferred: imports torch

        return getattr(models, name)
    if name == "transforms":
        import importlib  # `from . import transforms` here would call this __getattr__ again

        return importlib.import_module(f"{__name__}.transforms")  # deferred: albumentations (and torch) load slowly
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
