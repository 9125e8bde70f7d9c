"""Add rows to a published leaderboard without retraining the rows it already has.

    dustbench leaderboard extend --out leaderboard --methods morph_detect \\
        --checkpoint fastdet=runs/fastdet:f1 --checkpoint fastdet_gated=runs/fastdet:psnr

``reproduce`` trains every learned model for one budget; a new method or a model trained on other
data (a new clean source, grain) should not force that. :func:`extend` reads the board's
``reproduce.json`` and

1. re-evaluates every row the board already has, from its committed model file or registered name,
   and stops unless each image's PSNR and SSIM come back as published (the board must be
   reproducible before it grows; the re-run also gives the plots their restored images). Exactly,
   or within ``ROUNDING`` (~one level in a pixel or two) where another CPU class's kernels round a
   network's floats differently: such rows are named, in the command's output and ``reproduce.json``;
2. evaluates each new registered method, and each new model row: a training checkpoint exported to
   ``OUT/models/ROW.pt`` at the operating point ``f1`` or ``psnr`` chosen on the data's validation
   split (``-`` = the threshold the file records), its card saying how it was trained;
3. rebuilds the tables, plots and sections, publishes the per-image results, and records in
   ``reproduce.json`` which rows were added, when, from what (``extended``).

With ``data`` (``--data builtin-v2-ir``), the new methods are scored on another suite that holds the
board's images with more to them (the infrared track: the same damaged images with their infrared
planes). Its rows are named ``METHOD@SUITE`` and get a section of their own, beside the board's;
``identity@SUITE`` is added with them, for the paired comparison, and must score every image as the
board's ``identity`` does (else the suite does not hold the board's images, and nothing is added).

:func:`verify` is step 1 alone (``dustbench leaderboard verify``): the check that a change to the
code left every published score as it was. With no rows to add, :func:`extend` re-publishes the
board at this commit (``dustbench leaderboard verify --publish``): what to do when a change moved
scores within float rounding only, so that the board again reproduces exactly.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import fields
from datetime import datetime, timezone
from pathlib import Path

from .. import provenance
from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..evaluation.model_card import fmt_duration
from ..evaluation.rows import read_rows
from ..io import write_json_atomic
from ..models.checkpoint import read_checkpoint
from .leaderboard import build_leaderboard
from .recipe import OPERATING_POINTS
from .paired import REFERENCE
from .reproduce import (PUBLISHED_RESULTS, TRACK_SEP, ReproduceConfig, _finish, detection_metrics, evaluate_one,
                        export_one, publish_results, train_data_words)

CRITERIA = ("f1", "psnr", "-")
SUITE_NAME = re.compile(r"[A-Za-z0-9._-]+")  # --data: a name, so that METHOD@SUITE names a results folder


def parse_checkpoint_row(text: str) -> tuple[str, str, str | None]:
    """``ROW=CHECKPOINT[:CRITERION]`` -> (row, checkpoint, criterion or None)."""
    row, eq, rest = text.partition("=")
    path, colon, criterion = rest.rpartition(":") if rest.rpartition(":")[2] in CRITERIA else (rest, "", "-")
    if not (row and eq and path):
        raise DustbenchError(f"--checkpoint {text!r}: expected ROW=CHECKPOINT[:f1|psnr|-]")
    if TRACK_SEP in row:
        raise DustbenchError(f"--checkpoint {text!r}: a row name cannot hold {TRACK_SEP!r} (it marks rows on "
                             "another suite, which only registered --methods can be: --data)")
    return row, path, None if criterion == "-" else criterion


def _per_image(folder: Path) -> dict[str, tuple[float, float]]:
    return {r["image_id"]: (float(r["psnr"]), float(r["ssim"])) for r in read_rows(folder / "per_image.csv")}


# A network's float rounding depends on the vector ISA its kernels dispatch to (provenance records
# torch's cpu_capability): on another CPU class a published model can land one level off in a pixel
# or two of an image (measured: dust_gan, AVX2 vs the publishing machine, 2 of 80 images moved by
# 7e-7 dB and 2e-8 SSIM). A metric summed in another order moves the last bit (PSNR from exact
# integer sums instead of cv2.norm's: up to 1.4e-14 dB). A change to the code moves scores by
# orders of magnitude more.
ROUNDING = {"psnr_db": 1e-4, "ssim": 1e-6}


def _check_unchanged(name: str, fresh: str, published: Path, why: str = "") -> str | None:
    """Raise unless every image of row ``name`` scores as published, to within float rounding
    (``ROUNDING``); returns a note naming the images that moved within it, or None when all are exact.
    ``why``: what a difference would mean (default: a change to the code)."""
    if not (published / "per_image.csv").is_file():
        raise DustbenchError(f"{published}: no published per-image results for row {name!r}")
    now, then = _per_image(Path(fresh)), _per_image(published)
    whose = "its published results" if name == published.name else f"row {published.name!r}'s published results"
    if set(now) != set(then):
        raise DustbenchError(f"row {name!r} no longer reproduces {whose}: it scored other images "
                             f"({len(set(now) ^ set(then))} differ, e.g. {sorted(set(now) ^ set(then))[:3]}){why}")
    moved = sorted(k for k in then if now[k] != then[k])
    dp = max((abs(now[k][0] - then[k][0]) for k in moved), default=0.0)
    ds = max((abs(now[k][1] - then[k][1]) for k in moved), default=0.0)
    if dp > ROUNDING["psnr_db"] or ds > ROUNDING["ssim"]:
        raise DustbenchError(f"row {name!r} no longer reproduces {whose} ({len(moved)} of {len(then)} images differ, "
                             f"e.g. {moved[:3]}; up to {dp:.2g} dB PSNR, {ds:.2g} SSIM)"
                             f"{why or ': a change to the code changed its scores'}")
    if not moved:
        return None
    return (f"{name}: {len(moved)} of {len(then)} images within float rounding of the published scores "
            f"(up to {dp:.1e} dB PSNR, {ds:.1e} SSIM; e.g. {moved[:2]}): float rounding (another CPU class's "
            "kernels, or a sum taken in another order), not a change in what is computed")


def _old_train_data(record: dict, row: str, cfg: ReproduceConfig) -> str | None:
    """The "train data" words row ``row`` was published with: those ``extend`` recorded when it added
    the row (its own run's data, budget and device), else those of the board's shared recipe."""
    for ext in reversed(record.get("extended", [])):
        words = (ext.get("rows", {}).get(row) or {}).get("train_data")
        if words:
            return words
    t = (record.get("models", {}).get(OPERATING_POINTS.get(row, (row, None))[0]) or {}).get("train")
    return train_data_words(t, cfg) if t else None


def _train_record(checkpoint: str, record: dict) -> tuple[dict, dict, str]:
    """The board's record of a training run from its checkpoint, and its "train data" words (a run
    fine-tuned from another row's checkpoint names that row: its time adds to the row's)."""
    ckpt_path = Path(checkpoint)
    ckpt_path = ckpt_path / "checkpoint.pt" if ckpt_path.is_dir() else ckpt_path
    meta = read_checkpoint(ckpt_path).get("meta") or {}
    tc = meta.get("train_config") or {}
    if not meta.get("steps"):
        raise DustbenchError(f"{ckpt_path}: not a training checkpoint with a record of its run (no steps)")
    rec = {"model": tc.get("model"), "checkpoint": str(ckpt_path), "steps": meta["steps"], "epochs": meta.get("epoch"),
           "train_wall_s": meta.get("wall_time_s"), "device": meta.get("device"), "parameters": meta.get("parameters"),
           "val": meta.get("val"), "notes": meta.get("notes"), "train_config": tc, "data": meta.get("data")}
    # the checkpoint does not keep why its run stopped: these are the trainer's own tests, re-applied
    wall, steps = float(meta.get("wall_time_s") or 0), int(meta["steps"])
    rec["stop_reason"] = ("max_steps" if tc.get("max_steps") and steps >= int(tc["max_steps"]) else
                          "time_budget" if tc.get("time_budget") and wall >= float(tc["time_budget"]) else "unfinished")
    grain = f", grain {tc['grain']}" if tc.get("grain") else ""
    share = f", damage share {tc['damage_share']:g}" if tc.get("damage_share") is not None else ""
    words = f"{tc.get('data')}{grain}{share} at scan scale {tc.get('scan_scale')}, " \
            f"{fmt_duration(wall)} on {meta.get('device')}{_init_words(meta.get('init_from'), record)}"
    return rec, meta, words


def _init_words(init: dict | None, record: dict) -> str:
    if not init:
        return ""
    rows = [row for row, m in record.get("models", {}).items()
            if Path((m.get("train") or {}).get("checkpoint") or "-") == Path(init["file"])]
    return f", fine-tuned from row {rows[0]}" if rows else f", fine-tuned from {init['file']}"


def _test_sets(record: dict) -> list[str]:
    """The board's test sets in the order of its sections: its own (identity's) first, then each
    suite beside it in the order it was added (``extended``: reproduce.json's keys are sorted)."""
    found, added = [], [row for ext in record.get("extended", []) for row in ext.get("rows", {})]
    for name in [REFERENCE, *added, *record["methods"]]:
        try:
            folder = Path(record["methods"][name]["result"])
            found.append(json.loads((folder / "summary.json").read_text(encoding="utf-8"))["test_set"])
        except (KeyError, TypeError, OSError, ValueError):
            continue
    return list(dict.fromkeys(found))


def _board(out: str, work: str, plots: bool, progress: bool) -> tuple[dict, ReproduceConfig]:
    path = Path(out) / "reproduce.json"
    if not path.is_file():
        raise DustbenchError(f"{path}: no such file; a board made by `leaderboard reproduce` has one")
    record = json.loads(path.read_text(encoding="utf-8"))
    known = {f.name for f in fields(ReproduceConfig)}
    cfg = ReproduceConfig(**{**{k: v for k, v in record["config"].items() if k in known}, "out": out, "work": work,
                             "resume": True, "plots": plots, "progress": progress})
    cfg.models, cfg.methods = tuple(cfg.models), tuple(cfg.methods)
    return record, cfg


def verify(out: str, work: str, progress: bool = True) -> tuple[dict[str, str], list[str]]:
    """Re-evaluate every row of the published board in ``out`` (from its committed model file or
    registered name, results into ``work``) and raise unless each image's PSNR and SSIM come back
    as published (exactly, or within ``ROUNDING`` where another CPU's kernels round differently).
    Returns (row -> its fresh results folder, notes on rows that moved within rounding)."""
    return _reproduced(*_board(out, work, True, progress))


def _reproduced(record: dict, cfg: ReproduceConfig) -> tuple[dict[str, str], list[str]]:
    fresh, notes = {}, []
    for name in record["methods"]:  # every published row, as published
        model_file = (record.get("exports", {}).get(name) or {}).get("file")
        rec, _ = evaluate_one(name, cfg, model_file, _old_train_data(record, name, cfg) if model_file else None)
        note = _check_unchanged(name, rec["result"], Path(cfg.out) / PUBLISHED_RESULTS / name)
        notes += [note] if note else []
        fresh[name] = rec["result"]
        record["methods"][name] = {**record["methods"][name], **rec}  # this run's figures, as the tables
    return fresh, notes


def _track_rows(methods, data: str | None, record: dict, cfg: ReproduceConfig, checkpoints) -> tuple:
    """The row names of ``methods`` on ``data`` (``METHOD@SUITE``; ``identity@SUITE`` first unless
    the board has it), or ``methods`` themselves on the board's own data."""
    if data is None or data == cfg.data:
        return tuple(methods)
    if checkpoints:
        raise DustbenchError(f"--data {data}: only registered --methods can be added on another suite, not "
                             "--checkpoint rows (add those on the board's own data)")
    if not SUITE_NAME.fullmatch(data):  # the row's name is its results folder's name
        raise DustbenchError(f"--data {data!r}: give the name of a suite (letters, digits, '.', '_', '-'; its "
                             "test split is used), e.g. builtin-v2-ir; not a path or a split")
    open_data(data, "test")  # an unknown suite: one line now, not after every row has been re-run
    reference = f"{REFERENCE}{TRACK_SEP}{data}"
    rows = tuple(f"{m}{TRACK_SEP}{data}" for m in methods)  # identity@SUITE asked for again: "already on the board"
    return rows if reference in record["methods"] or reference in rows else (reference, *rows)


def extend(out: str, work: str, methods=(), checkpoints=(), plots: bool = True, progress: bool = True,
           command: str = "", data: str | None = None) -> dict:
    """Add ``methods`` (registered names) and ``checkpoints`` (``(row, checkpoint, criterion)``) to the
    board in ``out``, the methods on ``data`` when given (another suite of the board's images); see
    the module docstring. Returns the updated record."""
    start = time.monotonic()
    out_dir = Path(out)
    record, cfg = _board(out, work, plots, progress)
    methods = _track_rows(methods, data, record, cfg, checkpoints)
    new_rows = list(methods) + [row for row, _, _ in checkpoints]
    taken = sorted(set(new_rows) & set(record["methods"]))
    if taken or len(set(new_rows)) != len(new_rows):
        raise DustbenchError(f"row(s) {', '.join(taken) or 'given twice'} already on the board: choose other names")
    fresh, notes = _reproduced(record, cfg)
    results = list(fresh.values())
    added = {}
    for name in methods:
        rec, _ = evaluate_one(name, cfg)
        if name.startswith(REFERENCE + TRACK_SEP):  # the input on the other suite must be the board's input
            _check_unchanged(name, rec["result"], out_dir / PUBLISHED_RESULTS / REFERENCE,
                             f": {name.partition(TRACK_SEP)[2]}:test does not hold this board's images, so its rows "
                             "cannot stand beside the board's")
        record["methods"][name], added[name] = rec, {"kind": "method"}
        results.append(rec["result"])
    for row, checkpoint, criterion in checkpoints:
        train_rec, meta, words = _train_record(checkpoint, record)
        record.setdefault("models", {})[row] = {"train": train_rec}
        record.setdefault("exports", {})[row] = export_one(row, train_rec, meta, out_dir, cfg, criterion)
        card_md = out_dir / "models" / f"{row}.card.md"
        card_md.write_text(card_md.read_text(encoding="utf-8").replace(
            "Trained and exported by `dustbench leaderboard reproduce`",
            f"Trained by `dustbench train` ({words}) and added by `dustbench leaderboard extend`"), encoding="utf-8")
        rec, method = evaluate_one(row, cfg, record["exports"][row]["file"], words)
        if hasattr(method, "detect"):
            rec["detection"] = detection_metrics(method, cfg.data, cfg.limit)
            write_json_atomic(Path(rec["result"]) / "detection.json", rec["detection"])
        record["methods"][row] = rec
        added[row] = {"kind": "model", "checkpoint": checkpoint, "criterion": criterion, "train_data": words}
        results.append(rec["result"])
    stamp = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record.setdefault("extended", []).append({"created": stamp, "command": command, "rows": added,
                                              "reproduced_within_rounding": notes,
                                              "git": provenance.git_commit(),
                                              "versions": provenance.package_versions()})
    reproduce_s = record.get("wall_time_s")
    build_leaderboard(results, out_dir, plots=plots, extra=lambda df: _finish(df, record, cfg, out_dir, start),
                      order=_test_sets(record))
    record["extended"][-1]["wall_time_s"], record["wall_time_s"] = record["wall_time_s"], reproduce_s
    publish_results(results, out_dir / PUBLISHED_RESULTS)
    write_json_atomic(out_dir / "reproduce.json", record)
    return record
