"""Apply a restoration method to images safely: load it, tile it, check what it returns.

:func:`build_method` turns a registered name or a model file into a Method; :func:`run_method`
runs it on one float image in overlapping tiles (bounded memory) and checks every tile's output
(shape, dtype, NaN/Inf, range); :func:`restore` applies a method to real scans that have no
reference, keeping bit depth and never touching the inputs. ``dustbench evaluate`` uses the same
two functions, so a method behaves identically in both.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm.auto import tqdm

from .errors import DustbenchError
from .io import IMAGE_SUFFIXES, from_float, list_images, read_image, to_float, write_image
from .methods import MODEL_SUFFIXES, Method, create_method, load_model_file
from .methods.registry import as_opacity_mask, check_float_image
from .sheets import contact_sheet
from .tiling import apply_tiled

BAD_OUTPUT_POLICIES = ("error", "clip")
RANGE_TOLERANCE = 1e-6  # float rounding slack: far below half a 16-bit step (7.6e-6)


class BadOutputError(DustbenchError):
    """A method returned something that is not a valid restored image (names the image)."""


def parse_options(pairs: list[str] | None) -> dict:
    """``["radius=3", "precision=8bit"]`` -> ``{"radius": 3, "precision": "8bit"}`` (JSON values, else strings)."""
    import json

    options = {}
    for item in pairs or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DustbenchError(f"option {item!r}: expected KEY=VALUE, e.g. radius=3")
        try:
            options[key.strip()] = json.loads(value)
        except ValueError:
            options[key.strip()] = value
    return options


def build_method(spec, options: dict | None = None, device: str = "cpu") -> Method:
    """A Method from a registered name or a model file (TorchScript, ``.pt2``, dustbench checkpoint).

    Files are loaded untiled (tiling happens in :func:`run_method`); pickled modules are refused
    by :func:`dustbench.methods.load_model_file` with advice on exporting. Unknown names raise
    :class:`~dustbench.errors.UnknownNameError` with the registry's did-you-mean.
    """
    options = dict(options or {})
    if isinstance(spec, Method):
        if options:
            raise DustbenchError("options cannot be applied to an already built Method")
        return spec
    spec = str(spec)
    path = Path(spec).expanduser()
    if path.suffix.lower() in MODEL_SUFFIXES or path.is_file() or "/" in spec or os.sep in spec:
        options.setdefault("tile", None)
        return load_model_file(path.resolve() if path.exists() else path, device, **options)
    return create_method(spec, **options)


@dataclass
class OutputIssues:
    """What was wrong with a method's outputs and repaired under ``on_bad_output="clip"``."""

    nonfinite: int = 0
    out_of_range: int = 0
    cast_from: str | None = None

    def __bool__(self) -> bool:
        return bool(self.nonfinite or self.out_of_range or self.cast_from)

    def add(self, other: "OutputIssues") -> None:
        self.nonfinite += other.nonfinite
        self.out_of_range += other.out_of_range
        self.cast_from = self.cast_from or other.cast_from

    def describe(self) -> str:
        parts = [f"{self.nonfinite} NaN/Inf values" if self.nonfinite else "",
                 f"{self.out_of_range} values outside [0, 1]" if self.out_of_range else "",
                 f"dtype {self.cast_from} cast to float32" if self.cast_from else ""]
        return ", ".join(p for p in parts if p)


def check_output(out, expected: tuple, source: np.ndarray, where: str, policy: str,
                 issues: OutputIssues) -> np.ndarray:
    """Validate one output (tile); repair it under policy "clip", counting into ``issues``."""
    if not isinstance(out, np.ndarray):
        raise BadOutputError(f"{where}: returned {type(out).__name__}, expected a float32 numpy array")
    if out.shape != expected:
        raise BadOutputError(f"{where}: returned shape {out.shape}, expected {expected}")
    if out.dtype != np.float32:
        if out.dtype.kind != "f" or policy == "error":
            raise BadOutputError(f"{where}: returned dtype {out.dtype}, expected float32 in [0, 1]"
                                 + (" (floats are cast under --on-bad-output clip)" if out.dtype.kind == "f" else ""))
        issues.cast_from = str(out.dtype)
        out = out.astype(np.float32)
    finite = np.isfinite(out)
    nonfinite = int(out.size - np.count_nonzero(finite))
    if nonfinite:
        if policy == "error":
            raise BadOutputError(f"{where}: output has {nonfinite} NaN/Inf values "
                                 "(use --on-bad-output clip to replace them and go on)")
        issues.nonfinite += nonfinite
        out = np.where(np.isnan(out), source, out)  # NaN -> the input pixel; +-Inf clip below
    bad = int(np.count_nonzero((out < -RANGE_TOLERANCE) | (out > 1 + RANGE_TOLERANCE))) - int(
        np.count_nonzero(np.isinf(out)))
    if bad > 0:
        lo, hi = float(np.nanmin(out)), float(np.nanmax(out))
        if policy == "error":
            raise BadOutputError(f"{where}: {bad} output values outside [0, 1] (range [{lo:.4g}, {hi:.4g}]; "
                                 "use --on-bad-output clip to clip them and go on)")
        issues.out_of_range += bad
    return np.clip(out, 0.0, 1.0)


def run_method(method: Method, image: np.ndarray, mask: np.ndarray | None = None, *, tile: int | None = 512,
               overlap: int = 32, name: str = "image", on_bad_output: str = "error",
               issues: OutputIssues | None = None) -> np.ndarray:
    """Restore a float32 H×W(×C) image in [0, 1] with ``method``, in overlapping tiles.

    ``tile=None`` or 0 runs the whole image at once. Every tile's raw output is checked by
    :func:`check_output`; ``on_bad_output="error"`` raises :class:`BadOutputError` naming
    ``name``, ``"clip"`` casts floats to float32, replaces NaN by the input pixel, clips to
    [0, 1] and counts what it did in ``issues``. The mask reaches oracle methods only.
    """
    if on_bad_output not in BAD_OUTPUT_POLICIES:
        raise DustbenchError(f"on_bad_output must be one of {BAD_OUTPUT_POLICIES}, got {on_bad_output!r}")
    issues = OutputIssues() if issues is None else issues
    work = check_float_image(image, name)
    squeeze = work.ndim == 2
    if squeeze:
        work = work[:, :, None]
    m = None
    if method.needs_mask:
        if mask is None:
            raise DustbenchError(f"{name}: method {method.name!r} is an oracle and needs the ground-truth "
                                 "damage mask, which this image does not have")
        m = as_opacity_mask(mask, work.shape[:2])
    where = f"{name}: method {method.name!r}"

    def fn(part: np.ndarray, part_mask: np.ndarray | None = None) -> np.ndarray:
        return check_output(method.run(part, part_mask), part.shape, part, where, on_bad_output, issues)

    if tile:
        out = apply_tiled(fn, work, tile=tile, overlap=overlap, mask=m)
    else:
        out = fn(work, m)
    np.clip(out, 0.0, 1.0, out=out)  # blending of in-range tiles stays in range but for rounding
    return out[:, :, 0] if squeeze else out


@dataclass
class Restored:
    input: Path
    output: Path
    status: str  # "written" or "exists"
    seconds: float = 0.0
    megapixels: float = 0.0
    compare: Path | None = None
    issues: OutputIssues = field(default_factory=OutputIssues)


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
    h, w = diff.shape
    ch, cw = min(crop, h), min(crop, w)
    score = cv2.boxFilter(diff, -1, (cw, ch), normalize=False, borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
    y0, x0 = int(np.clip(cy - ch // 2, 0, h - ch)), int(np.clip(cx - cw // 2, 0, w - cw))
    sl = (slice(y0, y0 + ch), slice(x0, x0 + cw))
    captions = ["before", "after", f"before 1:1 at ({x0},{y0})", "after 1:1"]
    return contact_sheet([[before, after, before[sl], after[sl]]], [captions], height=min(height, h))


def restore(method, inputs, out, *, options: dict | None = None, device: str = "cpu", tile: int | None = 512,
            overlap: int = 32, compare: bool = False, overwrite: bool = False, on_bad_output: str = "error",
            progress: bool = True) -> list[Restored]:
    """Restore each input image (files, or folders searched recursively) into ``out``.

    Outputs keep the input's name, format and bit depth (16-bit TIFF in, 16-bit TIFF out; JPEG
    becomes PNG). Inputs are never overwritten; existing outputs are kept unless ``overwrite``.
    ``compare`` also writes ``out/compare/<name>.png`` (see :func:`comparison_sheet`).
    """
    method = build_method(method, options, device)
    out = Path(out).expanduser()
    records = []
    plan = plan_outputs(inputs, out)
    for src, dst in tqdm(plan, desc=f"restore {method.name}", unit="img", disable=not progress):
        if dst.exists() and not overwrite:
            records.append(Restored(src, dst, "exists"))
            continue
        image = read_image(src)
        issues = OutputIssues()
        start = time.perf_counter()
        restored = run_method(method, to_float(image), tile=tile, overlap=overlap, name=str(src),
                              on_bad_output=on_bad_output, issues=issues)
        seconds = time.perf_counter() - start
        restored = from_float(restored, image.dtype) if image.dtype != np.float32 else \
            from_float(restored, np.uint16)  # float TIFFs are written as 16-bit
        write_image(dst, restored)
        rec = Restored(src, dst, "written", seconds, image.shape[0] * image.shape[1] / 1e6, issues=issues)
        if compare:
            rec.compare = out / "compare" / dst.relative_to(out).with_suffix(".png")
            write_image(rec.compare, comparison_sheet(image, restored))
        records.append(rec)
    return records
