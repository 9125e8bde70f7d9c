"""The published leaderboard from one command: ``dustbench leaderboard reproduce --out leaderboard``.

    >>> import os, tempfile
    >>> from dustbench.report.reproduce import ReproduceConfig, reproduce
    >>> root = tempfile.mkdtemp()
    >>> tiny = ReproduceConfig(out=os.path.join(root, "board"), work=os.path.join(root, "work"),
    ...                        models=("dust_gan",), methods=("identity",), limit=1, plots=False, progress=False,
    ...                        train={"max_steps": 2, "batch_size": 2, "patch": 32, "workers": 0, "val": "none",
    ...                               "plot": False},
    ...                        overrides={"dust_gan": {"model": {"width": 4}, "task": {"d_width": 4}}})
    >>> record = reproduce(tiny)      # the published board: ReproduceConfig(out="leaderboard", budget=900, resume=True)
    >>> record["models"]["dust_gan"]["train"]["stop_reason"], sorted(record["methods"])
    ('max_steps', ['dust_gan', 'identity'])
    >>> sorted(os.listdir(tiny.out))
    [...'leaderboard.csv', 'leaderboard.md', 'models', 'reproduce.json', 'results']

Steps (each resumable, so an interrupted run continues where it stopped):

1. **train** every learned model (:data:`LEARNED`) with the shared trainer on the same synthetic
   training data (:data:`SHARED_TRAIN`: ``builtin-train``, built-in images that are *not* the test
   photographs) for the same wall-clock ``budget`` into ``WORK/runs/<model>``. With ``resume`` a
   re-run continues unfinished runs and leaves finished ones alone (the trainer decides).
2. **export** each to ``OUT/models/<model>.pt`` + model card (TorchScript; a segnet file records
   that it is a detector, so loading it gives detect-then-inpaint).
3. **evaluate** every method (:data:`CLASSICAL` + the exported files) on the ``builtin`` test split
   into ``WORK/results/<method>`` with saved images; for detectors also detection
   precision/recall/IoU against the ground-truth masks.
4. **report**: :func:`dustbench.report.leaderboard.build_leaderboard` into ``OUT``, a masked-metrics
   plot, and the board's own sections (:mod:`dustbench.report.sections`): the comparison with
   Table 1 of Mironică (2020), detection scores, and how the board was made (command, budget,
   steps and wall time per method, device, git commit). Everything is also in ``OUT/reproduce.json``.

Per-family recipes (:data:`RECIPES`) size the networks for a CPU budget; every other training
setting is shared. Nothing is tuned on the test split: ``median_tuned`` tunes on the validation
split, the segnet threshold is fixed (0.5), and training validation is only logged.
"""
from __future__ import annotations

import itertools
import json
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from .. import provenance
from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..evaluation.harness import evaluate
from ..evaluation.model_card import fmt_duration
from ..hashing import file_sha256
from ..io import channel_max, to_float, write_bytes_atomic, write_json_atomic
from ..methods import load_model_file
from ..methods.calibrate import calibrate_detector
from ..methods.detect_inpaint import detection_scores, scores_from_counts
from ..models.checkpoint import read_checkpoint
from ..train import TrainConfig, export_model, train
from ..train.state import train_state
from .leaderboard import build_leaderboard
from .plots import plot_masked, slug
from .recipe import (CLASSICAL, DETECTION_TARGET, LEARNED, OPERATING_POINTS, RECIPE_KEYS, RECIPES, SHARED_TRAIN,
                     TEST_DATA, VISIBLE_DAMAGE)
from .sections import published_sections



@dataclass
class ReproduceConfig:
    """What :func:`reproduce` does; ``train`` and ``overrides`` change the recipes (tests, GPUs)."""

    out: str = "leaderboard"
    work: str = "runs/leaderboard"
    budget: float = 900.0                  # seconds of training per learned model (wall clock)
    models: tuple = LEARNED
    methods: tuple = CLASSICAL
    data: str = TEST_DATA                  # test data; split "test" (validation: split "validation")
    resume: bool = False
    device: str = "auto"                   # training device ("auto": a GPU when there is one)
    eval_device: str = "cpu"
    eval_threads: int = 1                  # OpenCV/torch threads while methods are timed (recorded in every row)
    train: dict = field(default_factory=dict)      # TrainConfig fields for every model (max_steps, threads...)
    overrides: dict = field(default_factory=dict)  # model or "*" -> {"model"|"task"|"train": {...}}
    limit: int | None = None               # evaluate the first N test images, calibrate on N validation pairs (tests)
    plots: bool = True
    progress: bool = True
    command: str = ""
    publish_weights: str | None = None     # a folder (e.g. pretrained/): also publish the learned weights there


def train_config(model: str, cfg: ReproduceConfig):
    """The TrainConfig of ``model``: shared settings, its recipe, then ``cfg.train`` and overrides."""
    recipe = RECIPES.get(model, {"model_config": {}, "task_options": {}, "lr": 5e-4})
    fields = {**SHARED_TRAIN, "model_config": dict(recipe["model_config"]),
              "task_options": dict(recipe["task_options"]), "lr": recipe["lr"], **cfg.train}
    for key in ("*", model):
        o = cfg.overrides.get(key, {})
        fields["model_config"].update(o.get("model", {}))
        fields["task_options"].update(o.get("task", {}))
        fields.update(o.get("train", {}))
    if str(fields["data"]) in ("stream", "stream:builtin"):
        raise DustbenchError("--data stream draws crops from the builtin test photographs: the leaderboard "
                             "trains on builtin-train (or a dataset folder) so the test split stays held out")
    return TrainConfig(model=model, out=str(Path(cfg.work) / "runs" / model), time_budget=cfg.budget,
                       device=cfg.device, progress=cfg.progress, **fields)


def _same(a, b) -> bool:
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def train_one(model: str, cfg: ReproduceConfig) -> tuple[dict, dict]:
    """Train (or continue, or leave alone if finished) one model: its record for reproduce.json, and
    what its checkpoint records (``meta``)."""
    tc = train_config(model, cfg)
    ckpt = Path(tc.out) / "checkpoint.pt"
    resume = ckpt.is_file()
    if resume:
        if not cfg.resume:
            raise DustbenchError(f"{ckpt} exists: add --resume to continue it (finished runs are kept as they "
                                 "are), or choose another --work")
        saved = train_state(read_checkpoint(ckpt), ckpt)["train_config"]
        wanted = tc.to_dict()
        diff = [k for k in RECIPE_KEYS if not _same(saved.get(k), wanted.get(k))]
        if diff:
            raise DustbenchError(f"{ckpt} was trained with another recipe ({', '.join(diff)} differ): "
                                 "use another --work to train afresh")
    start = time.monotonic()
    result = train(tc, resume=resume)
    meta = result.meta
    return {"model": model, "checkpoint": str(result.checkpoint), "steps": result.step, "epochs": result.epoch,
            "stop_reason": result.stop_reason, "train_wall_s": round(result.wall_time_s, 1),
            "this_call_s": round(time.monotonic() - start, 1), "budget_s": cfg.budget, "device": meta.get("device"),
            "parameters": meta.get("parameters"), "val": result.val, "notes": meta.get("notes"),
            "train_config": {k: tc.to_dict()[k] for k in RECIPE_KEYS + ("max_steps",)}}, meta


def _current_export(path: Path, meta: dict, inference: dict | None) -> dict | None:
    """The card of an export of exactly this checkpoint's weights (and operating point), if ``path``
    holds one (so a re-run does not rewrite committed model files: TorchScript archives differ
    byte-wise on every save)."""
    card_json = path.with_suffix(".card.json")
    if not (path.is_file() and card_json.is_file()):
        return None
    card = json.loads(card_json.read_text(encoding="utf-8"))
    same = all(card["training"].get(k) == meta.get(k) for k in ("steps", "wall_time_s", "train_config"))
    same = same and all((card.get("inference") or {}).get(k) == v for k, v in (inference or {}).items())
    return card if same and file_sha256(path) == card["sha256"] else None


def operating_point(checkpoint: str, criterion: str, cfg: ReproduceConfig) -> dict:
    """A detector's threshold (and dilation) chosen on the validation split for ``criterion``."""
    detector = load_model_file(checkpoint, cfg.eval_device, tile=None)
    data = open_data(cfg.data, "validation")
    # a smoke test's --limit N also calibrates on the first N pairs (the grid fills each image ~100 times)
    pairs = itertools.islice(data, cfg.limit) if cfg.limit else data
    found = calibrate_detector(detector, pairs, criterion, visible=DETECTION_TARGET["opacity"])
    growing = {"grow": found["grow"]} if found["grow"] else {}  # only when used, as DetectInpaint's options
    first = f" (first {found['images']})" if cfg.limit else ""
    return {"threshold": found["threshold"], **growing, "dilate": found["dilate"],
            "calibrated": f"{criterion} on {data.name}{first}", "calibration": {k: v for k, v in found.items()}}


def export_one(name: str, rec: dict, meta: dict, out: Path, cfg: ReproduceConfig, criterion: str | None = None) -> dict:
    """Export row ``name`` from a trained checkpoint (a detector at the operating point ``criterion``
    picks on validation); its weights also go to ``pretrained/`` when it is a model family's own row."""
    path = out / "models" / f"{name}.pt"
    start = time.monotonic()
    inference = operating_point(rec["checkpoint"], criterion, cfg) if criterion else None
    short = None if inference is None else {k: inference[k] for k in ("threshold", "grow", "dilate", "calibrated")
                                            if k in inference}
    card, seconds = _current_export(path, meta, short), None
    if card is None:
        card = export_model(rec["checkpoint"], path, inference=inference,
                            pretrained_dir=cfg.publish_weights if name in LEARNED else None)
        card_md = path.with_suffix(".card.md")
        card_md.write_text(card_md.read_text(encoding="utf-8") + "\n## Reproduce this leaderboard row\n\n"
                           f"    dustbench evaluate {path.as_posix()} --data {cfg.data} --out results/{name}\n\n"
                           "Trained and exported by `dustbench leaderboard reproduce` (see ../leaderboard.md).\n",
                           encoding="utf-8")
        seconds = round(time.monotonic() - start, 1)
    return {"file": path.as_posix(), "sha256": card["sha256"], "size_mb": round(path.stat().st_size / 2**20, 2),
            "parameters": card["parameters"], "kind": card.get("kind", "restorer"), "export_s": seconds,
            "operating_point": short}


def train_data_words(train_rec: dict, cfg: ReproduceConfig) -> str:
    """What a row trained by :func:`reproduce` learned from, as the board's "train data" column says it."""
    return f"{SHARED_TRAIN['data']} at scan scale {train_rec['train_config'].get('scan_scale')}, " \
           f"{fmt_duration(cfg.budget)} on {train_rec['device']}"


TRACK_SEP = "@"  # a row ``METHOD@SUITE`` is on SUITE: the board's images with more to them (leaderboard extend --data)


def row_target(row: str, board_data: str) -> tuple[str, str]:
    """A board row's registered method (or row name, for a model file) and the data it is scored on."""
    method, sep, data = row.partition(TRACK_SEP)
    return (method, data) if sep else (row, board_data)


def evaluate_one(name: str, cfg: ReproduceConfig, model_file: str | None = None, train_data: str | None = None):
    """Evaluate a registered method or an exported model file (row named ``name``); (record, method)."""
    method, data = (name, cfg.data) if model_file else row_target(name, cfg.data)
    if model_file:
        method = load_model_file(model_file, cfg.eval_device, tile=None)
        method.name = name
    dest = Path(cfg.work) / "results" / name
    start = time.monotonic()
    # overwrite: a re-exported model must not reuse the rows of its previous weights (10 images: cheap)
    res = evaluate(method, data, dest, save_images=True, train_data=train_data, limit=cfg.limit,
                   overwrite=True, progress=cfg.progress, device=cfg.eval_device, threads=cfg.eval_threads)
    m = res.summary["metrics"]
    return {"result": dest.as_posix(), "eval_wall_s": round(time.monotonic() - start, 1), "psnr": m["psnr"]["mean"],
            "ssim": m["ssim"]["mean"], "method_runtime_s": round(res.summary["runtime"]["total_s"], 2)}, method


def detection_metrics(method, data: str, limit: int | None = None) -> dict:
    """Pixel precision/recall/IoU of a DetectInpaint method's flags (before dilation) on the test split,
    pooled over images, against three ground truths: the training labels (mask opacity above the
    label threshold), the visible damage the detection target is about (``VISIBLE_DAMAGE``) and any
    damage (mask > 0, the region of the masked metrics before dilation)."""
    label_threshold = float(method.options.get("label_threshold", 0.0))
    contrast = float(method.options.get("label_contrast", 0.0))  # labels that show (segnet's label_contrast)
    shows = f" and |damaged - clean| > {contrast:g}/255" if contrast else ""
    truths = {f"labels (opacity > {label_threshold:g}{shows})": (label_threshold, False, contrast),
              VISIBLE_DAMAGE: (DETECTION_TARGET["opacity"], True, 0.0), "any damage (mask > 0)": (0.0, False, 0.0)}
    totals = {k: {"tp": 0, "fp": 0, "fn": 0, "pixels": 0} for k in truths}
    flagged, pixels, n = 0, 0, 0
    for i, s in enumerate(open_data(data, "test")):
        if (limit and i >= limit) or s.mask is None:
            continue
        pred = method.detect(to_float(s.damaged))
        flagged, pixels = flagged + int(pred.sum()), pixels + pred.size
        opacity = to_float(s.mask)
        changed = _changed(s.damaged, s.clean) if contrast else None
        for key, (thr, inclusive, level) in truths.items():
            truth = opacity >= thr if inclusive else opacity > thr
            c = detection_scores(pred, truth & (changed > level / 255.0) if level else truth)
            for k in totals[key]:
                totals[key][k] += c[k]
        n += 1
    growing = {"grow": method.options["grow"]} if method.options.get("grow") else {}
    return {"threshold": method.options["threshold"], **growing, "images": n, "flagged_fraction": flagged / max(1, pixels),
            "against": {k: {**c, **scores_from_counts(c)} for k, c in totals.items()}}


def _changed(damaged, clean):
    """Per pixel, the largest |damaged - clean| over the channels, in [0, 1]."""
    diff = np.abs(to_float(damaged) - to_float(clean))
    return channel_max(diff) if diff.ndim == 3 else diff


def reproduce(cfg: ReproduceConfig) -> dict:
    """Train, export, evaluate and report; returns (and writes to OUT/reproduce.json) the record."""
    start = time.monotonic()
    out, work = Path(cfg.out), Path(cfg.work)
    if out.resolve() == work.resolve():
        raise DustbenchError("--work must differ from --out (the work folder holds runs and restored images)")
    out.mkdir(parents=True, exist_ok=True)
    record = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": cfg.command,
              "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
              "shared_train": SHARED_TRAIN, "recipes": {m: RECIPES.get(m) for m in cfg.models},
              "git": provenance.git_commit(), "versions": provenance.package_versions(), "models": {}, "methods": {},
              "data": open_data(cfg.data, "test").describe(), "validation": open_data(cfg.data, "validation").describe()}
    metas = {}
    for model in cfg.models:
        train_rec, metas[model] = train_one(model, cfg)
        record["models"][model] = {"train": train_rec}
    used = [str(rec["train"]["device"]) for rec in record["models"].values()]
    record["hardware"] = provenance.hardware(next((d for d in used if d.startswith("cuda")), "cpu"))
    rows = {m: (m, None) for m in cfg.models if m not in {s for s, _ in OPERATING_POINTS.values()}}
    rows.update({row: point for row, point in OPERATING_POINTS.items() if point[0] in cfg.models})
    record["exports"] = {}
    for row, (model, criterion) in rows.items():
        record["exports"][row] = export_one(row, record["models"][model]["train"], metas[model], out, cfg, criterion)
    results = []
    for name in cfg.methods:
        rec, _ = evaluate_one(name, cfg)
        record["methods"][name] = rec
        results.append(rec["result"])
    for row, (model, _) in rows.items():
        rec, method = evaluate_one(row, cfg, record["exports"][row]["file"],
                                   train_data_words(record["models"][model]["train"], cfg))
        if hasattr(method, "detect"):
            rec["detection"] = detection_metrics(method, cfg.data, cfg.limit)
            write_json_atomic(Path(rec["result"]) / "detection.json", rec["detection"])
        record["methods"][row] = rec
        results.append(rec["result"])
    build_leaderboard(results, out, plots=cfg.plots, extra=lambda df: _finish(df, record, cfg, out, start))
    publish_results(results, out / PUBLISHED_RESULTS)
    write_json_atomic(out / "reproduce.json", record)
    return record


PUBLISHED_RESULTS = "results"
RESULT_FILES = ("summary.json", "per_image.csv", "detection.json")  # not the restored images: too large


def publish_results(results, dest: Path) -> list[Path]:
    """Copy each row's per-image results and summary next to the board (``OUT/results/<row>/``), so
    ``dustbench leaderboard compare OUT my_results/`` can compare another test set with it."""
    written = []
    for folder in map(Path, results):
        target = dest / folder.name
        target.mkdir(parents=True, exist_ok=True)
        for name in RESULT_FILES:
            if (folder / name).is_file():
                write_bytes_atomic(target / name, (folder / name).read_bytes())
        written.append(target)
    return written


def _finish(df, record: dict, cfg: ReproduceConfig, out: Path, start: float) -> list[str]:
    """The masked-metrics plot and the board's own sections, once the table is known."""
    if cfg.plots:
        test_set = df["test_set"].iloc[0]
        record["masked_plot"] = plot_masked(df[df["test_set"] == test_set], out / f"{slug(test_set)}_masked_psnr.png",
                                            f"Where the PSNR comes from — {test_set}").name
    record["wall_time_s"] = round(time.monotonic() - start, 1)
    return published_sections(record, cfg)(df)


