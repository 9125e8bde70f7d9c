"""Restoration methods: a registry of classical baselines, models loaded from files, and the one
way to apply any of them.

    >>> import numpy as np
    >>> from dustbench.methods import create_method, load_method, apply_method
    >>> image = np.random.default_rng(0).random((64, 96, 3), dtype=np.float32)
    >>> median = create_method("median", radius=2, threshold=8)
    >>> restored = median(image)                   # float32 H×W×C in [0, 1] -> same shape and dtype
    >>> restored.shape, restored.dtype
    ((64, 96, 3), dtype('float32'))
    >>> model = load_method("leaderboard/models/dust_gan.pt")     # a model file (path from the repository root)
    >>> restored = apply_method(model, image, tile=64, overlap=16)   # tiled (default 512/32), every tile checked
    >>> restored.shape, restored.dtype
    ((64, 96, 3), dtype('float32'))
"""
from __future__ import annotations

# register identity, median, median_tuned, oracles; fastdet_lines, fastdet_tta; infrared_clean; line_detect;
# morph_detect; verified_*
from . import classical, fastdet_rows, infrared_clean, line_scratches, morph_detect, verified_detect  # noqa: F401
from .base import BadOutputError, Method, OutputIssues, apply_method, check_float_image, restored_rows
from .classical import tune_median
from .detect_inpaint import DetectInpaint, detection_scores
from .load import load_method, load_model_file
from .registry import (MODEL_SUFFIXES, create_method, get_method_factory, list_methods, method_info, method_options,
                       register_method)
from .spec import MethodSpec, parse_method_spec

__all__ = ["MODEL_SUFFIXES", "BadOutputError", "DetectInpaint", "Method", "MethodSpec", "OutputIssues", "apply_method",
           "check_float_image", "create_method", "detection_scores", "get_method_factory", "list_methods",
           "load_method", "load_model_file", "method_info", "method_options", "parse_method_spec", "register_method",
           "restored_rows", "tune_median"]

