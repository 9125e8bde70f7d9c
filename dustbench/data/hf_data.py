"""Evaluation pairs from a dataset written by ``dustbench make-dataset``."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import DustbenchError
from ..synth import families_present
from .codec import decode_row, load_split
from .eval_base import (VALIDATION_NAMES, EvalData, Sample, check_pair, check_plane, eval_mask, families_from_record,
                        hash_arrays)


class HFData(EvalData):
    """A ``make-dataset`` output; rows are decoded one at a time (ids come from the id column alone)."""

    kind = "hf"

    def __init__(self, spec: str, split: str, path: Path):
        super().__init__(spec, split, path)
        try:
            info = json.loads((path / "dataset_dict.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise DustbenchError(f"{path / 'dataset_dict.json'}: unreadable ({exc})") from None
        self.splits = list(info.get("splits", [])) if isinstance(info, dict) else []
        if self.splits and split not in self.splits:
            raise DustbenchError(f"{path}: dataset has splits {', '.join(self.splits)}, not {split!r}")
        self._ds = None
        self._ids: list[str] | None = None

    @property
    def dataset(self):
        if self._ds is None:
            self._ds = load_split(self.path, self.split)
        return self._ds

    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = [str(i) for i in self.dataset["id"]]
        return self._ids

    def _sample(self, index: int) -> Sample:
        rec = decode_row(self.dataset[index])
        sid = str(rec["id"])
        where = f"{self.path}:{self.split}:{sid}"
        damaged, clean = np.asarray(rec["damaged"]), np.asarray(rec["clean"])
        check_pair(damaged, clean, where)
        mask = eval_mask(rec.get("mask"), damaged.shape, where)
        labels = rec.get("labels")
        labels = None if labels is None else np.asarray(labels)
        families = families_present(labels) if labels is not None else families_from_record(rec.get("families"))
        presets = rec.get("presets") or []
        infrared = check_plane(rec.get("infrared"), damaged.shape, where)
        planes = () if infrared is None else (infrared,)  # datasets without the plane keep their digests
        return Sample(sid, damaged, clean, mask, labels, families,
                      [presets] if isinstance(presets, str) else list(presets),
                      hash_arrays(sid, damaged, clean, mask, *planes), where,
                      params=rec.get("params"), infrared=infrared)

    def __iter__(self):
        for index in range(len(self.dataset)):
            yield self._sample(index)

    def get(self, sample_id: str) -> Sample:
        try:
            return self._sample(self.ids().index(sample_id))
        except ValueError:
            raise self._missing(sample_id) from None

    def validation(self):
        for name in VALIDATION_NAMES:
            if name in self.splits and name != self.split:
                return HFData(self.spec, name, self.path)
        return None
