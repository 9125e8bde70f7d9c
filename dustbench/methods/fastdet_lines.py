"""``fastdet_lines``: the published CPU speck detector and the training-free line detector, one fill.

A small learned detector (``fastdet``'s published weights, :mod:`dustbench.models.fastdet`) finds
specks, dirt and short hairs but few long scratches, which a patch of 128 px rarely shows whole;
``line_detect`` (:mod:`.line_scratches`) finds only long straight lines, by integrating along them.
They find different damage, so their gains add. On ``builtin-v2:validation`` (20 images, the input
at 37.72 dB), measured before this row existed: the detector alone +0.12 dB, ``line_detect`` alone
+0.58, both +0.70. Nothing was chosen for the combination: the detector runs at the operating
point calibrated for it on validation (recorded with its weights in ``pretrained/manifest.json``),
``line_detect`` with its published rules, and the fill is the detector's (Telea, its flags dilated
by 1 px, the lines undilated, as ``line_detect`` fills them). See :class:`.DetectInpaint` (``lines``).
"""
from __future__ import annotations

from ..errors import DustbenchError
from .base import Method
from .registry import register_method

WEIGHTS = "fastdet"  # the pretrained name: the weights of the leaderboard row fastdet_balanced


@register_method("fastdet_lines")
def fastdet_lines(threshold: float | None = None, dilate: int | None = None) -> Method:
    """Learned + training-free: the published fastdet speck detector and line_detect's lines, one Telea fill."""
    from ..models.pretrained import MANIFEST, load_pretrained, pretrained_dir, read_manifest  # deferred: imports torch
    from .loaded import module_method  # deferred: imports torch

    module = load_pretrained(WEIGHTS)  # a clear error if the weights are not published here
    entry = read_manifest()["models"][WEIGHTS]
    if not isinstance(entry.get("inference"), dict):
        raise DustbenchError(f"the published {WEIGHTS!r} weights record no operating point ('inference' in "
                             f"{pretrained_dir() / MANIFEST}): republish them as pretrained/README.md says")
    method = module_method(module, channels=entry.get("channels", 3), info={"kind": "detector", **entry["inference"]},
                           threshold=threshold, dilate=dilate, lines=True)
    method.trained_on = entry.get("trained_on")
    return method
