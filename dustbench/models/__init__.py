"""Model families for learned restoration methods (timm-style registry).

Each family lives in its own module and registers a factory with ``@register_model("name")``.
To add one, create ``dustbench/models/<family>.py`` and add a line ``from . import <family>``
below, so that importing :mod:`dustbench.models` registers it.
"""
from .pretrained import create_model, list_models
from .registry import get_model_factory, register_model

__all__ = ["create_model", "get_model_factory", "list_models", "register_model"]

# Model families (one import line each; keep sorted):
from . import dust_gan  # noqa: E402,F401  (Mironică 2020 GAN with residual learning)
from . import fastdet  # noqa: E402,F401  (a CPU-budget artifact detector, body at quarter resolution)
from . import pix2pix  # noqa: E402,F401  (Isola et al. 2017 U-Net + PatchGAN, Table 1's Pix2Pix)
from . import segnet  # noqa: E402,F401  (Strubel et al. 2019 SegNet artifact detector)
