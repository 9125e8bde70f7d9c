"""dustbench: synthetic dust & scratch damage for film scans, and a shared restoration benchmark.

    >>> import numpy as np, dustbench
    >>> clean = np.full((64, 96, 3), 160, np.uint8)       # a clean scan: uint8/uint16/float32, grey or RGB
    >>> rng = np.random.default_rng(0)
    >>> s = dustbench.synthesize(clean, "negative_scan_heavy", rng)      # damage a clean scan
    >>> s.damaged.shape, s.damaged.dtype, s.mask.shape                   # and s.clean, s.labels, s.params
    ((64, 96, 3), dtype('uint8'), (64, 96))
    >>> dustbench.list_methods()
    ['fastdet_lines', 'fastdet_tta', 'identity', 'infrared_clean', ...]
    >>> dustbench.create_method("median", radius=2)
    <Median median(radius=2, threshold=0, precision='exact')>
    >>> dustbench.evaluate("median", "builtin", limit=2)                 # the shared harness
    Result(method='median', data='builtin:test', images=2, psnr=... dB, ssim=...)

The harness (``evaluate``: pandas), the methods (scipy) and the models (``list_models``,
``create_model``: torch) load on first use, and so does ``dustbench.transforms`` (``FilmDamage``:
albumentations-style, imports albumentations when installed).
"""
from __future__ import annotations

from .metrics import psnr, ssim
from .synth import (FAMILIES, Synthesis, composite, library, load_presets, regenerate, render, resolve_presets,
                    sample_params, synthesize)
from .version import __version__

__all__ = ["FAMILIES", "Synthesis", "composite", "create_method", "create_model", "evaluate", "library",
           "list_methods", "list_models", "load_method", "load_presets", "psnr", "regenerate", "render",
           "resolve_presets", "sample_params", "ssim", "synthesize", "__version__"]


# subpackages that `import dustbench` loaded, and so made attributes, before it loaded them on first use
_PACKAGES = ("data", "evaluation", "fit", "methods", "sources")


def __getattr__(name):
    """What loads slowly loads on first use (PEP 562), so ``import dustbench`` and ``dustbench --help``
    stay light: the harness and the methods (scipy), the models (torch), ``transforms``."""
    if name == "evaluate":
        from .evaluation import evaluate as value  # deferred: imports scipy.ndimage (the methods)
    elif name in ("create_method", "list_methods", "load_method"):
        from .methods import create_method, list_methods, load_method  # deferred: imports scipy.ndimage

        value = {"create_method": create_method, "list_methods": list_methods, "load_method": load_method}[name]
    elif name in ("list_models", "create_model"):
        from .models import create_model, list_models  # deferred: imports torch

        value = create_model if name == "create_model" else list_models
    elif name == "transforms":
        import dustbench.transforms  # deferred: imports albumentations (`from . import` would call this again)

        return dustbench.transforms
    elif name in _PACKAGES:
        import dustbench.evaluation  # noqa: F401  # deferred: imports scipy.ndimage (it loads every one of _PACKAGES)

        if name not in globals():  # asked for while the evaluation package itself is being imported
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        return globals()[name]
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
