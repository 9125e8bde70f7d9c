"""Turning what a user names into a :class:`~dustbench.methods.base.Method`: :func:`load_method`
(a registered name, a model file, a Method, a ``torch.nn.Module`` or a function) and
:func:`load_model_file`. It sits above :mod:`.registry` (names) and :mod:`.loaded` (model files and
modules, which import torch: loaded on first use).

    >>> from dustbench.methods import load_method
    >>> load_method("median", {"radius": 2}).options["radius"]
    2
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import DustbenchError
from .base import FunctionMethod, Method
from .registry import MODEL_OPTIONS, MODEL_SUFFIXES, create_method


def _is_module(obj) -> bool:
    """A torch.nn.Module (checked without importing torch: one exists only if torch was imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def load_method(spec, options: dict | None = None, device: str = "cpu") -> Method:
    """A Method from a registered name, a model file (TorchScript, ``.pt2``, dustbench checkpoint), a
    Method, a ``torch.nn.Module`` (N×C×H×W float in [0, 1] -> the same; grey/RGB adapted like a model
    file's; it runs where its parameters are) or any callable (float32 H×W×C numpy in [0, 1] -> the same).

    Files and modules have no tile size of their own unless ``options`` give one (``tile``/``overlap``:
    the defaults :func:`~dustbench.methods.base.apply_method`, which tiles, uses for them); pickled
    modules and unsafe archives are refused (see :mod:`dustbench.safe_torch`). Unknown names raise
    :class:`~dustbench.errors.UnknownNameError` with a did-you-mean.
    """
    options = dict(options or {})
    if isinstance(spec, Method) or not isinstance(spec, (str, os.PathLike)):
        if options and not _is_module(spec):
            raise DustbenchError(f"options cannot be applied to an already built {type(spec).__name__}")
        if isinstance(spec, Method):
            return spec
        if _is_module(spec):
            from .loaded import module_method  # deferred: imports torch

            unknown = sorted(set(options) - set(MODEL_OPTIONS))
            if unknown:
                raise DustbenchError(f"option(s) {', '.join(unknown)} do not apply to a torch.nn.Module; "
                                     f"valid: {', '.join(MODEL_OPTIONS)}")
            return module_method(spec, **options)
        if callable(spec):
            return FunctionMethod(spec)
        raise DustbenchError(f"cannot use a {type(spec).__name__} as a method: give a registered name, a model "
                             "file, a Method, a torch.nn.Module or a function of a float32 H×W×C image")
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.suffix.lower() in MODEL_SUFFIXES or path.is_file() or "/" in spec or os.sep in spec:
        options.setdefault("tile", None)
        return load_model_file(path.resolve() if path.exists() else path, device, **options)
    return create_method(spec, **options)


def load_model_file(path, device: str = "cpu", **kwargs) -> Method:
    """Load a model file as a Method; see :func:`dustbench.methods.loaded.load_model_file`."""
    from .loaded import load_model_file as _load  # deferred: imports torch

    return _load(path, device, **kwargs)
