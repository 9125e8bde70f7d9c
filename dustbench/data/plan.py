"""Before any sample is made: read every source once, drop duplicates and small images, split.

The scan decodes each source (one at a time per process, so memory stays at one image per
worker), hashes its pixels and notes its shape and dtype. Results are appended to a cache file as
they arrive, so an interrupted scan resumes where it stopped. Splits are then drawn from the seed
and the sorted ids of the usable sources alone: the same for any ``--num-proc`` or ``--shard``.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DustbenchError, ImageReadError
from ..headers import read_header
from ..headers import check_pixel_limit
from ..io import read_file, storable
from ..sources import HFSource, ProceduralSource, Source, source_record
from ..threads import pool_worker_setup
from .codec import output_channels

SPLIT_CODES = {"train": 0, "validation": 1, "test": 2}  # the second entry of every sample's seed
_SPLIT_DRAW = 7  # SeedSequence([seed, 7]) permutes the sources into splits


def load_clean(source: Source) -> np.ndarray:
    """A source's pixels as uint8/uint16 (float images become uint16: PNG stores no floats)."""
    return storable(source.load())


def _cache_key(source: Source) -> str:
    if isinstance(source, HFSource):
        return f"hf|{source.ref}|{source.split}|{source.row}|{source.column}"
    if isinstance(source, ProceduralSource):  # drawn from its seed: the id and the draw say it all
        return f"procedural|{source.id}|{source.seed}|{source.shape}"
    try:
        st = os.stat(source.path)
        return f"file|{source.path}|{st.st_size}|{st.st_mtime_ns}"
    except OSError:
        return f"file|{source.path}|missing"


def scan_one(source: Source) -> dict[str, Any]:
    """Shape, stored dtype and content hash of one source.

    A file whose header says plainly what it holds is not decoded here (rows decode it once, later):
    its hash is of the file's bytes, so byte-identical copies are duplicates. Anything else (dataset
    cells, headers this module cannot read) is decoded and hashed by its pixels.
    """
    rec: dict[str, Any] = {"id": source.id, "key": _cache_key(source)}
    try:
        known = None if isinstance(source, (HFSource, ProceduralSource)) else _file_facts(source.path)
        if known is None:
            image = load_clean(source)
            h = hashlib.sha256(f"{image.shape}|{image.dtype}|".encode())
            h.update(np.ascontiguousarray(image).data)
            known = list(image.shape), str(image.dtype), h.hexdigest()
    except (ImageReadError, OSError) as exc:
        rec["error"] = str(exc)
        return rec
    rec.update(shape=known[0], dtype=known[1], sha256=known[2])
    return rec


def _file_facts(path: str) -> tuple[list[int], str, str] | None:
    """(shape, stored dtype, "file:" + sha256 of the bytes) from a file's header, or None to decode it."""
    data = read_file(path)
    check_pixel_limit(data, path)
    header = read_header(data)
    if header is None or header.dtype not in ("uint8", "uint16"):  # floats: decoded, so their range is checked
        return None
    return header.shape, header.dtype, "file:" + hashlib.sha256(data).hexdigest()


def scan_sources(sources: list[Source], cache: Path | None, num_proc: int = 1,
                 progress: bool = True) -> dict[str, dict[str, Any]]:
    """id -> scan record (shape, dtype, sha256, or error) for every source, reusing `cache`."""
    done: dict[str, dict[str, Any]] = {}
    if cache is not None and cache.is_file():
        for line in cache.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by an interruption
                continue
            done[rec["id"]] = rec
    keys = {s.id: _cache_key(s) for s in sources}
    results = {s.id: done[s.id] for s in sources if s.id in done and done[s.id].get("key") == keys[s.id]}
    todo = [s for s in sources if s.id not in results]
    bar = tqdm(total=len(sources), initial=len(sources) - len(todo), desc="scan sources", unit="img",
               disable=not progress)
    out = open(cache, "a", encoding="utf-8") if cache is not None else None
    try:
        if num_proc <= 1 or len(todo) <= 1:
            it = map(scan_one, todo)
            pool = None
        else:
            pool = mp.get_context("spawn").Pool(min(num_proc, len(todo)), initializer=pool_worker_setup)
            it = pool.imap_unordered(scan_one, todo)
        for rec in it:
            results[rec["id"]] = rec
            if out is not None:
                out.write(json.dumps(rec, sort_keys=True) + "\n")
                out.flush()
            bar.update(1)
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        bar.close()
        if out is not None:
            out.close()
    return results


@dataclass
class Plan:
    """What make-dataset will do: the sources of each split and why others were left out."""

    splits: dict[str, list[dict[str, Any]]]  # split -> source records (+ shape, dtype, sha256), sorted by id
    unreadable: list[tuple[str, str]] = field(default_factory=list)  # (path, error)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (dropped id, kept id)
    too_small: list[tuple[str, list[int]]] = field(default_factory=list)  # (id, shape)
    storage: str = "image"
    channels: list[int] = field(default_factory=list)  # channel counts of the stored images (one = uniform)

    def to_json(self) -> dict[str, Any]:
        return {"splits": self.splits, "unreadable": self.unreadable, "duplicates": self.duplicates,
                "too_small": self.too_small, "storage": self.storage, "channels": self.channels}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "Plan":
        return cls(d["splits"], [tuple(x) for x in d["unreadable"]], [tuple(x) for x in d["duplicates"]],
                   [tuple(x) for x in d["too_small"]], d["storage"], d.get("channels", []))


def make_plan(sources: list[Source], scans: dict[str, dict[str, Any]], *, seed: int, patch: int,
              val_images: int, test_images: int, on_error: str, channels: str = "3") -> Plan:
    """Drop unreadable, duplicate and small sources, then split the rest by the seed (see module doc)."""
    unreadable = [(s.path, scans[s.id]["error"]) for s in sources if "error" in scans[s.id]]
    if unreadable and on_error == "stop":
        names = "; ".join(f"{p}: {e}" for p, e in unreadable[:5])
        more = f" (and {len(unreadable) - 5} more)" if len(unreadable) > 5 else ""
        raise DustbenchError(f"{len(unreadable)} unreadable source image(s): {names}{more}. "
                             "Fix or remove them, or pass --on-error skip to leave them out")
    for path, error in unreadable:
        print(f"skipped unreadable source: {error}", file=sys.stderr)
    readable = sorted((s for s in sources if "error" not in scans[s.id]), key=lambda s: s.id)
    if not readable:
        raise DustbenchError("no readable source images (every file failed to decode)")
    kept, duplicates, seen = [], [], {}
    for s in readable:
        digest = scans[s.id]["sha256"]
        if digest in seen:
            duplicates.append((s.id, seen[digest]))
        else:
            seen[digest] = s.id
            kept.append(s)
    too_small = [(s.id, scans[s.id]["shape"]) for s in kept if min(scans[s.id]["shape"][:2]) < patch]
    usable = [s for s in kept if min(scans[s.id]["shape"][:2]) >= patch]
    if not usable:
        largest = max(min(scans[s.id]["shape"][:2]) for s in kept)
        raise DustbenchError(f"--patch {patch} is larger than every source image (the largest short side is "
                             f"{largest} px); use a smaller --patch")
    if val_images + test_images + 1 > len(usable):
        raise DustbenchError(
            f"not enough source images: {len(usable)} usable ({len(duplicates)} duplicates, {len(too_small)} "
            f"smaller than the patch, {len(unreadable)} unreadable left out), but --val-images {val_images} + "
            f"--test-images {test_images} + at least 1 for the train split are needed. Use fewer "
            "validation/test images or add sources")
    perm = np.random.default_rng(np.random.SeedSequence([seed, _SPLIT_DRAW])).permutation(len(usable))
    order = [usable[i] for i in perm]
    groups = {"validation": order[:val_images], "test": order[val_images:val_images + test_images],
              "train": order[val_images + test_images:]}
    splits = {name: [{**source_record(s), **{k: scans[s.id][k] for k in ("shape", "dtype", "sha256")}}
                     for s in sorted(members, key=lambda s: s.id)]
              for name, members in groups.items()}
    used = [r for members in splits.values() for r in members]
    counts = sorted({output_channels(r["shape"], channels) for r in used})
    if len(counts) > 1:
        print("warning: --channels keep: the sources mix grey and RGB images, so rows of one split differ in "
              "channels and torch's default collate cannot batch them; use --channels 3 (or 1)", file=sys.stderr)
    rgb16 = any(r["dtype"] == "uint16" and output_channels(r["shape"], channels) == 3 for r in used)
    return Plan(splits, unreadable, duplicates, too_small, "png-bytes" if rgb16 else "image", counts)
