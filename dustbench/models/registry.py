"""A small timm-style registry of model families: ``@register_model("name")`` on a factory.

A factory is ``fn(**config) -> torch.nn.Module``; the module takes N×C×H×W float32 in [0, 1] and
returns the same. Model families live in their own modules in this package and register
themselves when :mod:`dustbench.models` imports them (so importing anything in this package
imports torch). Published weights (``create_model(NAME, pretrained=True)``, ``list_models(pretrained=True)``)
are :mod:`dustbench.models.pretrained`'s, which builds on this module and :mod:`.checkpoint`.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

_MODELS = Registry("model", option_word="config option")
register_model = _MODELS.register  # @register_model("name") on fn(**config) -> nn.Module
get_model_factory = _MODELS.get  # the factory of a name (UnknownNameError with a did-you-mean)
check_config = _MODELS.check_options  # (name, config): DustbenchError naming unknown keys and the valid ones


def list_models(pattern: str | list[str] | None = None) -> list[str]:
    """Names of the registered model families, sorted; ``pattern`` filters them (fnmatch globs, e.g.
    ``'dust*'``, or a list of globs). (:func:`dustbench.models.list_models` also filters by published weights.)"""
    return _MODELS.names(pattern)


def create_model(name: str, **config: Any):
    """Build model ``name`` with ``config`` (fresh weights); unknown config keys raise DustbenchError
    listing valid ones. (:func:`dustbench.models.create_model` also loads published weights.)"""
    check_config(name, config)
    return _MODELS.get(name)(**config)
