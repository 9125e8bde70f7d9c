"""`dustbench fit-preset` as a library function: scans in, fitted presets (and stamps, report) out.

Every scan is read, compared with its reference, measured and forgotten; only the component rows,
their outlines, a small preview per scan and (with stamps) the artifacts' own pixels are kept,
so memory does not grow with the size of the scans. Families are assigned once every scan is
measured, because unresolved specks borrow their opacity from the resolved ones of the whole set.
"""
from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from ..errors import DustbenchError, stop_on_error
from ..data.pairs_folder import match_pair_files
from ..io import ImageReadError, from_float, list_images, read_image
from ..synth import synthesize
from ..synth.presets import resolve_presets
from .check import compare
from .classify import classify
from .detect import _K3, Detection, DetectionSettings, detect, detect_blank
from .estimate import Fit, ImageInfo, fit_presets
from .measure import colour_and_opacity, measure
from .merge import merge_scratches

PREVIEW_SIDE = 1600  # px: the long side of each scan's preview in the report


@dataclass
class Scan:
    """One input: an id, and how to load (damaged, reference-or-None) — None means blank film."""

    id: str
    files: tuple[Path, ...]
    load: Callable[[], tuple[np.ndarray, np.ndarray | None]]


@dataclass
class FitRun:
    fit: Fit
    skipped: list[str] = field(default_factory=list)  # "file: reason"
    warnings: list[str] = field(default_factory=list)
    previews: dict[str, np.ndarray] = field(default_factory=dict, repr=False)  # id -> uint8 RGB preview
    outlines: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)  # (id, label) -> contour
    crops: dict[tuple[str, int], np.ndarray] = field(default_factory=dict, repr=False)  # (id, label) -> RGBA
    closure: pd.DataFrame | None = None


def pair_scans(folder: str | Path, on_error: str = "stop", warn=print) -> list[Scan]:
    """The pairs of `folder`: damaged/ and clean/ with matching names (sub-folders allowed)."""
    folder = Path(folder)
    for sub in ("damaged", "clean"):
        if not (folder / sub).is_dir():
            raise DustbenchError(f"{folder}: expected sub-folders damaged/ and clean/ (no {sub}/ found)")
    index, alone = match_pair_files(folder, ("damaged", "clean"))
    if not index and not any(p.parent.is_relative_to(folder / "damaged") for p in alone):
        raise DustbenchError(f"{folder / 'damaged'}: no PNG, JPEG or TIFF images found")
    if alone:
        shown = ", ".join(str(p) for p in alone[:5]) + (" ..." if len(alone) > 5 else "")
        message = f"{folder}: {len(alone)} image(s) have no partner with the same name: {shown}"
        stop_on_error(on_error, message, "fit on the complete pairs")
        warn(f"warning: {message}; skipped")
    return [Scan(k, (f["damaged"], f["clean"]), lambda d=f["damaged"], c=f["clean"]: (read_image(d), read_image(c)))
            for k, f in index.items()]


def blank_scans(paths) -> list[Scan]:
    """Scans of clear film: files, or folders of them."""
    out: list[Scan] = []
    for item in map(Path, paths):
        files = list_images(item) if item.is_dir() else [item]
        if item.is_dir() and not files:
            raise DustbenchError(f"{item}: no PNG, JPEG or TIFF images found")
        out += [Scan(p.stem if not item.is_dir() else p.relative_to(item).with_suffix("").as_posix(), (p,),
                     lambda p=p: (read_image(p), None)) for p in files]
    ids = [s.id for s in out]
    if len(set(ids)) != len(ids):
        raise DustbenchError("two blank scans share a file name; give each a different name")
    return out


def _detect(scan: Scan, settings: DetectionSettings) -> Detection:
    damaged, reference = scan.load()
    if reference is None:
        return detect_blank(damaged, settings, str(scan.files[0]))
    partner = f" (clean partner {scan.files[1]})" if len(scan.files) > 1 else ""
    return detect(damaged, reference, settings, f"{scan.files[0]}{partner}")


def _preview(det: Detection) -> np.ndarray:
    h, w = det.shape
    f = min(1.0, PREVIEW_SIDE / max(h, w))
    img = det.damaged if det.damaged.shape[2] == 3 else np.repeat(det.damaged, 3, axis=2)
    small = cv2.resize(img, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    return np.rint(np.clip(small, 0, 1) * 255).astype(np.uint8)


def _outline(det: Detection, bbox, label: int) -> np.ndarray:
    x0, y0, x1, y1 = bbox
    comp = (det.labels[y0:y1, x0:x1] == label).astype(np.uint8)
    contours, _ = cv2.findContours(comp, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    return max(contours, key=len).reshape(-1, 2) + (x0, y0)


def cut_stamp(det: Detection, bbox, labels) -> np.ndarray:
    """The artifact's own RGBA (float32): per pixel, its colour and opacity (measure.colour_and_opacity)
    on the component(s) `labels` (one label, or the pieces of a joined scratch) and a 1-px fringe."""
    x0, y0, x1, y1 = bbox
    lab = det.labels[y0:y1, x0:x1]
    comp = np.isin(lab, np.atleast_1d(labels))
    near = cv2.dilate(comp.astype(np.uint8), _K3).astype(bool) & ((lab == 0) | comp)
    k, a = colour_and_opacity(det.damaged[y0:y1, x0:x1], det.reference[y0:y1, x0:x1])
    a = a * near
    rgb = k if k.shape[2] == 3 else np.repeat(k, 3, axis=2)
    return np.dstack([rgb, a]).astype(np.float32)


def fit_scans(scans: list[Scan], name: str, settings: DetectionSettings = DetectionSettings(),
              thresholds: dict | None = None, on_error: str = "stop", stamps: bool = False,
              source: str = "", progress: bool = True, warn=None) -> FitRun:
    """Detect, measure and classify the damage of every scan, then fit presets to it."""
    warn = warn or (lambda msg: print(msg, file=sys.stderr))
    run = FitRun(fit=None)  # type: ignore[arg-type]
    rows, infos = [], []
    for scan in tqdm(scans, desc="fit-preset", unit="scan", disable=not progress):
        try:
            det = _detect(scan, settings)
        except (ImageReadError, DustbenchError) as exc:
            if on_error == "stop":
                raise
            run.skipped.append(str(exc))
            warn(f"warning: skipped: {exc}")
            continue
        df = merge_scratches(measure(det, scan.id), thresholds)
        infos.append(ImageInfo(scan.id, det.shape, det.sigma, det.low, det.count, det.damaged_fraction))
        if det.count == 0:
            run.warnings.append(f"{scan.files[0]}: no damage found (noise sigma {255 * det.sigma:.2f}/255, "
                                f"threshold {255 * det.low:.2f}/255)")
            warn(f"warning: {run.warnings[-1]}")
        run.previews[scan.id] = _preview(det)
        for row in df.itertuples():
            for member in row.members:  # a joined scratch: every piece's outline
                run.outlines[(scan.id, member)] = _outline(det, row.bbox, member)
            if stamps:
                run.crops[(scan.id, row.label)] = cut_stamp(det, row.bbox, row.members)
        rows.append(df)
        del det
    if not infos:
        raise DustbenchError("no scan could be read: nothing to fit")
    components = classify(pd.concat(rows, ignore_index=True) if any(len(r) for r in rows) else pd.DataFrame(),
                          thresholds)
    run.fit = fit_presets(components, infos, name, source, thresholds)
    return run


def closure(run: FitRun, scans: list[Scan], settings: DetectionSettings = DetectionSettings(),
            thresholds: dict | None = None, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """Synthesize the fitted preset on each scan's clean reference, measure it again, and compare.

    One row per family fitted or found again: counts, median sizes and shares (of the components,
    of the damaged area), as fitted and as measured again (see check.compare); `within` says whether
    all of them stay within check.CLOSURE_TOLERANCE.
    """
    fit = run.fit
    presets = resolve_presets([fit.name], presets=fit.presets())
    rows = []
    for i, scan in enumerate(tqdm(scans, desc="closure check", unit="scan", disable=not progress)):
        if scan.id not in {im.id for im in fit.images}:
            continue
        damaged, clean = scan.load()
        if clean is None:  # blank film: its background, with its grain but without its damage
            det = detect_blank(damaged, settings, str(scan.files[0]))
            grown = cv2.dilate(det.mask.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
            clean_f = np.where(grown[:, :, None], det.reference, det.damaged)
            clean = from_float(clean_f[:, :, 0] if damaged.ndim == 2 else clean_f, damaged.dtype)
        rng = np.random.default_rng(np.random.SeedSequence([seed, i]))
        synthetic = synthesize(clean, presets, rng)
        rows.append(merge_scratches(measure(detect(synthetic.damaged, clean, settings, scan.id), scan.id),
                                    thresholds))
    again = classify(pd.concat(rows, ignore_index=True), thresholds) if any(len(r) for r in rows) else None
    return compare(fit.stats, fit.components, again)
