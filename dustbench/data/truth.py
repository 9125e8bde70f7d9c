"""The ground truth an un-blending oracle may receive: the synthesis layer, rebuilt from a record.

A synthetic sample's parameter record (``Synthesis.params``, a synth folder's ``manifest.jsonl``
``params``, a make-dataset ``params`` column) renders the artifact layer exactly. Compositing is
"over", one artifact after another, so ``damaged = clean·(1−A) + P`` with ``A`` the combined
opacity (:func:`dustbench.synth.artifact_mask`) and ``P`` the premultiplied colour (the layer
composited over a black float image). :func:`truth_layer` stacks them as one float32
H×W×(1+C) image that tiles like the damaged image (see :func:`dustbench.methods.base.check_layer`).
"""
from __future__ import annotations

import json

import numpy as np

from ..errors import DustbenchError
from ..synth import Layer, artifact_mask, composite, render


def layer_stack(layer: Layer, channels: int) -> np.ndarray:
    """float32 H×W×(1+channels): the combined opacity, then the premultiplied colour in [0, 1]."""
    colour = composite(np.zeros(tuple(layer.shape) + (channels,), np.float32), layer)
    return np.concatenate([artifact_mask(layer)[:, :, None], colour], axis=2)


def truth_layer(params: dict | str | None, damaged: np.ndarray, clean: np.ndarray, where: str = "sample") -> np.ndarray:
    """The layer stack of ``params`` at the clean image's size, checked to reproduce ``damaged`` exactly.

    The check (the record composited over ``clean`` must give the stored damaged bytes) refuses
    a record that does not belong to the files: edited, re-encoded or renamed images.
    """
    if params is None:
        raise DustbenchError(f"{where}: no synthesis record (params) for this image; the synthesis layer exists "
                             "for builtin data, `dustbench synth` folders (manifest.jsonl) and make-dataset outputs")
    try:
        layer = render(json.loads(params) if isinstance(params, str) else params, clean.shape)
    except DustbenchError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError) as exc:
        raise DustbenchError(f"{where}: its synthesis record cannot be rendered ({type(exc).__name__}: {exc})") from None
    if damaged.dtype != clean.dtype or not np.array_equal(composite(clean, layer), damaged):
        raise DustbenchError(f"{where}: its synthesis record does not reproduce the damaged image (edited, "
                             "re-encoded or mismatched files); the layer would be wrong")
    return layer_stack(layer, 1 if clean.ndim == 2 else clean.shape[2])
