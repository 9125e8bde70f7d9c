"""``dustbench restore``: apply a method to real scans that have no reference, keeping bit depth."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from ..errors import DustbenchError, stop_on_error
from ..io import (IMAGE_SUFFIXES, from_float, list_images, output_dir, read_scan, storable_dtype, to_float,
                  write_bytes_atomic, write_image)
from ..scan_metadata import encode_like
from ..sheets import busiest_crop, contact_sheet
from ..threads import fixed_threads
from ..writer_lock import one_writer
from .base import OutputIssues, restored_rows
from .run_config import RunConfig, with_settings
from .tuning import load_tuned_method


@dataclass
class Restored:
    input: Path
    output: Path
    status: str  # "written", "exists" or "skipped"
    seconds: float = 0.0
    megapixels: float = 0.0
    compare: Path | None = None
    issues: OutputIssues = field(default_factory=OutputIssues)
    error: str = ""  # why a "skipped" input was left out


def output_suffix(path: Path) -> str:
    """Keep PNG/TIFF (and so 8/16-bit depth); JPEG inputs become PNG (no second lossy encode)."""
    suffix = path.suffix.lower()
    return ".png" if suffix in (".jpg", ".jpeg") else path.suffix


def plan_outputs(inputs, out: Path) -> list[tuple[Path, Path]]:
    """(input file, output file) pairs: files by name, folders recursively by relative path."""
    pairs = []
    for item in inputs:
        item = Path(item).expanduser()
        if item.is_dir():
            files = [(p, p.relative_to(item)) for p in list_images(item)]
            if not files:
                raise DustbenchError(f"{item}: no PNG, JPEG or TIFF images found")
        elif item.is_file():
            if item.suffix.lower() not in IMAGE_SUFFIXES:
                raise DustbenchError(f"{item}: not a PNG, JPEG or TIFF image")
            files = [(item, Path(item.name))]
        else:
            raise DustbenchError(f"{item}: no such file or folder")
        pairs += [(src, out / rel.with_suffix(output_suffix(src))) for src, rel in files]
    sources = {src.resolve() for src, _ in pairs}
    seen: dict[Path, Path] = {}
    for src, dst in pairs:
        if dst.resolve() in sources:
            raise DustbenchError(f"{dst}: output would overwrite an input image; choose another --out")
        if dst.resolve() in seen:
            raise DustbenchError(f"{src} and {seen[dst.resolve()]} would both be written to {dst}")
        seen[dst.resolve()] = src
    return pairs


def comparison_sheet(before: np.ndarray, after: np.ndarray, height: int = 512, crop: int = 384) -> np.ndarray:
    """Before/after, whole frame and a 1:1 crop where the method changed the most (8-bit RGB)."""
    b, a = to_float(before), to_float(after)
    diff = np.abs(a - b)
    diff = diff.sum(axis=2) if diff.ndim == 3 else diff
    sl = busiest_crop(diff, crop)
    y0, x0 = sl[0].start, sl[1].start
    captions = ["before", "after", f"before 1:1 at ({x0},{y0})", "after 1:1"]
    return contact_sheet([[before, after, before[sl], after[sl]]], [captions], height=min(height, diff.shape[0]))


@dataclass(frozen=True)
class RestoreConfig(RunConfig):
    """``compare``: also write ``out/compare/<name>.png`` (see :func:`comparison_sheet`);
    ``overwrite``: redo outputs that exist (they are kept otherwise); ``infrared``: whether a
    4-channel TIFF's fourth channel is a scanner's infrared plane ("auto": when the file marks it
    as not alpha; "yes"; "no": alpha, dropped). The plane is written back unchanged beside the
    restored RGB (an RGBI TIFF in, an RGBI TIFF out)."""

    compare: bool = False
    overwrite: bool = False
    infrared: str = "auto"


def restore(method, inputs, out, *, config: RestoreConfig | None = None, **settings) -> list[Restored]:
    """Restore each input image (files, or folders searched recursively) into ``out``.

    Outputs keep the input's name, format and bit depth (16-bit TIFF in, 16-bit TIFF out; JPEG
    becomes PNG). Inputs are never overwritten; existing outputs are kept unless ``overwrite``.
    ``config`` (a :class:`RestoreConfig`) or its fields as keyword arguments (``options=``,
    ``compare=``, ``on_error=``, ...; they override ``config``'s) say how. An unreadable input stops
    the run (``on_error="stop"``) or is reported and left out (``"skip"``).
    """
    cfg = with_settings(RestoreConfig, config, settings)
    out = Path(out).expanduser()
    plan = plan_outputs(inputs, out)
    output_dir(out)
    with one_writer(out, "restore"):
        method = load_tuned_method(method, cfg.options, cfg.device, None, cfg.tune_on, out)
        with fixed_threads(cfg.threads):
            return [_restore_one(method, src, dst, out, cfg)
                    for src, dst in tqdm(plan, desc=f"restore {method.name}", unit="img", disable=not cfg.progress)]


def _restore_one(method, src: Path, dst: Path, out: Path, cfg: RestoreConfig) -> Restored:
    """Restore one scan into ``dst`` (kept when it exists, unless ``overwrite``)."""
    if dst.exists() and not cfg.overwrite:
        return Restored(src, dst, "exists")
    try:
        image, infrared = read_scan(src, cfg.infrared)
    except DustbenchError as exc:
        stop_on_error(cfg.on_error, exc, "restore the other images")
        return Restored(src, dst, "skipped", error=str(exc))
    issues = OutputIssues()
    start = time.perf_counter()
    restored = np.empty(image.shape, storable_dtype(image.dtype))  # float scans are written as 16-bit
    # band by band into the file's dtype: never a float copy of the whole scan, in or out
    for y0, y1, rows in restored_rows(method, image, infrared=infrared, tile=cfg.tile, overlap=cfg.overlap,
                                      name=str(src), on_bad_output=cfg.on_bad_output, issues=issues):
        restored[y0:y1] = from_float(rows, restored.dtype)
    seconds = time.perf_counter() - start
    if infrared is not None:  # an RGBI scan: its infrared plane goes back as it came
        write_bytes_atomic(dst, encode_like(src, np.dstack([restored, infrared.astype(restored.dtype)]), dst.suffix,
                                            infrared=True))
    else:
        write_bytes_atomic(dst, encode_like(src, restored, dst.suffix))  # resolution, ICC profile... kept
    rec = Restored(src, dst, "written", seconds, image.shape[0] * image.shape[1] / 1e6, issues=issues)
    if cfg.compare:
        rec.compare = out / "compare" / dst.relative_to(out).with_suffix(".png")
        write_image(rec.compare, comparison_sheet(image, restored))
    return rec
