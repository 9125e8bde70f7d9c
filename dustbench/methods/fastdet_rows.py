"""Rows built on the published CPU speck detector (``fastdet``'s published weights, the leaderboard
row ``fastdet_balanced``, :mod:`dustbench.models.fastdet`), each with one thing added at inference.

``fastdet_lines``: the detector and the training-free line detector, one fill. The detector finds
specks, dirt and short hairs but few long scratches, which a patch of 128 px rarely shows whole;
``line_detect`` (:mod:`.line_scratches`) finds only long straight lines, by integrating along them.
They find different damage, so their gains add. On ``builtin-v2:validation`` (20 images, the input
at 37.72 dB), measured before this row existed: the detector alone +0.12 dB, ``line_detect`` alone
+0.58, both +0.70. Nothing was chosen for the combination: the detector runs at the operating
point calibrated for it on validation (recorded with its weights in ``pretrained/manifest.json``),
``line_detect`` with its published rules, and the fill is the detector's (Telea, its flags dilated
by 1 px, the lines undilated, as ``line_detect`` fills them). See :class:`.DetectInpaint` (``lines``).

``fastdet_tta``: the detector's P(artifact) averaged over the image and its three mirror images
(:func:`.mirrored_mean`, four network passes), at the operating point :data:`TTA_POINT` that
``calibrate_detector`` chose for it on ``builtin-v2:validation`` (tests/test_fastdet_lines.py
re-derives it). On validation the averaged map ranks damage better than one pass (average precision
per family, damage changed by > 8/255: dust 0.030 → 0.050, dirt 0.042 → 0.075, hair 0.047 → 0.063,
scratch 0.043 → 0.050) and restores better, each at its best point of the same grid: 38.03 dB
against 37.79 (one pass, at its published point; the input 37.72). Nothing was retrained.
"""
from __future__ import annotations

from ..errors import DustbenchError
from .base import Method
from .registry import register_method

WEIGHTS = "fastdet"  # the pretrained name: the weights of the leaderboard row fastdet_balanced
# chosen by calibrate_detector(criterion="psnr") on builtin-v2:validation with flips (2026-12-08)
TTA_POINT = {"threshold": 0.998, "grow": 0.5, "dilate": 1}


def _published_detector(**options) -> Method:
    """The published fastdet weights as a detect-then-fill Method: their recorded operating point,
    then ``options`` (None = keep)."""
    from ..models.pretrained import MANIFEST, load_pretrained, pretrained_dir, read_manifest  # deferred: imports torch
    from .loaded import module_method  # deferred: imports torch

    module = load_pretrained(WEIGHTS)  # a clear error if the weights are not published here
    entry = read_manifest()["models"][WEIGHTS]
    if not isinstance(entry.get("inference"), dict):
        raise DustbenchError(f"the published {WEIGHTS!r} weights record no operating point ('inference' in "
                             f"{pretrained_dir() / MANIFEST}): republish them as pretrained/README.md says")
    method = module_method(module, channels=entry.get("channels", 3), info={"kind": "detector", **entry["inference"]},
                           **options)
    method.trained_on = entry.get("trained_on")
    return method


@register_method("fastdet_lines")
def fastdet_lines(threshold: float | None = None, dilate: int | None = None) -> Method:
    """Learned + training-free: the published fastdet speck detector and line_detect's lines, one Telea fill."""
    return _published_detector(threshold=threshold, dilate=dilate, lines=True)


@register_method("fastdet_tta")
def fastdet_tta(threshold: float | None = None, grow: float | None = None, dilate: int | None = None) -> Method:
    """The published fastdet speck detector with its P averaged over four mirror images, then one Telea fill."""
    point = {k: v if v is not None else TTA_POINT[k] for k, v in
             (("threshold", threshold), ("grow", grow), ("dilate", dilate))}
    return _published_detector(**point, flips=True)
