"""Turning what a user names into a :class:`~dustbench.methods.base.Method`: :func:`load_method`
(a registered name, a model file, a Method, a ``torch.nn.Module`` or a function) and
:func:`load_model_file`. It sits above :mod:`.registry` (names) and :mod:`.loaded` (model files and
modules, which import torch: loaded on first use).

    >>> from dustbench.methods import load_method
    >>> load_method("median", {"radius": 2}).options["radius"]
    2
"""
from __future__ import annotations

import sys

from ..errors import DustbenchError
from .base import FunctionMethod, Method
from .registry import MODEL_OPTIONS, create_method
from .spec import MethodSpec, parse_method_spec


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
    :class:`~dustbench.errors.UnknownNameError` with a did-you-mean. A string is parsed once by
    :func:`~dustbench.methods.spec.parse_method_spec` (``file:PATH`` and ``method:NAME`` say which
    when it could be both) and the result kept as ``method.source``.
    """
    options = dict(options or {})
    source = parse_method_spec(spec)
    if source.kind == "object":
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
            return _with_source(module_method(spec, **options), source)
        if callable(spec):
            return _with_source(FunctionMethod(spec), source)
        raise DustbenchError(f"cannot use a {type(spec).__name__} as a method: give a registered name, a model "
                             "file, a Method, a torch.nn.Module or a function of a float32 H×W×C image")
    if source.kind == "file":
        options.setdefault("tile", None)
        return _with_source(load_model_file(source.path, device, **options), source)  # the path as typed
    return _with_source(create_method(source.value, **options), source)


def _with_source(method: Method, source: MethodSpec) -> Method:
    method.source = source
    return method


def load_model_file(path, device: str = "cpu", **kwargs) -> Method:
    """Load a model file as a Method; see :func:`dustbench.methods.loaded.load_model_file`."""
    from .loaded import load_model_file as _load  # deferred: imports torch

    return _load(path, device, **kwargs)
