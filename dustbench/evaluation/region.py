"""The damage region of a pair that has no mask: derived from |damaged − clean|, marked as derived.

Real damaged scans with hand-retouched references come without masks. The region where the scan
departs from its reference is found in the luma difference with a noise-aware threshold: the
per-pixel noise sigma of ``fit-preset``'s detection (:func:`dustbench.fit.detect.local_sigma`:
robust MAD per 8-px block and per contrast level), so grain and JPEG error are not taken for dust.
Unlike that detection, the region does not grow into faint halos: on real retouched pairs
hysteresis at 3 sigmas flagged several times the pixels that clearly differ, much of the excess
only a few levels off (retouching halos, JPEG re-encoding rings around each spot; the figures are
in docs/evaluation.md), so here

* a component needs a seed above ``k_high`` sigmas and above ``seed_floor`` (the halos' level),
* and keeps only pixels above ``k_low`` sigmas that reach ``halo`` × the strongest departure
  within ``reach`` px (a JPEG block): a ring at a fraction of its spot's contrast is not damage.

Samples keep their own mask when they have one; a derived one is marked ``mask_source = "derived"``
wherever results are written, and the summary says how it was derived (:func:`derivation`).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

from ..data.eval_base import Sample
from ..fit.detect import THRESHOLD_FLOOR, as_channels, hysteresis, local_sigma, luma, pair_channels

DERIVED = "derived"


@dataclass(frozen=True)
class RegionSettings:
    """How a damage region is told apart from noise, retouching halos and re-encoding."""

    k_low: float = 3.0  # a region pixel departs by more than k_low noise sigmas ...
    k_high: float = 6.0  # ... and its component by more than k_high somewhere ...
    seed_floor: float = 12 / 255  # ... and by more than the 4-10 levels of halos and re-encoding
    halo: float = 0.25  # below this fraction of the strongest departure nearby: halo, not damage
    reach: int = 7  # px: "nearby"; JPEG re-encoding rings across the spot's 8-px block
    floor: float = THRESHOLD_FLOOR  # the smallest departure counted, even on noiseless pairs


def local_peak(magnitude: np.ndarray, reach: int) -> np.ndarray:
    """The largest value within ``reach`` px (a disk) of each pixel."""
    size = 2 * int(reach) + 1
    return cv2.dilate(magnitude, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size)))


def region_of(signed: np.ndarray, sigma: np.ndarray, settings: RegionSettings = RegionSettings()) -> np.ndarray:
    """bool H×W from a luma difference and its per-pixel noise sigma (both in [0, 1] units)."""
    magnitude = np.abs(signed).astype(np.float32)
    not_halo = magnitude >= settings.halo * local_peak(magnitude, settings.reach)
    weak = not_halo & (magnitude >= np.maximum(settings.k_low * sigma, settings.floor))
    strong = weak & (magnitude >= np.maximum(settings.k_high * sigma, settings.seed_floor))
    return hysteresis(weak, strong)


def derived_mask(damaged: np.ndarray, clean: np.ndarray, where: str = "pair",
                 settings: RegionSettings = RegionSettings()) -> np.ndarray:
    """bool H×W: the pixels where ``damaged`` departs from ``clean`` by more than their noise,
    without the faint halos around each departure (see the module docstring)."""
    if damaged.shape[:2] != clean.shape[:2] or _channels(damaged) != _channels(clean):
        pair_channels(damaged, clean, where)  # raises, naming both shapes
    reference = luma_rows(clean)
    signed = luma_rows(damaged)
    signed -= reference
    return region_of(signed, local_sigma(signed, reference), settings)


def _channels(image: np.ndarray) -> int:
    return 1 if image.ndim == 2 else image.shape[2]


def luma_rows(image: np.ndarray) -> np.ndarray:
    """float32 H×W ``luma(as_channels(image))``, a chunk of rows at a time: the same values without
    a float copy of the whole image (a 24 MP 16-bit scan's is 275 MiB)."""
    out = np.empty(image.shape[:2], np.float32)
    step = max(1, (1 << 18) // max(1, image[0].size))
    for r in range(0, len(image), step):
        out[r:r + step] = luma(as_channels(image[r:r + step]))
    return out


def derivation(settings: RegionSettings = RegionSettings()) -> str:
    """How a derived region was made, in one sentence for summaries and boards."""
    s = settings
    return (f"luma |damaged - clean| above {s.k_low:g} noise sigmas (robust MAD per 8-px block and per "
            f"contrast level), in components reaching {s.k_high:g} sigmas and {255 * s.seed_floor:g}/255 "
            f"somewhere; pixels below {s.halo:g} x the strongest departure within {s.reach} px are left out "
            "(retouching halos, JPEG re-encoding)")


def with_region(sample: Sample, where: str = "") -> Sample:
    """``sample`` itself when it has a mask, else a copy carrying the derived mask (marked derived)."""
    if sample.mask is not None:
        return sample
    mask = derived_mask(sample.damaged, sample.clean, where or sample.id)
    return replace(sample, mask=mask, mask_source=DERIVED)
