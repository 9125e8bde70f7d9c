"""Clean-image sources for every command: ``open_sources(spec)``.

``spec`` (``--clean``) is one of

* ``builtin``: the colour photographs shipped with scikit-image/matplotlib (:mod:`.builtin`), which
  the ``builtin`` evaluation sets are drawn from; ``builtin-train``: every other image that ships
  offline (:data:`.builtin.BUILTIN_TRAIN`), for training;
* a folder of PNG/JPEG/TIFF scans (:mod:`.folder`);
* ``procedural`` or ``procedural:KIND``: images drawn from a seed, with the hard negatives (text,
  line art, catchlights, clutter) real scans hold (:mod:`.procedural`);
* a folder written by ``datasets``' ``save_to_disk`` (``DIR`` or ``DIR:split``) or ``hf:NAME[:split]``
  on the Hugging Face hub (:mod:`.hf`);
* several of these joined by ``+`` (``builtin-train+procedural``): all their images, in that order.

A source is only a name and where to read it; pixels are read by ``source.load()`` when a sample
needs them, so a folder of thousands of 24 MP scans costs nothing until used. Library code may
also pass in-memory images (:class:`.array.ArraySource`).
"""
from __future__ import annotations

import os

from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from .array import ArraySource
from .builtin import BUILTIN, BUILTIN_TRAIN, builtin_sources, builtin_train_sources, package_data_dir
from .folder import folder_sources
from .hf import HFSource, hf_sources
from .procedural import ProceduralSource, procedural_image, procedural_sources
from .source import Source

__all__ = ["BUILTIN", "BUILTIN_TRAIN", "ArraySource", "HFSource", "ProceduralSource", "Source", "builtin_sources",
           "builtin_train_sources", "folder_sources", "hf_sources", "open_sources", "package_data_dir",
           "procedural_image", "procedural_sources",
           "source_from_record", "source_record"]


CLEAN_KINDS = "use 'builtin', 'builtin-train', 'procedural[:KIND]', a folder of PNG/JPEG/TIFF scans, a saved dataset or hf:NAME"


def _builtin(ds, column) -> list[Source]:
    sources = builtin_sources() if ds.kind == "builtin" else builtin_train_sources()
    if not sources:
        raise DustbenchError(f"no {ds.kind} images found (are scikit-image and matplotlib installed?)")
    return sources


def _folder(ds, column) -> list[Source]:
    sources = folder_sources(ds.path)
    if not sources:
        raise DustbenchError(f"--clean {ds.text}: no PNG, JPEG or TIFF images found in this folder")
    return sources


def _joined(ds, column) -> list[Source]:
    if not all(p.text for p in ds.parts):
        raise DustbenchError(f"--clean {ds.text}: an empty part between '+' signs")
    return [s for part in ds.parts for s in open_sources(part, column)]


# data_spec kind -> opener(spec, column): a new kind of clean source is one line here (and its word
# in dustbench/data_spec.py when it is not a folder)
OPENERS = {
    "builtin": _builtin, "builtin-train": _builtin,
    "procedural": lambda ds, column: list(procedural_sources(ds.text)),
    "hub": lambda ds, column: list(hf_sources(ds, column)), "dataset": lambda ds, column: list(hf_sources(ds, column)),
    "folder": _folder, "pairs": _folder, "split_pairs": _folder,  # any folder: its images, found recursively
    "joined": _joined,
}


def open_sources(spec: str | os.PathLike, column: str | None = None) -> list[Source]:
    """Every kind of clean source (see the module docstring) -> a non-empty list of sources.

    ``column`` names the image column of a dataset (default: the first image column).
    """
    ds = parse_data_spec(spec)
    if ds.kind == "missing":
        raise DustbenchError(f"--clean {ds.text}: no such folder ({CLEAN_KINDS})")
    if ds.kind not in OPENERS:
        raise DustbenchError(f"--clean {ds.text}: not a folder of clean images ({CLEAN_KINDS})")
    return OPENERS[ds.kind](ds, column)


def source_record(source: Source) -> dict:
    """A JSON record from which :func:`source_from_record` rebuilds the source."""
    rec = {"id": source.id, "path": source.path, "licence": source.licence}
    if isinstance(source, HFSource):
        rec.update(kind="hf", ref=source.ref, split=source.split, row=source.row, column=source.column)
    if isinstance(source, ProceduralSource):
        rec.update(kind="procedural", drawn=source.kind, index=source.index, seed=source.seed, shape=list(source.shape))
    return rec


def source_from_record(rec: dict) -> Source:
    if rec.get("kind") == "procedural":
        return ProceduralSource(rec["id"], rec["drawn"], int(rec["index"]), int(rec["seed"]), tuple(rec["shape"]))
    if rec.get("kind") == "hf":
        return HFSource(rec["id"], rec["path"], rec.get("licence", ""), rec["ref"], rec["split"], rec["row"],
                        rec["column"])
    return Source(rec["id"], rec["path"], rec.get("licence", ""))
