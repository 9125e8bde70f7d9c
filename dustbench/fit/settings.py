"""The detection settings of ``fit-preset``, with no numerical imports, so the command line can show
their defaults without loading the fitting code (numpy, scipy, pandas, scikit-image)."""
from __future__ import annotations

from dataclasses import dataclass

THRESHOLD_FLOOR = 1.5 / 255  # the smallest departure counted, even on noiseless (synthetic) pairs


@dataclass(frozen=True)
class DetectionSettings:
    """How damage is told apart from noise; every field can be overridden from the CLI."""

    k_low: float = 3.0  # a damaged pixel departs by more than k_low noise sigmas ...
    k_high: float = 6.0  # ... and its component by more than k_high somewhere
    sigma: float | None = None  # noise sigma in [0, 1] units; None = estimated per block (robust MAD)
    floor: float = THRESHOLD_FLOOR
    background_size: float = 0.06  # blank scans: median window, fraction of the short side
    max_damage_fraction: float = 0.05  # blank scans: more flagged pixels than this = not blank
