"""A small timm-style registry of model families: ``@register_model("name")`` on a factory.

A factory is ``fn(**config) -> torch.nn.Module``; the module takes N×C×H×W float32 in [0, 1] and
returns the same. Model families live in their own modules in this package and register
themselves when :mod:`dustbench.models` imports them. Nothing here imports torch, so listing
names stays cheap.
"""
from __future__ import annotations

from typing import Any, Callable

from ..registry import Registry

_MODELS = Registry("model", option_word="config option")


def register_model(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator registering ``fn(**config) -> nn.Module`` under ``name``; returns ``fn`` unchanged."""
    return _MODELS.register(name)


def list_models() -> list[str]:
    """Names of all registered model families, sorted."""
    return _MODELS.names()


def get_model_factory(name: str) -> Callable[..., Any]:
    """The registered factory for ``name`` (raises UnknownNameError with a did-you-mean)."""
    return _MODELS.get(name)


def create_model(name: str, **config: Any):
    """Build model ``name`` with ``config``; unknown config keys raise DustbenchError listing valid ones."""
    _MODELS.check_options(name, config)
    return _MODELS.get(name)(**config)
