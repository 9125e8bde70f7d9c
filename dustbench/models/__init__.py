"""Model families for learned restoration methods (timm-style registry).

Each family lives in its own module and registers a factory with ``@register_model("name")``.
To add one, create ``dustbench/models/<family>.py`` and add a line ``from . import <family>``
below, so that importing :mod:`dustbench.models` registers it.
"""
from .registry import create_model, get_model_factory, list_models, register_model

__all__ = ["create_model", "get_model_factory", "list_models", "register_model"]

# Model families (one import line each; keep sorted):
