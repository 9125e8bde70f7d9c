"""The method registry: ``@register_method("name")`` on a Method subclass or factory (timm-style),
and :func:`load_method`, which turns a registered name or a model file into a :class:`Method`.
"""
from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Any

from ..errors import DustbenchError
from ..registry import Registry, option_params
from .base import FunctionMethod, Method

MODEL_SUFFIXES = (".pt", ".pth", ".pt2", ".ts", ".ckpt")
MODEL_OPTIONS = ("channels", "tile", "overlap", "tile_batch")  # what every model file or nn.Module takes

_METHODS = Registry("method")
register_method = _METHODS.register  # @register_method("name") on a Method subclass or a factory of one
list_methods = _METHODS.names  # names of all registered methods, sorted
get_method_factory = _METHODS.get  # the factory of a name (UnknownNameError with a did-you-mean)


def method_options(name: str) -> dict[str, Any]:
    """The options method ``name`` accepts, with their defaults (``None`` = required or unset)."""
    params = option_params(get_method_factory(name))
    return {p.name: (None if p.default is p.empty else p.default) for p in params}


def method_info(name: str) -> dict[str, Any]:
    """Name, one-line summary, options with defaults and oracle flags, for listings."""
    factory = get_method_factory(name)
    doc = inspect.getdoc(factory) or ""
    return {"name": name, "summary": doc.splitlines()[0] if doc else "",
            "options": method_options(name),
            "needs_mask": bool(getattr(factory, "needs_mask", False)),
            "is_oracle": bool(getattr(factory, "is_oracle", False))}


def _is_module(obj) -> bool:
    """A torch.nn.Module (checked without importing torch: one exists only if torch was imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(obj, torch.nn.Module)


def create_method(name: str, **options: Any) -> Method:
    """Build method ``name``; unknown options raise DustbenchError listing the valid ones."""
    factory = get_method_factory(name)
    params = option_params(factory)
    _METHODS.check_options(name, options)
    method = factory(**options)
    if not isinstance(method, Method):
        raise TypeError(f"factory for method {name!r} returned {type(method).__name__}, not a Method")
    method.name = name
    if not method.options:  # a plain factory: record what it was called with, defaults included
        method.options = {p.name: options.get(p.name, None if p.default is p.empty else p.default)
                          for p in params}
    try:
        json.dumps(method.options)
    except TypeError as exc:
        raise DustbenchError(f"method {name!r}: options must be JSON-serializable ({exc})") from None
    return method


def load_method(spec, options: dict | None = None, device: str = "cpu") -> Method:
    """A Method from a registered name, a model file (TorchScript, ``.pt2``, dustbench checkpoint), a
    Method, a ``torch.nn.Module`` (N×C×H×W float in [0, 1] -> the same; grey/RGB adapted like a model
    file's; it runs where its parameters are) or any callable (float32 H×W×C numpy in [0, 1] -> the same).

    Files and modules are loaded untiled (:func:`~dustbench.methods.base.apply_method` tiles); pickled
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
        from .loaded import load_model_file  # deferred: imports torch

        options.setdefault("tile", None)
        return load_model_file(path.resolve() if path.exists() else path, device, **options)
    return create_method(spec, **options)
