"""The published leaderboard's own sections: the comparison with the paper's Table 1, detection
scores, and how the board was made. :func:`published_sections` gives them to
:func:`~dustbench.report.leaderboard.build_leaderboard` as extra markdown."""
from __future__ import annotations

import json
import math
from pathlib import Path

from ..evaluation.model_card import fmt_duration
from ..sources import BUILTIN as TEST_PHOTOS
from ..sources import BUILTIN_TRAIN
from .paired import delta_cells, p_clause, paired_sentence
from .recipe import DETECTION_TARGET, OPERATING_POINTS, VISIBLE_DAMAGE

# Mironică (2020), Table 1 (500 real community-retouched test photos): (row, PSNR, SSIM, our method).
PAPER_TABLE1 = (("Pix2Pix [12]", 31.91, 0.80, "pix2pix"), ("Strubel et al. [21]", 25.07, 0.65, "segnet"),
                ("Photoshop [10]", 22.17, 0.62, "median_tuned"), ("Proposed approach", 35.12, 0.92, "dust_gan"))


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


def _paired_words(r) -> str:
    """'; paired: p = …, wins/ties/losses, verdict' from the leaderboard's paired columns (empty without)."""
    if "delta_psnr" not in r or math.isnan(float(r["delta_psnr"])):
        return ""
    _, _, wtl, verdict = delta_cells(r, "psnr")
    return (f"; paired over {int(r['n_paired'])} images: p {p_clause(r['delta_psnr_p'])}, "
            f"{wtl.replace(' / ', '/')} wins/ties/losses, {verdict}")


def table1_lines(df, record: dict, cfg) -> list[str]:
    ident, test_set = _row(df, "identity"), df["test_set"].iloc[0]
    lines = ["## Beside the paper's Table 1", "",
             "Mironică (2020), Table 1, scores 500 *real* damaged film scans retouched by photographers; ours "
             f"are on the `{test_set}` split ({int(df['n_images'].max())} synthetic images with known masks: "
             f"{_data_words(record)}). The metric names match, the data does not: compare the *order* and the "
             "gain over the input, not absolute dB (the paper does not report its input's PSNR).", "",
             "| paper row | paper PSNR / SSIM | ours | PSNR (dB) [95 % CI] | SSIM | Δ PSNR vs input (dB) | "
             "masked PSNR in / out (dB) | clean changed (%) |", "|---|---|---|---|---|---|---|---|"]
    rows = [(name, f"{p:.2f} / {s:.2f}", ours) for name, p, s, ours in PAPER_TABLE1]
    rows += [("(not in the paper)", "–", m) for m in ("gated", "identity", "median", "oracle_inpaint", "oracle_unblend")]
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
                         f"pixels changed{_paired_words(r)}.")
        lines.append("")
    if record.get("masked_plot"):
        lines += [f"![Masked metrics]({record['masked_plot']})", ""]
    return lines + honest_differences(record, cfg)


def honest_differences(record: dict, cfg) -> list[str]:
    """What still differs from the paper's setting, in plain words."""
    # rows added by `leaderboard extend` trained with their own --time-budget (the reproduce command's: cfg.budget)
    budgets = {m: rec["train"].get("train_config", {}).get("time_budget") or cfg.budget
               for m, rec in record["models"].items()}
    if set(budgets.values()) != {cfg.budget}:
        each = "; ".join(f"{m} {fmt_duration(budgets[m])} ({rec['train']['steps']} steps)"
                         for m, rec in record["models"].items())
        budget = f"a wall-clock budget of its own: {each}"
    else:
        steps = ", ".join(f"{m} {rec['train']['steps']}" for m, rec in record["models"].items())
        budget = f"{fmt_duration(cfg.budget)} of wall-clock training ({steps} steps)"
    notes = "; ".join(f"{m}: {k} {v}" for m, rec in record["models"].items()
                      for k, v in (rec["train"].get("notes") or {}).items() if k == "perceptual")
    return ["**Honest differences from the paper.**", "",
              "- *Training data*: the paper uses 2,500 film photographs with 100 synthetic artifact types; every "
              f"model here trains on `{record['shared_train']['data']}`: `{record['shared_train']['presets']}` "
              f"damage drawn afresh for every patch on the {len(BUILTIN_TRAIN)} other images that ship offline "
              "(photographs, 7 of them grey, document and microscope scans), as crops of 35 mm frames scanned "
              f"at {record['shared_train'].get('scan_scale')} px on the short side, with the paper's rotations, "
              "resizes and intensity changes. Anything learned from so few scenes over-fits to them.",
              "- *Test data*: the paper's test photos carry real damage; ours is synthetic (the same generator "
              "family as training, other photographs), so it says nothing yet about real scans: evaluate on your "
              "own retouched pairs (docs/evaluation.md, real pairs) and compare the rankings "
              "(`dustbench leaderboard compare`).",
              f"- *Budget*: the paper trains 200 epochs (batch ≥ 32, presumably on a GPU); here each model gets "
              f"{budget}. Short CPU training of an "
              "image-to-image net can do worse than returning its input (docs/architecture.md, pitfalls).",
              "- *Network sizes*: narrowed for that budget (parameters below; pix2pix's U-Net is 41.8 M and "
              "SegNet 29.5 M at the papers' widths). " + (f"Perceptual loss — {notes}." if notes else ""),
              "- *Strubel et al.*: Mironică gives no detail of their pipeline; ours is a SegNet detector trained "
              "on the synthesis masks with focal + Dice loss (plain cross-entropy collapses to \"no damage\" on "
              "~1 % positive pixels), its threshold chosen for detection F1 on the validation split, then Telea "
              "inpainting (baselines/segnet/README.md); `gated` is the same detector at the threshold of best "
              "validation PSNR (baselines/gated/README.md). "
              "*Photoshop*: approximated by the Dust & Scratches median (`median`, and `median_tuned` tuned on "
              "the validation split).",
              "- *Metrics*: ours are RGB, 8-bit, SSIM with an 11×11 Gaussian window (see Conventions); the paper "
              "does not state its conventions.", ""]


def detection_lines(record: dict) -> list[str]:
    lines = []
    for name, rec in record["methods"].items():
        det = rec.get("detection")
        if not det:
            continue
        point = (record.get("exports", {}).get(name) or {}).get("operating_point") or {}
        how = (f"the operating point chosen for {point['calibrated']}, never the test split" if point.get("calibrated")
               else "the threshold recorded in the model file")
        dilate = point.get("dilate")
        grown = f", grown to connected pixels ≥ {det['grow']:g}" if det.get("grow") else ""
        lines += [f"## Detection: `{name}`", "",
                  f"Pixels flagged at P(artifact) ≥ {det['threshold']:g}{grown} ({how}; counted before the "
                  f"{'' if dilate is None else f'{dilate}-px '}dilation used for inpainting), pooled over "
                  f"{det['images']} test images; {100 * det['flagged_fraction']:.2f} % of pixels flagged.", "",
                  "| ground truth | precision | recall | IoU | F1 |", "|---|---|---|---|---|"]
        for truth, c in det["against"].items():
            lines.append(f"| {truth} | {c['precision']:.3f} | {c['recall']:.3f} | {c['iou']:.3f} | {c['f1']:.3f} |")
        visible = det["against"].get(VISIBLE_DAMAGE)
        if visible is not None:
            met = visible["precision"] >= DETECTION_TARGET["precision"] and visible["recall"] >= DETECTION_TARGET["recall"]
            lines += ["", f"Target for a detector that detects: precision ≥ {DETECTION_TARGET['precision']:g} and "
                          f"recall ≥ {DETECTION_TARGET['recall']:g} on {VISIBLE_DAMAGE}: "
                          f"{'met' if met else '**missed**'} ({visible['precision']:.3f} / {visible['recall']:.3f})."]
        lines.append("")
    return lines


def _data_words(record: dict) -> str:
    d = record.get("data") or {}
    if d.get("version") == "v2":
        scales = ", ".join(f"{v['dpi']} dpi ({v['short_side_px']} px)" for v in d["scan_scale"].values())
        return f"full-resolution built-in photographs, damage drawn as on 35 mm frames scanned at {scales}"
    return d.get("region", d.get("name", ""))


def provenance_lines(record: dict, cfg, params: dict | None = None) -> list[str]:
    """How the board was made, with one line per row; ``params`` gives the parameter count of rows
    without a model file of their own (a registered method with learned parts, e.g. ``fastdet_lines``)."""
    params = params or {}
    git, hw, data, val = record["git"], record["hardware"], record.get("data") or {}, record.get("validation") or {}
    test_photos = [sid for sid, *_ in TEST_PHOTOS]
    train_names = [n.rsplit('.', 1)[0] for n in BUILTIN_TRAIN]
    overlap = sorted(set(train_names) & set(test_photos))
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
             f"checkpoints included), the same for each model the command trained (rows added later by "
             f"`leaderboard extend` had their own: *Budget* above); shared settings "
             f"`{json.dumps({**record['shared_train'], **cfg.train, **cfg.overrides.get('*', {}).get('train', {})})}`",
             f"- training images (`builtin-train`): {', '.join(train_names)}; test photographs: "
             f"{', '.join(test_photos)} ({data.get('region', '')}) — "
             + ("disjoint: no test pixel is trained on." if not overlap else f"**overlap: {overlap}**"),
             f"- validation: `{val.get('name', '–')}` ({val.get('region', '')}; no pixel shared with the test "
             "split): logged during training, used to tune `median_tuned` and to choose the detectors' operating "
             "points; never the test split",
             f"- timings: evaluation on {cfg.eval_device} with {cfg.eval_threads} thread(s) (OpenCV and torch)",
             f"- total wall time of the command: {fmt_duration(record['wall_time_s'])}", "",
             "| method | params | recipe | operating point | steps (full epochs) | stopped by | train wall | export | "
             "evaluate wall | model file | val PSNR / input (dB) |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, rec in record["methods"].items():
        e = record.get("exports", {}).get(name)
        if e is None:
            count = params.get(name.split("@")[0], 0)
            lines.append(f"| {name} | {count:,} | – | – | – | – | – | – | {rec['eval_wall_s']:.1f} s | – | – |")
            continue
        t = record["models"][OPERATING_POINTS.get(name, (name, None))[0]]["train"]
        recipe = {k: v for k, v in t["train_config"].items() if k in ("model_config", "task_options", "lr") and v}
        point = e.get("operating_point") or {}
        grown = f", grow {point['grow']:g}" if point.get("grow") else ""
        point = f"P ≥ {point['threshold']:g}{grown}, dilate {point['dilate']} ({point['calibrated']})" if point else "–"
        val_scores = t.get("val") or {}
        export = "kept (same weights)" if e["export_s"] is None else f"{e['export_s']:.1f} s"
        lines.append(f"| {name} | {e['parameters']:,} | `{json.dumps(recipe)}` | {point} | {t['steps']} ({t['epochs']}) | "
                     f"{t['stop_reason']} | {fmt_duration(t['train_wall_s'])} | {export} | "
                     f"{rec['eval_wall_s']:.1f} s | [{Path(e['file']).name}](models/{Path(e['file']).name}) "
                     f"({e['size_mb']} MB, [card](models/{Path(e['file']).stem}.card.md)) | "
                     f"{_num(val_scores.get('val_psnr'))} / {_num(val_scores.get('val_psnr_identity'))} |")
    lines += ["", f"Reproduce one row on another machine in minutes: `dustbench evaluate models/dust_gan.pt "
              f"--data {cfg.data} --out results/dust_gan`. Full record: `reproduce.json`.", ""]
    return lines


def track_lines(df) -> list[str]:
    """What the sections after the board's own are: other suites of the same images, with more to
    them (``leaderboard extend --data``: the infrared track), and each row's gain there."""
    test_sets = list(dict.fromkeys(df["test_set"]))
    if len(test_sets) < 2:
        return []
    lines = ["## Beside the board: the same images, with more to them", "",
             f"The sections after `{test_sets[0]}` score methods that take more than the damaged image: the "
             f"same {int(df['n_images'].max())} damaged images, byte for byte, with what each suite adds (rows "
             "marked [infrared] take the scanner's infrared plane). `identity` there scores every image as on "
             f"`{test_sets[0]}` (`leaderboard extend` checks it before adding such rows), so each gain below "
             "and each row of the board's own table are gains over the same input.", ""]
    for test_set in test_sets[1:]:
        part = df[df["test_set"] == test_set]
        lines += [f"- `{test_set}`: " + " ".join(paired_sentence(r) for _, r in part.iterrows()
                                                 if r["method"] != "identity")]
    return lines + [""]


def published_sections(record: dict, cfg):
    """``extra(df)`` for build_leaderboard: Table 1, detection and provenance for the first test set,
    and a note on the test sets beside it."""
    def extra(df) -> list[str]:
        first = df[df["test_set"] == df["test_set"].iloc[0]]
        params = {r["method"]: round(r["params_m"] * 1e6) for _, r in first.iterrows() if r["params_m"] > 0}
        return (table1_lines(first, record, cfg) + track_lines(df) + detection_lines(record)
                + provenance_lines(record, cfg, params))
    return extra
