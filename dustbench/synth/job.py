"""`dustbench synth` as a library function: write damaged/clean/mask triplets and a manifest.

Sample i draws everything (its source image, its preset, its damage) from a Generator seeded by
``SeedSequence([seed, i])``, so the bytes of a sample depend only on (seed, i): not on worker count,
shard or order. Each sample's files are written atomically and its record last; a record on
disk means the sample is finished, which is how an interrupted run resumes.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DustbenchError, check_on_error, stop_on_error
from ..io import claim_json, mask_to_image, output_dir, read_image, storable, write_image, write_text_atomic
from ..sheets import contact_sheet
from ..sources import Source, open_sources
from ..threads import pool_worker_setup
from . import add_infrared, regenerate
from .params import count_by_family
from .presets import DEFAULT_PRESETS, Preset, library, resolve_presets
from .grain import grain_clean, parse_grain
from .infrared import infrared_rng, parse_film
from .scale import ScanScale, check_fits, draw_scaled_params, scale_label

RECORDS = ".records"  # one JSON per finished sample; manifest.jsonl is rebuilt from them
RUN_FILE = "synth.json"  # what made the samples in a folder: another run's folder is refused
OUTPUTS = ("damaged", "clean", "mask", "labels", "infrared", RECORDS, "manifest.jsonl", "contact_sheet.png", RUN_FILE)


def parse_shard(text: str) -> tuple[int, int]:
    """'i/n' -> (i, n) with 0 <= i < n."""
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise DustbenchError(f"--shard {text!r}: expected i/n, e.g. 0/4") from None
    if n < 1 or not 0 <= i < n:
        raise DustbenchError(f"--shard {text!r}: need 0 <= i < n")
    return i, n


def sample_rng(seed: int, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, index]))


@dataclass
class SynthConfig:
    clean: str
    out: str
    n: int
    seed: int = 0
    presets: str = DEFAULT_PRESETS
    workers: int = 1
    shard: tuple[int, int] = (0, 1)
    on_error: str = "stop"  # stop | skip
    format16: str = "png"  # png | tif: container for 16-bit images
    contact_sheet: bool = True
    overwrite: bool = False  # replace the samples of another run in `out`
    scan_scale: ScanScale | None = None  # None: each image is a whole frame; else a crop of one (synth/scale.py)
    grain: str | None = None  # a film stock (synth/grain.py): grain added to the clean image before damage
    infrared: str | None = None  # a film type (synth/infrared.py): also write the scanner's infrared plane

    def __post_init__(self):  # S, (lo, hi) or text: read once, here
        self.scan_scale = ScanScale.parse(self.scan_scale)
        if self.infrared is not None:
            self.infrared = parse_film(self.infrared)


@dataclass
class SynthReport:
    out: Path
    written: list[int] = field(default_factory=list)
    resumed: list[int] = field(default_factory=list)
    skipped: list[tuple[int, str]] = field(default_factory=list)


@lru_cache(maxsize=2)  # consecutive samples often share a source; keep at most two scans in memory
def _load(source: Source) -> np.ndarray:
    return storable(source.load())


def _make_sample(cfg: SynthConfig, sources: list[Source], presets: list[Preset], index: int) -> tuple[int, str]:
    """Synthesize and write sample `index`; returns (index, "" or an error message)."""
    rng = sample_rng(cfg.seed, index)
    source = sources[int(rng.integers(len(sources)))]
    preset = presets[int(rng.integers(len(presets)))]
    try:
        clean = _load(source)
        check_fits(clean.shape, cfg.scan_scale, source.path)
        frame, params = draw_scaled_params(preset, clean.shape, rng, cfg.scan_scale)
        clean, grain = grain_clean(clean, cfg.grain, frame, [cfg.seed, index])  # at the frame's size
        s = regenerate(clean, params)
        if grain is not None:
            s.params["grain"] = grain
        if cfg.infrared is not None:
            add_infrared(s, cfg.infrared, infrared_rng([cfg.seed, index]))
    except DustbenchError as exc:  # an unreadable or unusable source: named, skipped or stopping per --on-error
        return index, str(exc) if source.path in str(exc) else f"{source.path}: {exc}"
    sid = f"{index:06d}"
    ext = ".png" if clean.dtype == np.uint8 or cfg.format16 == "png" else ".tif"
    out = Path(cfg.out)
    files = {"damaged": f"damaged/{sid}{ext}", "clean": f"clean/{sid}{ext}", "mask": f"mask/{sid}{ext}",
             "labels": f"labels/{sid}.png"}
    write_image(out / files["damaged"], s.damaged)
    write_image(out / files["clean"], clean)
    write_image(out / files["mask"], mask_to_image(s.mask, clean.dtype))
    write_image(out / files["labels"], s.labels)
    if s.infrared is not None:  # 16-bit: PNG or TIFF as the other 16-bit images
        files["infrared"] = f"infrared/{sid}{'.tif' if cfg.format16 == 'tif' else '.png'}"
        write_image(out / files["infrared"], s.infrared)
    record = {"index": index, "id": sid, **files, "source": source.id, "source_path": source.path,
              "presets": [preset.name], "seed": cfg.seed, "sample_seed": [cfg.seed, index],
              "shape": list(clean.shape), "dtype": str(clean.dtype), "families": count_by_family(s.params),
              "params": s.params, "scan_scale": s.params.get("scan_scale")}
    write_text_atomic(out / RECORDS / f"{sid}.json", json.dumps(record, sort_keys=True))
    return index, ""


_STATE: dict[str, Any] = {}


def _worker_setup(cfg, sources, presets) -> None:
    pool_worker_setup()
    _STATE.update(cfg=cfg, sources=sources, presets=presets)


def _worker_run(index: int) -> tuple[int, str]:
    return _make_sample(_STATE["cfg"], _STATE["sources"], _STATE["presets"], index)


def _finished(out: Path) -> set[int]:
    folder = out / RECORDS
    return {int(p.stem) for p in folder.glob("*.json")} if folder.is_dir() else set()


def write_manifest(out: str | os.PathLike) -> int:
    """Rebuild manifest.jsonl (sorted by index) from the finished samples' records."""
    out = Path(out)
    records = sorted((out / RECORDS).glob("*.json")) if (out / RECORDS).is_dir() else []
    lines = [p.read_text(encoding="utf-8").strip() for p in records]
    write_text_atomic(out / "manifest.jsonl", "".join(line + "\n" for line in lines))
    return len(lines)


def read_records(out: str | os.PathLike) -> list[dict[str, Any]]:
    """The sample records of a finished ``dustbench synth`` folder (its ``manifest.jsonl``), in order."""
    path = Path(out) / "manifest.jsonl"
    if not path.is_file():
        raise DustbenchError(f"{path}: no manifest (is this the output folder of `dustbench synth`?)")
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def write_contact_sheet(out: str | os.PathLike, records: list[dict[str, Any]], n: int = 4) -> Path | None:
    """A PNG of the first `n` samples: damaged, clean, mask side by side."""
    out = Path(out)
    rows, captions = [], []
    for rec in records[:n]:
        rows.append([read_image(out / rec[k]) for k in ("damaged", "clean", "mask")])
        captions.append([f"{rec['id']} {rec['presets'][0]}", rec["source"], "mask"])
    if not rows:
        return None
    path = out / "contact_sheet.png"
    write_image(path, contact_sheet(rows, captions, height=256))
    return path


def run_synth(cfg: SynthConfig, progress: bool = True) -> SynthReport:
    """Run (or resume) a synthesis job; see the module docstring for the guarantees."""
    if cfg.n < 1:
        raise DustbenchError("--n must be at least 1")
    check_on_error(cfg.on_error, "--on-error")
    if cfg.format16 not in ("png", "tif"):
        raise DustbenchError(f"--format16 {cfg.format16!r}: use 'png' or 'tif'")
    sources = open_sources(cfg.clean)
    presets = resolve_presets(cfg.presets, library())
    cfg = replace(cfg, grain=parse_grain(cfg.grain))
    out = output_dir(cfg.out)
    claim_folder(out, run_config(cfg, sources, presets), cfg.overwrite)
    shard_i, shard_n = cfg.shard
    mine = [i for i in range(cfg.n) if i % shard_n == shard_i]
    done = _finished(out)
    report = SynthReport(out, resumed=[i for i in mine if i in done])
    todo = [i for i in mine if i not in done]
    bar = tqdm(total=len(mine), initial=len(mine) - len(todo), desc="synth", unit="img", disable=not progress)
    try:
        if cfg.workers <= 1:
            results = (_make_sample(cfg, sources, presets, i) for i in todo)
            _collect(results, cfg, report, bar)
        else:
            ctx = mp.get_context("spawn")  # fork after OpenCV/BLAS threads started can deadlock
            with ctx.Pool(cfg.workers, initializer=_worker_setup, initargs=(cfg, sources, presets)) as pool:
                _collect(pool.imap_unordered(_worker_run, todo), cfg, report, bar)
    finally:
        bar.close()
        write_manifest(out)
    if cfg.contact_sheet:
        write_contact_sheet(out, read_records(out))
    return report


def run_config(cfg: SynthConfig, sources: list[Source], presets: list[Preset]) -> dict[str, Any]:
    """What decides the samples' bytes (not n, workers, shard): two runs into one folder must share it."""
    ids = hashlib.sha256("\n".join(s.id for s in sources).encode()).hexdigest()
    return {"seed": cfg.seed, "presets": [p.name for p in presets], "format16": cfg.format16,
            "clean": {"sources": len(sources), "ids_sha256": ids}, "scan_scale": scale_label(cfg.scan_scale),
            **({"grain": cfg.grain} if cfg.grain else {}),  # absent without grain: older folders still resume
            **({"infrared": cfg.infrared} if cfg.infrared else {})}


def claim_folder(out: Path, config: dict[str, Any], overwrite: bool = False) -> None:
    """Record ``config`` in ``out`` (or find it there); refuse a folder that holds another run's samples.

    The record is created atomically and exclusively (a hard link), so two runs started at once into
    one folder cannot both claim it; shards of one run share the same record.
    """
    path = out / RUN_FILE
    if overwrite:
        for name in OUTPUTS:
            target = out / name
            shutil.rmtree(target) if target.is_dir() else target.unlink(missing_ok=True)
    elif not path.exists() and (out / RECORDS).is_dir() and any((out / RECORDS).iterdir()):
        raise DustbenchError(f"{out}: holds synth samples without a {RUN_FILE} record of how they were made; "
                             "write to a new folder, or add --overwrite to replace them")
    existing = claim_json(path, config)
    if existing is not None:
        diff = ", ".join(f"{k} {existing.get(k)!r} (now {config.get(k)!r})" for k in sorted(config)
                         if existing.get(k) != config.get(k))
        raise DustbenchError(f"{out}: holds samples of another synth run ({diff}); write to a new folder, or add "
                             "--overwrite to replace them")


def _collect(results, cfg: SynthConfig, report: SynthReport, bar) -> None:
    for index, error in results:
        bar.update(1)
        if not error:
            report.written.append(index)
            continue
        stop_on_error(cfg.on_error, f"sample {index}: {error}", "go on without it")
        report.skipped.append((index, error))
        print(f"skipped sample {index}: {error}", file=sys.stderr)
