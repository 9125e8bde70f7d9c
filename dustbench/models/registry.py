"""A small timm-style registry of model families: ``@register_model("name")`` on a factory.

A factory is ``fn(**config) -> torch.nn.Module``; the module takes N×C×H×W float32 in [0, 1] and
returns the same. Model families live in their own modules in this package and register
themselves when :mod:`dustbench.models` imports them. Nothing here imports torch, so listing
names stays cheap.
"""
from __future__ import annotations

import difflib
import inspect
from typing import Any, Callable

from ..errors import DustbenchError, UnknownNameError

_MODELS: dict[str, Callable[..., Any]] = {}


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn(**config) -> nn.Module`` under ``name``; returns ``fn`` unchanged."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"model name must be a non-empty string, got {name!r}")

    def decorator(fn: Callable[..., Any]) -> Callable[..., Any]:
        old = _MODELS.get(name)
        # Re-registering the same function (a module reloaded in a test) is harmless; two
        # different families fighting over one name is a bug.
        if old is not None and _qualname(old) != _qualname(fn):
            raise ValueError(f"model {name!r} is already registered by {_qualname(old)}")
        _MODELS[name] = fn
        return fn

    return decorator


def list_models() -> list[str]:
    """Names of all registered model families, sorted."""
    return sorted(_MODELS)


def get_model_factory(name: str) -> Callable[..., Any]:
    """The registered factory for ``name`` (raises UnknownNameError with a did-you-mean)."""
    try:
        return _MODELS[name]
    except KeyError:
        raise UnknownNameError("model", name, _MODELS) from None


def create_model(name: str, **config: Any):
    """Build model ``name`` with ``config``; unknown config keys raise DustbenchError listing valid ones."""
    fn = get_model_factory(name)
    _check_config(name, fn, config)
    return fn(**config)


def _check_config(name: str, fn: Callable[..., Any], config: dict) -> None:
    params = inspect.signature(fn).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # the factory takes **config: it validates itself
    valid = [p for p, v in params.items() if v.kind in (v.POSITIONAL_OR_KEYWORD, v.KEYWORD_ONLY)]
    for key in config:
        if key not in valid:
            close = difflib.get_close_matches(key, valid, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise DustbenchError(f"model {name!r} has no config option {key!r}{hint} "
                                 f"(valid: {', '.join(valid) or 'none'})")


def _qualname(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"
