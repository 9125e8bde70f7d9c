"""Evaluation data: (damaged, clean[, mask]) pairs from a folder, a synth run, a dataset, or `builtin`.

``open_data(spec, split)`` understands:

* ``"builtin"`` — a small fixed test set synthesized from the built-in photographs (see
  :data:`BUILTIN`): split ``test`` has 10 crops of 192×192 px from the right half of each photo,
  split ``validation`` 5 crops from the left half (disjoint pixels), each damaged with one of the
  film-scan mixes (``*_scan_*``) drawn from ``SeedSequence([BUILTIN_SEED, split, i])``.
* a folder of pairs: ``damaged/`` and ``clean/`` with matching file names (any image suffix),
  optional ``mask/`` (nonzero = damaged; any channel counts) and ``labels/`` (family ids), and an
  optional ``manifest.jsonl`` — so the output of ``dustbench synth`` is such a folder. Files may
  sit in sub-folders; the image id is the path below ``damaged/`` without its suffix. A folder
  may instead hold one such folder per split (``test/``, ``validation/`` or ``val/``, ...).
* a dataset written by ``dustbench make-dataset`` (a folder with ``dataset_dict.json``), read
  through ``dustbench.data.iter_split``.

Samples are loaded one at a time, so memory holds one pair, whatever the size of the set.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Iterator

import numpy as np

from .errors import DustbenchError
from .io import list_images, read_image
from .synth.presets import FAMILIES

BUILTIN_SEED = 1234
BUILTIN_CROP = 192
BUILTIN_PRESETS = "*_scan_*"
BUILTIN = {"test": (10, "right"), "validation": (5, "left")}  # split -> (samples, half of each photo)
VALIDATION_NAMES = ("validation", "val", "valid")


@dataclass
class Sample:
    """One evaluation pair. ``mask``/``labels`` are H×W or None; ``digest`` hashes its content."""

    id: str
    damaged: np.ndarray
    clean: np.ndarray
    mask: np.ndarray | None = None
    labels: np.ndarray | None = None
    families: list[str] = field(default_factory=list)
    presets: list[str] = field(default_factory=list)
    digest: str = ""


def families_from_labels(labels: np.ndarray) -> list[str]:
    """Names of the families present in a label map (ids 1..len(FAMILIES), FAMILIES order)."""
    ids = np.unique(labels)
    return [name for i, name in enumerate(FAMILIES, 1) if i in ids]


def families_from_record(value) -> list[str]:
    """Families from a manifest/dataset field: ``{"dust": 12, ...}`` counts or a list of names."""
    if isinstance(value, dict):
        present = {k for k, v in value.items() if v}
    elif isinstance(value, str):
        present = {v for v in value.replace(";", ",").split(",") if v}
    else:
        present = set(value or ())
    return [f for f in FAMILIES if f in present] + sorted(present - set(FAMILIES))


def _hash_arrays(sample_id: str, *arrays) -> str:
    h = hashlib.sha256(sample_id.encode())
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        a = np.ascontiguousarray(a)
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.data)
    return h.hexdigest()


def _mask_2d(mask: np.ndarray | None, shape, what: str) -> np.ndarray | None:
    if mask is None:
        return None
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.shape != tuple(shape[:2]):
        raise DustbenchError(f"{what}: mask is {mask.shape[0]}×{mask.shape[1]}, image is {shape[0]}×{shape[1]}")
    if mask.dtype not in (np.bool_, np.uint8, np.uint16):
        mask = mask > 0  # floats/ints of any kind: nonzero = damaged
    return mask


def _check_pair(damaged, clean, what: str) -> None:
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
        for s in self:
            if s.id == sample_id:
                return s
        raise DustbenchError(f"{self.name}: no sample {sample_id!r}")

    def validation(self) -> "EvalData | None":
        """The matching validation split (for tuning), or None when this data has none."""
        return None

    def describe(self) -> dict:
        return {"kind": self.kind, "spec": self.spec, "path": str(self.path) if self.path else None,
                "split": self.split, "name": self.name}


class BuiltinData(EvalData):
    kind = "builtin"

    def __init__(self, split: str = "test"):
        if split not in BUILTIN:
            raise DustbenchError(f"builtin data has splits {', '.join(BUILTIN)}, not {split!r}")
        super().__init__("builtin", split, None)

    def ids(self) -> list[str]:
        return [s.id for s in _builtin_samples(self.split)]

    def __iter__(self):
        return iter(_builtin_samples(self.split))

    def validation(self):
        return BuiltinData("validation") if self.split != "validation" else None

    def describe(self) -> dict:
        n, half = BUILTIN[self.split]
        return {**super().describe(), "seed": BUILTIN_SEED, "crop": BUILTIN_CROP, "presets": BUILTIN_PRESETS,
                "region": f"{half} half of each built-in photograph"}


@lru_cache(maxsize=2)
def _builtin_samples(split: str) -> tuple[Sample, ...]:
    from .sources import builtin_sources, open_sources
    from .synth import synthesize
    from .synth.job import mask_to_image
    from .synth.presets import library, resolve_presets

    sources = builtin_sources() or open_sources("builtin")  # the latter raises the clear error
    presets = resolve_presets(BUILTIN_PRESETS, library())
    n, half = BUILTIN[split]
    c = BUILTIN_CROP
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([BUILTIN_SEED, list(BUILTIN).index(split), i]))
        source = sources[i % len(sources)]
        photo = read_image(source.path)
        h, w = photo.shape[:2]
        lo, hi = (0, w // 2 - c) if half == "left" else (w // 2, w - c)  # halves never share pixels
        y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(lo, hi + 1))
        clean = np.ascontiguousarray(photo[y0:y0 + c, x0:x0 + c])
        preset = presets[int(rng.integers(len(presets)))]
        s = synthesize(clean, preset, rng)
        sid = f"{i:02d}_{source.id.split(':')[-1]}"
        mask = mask_to_image(s.mask, clean.dtype)
        out.append(Sample(sid, s.damaged, clean, mask, s.labels, families_from_labels(s.labels),
                          [preset.name], _hash_arrays(sid, s.damaged, clean, mask)))
    return tuple(out)


class PairsFolder(EvalData):
    """``damaged/`` + ``clean/`` (+ ``mask/``, ``labels/``, ``manifest.jsonl``) in one folder."""

    kind = "pairs"

    def __init__(self, spec: str, split: str, path: Path, root: Path):
        super().__init__(spec, split, path)
        self.root = root  # the folder given (path may be root/<split>)
        self._index: dict[str, dict[str, Path]] | None = None
        self._manifest: dict[str, dict] | None = None

    @property
    def name(self) -> str:
        return f"{self.root.name}:{self.split}"

    def _files(self) -> dict[str, dict[str, Path]]:
        if self._index is None:
            self._index = _match_files(self.path)
        return self._index

    def ids(self) -> list[str]:
        return list(self._files())

    def _records(self) -> dict[str, dict]:
        if self._manifest is None:
            self._manifest = {}
            manifest = self.path / "manifest.jsonl"
            if manifest.is_file():
                for line in manifest.read_text(encoding="utf-8").splitlines():
                    if line.strip():
                        rec = json.loads(line)
                        if "damaged" in rec:
                            self._manifest[Path(rec["damaged"]).with_suffix("").as_posix()] = rec
        return self._manifest

    def load(self, sample_id: str) -> Sample:
        files = self._files().get(sample_id)
        if files is None:
            raise DustbenchError(f"{self.name}: no sample {sample_id!r}")
        damaged, clean = read_image(files["damaged"]), read_image(files["clean"])
        _check_pair(damaged, clean, str(files["damaged"]))
        mask = _mask_2d(read_image(files["mask"]), damaged.shape, str(files["mask"])) if "mask" in files else None
        labels = read_image(files["labels"]) if "labels" in files else None
        rec = self._records().get(f"damaged/{sample_id}", {})
        if labels is not None:
            families = families_from_labels(labels)
        else:
            families = families_from_record(rec.get("families"))
        h = hashlib.sha256(sample_id.encode())
        for key in ("damaged", "clean", "mask"):
            if key in files:
                with open(files[key], "rb") as f:
                    h.update(key.encode() + hashlib.file_digest(f, "sha256").digest())
        return Sample(sample_id, damaged, clean, mask, labels, families, list(rec.get("presets", [])),
                      h.hexdigest())

    get = load

    def describe(self) -> dict:
        return {**super().describe(), "root": str(self.root)}

    def __iter__(self):
        for sample_id in self.ids():
            yield self.load(sample_id)

    def validation(self):
        if self.path == self.root:
            return None
        for name in VALIDATION_NAMES:
            if (self.root / name / "damaged").is_dir() and name != self.split:
                return PairsFolder(str(self.root), name, self.root / name, self.root)
        return None


def _match_files(folder: Path) -> dict[str, dict[str, Path]]:
    """id -> {"damaged": path, "clean": path[, "mask", "labels"]}; errors name the unmatched files."""
    def by_id(sub: str) -> dict[str, Path]:
        base = folder / sub
        if not base.is_dir():
            return {}
        found: dict[str, Path] = {}
        for p in list_images(base):
            key = p.relative_to(base).with_suffix("").as_posix()
            if key in found:
                raise DustbenchError(f"{base}: two files for image {key!r}: {found[key].name} and {p.name}")
            found[key] = p
        return found

    damaged, clean = by_id("damaged"), by_id("clean")
    if not damaged:
        raise DustbenchError(f"{folder / 'damaged'}: no PNG, JPEG or TIFF images found")
    missing = [k for k in damaged if k not in clean]
    if missing:
        shown = ", ".join(damaged[k].name for k in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DustbenchError(f"{folder}: {len(missing)} damaged image(s) have no clean reference with the "
                             f"same name in clean/: {shown}")
    masks, labels = by_id("mask"), by_id("labels")
    index = {}
    for k in sorted(damaged):
        entry = {"damaged": damaged[k], "clean": clean[k]}
        if k in masks:
            entry["mask"] = masks[k]
        if k in labels:
            entry["labels"] = labels[k]
        index[k] = entry
    return index


class HFData(EvalData):
    """A ``make-dataset`` output read through ``dustbench.data.iter_split``."""

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
        try:
            from .data import iter_split
        except ImportError:
            raise DustbenchError(f"{path}: reading datasets needs dustbench.data.iter_split, which this "
                                 "installation lacks") from None
        self._iter_split = iter_split
        self._ids: list[str] | None = None

    def ids(self) -> list[str]:
        if self._ids is None:
            self._ids = [s.id for s in self]
        return self._ids

    def __iter__(self):
        for rec in self._iter_split(self.path, self.split):
            sid = str(rec["id"])
            damaged, clean = np.asarray(rec["damaged"]), np.asarray(rec["clean"])
            _check_pair(damaged, clean, f"{self.path}:{self.split}:{sid}")
            mask = _mask_2d(rec.get("mask"), damaged.shape, f"{self.path}:{self.split}:{sid}")
            labels = rec.get("labels")
            labels = None if labels is None else np.asarray(labels)
            families = families_from_labels(labels) if labels is not None else \
                families_from_record(rec.get("families"))
            presets = rec.get("presets") or []
            yield Sample(sid, damaged, clean, mask, labels, families,
                         [presets] if isinstance(presets, str) else list(presets),
                         _hash_arrays(sid, damaged, clean, mask))

    def validation(self):
        for name in VALIDATION_NAMES:
            if name in self.splits and name != self.split:
                return HFData(self.spec, name, self.path)
        return None


def open_data(spec, split: str = "test") -> EvalData:
    """``builtin``, a pairs folder (optionally with split sub-folders) or a make-dataset folder."""
    if isinstance(spec, EvalData):
        return spec
    if str(spec) == "builtin":
        return BuiltinData(split)
    path = Path(spec).expanduser().resolve()
    if not path.is_dir():
        raise DustbenchError(f"--data {spec}: no such folder (use 'builtin', a folder with damaged/ and "
                             "clean/, or a dataset written by `dustbench make-dataset`)")
    if (path / "dataset_dict.json").is_file():
        return HFData(str(spec), split, path)
    if (path / split / "damaged").is_dir():
        return PairsFolder(str(spec), split, path / split, path)
    if (path / "damaged").is_dir():
        if split != "test":
            raise DustbenchError(f"--data {spec}: a single folder of pairs (no split sub-folders) is one "
                                 f"test split; --split {split} needs {path / split / 'damaged'}")
        return PairsFolder(str(spec), split, path, path)
    splits = sorted(p.name for p in path.iterdir() if (p / "damaged").is_dir())
    hint = f" (it has splits: {', '.join(splits)})" if splits else ""
    raise DustbenchError(f"--data {spec}: expected damaged/ and clean/ folders, {split}/damaged/, or a "
                         f"dataset_dict.json{hint}")
