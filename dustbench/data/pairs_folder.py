"""Evaluation pairs in a folder: ``damaged/`` + ``clean/`` (+ ``mask/``, ``labels/``, ``infrared/``,
``manifest.jsonl``). A damaged RGBI TIFF (fourth sample marked as not alpha) brings its own
infrared plane; ``infrared/`` holds planes for the other pairs (``dustbench synth --infrared``).

The output of ``dustbench synth`` is such a folder. Files may sit in sub-folders; an image's id is
its path below ``damaged/`` without the suffix. :func:`match_pair_files` is the one matcher of
damaged and clean files (``fit-preset --pairs`` uses it too).
"""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

from ..errors import DustbenchError
from ..hashing import file_sha256
from ..io import ImageReadError, list_images, read_image, read_scan
from ..synth import families_present
from .eval_base import VALIDATION_NAMES, EvalData, Sample, check_pair, check_plane, eval_mask, families_from_record

PARTS = ("damaged", "clean", "mask", "labels", "infrared")


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
            self._index = _eval_index(self.path)
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

    def get(self, sample_id: str) -> Sample:
        files = self._files().get(sample_id)
        if files is None:
            raise self._missing(sample_id)
        h = hashlib.sha256(sample_id.encode())
        images = {}
        for key in PARTS:  # each file hashed, then decoded once from disk
            if key in files:
                if key != "labels":
                    h.update(key.encode() + bytes.fromhex(_sha256_of(files[key])))
                if key == "damaged":  # an RGBI scan: RGB, and its infrared plane
                    images["damaged"], rgbi_plane = read_scan(files[key])
                    if rgbi_plane is not None:
                        images.setdefault("infrared", rgbi_plane)
                else:  # straight into its array (a large scan once, not twice)
                    images[key] = read_image(files[key])
        damaged, clean = images["damaged"], images["clean"]
        check_pair(damaged, clean, str(files["damaged"]))
        mask = eval_mask(images["mask"], damaged.shape, str(files["mask"])) if "mask" in images else None
        labels = images.get("labels")
        rec = self._records().get(f"damaged/{sample_id}", {})
        families = families_present(labels) if labels is not None else families_from_record(rec.get("families"))
        infrared = check_plane(images.get("infrared"), damaged.shape, str(files.get("infrared", files["damaged"])))
        return Sample(sample_id, damaged, clean, mask, labels, families, list(rec.get("presets", [])),
                      h.hexdigest(), str(files["damaged"]),
                      params=rec.get("params"), infrared=infrared)

    load = get

    def describe(self) -> dict:
        return {**super().describe(), "root": str(self.root)}

    def __iter__(self):
        for sample_id in self.ids():
            yield self.get(sample_id)

    def validation(self):
        if self.path == self.root:
            return None
        for name in VALIDATION_NAMES:
            if (self.root / name / "damaged").is_dir() and name != self.split:
                return PairsFolder(str(self.root), name, self.root / name, self.root)
        return None


def _sha256_of(path: Path) -> str:
    """The file's SHA-256; ImageReadError naming it when it cannot be read."""
    try:
        return file_sha256(path)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc


def match_pair_files(folder: Path, parts=PARTS) -> tuple[dict[str, dict[str, Path]], list[Path]]:
    """Files of ``folder/<part>/`` matched by id (the path below the part without its suffix).

    Returns ``{id: {"damaged": path, "clean": path[, "mask", "labels"]}}`` for every id that has a
    damaged and a clean file, and the damaged or clean files that have no partner. Two files with
    one id in a part (``x.png`` and ``x.tif``) are an error naming both.
    """
    found = {}
    for part in parts:
        base = folder / part
        found[part] = {}
        for p in list_images(base) if base.is_dir() else []:
            key = p.relative_to(base).with_suffix("").as_posix()
            if key in found[part]:
                raise DustbenchError(f"{base}: two files for image {key!r}: {found[part][key].name} and {p.name}")
            found[part][key] = p
    damaged, clean = found["damaged"], found["clean"]
    alone = [damaged[k] for k in sorted(damaged) if k not in clean] + [clean[k] for k in sorted(clean)
                                                                      if k not in damaged]
    index = {k: {part: found[part][k] for part in parts if k in found[part]} for k in sorted(damaged) if k in clean}
    return index, alone


def _eval_index(folder: Path) -> dict[str, dict[str, Path]]:
    """Pairs to evaluate: every damaged image needs its clean reference (extra clean files are fine)."""
    index, alone = match_pair_files(folder)
    missing = [p for p in alone if p.parent.is_relative_to(folder / "damaged")]
    if not index and not missing:
        raise DustbenchError(f"{folder / 'damaged'}: no PNG, JPEG or TIFF images found")
    if missing:
        shown = ", ".join(p.name for p in missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DustbenchError(f"{folder}: {len(missing)} damaged image(s) have no clean reference with the "
                             f"same name in clean/: {shown}")
    return index
