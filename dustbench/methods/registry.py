"""The method registry: ``@register_method("name")`` on a Method subclass or factory (timm-style),
and :func:`create_method`, which builds a registered name with its options. (Model files, functions
and modules become Methods in :mod:`dustbench.methods.load`, which sits above this module.)
"""
from __future__ import annotations

import inspect
import json
from typing import Any

from ..errors import DustbenchError
from ..registry import Registry, option_params
from .base import Method

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
            "needs_infrared": bool(getattr(factory, "needs_infrared", False)),
            "is_oracle": bool(getattr(factory, "is_oracle", False))}


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
