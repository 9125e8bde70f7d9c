"""An in-memory image used as a source (library use, tests)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class ArraySource:
    """An in-memory image used as a source."""

    id: str
    array: np.ndarray
    path: str = "<array>"
    licence: str = ""

    def load(self) -> np.ndarray:
        return self.array
