"""Stamps: real artifact sprites (RGBA cut from real scans) kept in a folder, and their rendering.

A stamp folder holds one 16-bit RGBA PNG per stamp, ``<family>/<row>.png``, and ``index.csv``::

    file,family,short_side,size,source,...
    dust/0000.png,dust,2000,0.0012,scan_017.tif,...

RGB is the artifact's own colour per pixel, alpha its opacity. ``short_side`` is the short side
(px) of the scan the stamp was cut from and ``size`` the artifact's size as a fraction of it
(diameter for blobs, length for strokes), so a stamp can be drawn at the right size on any frame.
The index is written last, so a folder with an index is complete; its sha256 identifies the set
(parameter records store it, and rendering refuses a folder whose index changed since).
"""
from __future__ import annotations

import csv
import hashlib
import io
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np

from ..errors import DustbenchError
from ..io import write_bytes_atomic, write_text_atomic
from .presets import FAMILIES
from .. import portable_math as pm
from ..portable_dot import dot_last

INDEX_NAME = "index.csv"
REQUIRED_META = ("short_side", "size")
SIZE_PERCENTILES = (5.0, 95.0)  # a scaled stamp's size stays within these percentiles of its family
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_PNG_ALPHA_TYPES = (4, 6)  # PNG colour types with an alpha channel: grey + alpha, RGBA


class StampError(DustbenchError):
    """A stamp folder, its index or one of its PNGs is unusable; the message names the file."""


@dataclass
class Stamp:
    """One real artifact: float32 h×w×4 RGBA in [0, 1], its label family and its measurements."""

    rgba: np.ndarray
    family: str
    meta: dict[str, Any] = field(default_factory=dict)


# --- writing ----------------------------------------------------------------------------------

def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return repr(float(value))  # shortest text that reads back to the same float
    if isinstance(value, str):
        return value
    raise TypeError(f"not a JSON scalar: {value!r}")


def _encode_rgba(rgba: Any, where: str) -> np.ndarray:
    rgba = np.asarray(rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4 or min(rgba.shape[:2]) < 1:
        raise StampError(f"{where}: rgba must be h×w×4, got shape {rgba.shape}")
    if rgba.dtype.kind in "ui":
        rgba = rgba.astype(np.float64) / float(np.iinfo(rgba.dtype).max)
    rgba = rgba.astype(np.float64)
    if not np.all(np.isfinite(rgba)) or rgba.min() < -1e-6 or rgba.max() > 1 + 1e-6:
        raise StampError(f"{where}: rgba values must lie in [0, 1]")
    q = np.rint(np.clip(rgba, 0.0, 1.0) * 65535.0).astype(np.uint16)
    ok, buf = cv2.imencode(".png", cv2.cvtColor(q, cv2.COLOR_RGBA2BGRA))
    if not ok:  # pragma: no cover - OpenCV encodes any uint16 BGRA array
        raise StampError(f"{where}: OpenCV could not encode the stamp as PNG")
    return buf


def write_stamps(folder: str | os.PathLike, stamps: Iterable[Stamp], overwrite: bool = False) -> Path:
    """Write `stamps` as ``<family>/<row>.png`` (16-bit RGBA) plus ``index.csv``; returns the folder.

    Every file is written atomically and the index last. A folder that already holds an index is
    refused (StampError naming it) unless `overwrite`; then PNGs that only the old index listed
    are removed. Other files in the folder are left alone.
    """
    folder = Path(folder)
    index = folder / INDEX_NAME
    if index.exists() and not overwrite:
        raise StampError(f"{folder}: already holds a stamp set ({INDEX_NAME}); "
                         "write to an empty folder or pass overwrite=True")
    stamps = list(stamps)
    rows, keys = [], set()
    for i, st in enumerate(stamps):
        where = f"{folder}: stamp {i}"
        if st.family not in FAMILIES:
            raise StampError(f"{where}: family {st.family!r} is not one of {', '.join(FAMILIES)}")
        meta = dict(st.meta)
        for key in REQUIRED_META:
            v = meta.get(key)
            if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool) \
                    or not math.isfinite(v) or v <= 0:
                raise StampError(f"{where}: meta {key!r} must be a positive number, got {v!r}")
        if {"file", "family"} & set(meta):
            raise StampError(f"{where}: meta may not use the column names 'file' or 'family'")
        for key, v in meta.items():
            try:
                _cell(v)
            except TypeError:
                raise StampError(f"{where}: meta {key!r} must be a number, string, bool or None, got {v!r}") from None
        rows.append((st, meta))
        keys.update(meta)
    digits = max(4, len(str(len(stamps) - 1)))
    columns = ["file", "family", *sorted(keys)]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow(columns)
    files = []
    for i, (st, meta) in enumerate(rows):
        name = f"{st.family}/{i:0{digits}d}.png"
        write_bytes_atomic(folder / name, _encode_rgba(st.rgba, f"{folder}: stamp {i}"))
        files.append(name)
        writer.writerow([name, st.family, *(_cell(meta.get(k)) for k in columns[2:])])
    old = _listed_files(index) if index.exists() else []
    write_text_atomic(index, text.getvalue())
    for name in sorted(set(old) - set(files)):  # only files the replaced index called ours
        (folder / name).unlink(missing_ok=True)
    return folder


def _listed_files(index: Path) -> list[str]:
    try:
        with index.open(newline="", encoding="utf-8") as f:
            return [r["file"] for r in csv.DictReader(f) if _safe_name(r.get("file") or "")]
    except (OSError, UnicodeDecodeError, csv.Error, KeyError):
        return []


def _safe_name(name: str) -> bool:
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts


# --- reading ----------------------------------------------------------------------------------

def _parse(text: str) -> Any:
    if text == "true" or text == "false":
        return text == "true"
    if re.fullmatch(r"[+-]?\d+", text):
        return int(text)
    try:
        return float(text)
    except ValueError:
        return text


@dataclass(eq=False)
class StampSet:
    """The stamps of one folder: their index read eagerly, their pixels on first use (then kept)."""

    folder: Path
    digest: str  # sha256 of index.csv
    files: tuple[str, ...]
    families: tuple[str, ...]  # per row
    sizes: np.ndarray  # float64 per row: size as a fraction of short_sides
    short_sides: np.ndarray  # float64 per row, px
    metas: tuple[dict[str, Any], ...]
    _pixels: dict[int, np.ndarray] = field(default_factory=dict, repr=False)
    _limits: dict[str, tuple[float, float]] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return len(self.files)

    def rows(self, families: Iterable[str] | None = None) -> np.ndarray:
        """Row indices of the stamps of `families` (all when None or empty), in index order."""
        wanted = set(families or FAMILIES)
        return np.array([i for i, f in enumerate(self.families) if f in wanted], dtype=np.int64)

    def size_limits(self, family: str) -> tuple[float, float]:
        """The [5th, 95th] percentile of the sizes of `family`'s stamps: the range scaling may reach."""
        if family not in self._limits:
            sizes = self.sizes[np.array([f == family for f in self.families], dtype=bool)]
            if not sizes.size:
                raise StampError(f"{self.folder}: no stamps of family {family!r}")
            lo, hi = np.percentile(sizes, SIZE_PERCENTILES)
            self._limits[family] = (float(lo), float(hi))
        return self._limits[family]

    def rgba(self, row: int) -> np.ndarray:
        """float32 h×w×4 RGBA in [0, 1] of stamp `row` (read once, then cached; do not modify)."""
        row = int(row)
        if row not in self._pixels:
            self._pixels[row] = _read_rgba(self.folder / self.files[row])
        return self._pixels[row]

    def stamp(self, row: int) -> Stamp:
        return Stamp(self.rgba(row).copy(), self.families[row], dict(self.metas[row]))


def _png_header(path: Path) -> tuple[int, int, int]:
    """(width, height, colour type) from a PNG's IHDR, without decoding the pixels."""
    try:
        with path.open("rb") as f:
            head = f.read(26)
    except FileNotFoundError:
        raise StampError(f"{path}: stamp PNG listed in {INDEX_NAME} is missing") from None
    except OSError as exc:
        raise StampError(f"{path}: cannot read stamp PNG ({exc.strerror or exc})") from exc
    if len(head) < 26 or head[:8] != _PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise StampError(f"{path}: not a PNG file")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big"), head[25]


def _read_rgba(path: Path) -> np.ndarray:
    data = np.fromfile(path, dtype=np.uint8) if path.is_file() else None
    if data is None:
        raise StampError(f"{path}: stamp PNG listed in {INDEX_NAME} is missing")
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        raise StampError(f"{path}: not a readable PNG (corrupt or truncated)")
    if image.ndim != 3 or image.shape[2] != 4:
        raise StampError(f"{path}: stamp PNG has no alpha channel (need RGBA)")
    scale = 65535.0 if image.dtype == np.uint16 else 255.0
    return np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_BGRA2RGBA).astype(np.float32) / np.float32(scale))


_CACHE: dict[tuple[str, str], StampSet] = {}
_CACHE_MAX = 8


def load_stamps(folder: str | os.PathLike) -> StampSet:
    """Read a stamp folder's index (cached per absolute folder and index digest; pixels load lazily).

    Raises StampError naming the folder or file for a missing folder or index, a garbled index
    (columns, row lengths, values), an unknown family, a missing short_side/size, a missing PNG or
    a PNG without alpha (checked from its header).
    """
    folder = Path(folder).resolve()
    if not folder.is_dir():
        raise StampError(f"{folder}: stamp folder not found")
    index = folder / INDEX_NAME
    try:
        raw = index.read_bytes()
    except FileNotFoundError:
        raise StampError(f"{index}: no stamp index (is {folder} a folder written by write_stamps?)") from None
    except OSError as exc:
        raise StampError(f"{index}: cannot read ({exc.strerror or exc})") from exc
    digest = hashlib.sha256(raw).hexdigest()
    key = (str(folder), digest)
    if key not in _CACHE:
        if len(_CACHE) >= _CACHE_MAX:
            _CACHE.pop(next(iter(_CACHE)))
        _CACHE[key] = _parse_index(folder, index, raw, digest)
    return _CACHE[key]


def _parse_index(folder: Path, index: Path, raw: bytes, digest: str) -> StampSet:
    try:
        table = list(csv.reader(io.StringIO(raw.decode("utf-8"), newline="")))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise StampError(f"{index}: garbled stamp index ({exc})") from None
    if not table or table[0][:2] != ["file", "family"]:
        raise StampError(f"{index}: garbled stamp index: the first line must start with 'file,family'")
    header = table[0]
    missing = [k for k in REQUIRED_META if k not in header]
    if missing:
        raise StampError(f"{index}: garbled stamp index: no {missing[0]!r} column")
    files, families, metas = [], [], []
    for line, row in enumerate(table[1:], start=2):
        if not row:
            continue
        where = f"{index}: line {line}"
        if len(row) != len(header):
            raise StampError(f"{where}: garbled stamp index: {len(row)} fields, the header has {len(header)}")
        name, family = row[0], row[1]
        if not _safe_name(name):
            raise StampError(f"{where}: file {name!r} must be a path inside the folder")
        if family not in FAMILIES:
            raise StampError(f"{where}: family {family!r} is not one of {', '.join(FAMILIES)}")
        meta = {k: _parse(v) for k, v in zip(header[2:], row[2:]) if v != ""}
        for k in REQUIRED_META:
            v = meta.get(k)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise StampError(f"{where}: {k!r} must be a positive number, got {row[header.index(k)]!r}")
        _, _, colour = _png_header(folder / name)
        if colour not in _PNG_ALPHA_TYPES:
            raise StampError(f"{folder / name}: stamp PNG has no alpha channel (need RGBA)")
        files.append(name)
        families.append(family)
        metas.append(meta)
    return StampSet(folder, digest, tuple(files), tuple(families),
                    np.array([m["size"] for m in metas], dtype=np.float64),
                    np.array([m["short_side"] for m in metas], dtype=np.float64), tuple(metas))


def group_stamps(g: dict[str, Any]) -> StampSet:
    """The stamp set a sampled group was drawn from, refusing a folder that changed since."""
    where = f"preset {g.get('preset')!r}: stamp folder {g['stamps']}"
    try:
        stamps = load_stamps(g["stamps"])
    except StampError as exc:
        raise StampError(f"{where} cannot be used to render these parameters: {exc}") from None
    if stamps.digest != g["digest"]:
        raise StampError(f"{where} changed since these parameters were drawn "
                         f"({INDEX_NAME} sha256 {stamps.digest[:12]}…, the record has {g['digest'][:12]}…)")
    return stamps


# --- rendering --------------------------------------------------------------------------------

def draw_stamp(rgba: np.ndarray, cx: float, cy: float, scale: float, angle: float, flip: bool,
               opacity: float, shape: tuple[int, int]) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """Warp a stamp onto an image of `shape`: its centre at pixel (cx, cy), `scale` px per stamp px,
    mirrored left-right if `flip`, then rotated by `angle` (radians). Returns (y0, x0, alpha h×w,
    colour h×w×3), both float32 and cropped to drawn pixels, or None when nothing lands inside.
    """
    h, w = shape
    sh, sw = rgba.shape[:2]
    if opacity <= 0 or scale <= 0:
        return None
    # Premultiplied, so interpolation at the edges does not pull the colour towards black.
    src = rgba.copy()
    src[:, :, :3] *= src[:, :, 3:4]
    step = np.eye(2)
    offset = np.zeros(2)
    if scale < 0.5:  # shrink by area first: bilinear sampling alone would skip thin strands
        nw, nh = max(1, round(sw * scale)), max(1, round(sh * scale))
        src = cv2.resize(src, (nw, nh), interpolation=cv2.INTER_AREA)
        fx, fy = sw / nw, sh / nh
        step = np.diag([fx, fy])  # shrunk pixel q sits at original p = step·q + offset
        offset = np.array([0.5 * fx - 0.5, 0.5 * fy - 0.5])
    c, s = float(pm.cos(angle)), float(pm.sin(angle))
    a = dot_last(scale * np.array([[c, -s], [s, c]]), np.diag([-1.0 if flip else 1.0, 1.0]))
    centre = np.array([(sw - 1) / 2.0, (sh - 1) / 2.0])
    # Bilinear sampling reaches half a source pixel beyond the stamp's edge pixels.
    corners = np.array([[-1.0, -1.0], [sw, -1.0], [-1.0, sh], [sw, sh]]) - centre
    ends = dot_last(corners, a.T) + (cx, cy)
    x0, y0 = max(int(math.floor(ends[:, 0].min())) - 1, 0), max(int(math.floor(ends[:, 1].min())) - 1, 0)
    x1, y1 = min(int(math.ceil(ends[:, 0].max())) + 2, w), min(int(math.ceil(ends[:, 1].max())) + 2, h)
    if x1 <= x0 or y1 <= y0:
        return None
    m = np.empty((2, 3))
    m[:, :2] = dot_last(a, step)
    m[:, 2] = np.array([cx - x0, cy - y0]) + dot_last(a, offset - centre)
    out = cv2.warpAffine(src, m, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=(0, 0, 0, 0))
    cover = out[:, :, 3]
    rows, cols = np.flatnonzero((cover > 0).any(axis=1)), np.flatnonzero((cover > 0).any(axis=0))
    if not rows.size:
        return None
    out = out[rows[0]:rows[-1] + 1, cols[0]:cols[-1] + 1]
    cover = out[:, :, 3:4]
    color = np.divide(out[:, :, :3], cover, out=np.zeros_like(out[:, :, :3]), where=cover > 0)
    alpha = np.clip(cover[:, :, 0] * np.float32(opacity), 0.0, 1.0)
    return (y0 + int(rows[0]), x0 + int(cols[0]), np.ascontiguousarray(alpha, dtype=np.float32),
            np.ascontiguousarray(np.clip(color, 0.0, 1.0), dtype=np.float32))
