"""A small timm-style registry of model families: ``@register_model("name")`` on a factory.

A factory is ``fn(**config) -> torch.nn.Module``; the module takes N×C×H×W float32 in [0, 1] and
returns the same. Model families live in their own modules in this package and register
themselves when :mod:`dustbench.models` imports them. This module imports no torch when it is
imported, so listing family names stays cheap; listing or loading published weights does.
"""
from __future__ import annotations

from typing import Any

from ..registry import Registry

_MODELS = Registry("model", option_word="config option")
register_model = _MODELS.register  # @register_model("name") on fn(**config) -> nn.Module
get_model_factory = _MODELS.get  # the factory of a name (UnknownNameError with a did-you-mean)


def list_models(pattern: str | list[str] | None = None, pretrained: bool = False) -> list[str]:
    """Names of the registered model families, sorted; ``pattern`` filters them (fnmatch globs, e.g.
    ``'dust*'``, or a list of globs); ``pretrained=True`` keeps those with published weights."""
    names = _MODELS.names(pattern)
    if pretrained:
        from .pretrained import pretrained_names  # deferred: imports torch

        published = set(pretrained_names())
        names = [n for n in names if n in published]
    return names


def create_model(name: str, pretrained: bool = False, **config: Any):
    """Build model ``name`` with ``config``; unknown config keys raise DustbenchError listing valid ones.

    ``pretrained=True`` loads its published weights (see :mod:`dustbench.models.pretrained`) into
    the network of the config they were trained with, and returns it in eval mode.
    """
    _MODELS.check_options(name, config)
    if pretrained:
        from .pretrained import load_pretrained  # deferred: imports torch

        return load_pretrained(name, config)
    return _MODELS.get(name)(**config)
