"""`dustbench fit-preset` end to end: fit, check, and write the preset, statistics, stamps and report.

Outputs are written only once everything is fitted, each atomically (stamps, then the preset file
that may point at them, then the statistics), so an interrupted or failed run leaves no half-written
preset behind.
"""
from __future__ import annotations

import os
import sys
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import DustbenchError
from ..io import output_dir, output_file, write_json_atomic, write_text_atomic
from ..provenance import collect
from ..synth.presets import FAMILIES, load_preset_file
from ..synth.stamps import Stamp, write_stamps
from ..writer_lock import one_writer
from .check import summary as closure_summary
from .classify import SYNTH_FAMILY, THRESHOLDS, describe_rules
from .merge import describe_links
from .detect import DetectionSettings
from .estimate import size_column
from .report import write_report
from .run import FitRun, blank_scans, closure, fit_scans, pair_scans


@dataclass
class FitPresetConfig:
    name: str
    out: str
    pairs: str | None = None
    blank: list[str] = field(default_factory=list)
    report: str | None = None
    stamps: str | None = None
    settings: DetectionSettings = field(default_factory=DetectionSettings)
    thresholds: dict[str, float] = field(default_factory=dict)
    on_error: str = "stop"
    check: bool = True
    seed: int = 0


def _check_name(name: str) -> None:
    if not name or not all(c.isalnum() or c in "_-" for c in name):
        raise DustbenchError(f"--name {name!r}: use letters, digits, '_' and '-' only (it names TOML tables)")


def _stamp_records(run: FitRun, folder: Path, out: Path) -> dict[str, dict[str, Any]]:
    """One stamp preset per synthesis family that has stamps, with the fitted density, and a mix."""
    fit = run.fit
    rel = os.path.relpath(folder.resolve(), out.resolve().parent)
    density: dict[str, float] = {}
    for fam, st in fit.stats.items():
        density[SYNTH_FAMILY[fam]] = density.get(SYNTH_FAMILY[fam], 0.0) + st["density"]
    records = {}
    for synth_family in (f for f in FAMILIES if f in density):
        d = density[synth_family]
        records[f"{fit.name}_{synth_family}_stamps"] = {
            "family": "stamp", "description": f"real {synth_family} cut from the fitted scans",
            "density": [0.9 * d, 1.1 * d], "stamps": rel, "families": [synth_family]}
    if records:
        records[f"{fit.name}_stamps"] = {"family": "mix", "description": "All fitted damage, drawn as real stamps",
                                         "components": list(records)}
    return records


def _write_stamps(run: FitRun, folder: Path) -> int:
    comps = run.fit.components
    stamps = []
    for row in comps.itertuples():
        rgba = run.crops.get((row.image, row.label))
        if rgba is None:
            continue
        meta = {"source": row.image, "fit_family": row.family, "short_side": int(row.short_side),
                "size": float(getattr(row, size_column(row.family))),
                "x": float(row.x), "y": float(row.y), "diameter": float(row.diameter), "length": float(row.length),
                "width": float(row.width), "opacity": float(row.opacity), "polarity": row.polarity}
        stamps.append(Stamp(rgba=rgba, family=SYNTH_FAMILY[row.family], meta=meta))
    write_stamps(folder, stamps)
    return len(stamps)


def fit_preset(cfg: FitPresetConfig, progress: bool = True, log=print) -> FitRun:
    """Run the whole command; returns the FitRun (``run.fit.empty`` when no damage was found)."""
    _check_name(cfg.name)
    out = Path(cfg.out)
    if out.suffix != ".toml":
        raise DustbenchError(f"--out {out}: the preset file must end in .toml")
    if bool(cfg.pairs) == bool(cfg.blank):
        raise DustbenchError("give either --pairs DIR or --blank SCAN... (not both)")
    output_file(out, "--out")  # every output location is checked before the (long) fitting starts
    for flag, folder in (("--report", cfg.report), ("--stamps", cfg.stamps)):
        if folder:
            output_dir(folder, flag)
    with ExitStack() as held:  # one writer per preset file and per folder, as for every command
        held.enter_context(one_writer(out.parent, "fit-preset", name=f".{out.name}.lock"))
        for folder in dict.fromkeys(f for f in (cfg.report, cfg.stamps) if f):
            held.enter_context(one_writer(folder, "fit-preset"))
        return _fit_and_write(cfg, out, progress, log)


def _fit_and_write(cfg: FitPresetConfig, out: Path, progress: bool, log) -> FitRun:
    warn = lambda msg: print(msg, file=sys.stderr)  # noqa: E731
    scans = pair_scans(cfg.pairs, cfg.on_error, warn) if cfg.pairs else blank_scans(cfg.blank)
    source = str(cfg.pairs) if cfg.pairs else f"{len(scans)} blank scan(s)"
    run = fit_scans(scans, cfg.name, cfg.settings, cfg.thresholds, cfg.on_error, stamps=bool(cfg.stamps),
                    source=source, progress=progress, warn=warn)
    fit = run.fit
    if not fit.empty and cfg.check:
        run.closure = closure(run, scans, cfg.settings, cfg.thresholds, cfg.seed, progress)
        if not run.closure["within"].all():  # the fitted preset does not draw what was measured
            warn(f"warning: closure check failed: {closure_summary(run.closure)}")
    stats = {
        "name": cfg.name, "source": source, "kind": "pairs" if cfg.pairs else "blank",
        "preset_file": str(out) if not fit.empty else None, "empty": fit.empty,
        "settings": asdict(cfg.settings), "rules": describe_links() + describe_rules(cfg.thresholds),
        "thresholds": {**THRESHOLDS, **cfg.thresholds},
        "images": [asdict(im) for im in fit.images], "families": fit.stats,
        "closure": None if run.closure is None else run.closure.to_dict(orient="records"),
        "skipped": run.skipped, "warnings": run.warnings, "seed": cfg.seed, "provenance": collect(),
    }
    if fit.empty:
        log(f"no damage found in {len(fit.images)} scan(s) of {source}: the fitted preset is empty "
            f"(noise sigma {np.median([255 * im.sigma for im in fit.images]):.2f}/255); no preset written")
        if cfg.report:
            write_report(run, cfg.report, stats)
        return run
    records = dict(fit.records)
    if cfg.stamps:
        n = _write_stamps(run, Path(cfg.stamps))
        records.update(_stamp_records(run, Path(cfg.stamps), out))
        stats["stamps"] = {"folder": str(cfg.stamps), "count": n}
        log(f"wrote {n} stamps to {cfg.stamps}")
    header = (f"Fitted by `dustbench fit-preset` on {source}.\nStatistics: {out.with_suffix('.json').name}. "
              f"Sizes are fractions of the short side; density is per reference megapixel.")
    fit.records = records
    text = fit.to_toml(header)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, text)
    load_preset_file(out)  # the same loader as the library: what was written is usable
    write_json_atomic(out.with_suffix(".json"), stats)
    if cfg.report:
        write_report(run, cfg.report, stats)
    return run
