"""`dustbench make-dataset` as a library function: train patches and full-size test images.

Guarantees:

* Splits are by source image (see ``plan.py``): no photo, and no two byte-identical photos, in two
  splits. Train rows are ``patch``×``patch`` crops; validation and test rows are whole images.
* Row ``i`` of split ``s`` draws everything (preset, crop position, damage) from
  ``SeedSequence([seed, SPLIT_CODES[s], i])``; train patch ``i`` comes from train source
  ``i * n_sources // train_patches`` (consecutive rows share a source: shuffle when training).
  Damage on a patch is drawn as on the whole frame and rendered only inside the crop (``crop.py``).
  ``--infrared FILM`` adds the row's infrared plane (column ``infrared``), drawn from
  ``infrared_rng([seed, split_code, i])``, so every other column keeps the bytes of a run without it.
* Rows are written as they are made, in fixed chunks of Arrow files under ``OUT/.work``; a chunk's
  stats file, written last, marks it finished. Re-running the same command skips finished chunks;
  ``--shard i/n`` makes every n-th chunk. When all chunks exist, they are concatenated in order and
  saved with ``DatasetDict.save_to_disk`` under fingerprints computed from their bytes, so any
  ``--num-proc`` and any sharding give the same files. ``dustbench.json`` is written last.
"""
from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from ..errors import DustbenchError, ImageReadError, check_on_error, stop_on_error
from ..hashing import file_sha256
from ..io import atomic_path, claim_json, encode_image, mask_to_image, output_dir, write_json_atomic
from ..sources import open_sources, source_from_record
from ..synth import add_infrared, count_by_family, families_present, infrared_rng, library, regenerate, resolve_presets
from ..synth.crop import frame_fraction_box
from ..synth.grain import grain_clean
from ..synth.scale import check_fits, draw_scaled_params, scale_label
from ..threads import pool_worker_setup
from ..version import __version__
from .card import write_card
from .codec import (CHANNELS, FORMAT_VERSION, MANIFEST, SPLITS, features, join_families, pack_image,
                    split_families, stored_channels)
from .dataset_config import DatasetConfig
from .plan import SPLIT_CODES, Plan, load_clean, make_plan, scan_sources

TRAIN_CHUNK = 256  # patches per chunk file
FULL_CHUNK = 1  # full-size images per chunk file
WORK = ".work"


@dataclass
class DatasetReport:
    out: Path
    complete: bool
    made: int = 0  # chunks made by this run
    resumed: int = 0  # chunks already there
    pending: int = 0  # chunks left to other shards
    rows: dict[str, int] = field(default_factory=dict)
    skipped: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True)
class Chunk:
    split: str
    chunk: int
    start: int
    stop: int

    @property
    def name(self) -> str:
        return f"{SPLIT_CODES[self.split]}-{self.split}-{self.chunk:06d}"


def plan_chunks(plan: Plan, train_patches: int) -> list[Chunk]:
    """Every chunk, full-size splits first (the big tasks, for load balance)."""
    tasks = []
    for split in ("test", "validation", "train"):
        n = train_patches if split == "train" else len(plan.splits[split])
        size = TRAIN_CHUNK if split == "train" else FULL_CHUNK
        tasks += [Chunk(split, k, s, min(s + size, n)) for k, s in enumerate(range(0, n, size))]
    return tasks


def sample_rng(seed: int, split: str, index: int) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([seed, SPLIT_CODES[split], index]))


def _png(image: np.ndarray, storage: str):
    return pack_image(encode_image(image, ".png"), storage)


def dataset_features(cfg: DatasetConfig, plan: Plan):
    """The features rows are written with and the dataset is assembled with (one definition)."""
    return features(plan.storage, infrared=cfg.infrared is not None)


class _Stop(Exception):
    pass


class _Worker:
    """Makes chunks; keeps the last decoded source (consecutive rows share it)."""

    def __init__(self, cfg: DatasetConfig, plan: Plan, presets, work: Path):
        self.cfg, self.plan, self.presets, self.work = cfg, plan, presets, work
        self.features = dataset_features(cfg, plan)
        self._last: tuple[str, np.ndarray] | None = None

    def image(self, rec: dict[str, Any]) -> np.ndarray:
        if self._last is None or self._last[0] != rec["id"]:
            self._last = None  # free the previous scan before decoding the next
            image = load_clean(source_from_record(rec))
            if list(image.shape) != rec["shape"] or str(image.dtype) != rec["dtype"]:
                raise ImageReadError(f"{rec['path']}: decodes to {image.dtype} {list(image.shape)}, not the "
                                     f"{rec['dtype']} {rec['shape']} its scan found (changed since?)")
            self._last = (rec["id"], stored_channels(image, self.cfg.channels))
        return self._last[1]

    def row(self, split: str, i: int) -> dict[str, Any]:
        cfg, srcs = self.cfg, self.plan.splits[split]
        rec = srcs[i * len(srcs) // cfg.train_patches] if split == "train" else srcs[i]
        image = self.image(rec)
        rng = sample_rng(cfg.seed, split, i)
        preset = self.presets[int(rng.integers(len(self.presets)))]
        box = frame_fraction_box(image.shape, cfg.patch, rng) if split == "train" else (0, 0, *image.shape[:2])
        frame, params = draw_scaled_params(preset, image.shape, rng, cfg.scan_scale, box if split == "train" else None)
        y0, x0, h, w = box  # grain is part of the clean image, drawn at the frame's size from the row's own seed
        clean, grain = grain_clean(image[y0:y0 + h, x0:x0 + w], cfg.grain, frame, [cfg.seed, SPLIT_CODES[split], i])
        s = regenerate(clean, params)
        if cfg.infrared is not None:  # its own generator: every other column keeps its bytes
            add_infrared(s, cfg.infrared, infrared_rng([cfg.seed, SPLIT_CODES[split], i]))
        params = s.params if grain is None else {**s.params, "grain": grain}
        st = self.plan.storage
        plane = {} if s.infrared is None else {"infrared": _png(s.infrared, st)}  # uint16 H×W
        return {"id": f"{split}-{i:07d}", "damaged": _png(s.damaged, st), "clean": _png(s.clean, st), **plane,
                "mask": _png(mask_to_image(s.mask, image.dtype), st), "labels": _png(s.labels, st),
                "families": join_families(families_present(s.labels)), "presets": [preset.name],
                "params": json.dumps(params, sort_keys=True, separators=(",", ":")), "source": rec["id"],
                "sample_seed": [cfg.seed, SPLIT_CODES[split], i], "frame_shape": list(image.shape[:2]),
                "box": [int(v) for v in box], "dtype": str(image.dtype)}

    def chunk(self, task: Chunk) -> dict[str, Any]:
        from datasets.arrow_writer import ArrowWriter  # deferred: datasets is heavy

        stats: dict[str, Any] = {"rows": 0, "rows_with": {}, "artifacts": {}, "skipped": []}
        final = self.work / "chunks" / f"{task.name}.arrow"
        try:
            with atomic_path(final) as tmp:  # an exception leaves no chunk file behind
                writer = ArrowWriter(features=self.features, path=str(tmp),
                                     writer_batch_size=64 if task.split == "train" else 1)
                for i in range(task.start, task.stop):
                    try:
                        row = self.row(task.split, i)
                    except ImageReadError as exc:
                        stop_on_error(self.cfg.on_error, f"{task.split} row {i}: {exc}", "go on without it", _Stop)
                        stats["skipped"].append([f"{task.split}-{i:07d}", str(exc)])
                        continue
                    writer.write(self.features.encode_example(row))
                    stats["rows"] += 1
                    for fam in split_families(row["families"]):
                        stats["rows_with"][fam] = stats["rows_with"].get(fam, 0) + 1
                    for fam, n in count_by_family(json.loads(row["params"])).items():
                        stats["artifacts"][fam] = stats["artifacts"].get(fam, 0) + n
                writer.finalize()
        except _Stop as exc:
            return {"error": str(exc)}
        stats["sha256"] = file_sha256(final)
        write_json_atomic(final.with_suffix(".json"), stats)
        return {"chunk": task.name, "rows": stats["rows"], "skipped": stats["skipped"]}


_STATE: dict[str, Any] = {}


def _pool_init(cfg, plan, presets, work) -> None:
    pool_worker_setup()
    _STATE["worker"] = _Worker(cfg, plan, presets, work)


def _pool_run(task: Chunk) -> dict[str, Any]:
    return _STATE["worker"].chunk(task)


def _check_config(cfg: DatasetConfig) -> None:
    if cfg.patch < 8:
        raise DustbenchError(f"--patch {cfg.patch}: must be at least 8 px")
    for name, value in (("--train-patches", cfg.train_patches), ("--val-images", cfg.val_images),
                        ("--test-images", cfg.test_images)):
        if value < 1:
            raise DustbenchError(f"{name} {value}: every split needs at least one row (an empty split "
                                 "cannot be saved and loaded by `datasets`)")
    check_on_error(cfg.on_error, "--on-error")
    if cfg.num_proc < 1:
        raise DustbenchError(f"--num-proc {cfg.num_proc}: must be at least 1")
    if cfg.channels not in CHANNELS:
        raise DustbenchError(f"--channels {cfg.channels!r}: use one of {', '.join(CHANNELS)}")


def _signature(plan: Plan) -> dict[str, list]:
    return {s: [[r["id"], r["sha256"]] for r in recs] for s, recs in plan.splits.items()}


def _prepare_out(cfg: DatasetConfig, out: Path) -> bool:
    """Check the output folder; True when it already holds this finished dataset."""
    if (out / MANIFEST).is_file():
        done = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        if done.get("config") == cfg.identity() and done.get("clean") == cfg.clean:
            return True
        raise DustbenchError(f"--out {out}: holds a finished dataset made with other settings "
                             f"(--clean {done.get('clean')}, {done.get('config')}); choose another "
                             "folder or delete it")
    if out.exists() and not out.is_dir():
        raise DustbenchError(f"--out {out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()) and not (out / WORK).is_dir():
        raise DustbenchError(f"--out {out}: folder is not empty and holds no unfinished dataset; "
                             "choose an empty or new folder")
    output_dir(out)
    return False


def make_dataset(cfg: DatasetConfig, progress: bool = True) -> DatasetReport:
    """Make (or resume, or make one shard of) a dataset; see the module docstring."""
    _check_config(cfg)
    out = Path(cfg.out)
    if _prepare_out(cfg, out):
        manifest = json.loads((out / MANIFEST).read_text(encoding="utf-8"))
        return DatasetReport(out, True, rows={s: v["rows"] for s, v in manifest["splits"].items()})
    presets = resolve_presets(cfg.presets, library())
    sources = open_sources(cfg.clean, cfg.clean_column)
    work = out / WORK
    started = any((work / "chunks").glob("*.json"))  # rows already made: settings must not change
    old = work / "config.json"
    work.mkdir(parents=True, exist_ok=True)
    scans = scan_sources(sources, work / "scan.jsonl", cfg.num_proc, progress)  # cached: survives errors
    plan = make_plan(sources, scans, seed=cfg.seed, patch=cfg.patch, val_images=cfg.val_images,
                     test_images=cfg.test_images, on_error=cfg.on_error, channels=cfg.channels)
    plan_file = work / "plan.json"
    if started and plan_file.is_file() and \
            _signature(Plan.from_json(json.loads(plan_file.read_text("utf-8")))) != _signature(plan):
        raise DustbenchError(f"--out {out}: the clean sources changed since this dataset was started "
                             f"(different images or splits); delete {out} to start over")
    for recs in plan.splits.values():  # before any row: a source larger than the frame cannot be a crop of it
        for rec in recs:
            check_fits(rec["shape"], cfg.scan_scale, f"--clean {rec['path'] or rec['id']}")
    # Claimed exclusively once the settings are known to work (a run that failed above leaves no
    # claim): of two runs started at once with other settings, the second is refused here, before
    # any row, instead of mixing its splits into the first's. Shards of one run share the claim.
    claimed = claim_json(old, cfg.identity())
    if claimed is not None:
        what = "holds an unfinished dataset" if started else "was claimed by another run (running, or stopped " \
                                                             "before its first rows)"
        raise DustbenchError(f"--out {out}: {what} made with other settings ({json.dumps(claimed, sort_keys=True)}); "
                             f"re-run it with those, or delete {out}")
    write_json_atomic(plan_file, plan.to_json())
    tasks = plan_chunks(plan, cfg.train_patches)
    shard_i, shard_n = cfg.shard
    mine = [t for k, t in enumerate(tasks) if k % shard_n == shard_i]
    done = {t for t in tasks if (work / "chunks" / f"{t.name}.json").is_file()}
    todo = [t for t in mine if t not in done]
    report = DatasetReport(out, False, resumed=len([t for t in mine if t in done]))
    _run_chunks(cfg, plan, presets, work, todo, report, progress)
    missing = [t for t in tasks if not (work / "chunks" / f"{t.name}.json").is_file()]
    report.pending = len(missing)
    if missing:
        return report
    assemble(cfg, plan, presets, tasks, out, progress)
    report.complete = True
    report.rows = {s: v["rows"] for s, v in json.loads((out / MANIFEST).read_text("utf-8"))["splits"].items()}
    return report


def _run_chunks(cfg, plan, presets, work, todo, report, progress) -> None:
    total = sum(t.stop - t.start for t in todo)
    bar = tqdm(total=total, desc="make rows", unit="row", disable=not progress or not todo)
    pool = None
    try:
        if cfg.num_proc <= 1 or len(todo) <= 1:
            worker = _Worker(cfg, plan, presets, work)
            results = (worker.chunk(t) for t in todo)
        else:
            pool = mp.get_context("spawn").Pool(min(cfg.num_proc, len(todo)), initializer=_pool_init,
                                                initargs=(cfg, plan, presets, work))
            results = pool.imap_unordered(_pool_run, todo)
        for res in results:
            if "error" in res:
                raise DustbenchError(res["error"])
            report.made += 1
            report.skipped += [tuple(s) for s in res["skipped"]]
            for sid, err in res["skipped"]:
                print(f"skipped {sid}: {err}", file=sys.stderr)
            bar.update(res["rows"] + len(res["skipped"]))
        if pool is not None:
            pool.close()
            pool.join()
    finally:
        if pool is not None:
            pool.terminate()
        bar.close()


def _split_dataset(split: str, files: list[Path], feats, fingerprint: str, description: str):
    import datasets as hf
    from datasets.table import MemoryMappedTable, concat_tables

    tables = [t for t in (MemoryMappedTable.from_file(str(f)) for f in files) if t.num_rows]
    if not tables:
        raise DustbenchError(f"the {split} split has no rows left (every one was skipped: see the messages "
                             "above); fix or remove those source images")
    table = concat_tables(tables)
    info = hf.DatasetInfo(description=description, features=feats)
    return hf.Dataset(table, info=info, split=hf.NamedSplit(split), fingerprint=fingerprint)


def assemble(cfg: DatasetConfig, plan: Plan, presets, tasks: list[Chunk], out: Path, progress: bool = True) -> None:
    """Concatenate the finished chunks into the final DatasetDict, then write card and manifest."""
    import datasets as hf

    work = out / WORK
    lock = work / "assemble.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        raise DustbenchError(f"{lock} exists: another process is assembling this dataset (if none is, "
                             "delete the lock and re-run)") from None
    os.close(fd)
    try:
        feats = dataset_features(cfg, plan)
        stats: dict[str, dict[str, Any]] = {}
        dsets = {}
        for split in SPLITS:
            mine = [t for t in tasks if t.split == split]
            chunk_stats = [json.loads((work / "chunks" / f"{t.name}.json").read_text("utf-8")) for t in mine]
            digest = hashlib.sha256(json.dumps([split, plan.storage, [c["sha256"] for c in chunk_stats]]).encode())
            stats[split] = _merge_stats(chunk_stats, plan.splits[split], fingerprint=digest.hexdigest()[:16])
            dsets[split] = _split_dataset(split, [work / "chunks" / f"{t.name}.arrow" for t in mine], feats,
                                          stats[split]["fingerprint"], "dustbench synthetic dust & scratch damage")
            stats[split]["num_bytes"] = int(dsets[split].data.nbytes)  # for the card's dataset_info
        if not progress:
            hf.disable_progress_bars()
        try:
            hf.DatasetDict(dsets).save_to_disk(str(out))
        finally:
            if not progress:
                hf.enable_progress_bars()
        manifest = {"format": "dustbench-dataset", "format_version": FORMAT_VERSION, "config": cfg.identity(),
                    "clean": cfg.clean, "command": cfg.command or cfg.cli(), "storage": plan.storage,
                    "channels": cfg.channels, "image_channels": plan.channels,
                    "patch": cfg.patch, "presets": [p.name for p in presets],
                    "scan_scale": scale_label(cfg.scan_scale), "splits": stats,
                    "plan": plan.to_json(), "dustbench_version": _version(),
                    **({"infrared": cfg.infrared} if cfg.infrared else {})}
        write_card(out, manifest, presets)
        write_json_atomic(out / MANIFEST, manifest)
    finally:
        lock.unlink(missing_ok=True)
    if not cfg.keep_work:
        shutil.rmtree(work, ignore_errors=True)


def _merge_stats(chunks: list[dict[str, Any]], sources: list[dict[str, Any]], fingerprint: str) -> dict[str, Any]:
    rows_with: dict[str, int] = {}
    artifacts: dict[str, int] = {}
    for c in chunks:
        for k, v in c["rows_with"].items():
            rows_with[k] = rows_with.get(k, 0) + v
        for k, v in c["artifacts"].items():
            artifacts[k] = artifacts.get(k, 0) + v
    return {"rows": sum(c["rows"] for c in chunks), "sources": [s["id"] for s in sources],
            "rows_with": dict(sorted(rows_with.items())), "artifacts": dict(sorted(artifacts.items())),
            "skipped": [s for c in chunks for s in c["skipped"]], "fingerprint": fingerprint}


def _version() -> str:
    return __version__


__all__ = ["DatasetConfig", "DatasetReport", "Chunk", "assemble", "make_dataset", "plan_chunks", "sample_rng"]
