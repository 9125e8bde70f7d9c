"""What every evaluation set is: a split of :class:`Sample` pairs, read one at a time."""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np

from ..errors import DustbenchError
from ..io import mask_plane
from ..synth import FAMILIES

VALIDATION_NAMES = ("validation", "val", "valid")


@dataclass
class Sample:
    """One evaluation pair. ``mask``/``labels`` are H×W or None; ``digest`` hashes its content.

    ``mask_source`` says where the mask came from: ``"truth"`` (the data's own) or ``"derived"``
    (estimated from the pair, see :mod:`dustbench.evaluation.region`). ``params`` is the synthesis
    record of synthetic data (None otherwise): only oracles that need the layer use it.
    ``infrared`` is the scanner's infrared plane (an RGBI scan's, or a synth folder's ``infrared/``),
    handed to the methods of the infrared track only.
    """

    id: str
    damaged: np.ndarray
    clean: np.ndarray
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    families: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    digest: str = ""
    source: str = ""  # where the pair came from (a file, a dataset cell), for messages
    params: dict | str | None = None  # a dict, or its JSON text (make-dataset's params column)
    mask_source: str = "truth"
    infrared: np.ndarray | None = None  # the scanner's infrared plane (H×W), for the infrared track


def families_from_record(value) -> list[str]:
    """Families from a manifest/dataset field: ``{"dust": 12, ...}`` counts or a list of names."""
    if isinstance(value, dict):
        present = {k for k, v in value.items() if v}
    elif isinstance(value, str):
        present = {v for v in value.replace(";", ",").split(",") if v}
    else:
        present = set(value or ())
    return [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))


def hash_arrays(sample_id: str, *arrays) -> str:
    h = hashlib.sha256(sample_id.encode())
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def fingerprint_line(sample: Sample) -> bytes:
    """A sample's share of a test set's fingerprint (sha256 over these lines, in order)."""
    return f"{sample.id}\0{sample.digest}\n".encode()


def eval_mask(mask: np.ndarray | None, shape, what: str) -> np.ndarray | None:
    """A mask image as H×W: bool/uint8/uint16 kept (opacity), anything else as ``nonzero = damaged``."""
    if mask is None:
        return None
    mask = mask_plane(mask, shape, what)
    if mask.dtype not in (np.bool_, np.uint8, np.uint16):
        mask = mask > 0  # floats/ints of any kind: nonzero = damaged
    return mask


def check_plane(infrared, shape, where: str) -> np.ndarray | None:
    """A sample's infrared plane (None stays None): one H×W plane of the damaged image's size, else a
    DustbenchError naming ``where``."""
    if infrared is None:
        return None
    infrared = np.asarray(infrared)
    if infrared.shape != tuple(shape[:2]):
        raise DustbenchError(f"{where}: the infrared plane is {infrared.shape}, the damaged image "
                             f"{tuple(shape[:2])}: expected one H×W plane")
    return infrared


def check_pair(damaged, clean, what: str) -> None:
    if damaged.shape != clean.shape:
        raise DustbenchError(f"{what}: damaged image has shape {damaged.shape} but the clean reference has "
                             f"{clean.shape} (grey and RGB cannot be mixed; sizes must match)")


class EvalData:
    """A split of evaluation pairs: iterate it for :class:`Sample` objects, one at a time."""

    kind = ""

    def __init__(self, spec: str, split: str, path: Path | None):
        self.spec, self.split, self.path = str(spec), split, path

    @property
    def name(self) -> str:
        """Short test-set name, e.g. ``builtin:test`` or ``scans:test``."""
        return f"{self.path.name if self.path else self.spec}:{self.split}"

    def __len__(self) -> int:
        return len(self.ids())

    def ids(self) -> list[str]:
        raise NotImplementedError

    def __iter__(self) -> Iterator[Sample]:
        raise NotImplementedError

    def get(self, sample_id: str) -> Sample:
        """One sample by id, read directly (not by scanning the split)."""
        raise NotImplementedError

    def _missing(self, sample_id: str) -> DustbenchError:
        return DustbenchError(f"{self.name}: no sample {sample_id!r}")

    def validation(self) -> "EvalData | None":
        """The matching validation split (for tuning), or None when this data has none."""
        return None

    def check_published(self, allow_drift: bool = False) -> dict | None:
        """For a versioned standard suite: whether it renders as published (see BuiltinData)."""
        return None

    def describe(self) -> dict:
        return {"kind": self.kind, "spec": self.spec, "path": str(self.path) if self.path else None,
                "split": self.split, "name": self.name}


