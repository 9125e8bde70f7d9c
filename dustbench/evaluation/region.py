"""The damage region of a pair that has no mask: derived from |damaged − clean|, marked as derived.

Real damaged scans with hand-retouched references (FILM-R and the like) come without masks. The
region where the scan departs from its reference is found with the noise-aware detection that
``fit-preset`` uses (:func:`dustbench.fit.detect.detect`: a local noise sigma per 8-px block and
per contrast level, hysteresis at 3 and 6 sigmas), so JPEG error and grain are not taken for
dust. Samples keep their own mask when they have one; a derived one is marked
``mask_source = "derived"`` wherever results are written.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np

from ..data.eval_base import Sample
from ..fit.detect import detect

DERIVED = "derived"


def derived_mask(damaged: np.ndarray, clean: np.ndarray, where: str = "pair") -> np.ndarray:
    """bool H×W: the pixels where ``damaged`` departs from ``clean`` by more than their noise."""
    return detect(damaged, clean, where=where).mask


def with_region(sample: Sample, where: str = "") -> Sample:
    """``sample`` itself when it has a mask, else a copy carrying the derived mask (marked derived)."""
    if sample.mask is not None:
        return sample
    mask = derived_mask(sample.damaged, sample.clean, where or sample.id)
    return replace(sample, mask=mask, mask_source=DERIVED)
