"""A clean image to damage: a stable id, where to read it, its licence; pixels read only on ``load()``."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..io import read_image


@dataclass(frozen=True)
class Source:
    """One clean image: a stable id (used in manifests and splits) and where to read it."""

    id: str
    path: str
    licence: str = ""

    def load(self) -> np.ndarray:
        return read_image(self.path)
