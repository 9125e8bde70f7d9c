"""dustbench: synthetic dust & scratch damage for film scans, and a shared restoration benchmark."""
from __future__ import annotations

__version__ = "0.1.0"

from .synth import (FAMILIES, Synthesis, composite, library, load_presets, regenerate, render,  # noqa: E402
                    resolve_presets, sample_params, synthesize)


__all__ = ["FAMILIES", "Synthesis", "composite", "library", "load_presets", "regenerate", "render",
           "resolve_presets", "sample_params", "synthesize", "__version__"]
