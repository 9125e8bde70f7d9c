"""The published leaderboard from one command: ``dustbench leaderboard reproduce --out leaderboard``.

    >>> from dustbench.reproduce import ReproduceConfig, reproduce
    >>> record = reproduce(ReproduceConfig(out="leaderboard", budget=900, resume=True))

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
4. **report**: :func:`dustbench.report.build_leaderboard` into ``OUT``, a masked-metrics plot, and
   sections appended to its ``leaderboard.md`` by :func:`write_sections` (``report.py`` is not
   changed): the comparison with Table 1 of Mironică (2020), detection scores, and how the board
   was made (command, budget, steps and wall time per method, device, git commit). Everything is
   also in ``OUT/reproduce.json``.

Per-family recipes (:data:`RECIPES`) size the networks for a CPU budget; every other training
setting is shared. Nothing is tuned on the test split: ``median_tuned`` tunes on the validation
split, the segnet threshold is fixed (0.5), and training validation is only logged.
"""
from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from .errors import DustbenchError

LEARNED = ("dust_gan", "pix2pix", "segnet")
CLASSICAL = ("identity", "median", "median_tuned", "oracle_inpaint")
# Every learned model: same data, patches, batch, seed and validation (TrainConfig fields).
SHARED_TRAIN = {"data": "builtin-train", "patch": 128, "batch_size": 8, "seed": 0, "val": "builtin"}
# Per family: network size for a CPU budget (defaults are the papers'), its optimiser settings.
RECIPES = {
    "dust_gan": {"model_config": {}, "task_options": {"d_width": 32}, "lr": 5e-4},
    "pix2pix": {"model_config": {"ngf": 8}, "task_options": {"d_width": 32}, "lr": 2e-4},
    "segnet": {"model_config": {"width": 8}, "task_options": {}, "lr": 5e-4},
}
RECIPE_KEYS = ("data", "model_config", "task_options", "patch", "batch_size", "lr", "seed", "presets", "pool")
# Mironică (2020), Table 1 (500 real community-retouched test photos): (row, PSNR, SSIM, our method).
PAPER_TABLE1 = (("Pix2Pix [12]", 31.91, 0.80, "pix2pix"), ("Strubel et al. [21]", 25.07, 0.65, "segnet"),
                ("Photoshop [10]", 22.17, 0.62, "median_tuned"), ("Proposed approach", 35.12, 0.92, "dust_gan"))


@dataclass
class ReproduceConfig:
    """What :func:`reproduce` does; ``train`` and ``overrides`` change the recipes (tests, GPUs)."""

    out: str = "leaderboard"
    work: str = "runs/leaderboard"
    budget: float = 900.0                  # seconds of training per learned model (wall clock)
    models: tuple = LEARNED
    methods: tuple = CLASSICAL
    data: str = "builtin"                  # test data; split "test"
    resume: bool = False
    device: str = "auto"                   # training device ("auto": a GPU when there is one)
    eval_device: str = "cpu"
    train: dict = field(default_factory=dict)      # TrainConfig fields for every model (max_steps, threads...)
    overrides: dict = field(default_factory=dict)  # model or "*" -> {"model"|"task"|"train": {...}}
    limit: int | None = None               # evaluate the first N test images only (tests)
    plots: bool = True
    progress: bool = True
    command: str = ""


def fmt_duration(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600}h{(s % 3600) // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def train_config(model: str, cfg: ReproduceConfig):
    """The TrainConfig of ``model``: shared settings, its recipe, then ``cfg.train`` and overrides."""
    from .train import TrainConfig

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


def train_one(model: str, cfg: ReproduceConfig) -> dict:
    """Train (or continue, or leave alone if finished) one model; its record for reproduce.json."""
    from .train import train
    from .train.checkpoint import load_checkpoint, train_state

    tc = train_config(model, cfg)
    ckpt = Path(tc.out) / "checkpoint.pt"
    resume = ckpt.is_file()
    if resume:
        if not cfg.resume:
            raise DustbenchError(f"{ckpt} exists: add --resume to continue it (finished runs are kept as they "
                                 "are), or choose another --work")
        saved = train_state(load_checkpoint(ckpt), ckpt)["train_config"]
        wanted = tc.to_dict()
        diff = [k for k in RECIPE_KEYS if not _same(saved.get(k), wanted.get(k))]
        if diff:
            raise DustbenchError(f"{ckpt} was trained with another recipe ({', '.join(diff)} differ): "
                                 "use another --work to train afresh")
    start = time.monotonic()
    result = train(tc, resume=resume)
    meta = load_checkpoint(result.checkpoint)["meta"]
    return {"model": model, "checkpoint": str(result.checkpoint), "steps": result.step, "epochs": result.epoch,
            "stop_reason": result.stop_reason, "train_wall_s": round(result.wall_time_s, 1),
            "this_call_s": round(time.monotonic() - start, 1), "budget_s": cfg.budget, "device": meta.get("device"),
            "parameters": meta.get("parameters"), "val": result.val, "notes": meta.get("notes"),
            "train_config": {k: tc.to_dict()[k] for k in RECIPE_KEYS + ("max_steps",)}}


def _current_export(path: Path, checkpoint: str) -> dict | None:
    """The card of an export of exactly this checkpoint's weights, if ``path`` holds one (so a re-run
    does not rewrite committed model files: TorchScript archives differ byte-wise on every save)."""
    import hashlib

    from .train.checkpoint import load_checkpoint

    card_json = path.with_suffix(".card.json")
    if not (path.is_file() and card_json.is_file()):
        return None
    card, meta = json.loads(card_json.read_text(encoding="utf-8")), load_checkpoint(checkpoint)["meta"]
    same = all(card["training"].get(k) == meta.get(k) for k in ("steps", "wall_time_s", "train_config"))
    return card if same and hashlib.sha256(path.read_bytes()).hexdigest() == card["sha256"] else None


def export_one(model: str, rec: dict, out: Path) -> dict:
    from .train.export import export_model

    path = out / "models" / f"{model}.pt"
    start = time.monotonic()
    card, seconds = _current_export(path, rec["checkpoint"]), None
    if card is None:
        card = export_model(rec["checkpoint"], path)
        card_md = path.with_suffix(".card.md")
        card_md.write_text(card_md.read_text(encoding="utf-8") + "\n## Reproduce this leaderboard row\n\n"
                           f"    dustbench evaluate {path.as_posix()} --data builtin --out results/{model}\n\n"
                           "Trained and exported by `dustbench leaderboard reproduce` (see ../leaderboard.md).\n",
                           encoding="utf-8")
        seconds = round(time.monotonic() - start, 1)
    return {"file": path.as_posix(), "sha256": card["sha256"], "size_mb": round(path.stat().st_size / 2**20, 2),
            "parameters": card["parameters"], "kind": card.get("kind", "restorer"), "export_s": seconds}


def evaluate_one(name: str, cfg: ReproduceConfig, model_file: str | None = None, train_data: str | None = None):
    """Evaluate a registered method or an exported model file (row named ``name``); (record, method)."""
    from .evaluate import evaluate
    from .methods import load_model_file

    method = name
    if model_file:
        method = load_model_file(model_file, cfg.eval_device, tile=None)
        method.name = name
    dest = Path(cfg.work) / "results" / name
    start = time.monotonic()
    # overwrite: a re-exported model must not reuse the rows of its previous weights (10 images: cheap)
    res = evaluate(method, cfg.data, dest, save_images=True, train_data=train_data, limit=cfg.limit,
                   overwrite=True, progress=cfg.progress, device=cfg.eval_device)
    m = res.summary["metrics"]
    return {"result": dest.as_posix(), "eval_wall_s": round(time.monotonic() - start, 1), "psnr": m["psnr"]["mean"],
            "ssim": m["ssim"]["mean"], "method_runtime_s": round(res.summary["runtime"]["total_s"], 2)}, method


def detection_metrics(method, data: str, limit: int | None = None) -> dict:
    """Pixel precision/recall/IoU of a DetectInpaint method's flags (before dilation) on the test split,
    pooled over images, against two ground truths: the training labels (mask opacity above the
    label threshold) and any damage (mask > 0, the region of the masked metrics before dilation)."""
    from .io import to_float
    from .methods.detect_inpaint import detection_scores, scores_from_counts
    from .pairs import open_data

    label_threshold = float(method.options.get("label_threshold", 0.0))
    truths = {f"labels (opacity > {label_threshold:g})": label_threshold, "any damage (mask > 0)": 0.0}
    totals = {k: {"tp": 0, "fp": 0, "fn": 0, "pixels": 0} for k in truths}
    flagged, pixels, n = 0, 0, 0
    for i, s in enumerate(open_data(data, "test")):
        if (limit and i >= limit) or s.mask is None:
            continue
        pred = method.detect(to_float(s.damaged))
        flagged, pixels = flagged + int(pred.sum()), pixels + pred.size
        opacity = to_float(s.mask)
        for key, thr in truths.items():
            c = detection_scores(pred, opacity > thr)
            for k in totals[key]:
                totals[key][k] += c[k]
        n += 1
    return {"threshold": method.options["threshold"], "images": n, "flagged_fraction": flagged / max(1, pixels),
            "against": {k: {**c, **scores_from_counts(c)} for k, c in totals.items()}}


def plot_masked(df, path: Path, title: str) -> Path:
    """Two panels per method: PSNR inside the artifact region, and the share of clean pixels changed."""
    from matplotlib.figure import Figure

    from .io import atomic_path

    fig = Figure(figsize=(10, 4))
    a, b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    labels = [m + (" [oracle]" if o else "") for m, o in zip(df["method"], df["is_oracle"])]
    a.barh(labels, df["masked_psnr_in"], color="tab:blue")
    ident = df[df["method"] == "identity"]
    if len(ident):
        a.axvline(float(ident["masked_psnr_in"].iloc[0]), color="grey", ls="--", label="input (identity)")
        a.legend(fontsize=7)
    a.set_xlabel("PSNR inside the artifact region (dB): what was repaired")
    b.barh(labels, 100 * df["clean_change_rate"], color="tab:red")
    b.set_xlabel("clean pixels changed by > 2/255 (%): what was damaged")
    for ax in (a, b):
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    b.set_yticks([])
    fig.suptitle(title)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")
    return path


def reproduce(cfg: ReproduceConfig) -> dict:
    """Train, export, evaluate and report; returns (and writes to OUT/reproduce.json) the record."""
    from . import provenance
    from .io import write_json_atomic
    from .report import build_leaderboard

    start = time.monotonic()
    out, work = Path(cfg.out), Path(cfg.work)
    if out.resolve() == work.resolve():
        raise DustbenchError("--work must differ from --out (the work folder holds runs and restored images)")
    out.mkdir(parents=True, exist_ok=True)
    record = {"created": datetime.now(timezone.utc).isoformat(timespec="seconds"), "command": cfg.command,
              "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(cfg).items()},
              "shared_train": SHARED_TRAIN, "recipes": {m: RECIPES.get(m) for m in cfg.models},
              "git": provenance.git_commit(), "versions": provenance.package_versions(), "models": {}, "methods": {}}
    for model in cfg.models:
        record["models"][model] = {"train": train_one(model, cfg)}
    used = [str(rec["train"]["device"]) for rec in record["models"].values()]
    record["hardware"] = provenance.hardware(next((d for d in used if d.startswith("cuda")), "cpu"))
    for model in cfg.models:
        record["models"][model]["export"] = export_one(model, record["models"][model]["train"], out)
    results = []
    for name in cfg.methods:
        rec, _ = evaluate_one(name, cfg)
        record["methods"][name] = rec
        results.append(rec["result"])
    for model in cfg.models:
        t = record["models"][model]["train"]
        train_data = f"builtin-train, {fmt_duration(cfg.budget)} on {t['device']}"
        rec, method = evaluate_one(model, cfg, record["models"][model]["export"]["file"], train_data)
        if hasattr(method, "detect"):
            rec["detection"] = detection_metrics(method, cfg.data, cfg.limit)
            write_json_atomic(Path(rec["result"]) / "detection.json", rec["detection"])
        record["methods"][model] = rec
        results.append(rec["result"])
    board = build_leaderboard(results, out, plots=cfg.plots)
    df = board["table"]
    if cfg.plots:
        test_set = df["test_set"].iloc[0]
        from .report import _slug

        record["masked_plot"] = plot_masked(df[df["test_set"] == test_set], out / f"{_slug(test_set)}_masked_psnr.png",
                                            f"Where the PSNR comes from — {test_set}").name
    record["wall_time_s"] = round(time.monotonic() - start, 1)
    write_sections(out / "leaderboard.md", df, record, cfg)
    write_json_atomic(out / "reproduce.json", record)
    return record


# -- the sections appended to leaderboard.md ------------------------------------------------------
def _row(df, method):
    part = df[df["method"] == method]
    return None if part.empty else part.iloc[0]


def _num(v, digits: int = 2, scale: float = 1.0) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{scale * v:.{digits}f}"


def _method_cells(r, ident) -> list[str]:
    delta = r["psnr"] - ident["psnr"] if ident is not None else math.nan
    return [f"{_num(r['psnr'])} [{_num(r['psnr_ci_low'])}, {_num(r['psnr_ci_high'])}]", _num(r["ssim"], 4),
            _num(delta), f"{_num(r['masked_psnr_in'])} / {_num(r['masked_psnr_out'])}",
            _num(r["clean_change_rate"], 2, 100)]


def table1_lines(df, record: dict, cfg: ReproduceConfig) -> list[str]:
    ident, test_set = _row(df, "identity"), df["test_set"].iloc[0]
    lines = ["## Beside the paper's Table 1", "",
             "Mironică (2020), Table 1, scores 500 *real* damaged film scans retouched by photographers; ours "
             f"are on the `{test_set}` split ({int(df['n_images'].max())} synthetic 192×192 crops with known "
             "masks). The metric names match, the data does not: compare the *order* and the gain over the "
             "input, not absolute dB (the paper does not report its input's PSNR).", "",
             "| paper row | paper PSNR / SSIM | ours | PSNR (dB) [95 % CI] | SSIM | Δ PSNR vs input (dB) | "
             "masked PSNR in / out (dB) | clean changed (%) |", "|---|---|---|---|---|---|---|---|"]
    rows = [(name, f"{p:.2f} / {s:.2f}", ours) for name, p, s, ours in PAPER_TABLE1]
    rows += [("(not in the paper)", "–", m) for m in ("identity", "median", "oracle_inpaint")]
    for name, paper, ours in rows:
        r = _row(df, ours)
        if r is not None:
            label = f"`{ours}`" + (" [oracle]" if r["is_oracle"] else "") + (" (input)" if ours == "identity" else "")
            lines.append("| " + " | ".join([name, paper, label, *_method_cells(r, ident)]) + " |")
    paper_order = [m for _, _, _, m in sorted(PAPER_TABLE1, key=lambda t: -t[1]) if _row(df, m) is not None]
    ours = sorted(paper_order, key=lambda m: -_row(df, m)["psnr"])
    same = ours == paper_order
    lines += ["", "**Ranking.** Paper (PSNR): " + " > ".join(paper_order) + ". Here: "
              + " > ".join(f"{m} ({_row(df, m)['psnr']:.2f})" for m in ours) + ". "
              + ("The same order as the paper." if same else "**The order differs from the paper's.**"), ""]
    if ident is not None:
        lines += ["**Where each method gains and loses** (masked metrics: inside the dilated artifact region vs "
                  "the clean pixels outside it; the input scores "
                  f"{_num(ident['masked_psnr_in'])} dB inside and changes no clean pixel):", ""]
        for _, r in df[df["method"] != "identity"].iterrows():
            gap = r["psnr"] - ident["psnr"]
            verdict = "level with" if abs(gap) < 0.005 else "above" if gap > 0 else "**below**"
            lines.append(f"- `{r['method']}`{' [oracle]' if r['is_oracle'] else ''}: {gap:+.2f} dB "
                         f"overall ({verdict} the input); inside the artifacts {_num(r['masked_psnr_in'])} dB "
                         f"({r['masked_psnr_in'] - ident['masked_psnr_in']:+.2f} dB), outside "
                         f"{_num(r['masked_psnr_out'])} dB with {_num(r['clean_change_rate'], 2, 100)} % of clean "
                         "pixels changed.")
        lines.append("")
    if record.get("masked_plot"):
        lines += [f"![Masked metrics]({record['masked_plot']})", ""]
    steps = ", ".join(f"{m} {rec['train']['steps']}" for m, rec in record["models"].items())
    notes = "; ".join(f"{m}: {k} {v}" for m, rec in record["models"].items()
                      for k, v in (rec["train"].get("notes") or {}).items() if k == "perceptual")
    lines += ["**Honest differences from the paper.**", "",
              "- *Training data*: the paper uses 2,500 film photographs with 100 synthetic artifact types; every "
              "model here trains on `builtin-train`: procedural `*_scan_*` damage on 8 built-in scikit-image "
              "images (6 of them grey). Anything learned from so few scenes over-fits to them.",
              "- *Test data*: the paper's test photos carry real damage; ours is synthetic (the same generator "
              "family as training, other photographs), so it says nothing yet about real scans.",
              f"- *Budget*: the paper trains 200 epochs (batch ≥ 32, presumably on a GPU); here each model gets "
              f"{fmt_duration(cfg.budget)} of wall-clock training ({steps} steps). Short CPU training of an "
              "image-to-image net can do worse than returning its input (docs: DESIGN pitfalls).",
              "- *Network sizes*: narrowed for that budget (parameters below; pix2pix's U-Net is 41.8 M and "
              "SegNet 29.5 M at the papers' widths). " + (f"Perceptual loss — {notes}." if notes else ""),
              "- *Strubel et al.*: Mironică gives no detail of their pipeline; ours is a SegNet detector trained "
              "with cross-entropy on the synthesis masks, then Telea inpainting (baselines/segnet/README.md). "
              "*Photoshop*: approximated by the Dust & Scratches median (`median`, and `median_tuned` tuned on "
              "the validation split).",
              "- *Metrics*: ours are RGB, 8-bit, SSIM with an 11×11 Gaussian window (see Conventions); the paper "
              "does not state its conventions.", ""]
    return lines


def detection_lines(record: dict) -> list[str]:
    lines = []
    for name, rec in record["methods"].items():
        det = rec.get("detection")
        if not det:
            continue
        lines += [f"## Detection: `{name}`", "",
                  f"Pixels flagged at P(artifact) ≥ {det['threshold']:g} (before the 1-px dilation used for "
                  f"inpainting; a fixed threshold, not tuned), pooled over {det['images']} test images; "
                  f"{100 * det['flagged_fraction']:.2f} % of pixels flagged.", "",
                  "| ground truth | precision | recall | IoU | F1 |", "|---|---|---|---|---|"]
        for truth, c in det["against"].items():
            lines.append(f"| {truth} | {c['precision']:.3f} | {c['recall']:.3f} | {c['iou']:.3f} | {c['f1']:.3f} |")
        lines.append("")
    return lines


def provenance_lines(record: dict, cfg: ReproduceConfig) -> list[str]:
    from .pairs import BUILTIN
    from .sources import BUILTIN as TEST_PHOTOS
    from .train.data import BUILTIN_TRAIN

    git, hw = record["git"], record["hardware"]
    test_photos = [sid for sid, *_ in TEST_PHOTOS]
    overlap = sorted(set(BUILTIN_TRAIN) & set(test_photos))
    devices = sorted({str(rec["train"]["device"]) for rec in record["models"].values()})
    lines = ["## How this was made", "",
             "Every file in this folder is the output of one command (do not edit by hand):", "",
             f"    {record['command'] or 'dustbench leaderboard reproduce'}", "",
             f"- git commit `{git.get('commit')}`" + (" (with uncommitted changes)" if git.get("dirty") else "")
             + f", {record['created']}, torch {record['versions'].get('torch')}",
             f"- training device: {', '.join(devices) or '–'}; machine: {hw.get('cpu')}, "
             f"{hw.get('cpu_usable')} usable cores, torch threads {hw['threads'].get('torch')}"
             + (f", GPU {hw['gpu']}" if hw.get("gpu") else " — **CPU only**, no GPU"),
             f"- budget: {fmt_duration(cfg.budget)} of wall-clock training per learned model (validation and "
             f"checkpoints included), the same for each; shared settings "
             f"`{json.dumps({**SHARED_TRAIN, **cfg.train, **cfg.overrides.get('*', {}).get('train', {})})}`",
             f"- training images (`builtin-train`): {', '.join(BUILTIN_TRAIN)}; test photographs: "
             f"{', '.join(test_photos)} ({BUILTIN['test'][0]} crops from their right halves) — "
             + ("disjoint: no test pixel is trained on." if not overlap else f"**overlap: {overlap}**"),
             f"- validation ({BUILTIN['validation'][0]} crops from the left halves of the test photographs, no "
             "shared pixel): logged during training and used to tune `median_tuned`; never the test split",
             f"- total wall time of the command: {fmt_duration(record['wall_time_s'])}", "",
             "| method | params | recipe | steps (full epochs) | stopped by | train wall | export | evaluate "
             "wall | model file | val PSNR / input (dB) |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rec in record["methods"].items():
        model = record["models"].get(name)
        if model is None:
            lines.append(f"| {name} | 0 | – | – | – | – | – | {rec['eval_wall_s']:.1f} s | – | – |")
            continue
        t, e = model["train"], model["export"]
        recipe = {k: v for k, v in t["train_config"].items() if k in ("model_config", "task_options", "lr") and v}
        val = t.get("val") or {}
        export = "kept (same weights)" if e["export_s"] is None else f"{e['export_s']:.1f} s"
        lines.append(f"| {name} | {e['parameters']:,} | `{json.dumps(recipe)}` | {t['steps']} ({t['epochs']}) | "
                     f"{t['stop_reason']} | {fmt_duration(t['train_wall_s'])} | {export} | "
                     f"{rec['eval_wall_s']:.1f} s | [{Path(e['file']).name}](models/{Path(e['file']).name}) "
                     f"({e['size_mb']} MB, [card](models/{Path(e['file']).stem}.card.md)) | "
                     f"{_num(val.get('val_psnr'))} / {_num(val.get('val_psnr_identity'))} |")
    lines += ["", "Reproduce one row on another machine in minutes: `dustbench evaluate models/dust_gan.pt "
              "--data builtin --out results/dust_gan` (row names differ: a file is named `file:dust_gan.pt`). "
              "Full record: `reproduce.json`.", ""]
    return lines


def write_sections(md_path: Path, df, record: dict, cfg: ReproduceConfig) -> None:
    """Append the Table-1 comparison, detection scores and provenance to build_leaderboard's markdown."""
    from .io import write_text_atomic

    first = df[df["test_set"] == df["test_set"].iloc[0]]
    lines = table1_lines(first, record, cfg) + detection_lines(record) + provenance_lines(record, cfg)
    head, sep, conventions = md_path.read_text(encoding="utf-8").partition("## Conventions")
    write_text_atomic(md_path, head.rstrip("\n") + "\n\n" + "\n".join(lines) + "\n" + sep + conventions)
