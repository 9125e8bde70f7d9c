"""Validation during training: the held-out pairs, restored by the Method the run's export would be
(one grey/RGB adaptation, one detect→fill path), scored by the harness's scoring."""
from __future__ import annotations

import math
import os

from ..data.eval_data import open_data
from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from ..evaluation.rows import PSNR_CAP, image_scores
from ..io import from_float, to_float
from ..methods.base import Method, apply_method
from ..methods.loaded import module_method

VALIDATION_METRICS = ("psnr", "ssim", "psnr_in", "psnr_out", "clean_change_rate")


def resolve_validation(val, data) -> str | list | None:
    """``val="auto"``: the training data's own validation split when it has one (a make-dataset folder,
    also streamed as ``stream:DIR``, or a folder of pairs with validation/), else ``builtin``;
    anything else is kept."""
    if not (isinstance(val, str) and val == "auto"):
        return val
    ds = parse_data_spec(data) if isinstance(data, (str, os.PathLike)) else None
    if ds is not None and ds.kind == "stream" and ds.arg:  # stream:DIR streams DIR's training sources
        ds = parse_data_spec(ds.arg)
    if ds is not None and ds.kind in ("dataset", "pairs", "split_pairs"):
        try:
            if open_data(ds, "validation").ids():
                return str(ds.path)
        except DustbenchError:
            pass  # no validation split there
    return "builtin"


def load_validation(spec, limit: int | None = None) -> list | None:
    """Validation pairs: ``builtin`` (5 held-out 192² crops), ``none``, a folder's validation split,
    or a list of :class:`dustbench.data.Sample` (tests). Loaded once, kept in memory."""
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, (list, tuple)):
        samples = list(spec)
    else:
        data = open_data(str(spec), "validation")
        samples = [s for _, s in zip(range(limit or 10 ** 9), data)]
    return samples[:limit] if limit else samples


def task_method(task) -> Method:
    """The Method an export of ``task``'s network would load as (:func:`~dustbench.methods.load_model_file`):
    its network where it is, in eval mode, untiled; a detector wrapped in
    :class:`~dustbench.methods.detect_inpaint.DetectInpaint` with the task's current inference options."""
    module, info = task.inference()
    return module_method(module, info=info, tile=None)


def validate_task(task, samples) -> dict[str, float]:
    """:func:`validate` of :func:`task_method`; the network's train/eval mode is kept."""
    module = task.inference()[0]
    was_training = module.training
    try:
        return validate(task_method(task), samples)
    finally:
        module.train(was_training)


def validate(method: Method, samples) -> dict[str, float]:
    """Mean PSNR/SSIM (and masked PSNR in/out, clean-pixel change rate) of ``method`` on ``samples``,
    with the damaged input's scores as ``*_identity``. Each image goes through
    :func:`~dustbench.methods.apply_method` whole (its grey/RGB adaptation and output checks, bad
    values clipped), is quantised to the reference's dtype and scored by the harness's own
    :func:`~dustbench.evaluation.rows.image_scores`, so the numbers are comparable with
    ``dustbench evaluate``'s tables.
    """
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key, value):
        if value is None or not math.isfinite(value) and value != math.inf:
            return
        sums[key] = sums.get(key, 0.0) + min(float(value), PSNR_CAP)
        counts[key] = counts.get(key, 0) + 1

    for s in samples:
        y = apply_method(method, to_float(s.damaged), s.mask, tile=None, name=f"validation sample {s.id}",
                         on_bad_output="clip")
        restored = from_float(y, s.clean.dtype)
        for suffix, img in (("", restored), ("_identity", s.damaged)):
            scores = image_scores(s.clean, img, s.mask)
            for key in VALIDATION_METRICS:
                add(f"val_{key}{suffix}", scores.get(key))
    return {k: sums[k] / counts[k] for k in sorted(sums)}
