"""A small timm-style registry of model families: ``@register_model("name")`` on a factory.

A factory is ``fn(**config) -> torch.nn.Module``; the module takes N×C×H×W float32 in [0, 1] and
returns the same. Model families live in their own modules in this package and register
themselves when :mod:`dustbench.models` imports them. Nothing here imports torch, so listing
names stays cheap.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

_MODELS = Registry("model", option_word="config option")
register_model = _MODELS.register  # @register_model("name") on fn(**config) -> nn.Module
list_models = _MODELS.names  # names of all registered model families, sorted
get_model_factory = _MODELS.get  # the factory of a name (UnknownNameError with a did-you-mean)


def create_model(name: str, **config: Any):
    """Build model ``name`` with ``config``; unknown config keys raise DustbenchError listing valid ones."""
    _MODELS.check_options(name, config)
    return _MODELS.get(name)(**config)
