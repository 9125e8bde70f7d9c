"""VGG-19 (Simonyan & Zisserman 2015) feature extractor in plain torch, for the perceptual loss.

The layer list reproduces torchvision's ``vgg19().features`` index for index, so the standard
ImageNet state dict (``features.N.weight`` / ``features.N.bias``, e.g. the file torchvision
downloads as ``vgg19-dcbb9e9d.pth``) loads directly. Nothing is ever downloaded: the weights come
from a local file given as ``vgg_weights=`` / ``--vgg-weights`` or the environment variable
``DUSTBENCH_VGG19_WEIGHTS``. Without them, :func:`resolve_vgg_weights` returns None and callers
switch the perceptual term off and say so; random VGG weights are never used for a loss.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List

import torch
from torch import nn

from ..errors import DustbenchError
from ..safe_torch import load_weights

ENV_VAR = "DUSTBENCH_VGG19_WEIGHTS"
# Channels per conv layer, "M" = 2×2 max-pool: configuration "E" of the paper (VGG-19).
CFG = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _layer_names() -> Dict[str, int]:
    """``{"conv1_1": 0, "relu1_1": 1, ..., "pool5": 36}``: names of torchvision's features indices."""
    names: Dict[str, int] = {}
    block, conv, index = 1, 1, 0
    for v in CFG:
        if v == "M":
            names[f"pool{block}"] = index
            index += 1
            block, conv = block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return names


LAYERS = _layer_names()
CONV_INDICES = [i for n, i in LAYERS.items() if n.startswith("conv")]
# Eq. 4-5 of Mironică (2020) sum L1 feature distances over VGG blocks; we take the ReLU after the
# last conv of each block, the usual choice (Johnson et al. use relu2_2 alone, ESRGAN relu5_4).
DEFAULT_LAYERS = ("relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4")


class VGG19Features(nn.Module):
    """``features`` of VGG-19; :meth:`extract` returns the named activations of an RGB batch in [0, 1].

    Inputs are normalised with the ImageNet mean/std inside; 1-channel inputs are repeated to RGB.
    Only the layers up to the deepest requested one are run.
    """

    def __init__(self, layers=DEFAULT_LAYERS):
        super().__init__()
        modules: List[nn.Module] = []
        cin = 3
        for v in CFG:
            if v == "M":
                modules.append(nn.MaxPool2d(2, 2))
            else:
                modules += [nn.Conv2d(cin, int(v), 3, padding=1), nn.ReLU(inplace=False)]
                cin = int(v)
        self.features = nn.Sequential(*modules)
        unknown = [n for n in layers if n not in LAYERS]
        if unknown:
            raise DustbenchError(f"unknown VGG-19 layer(s) {unknown}; valid: {', '.join(LAYERS)}")
        self.layers = tuple(layers)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def extract(self, x: torch.Tensor) -> List[torch.Tensor]:
        """Activations at ``self.layers`` (in that order) for N×C×H×W in [0, 1]."""
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        h = (x - self.mean) / self.std
        wanted = {LAYERS[n]: k for k, n in enumerate(self.layers)}
        out: List[torch.Tensor] = [h] * len(self.layers)
        last = max(wanted)
        for i, module in enumerate(self.features):
            h = module(h)
            if i in wanted:
                out[wanted[i]] = h
            if i == last:
                break
        return out

    forward = extract


def map_vgg19_state_dict(state: dict, source: str = "state dict") -> Dict[str, torch.Tensor]:
    """Keys of a VGG-19 state dict mapped to ours (``features.N.weight``/``bias``).

    Accepts torchvision's naming (``features.N.*``, optionally under ``module.``/``vgg.`` or any
    other prefix, or bare ``N.*``) and named layers (``conv3_4.weight``); classifier weights
    are ignored. Raises DustbenchError listing what is missing or has the wrong shape.
    """
    if not isinstance(state, dict):
        raise DustbenchError(f"{source}: expected a state dict, got {type(state).__name__}")
    for key in ("state_dict", "model"):  # checkpoints that wrap the weights
        if isinstance(state.get(key), dict):
            state = state[key]
    indexed = re.compile(r"(?:^|\.)(?:features\.)?(\d+)\.(weight|bias)$")
    named = re.compile(r"(?:^|\.)(conv\d_\d)\.(weight|bias)$")
    out: Dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if not isinstance(value, torch.Tensor) or "classifier" in key:
            continue
        m = named.search(key)
        if m and m.group(1) in LAYERS:
            index = LAYERS[m.group(1)]
        else:
            m = indexed.search(key)
            if not m:
                continue
            index = int(m.group(1))
        if index in CONV_INDICES:
            out[f"features.{index}.{m.group(2)}"] = value
    reference = VGG19Features().features.state_dict()
    missing = [f"features.{k}" for k in reference if f"features.{k}" not in out]
    if missing:
        raise DustbenchError(f"{source}: not a VGG-19 state dict: {len(missing)} of {len(reference)} conv "
                             f"tensors missing (e.g. {missing[0]}); expected torchvision's features.N.weight "
                             "naming or conv<B>_<L>.weight")
    for k, ref in reference.items():
        got = out[f"features.{k}"]
        if tuple(got.shape) != tuple(ref.shape):
            raise DustbenchError(f"{source}: features.{k} has shape {tuple(got.shape)}, VGG-19 needs "
                                 f"{tuple(ref.shape)}")
    return {k: v.float() for k, v in out.items()}


def resolve_vgg_weights(path=None) -> Path | None:
    """The VGG-19 weights file from ``path`` or ``$DUSTBENCH_VGG19_WEIGHTS``; None if neither is set.

    A path that is set but does not exist is an error, never a silent fallback.
    """
    spec = path if path not in (None, "") else os.environ.get(ENV_VAR) or None
    if spec is None:
        return None
    p = Path(spec).expanduser()
    if not p.is_file():
        origin = "vgg_weights" if path not in (None, "") else f"${ENV_VAR}"
        raise DustbenchError(f"{origin}={spec}: no such file (the ImageNet VGG-19 state dict, "
                             "torchvision's vgg19-dcbb9e9d.pth or equivalent)")
    return p


def load_vgg19(path, layers=DEFAULT_LAYERS) -> VGG19Features:
    """A frozen, eval-mode VGG-19 feature extractor with weights from the local file ``path``."""
    path = Path(path)
    state = load_weights(path, f"{path} (VGG-19 weights)")
    model = VGG19Features(layers)
    model.load_state_dict(map_vgg19_state_dict(state, str(path)), strict=True)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model
