"""The real-damage development check: the published rows on a folder of real damaged/clean/mask pairs.

``benchmarks/bench_real_dev.py`` is the command; this module holds its pieces. Every row goes
through the one harness (:func:`dustbench.evaluation.harness.evaluate`, images saved), is paired
against ``identity`` with :func:`dustbench.report.paired.paired_columns`, and the saved outputs are
drawn as a contact sheet (:mod:`dustbench.report.real_dev_sheet`). The folder (``../shared/real-dev``
by default) is read by path, never copied: its licences keep its pixels out of this repository, and
it is for development checks only — nothing is trained or tuned on it (``median_tuned`` runs with the
values the published board tuned on ``builtin-v2:validation``).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..evaluation.harness import evaluate
from ..evaluation.rows import PSNR_CAP
from ..io import mask_plane, read_image
from ..metrics import touch_classes
from ..methods import list_methods
from .paired import REFERENCE, paired_columns

TUNED_KEYS = ("radius", "threshold", "precision")
DEV_ONLY = ("real-dev is for development checks only: read by path, never copied into the repository, "
            "never trained or tuned on (median_tuned uses the published board's values, tuned on "
            "builtin-v2:validation).")


@dataclass
class Row:
    """One row to evaluate: its label, what ``evaluate`` gets as the method, and its options."""

    label: str
    spec: str
    options: dict = field(default_factory=dict)
    note: str = ""


def published_tuned(leaderboard: Path) -> tuple[dict, str]:
    """``median_tuned``'s radius/threshold/precision as the published board ran it (its summary.json), and
    what they were tuned on."""
    summary = json.loads((leaderboard / "results" / "median_tuned" / "summary.json").read_text(encoding="utf-8"))
    opts = summary["options"]
    return {k: opts[k] for k in TUNED_KEYS if k in opts}, str(opts.get("tuned_on", "?"))


TRAINING_FREE = ("morph_detect", "line_detect")  # specks; long scratches and hairs
LEARNED = ("verified_specks", "verified_detect", "fastdet_lines", "fastdet_tta")  # registered rows, learned part inside


def default_rows(leaderboard: Path) -> list[Row]:
    """identity, median_tuned (published values), oracle_inpaint, every published model file, the
    training-free ``morph_detect`` and ``line_detect``, and the learned registered rows (``verified_*``,
    ``fastdet_lines``, ``fastdet_tta``)."""
    tuned, tuned_on = published_tuned(leaderboard)
    rows = [Row(REFERENCE, REFERENCE),
            Row("median_tuned", "median_tuned", tuned, f"published values, tuned on {tuned_on}"),
            Row("oracle_inpaint", "oracle_inpaint", {}, "Telea on the true mask: an upper reference")]
    rows += [Row(p.stem, str(p), {}, "published model") for p in sorted((leaderboard / "models").glob("*.pt"))]
    rows += [Row(name, name, {}, "training-free detector") for name in TRAINING_FREE if name in list_methods()]
    rows += [Row(name, name, {}, "learned, shipped with dustbench") for name in LEARNED if name in list_methods()]
    return rows


def pick_rows(names: list[str] | None, leaderboard: Path, methods=(), models=()) -> list[Row]:
    """The rows to run: ``names`` picked from :func:`default_rows` (a registered method name not among
    them is run with its defaults; median_tuned always gets the published values), then each extra
    registered name in ``methods`` and model file in ``models``; ``identity`` first, always, once."""
    defaults = {r.label: r for r in default_rows(leaderboard)}
    chosen = list(defaults.values()) if names is None else [defaults.get(n) or Row(n, n) for n in names]
    chosen += [Row(n, n) for n in methods]
    chosen += [Row(Path(p).stem, str(p), {}, "model file") for p in models]
    out, seen = [Row(REFERENCE, REFERENCE)], {REFERENCE}
    for r in chosen:
        if r.label not in seen:
            out.append(r)
            seen.add(r.label)
    return out


def run_rows(rows: list[Row], data: Path, out: Path, threads: int = 1, progress: bool = False) -> dict:
    """Each row through the harness (images saved under ``out/results/<label>/``): ``{label: Result}``."""
    results = {}
    for r in rows:
        results[r.label] = evaluate(r.spec, str(data), out=out / "results" / r.label, options=dict(r.options),
                                    save_images=True, overwrite=True, threads=threads, progress=progress)
    return results


# ----------------------------------------------------------------------------- changed pixels
def change_classes(damaged, restored, clean, mask) -> dict[str, np.ndarray]:
    """The pixels behind the change map, the harness's own classes (:func:`dustbench.metrics.touch_classes`):
    ``outside`` (changed outside the damage region: the clean-pixel change rate's), ``inside`` (changed
    inside it) and ``missed`` (visibly damaged — touch recall's denominator — and not changed)."""
    touched, reg, visible = touch_classes(clean, damaged, restored, mask_plane(mask))
    return {"outside": touched & ~reg, "inside": touched & reg, "missed": visible & ~touched,
            "visible": visible, "region": reg}


def pooled_counts(data: Path, ids: list[str], images: Path) -> dict:
    """Pixel totals over all images (not a mean of per-image ratios): touched inside/outside the
    region, visibly damaged pixels hit and missed, and pixels outside the region."""
    total = dict.fromkeys(("outside", "inside", "missed", "visible", "outside_pixels"), 0)
    for i in ids:
        damaged, clean, mask = (read_image(data / part / f"{i}.png") for part in ("damaged", "clean", "mask"))
        c = change_classes(damaged, read_image(images / f"{i}.png"), clean, mask)
        for k in ("outside", "inside", "missed", "visible"):
            total[k] += int(c[k].sum())
        total["outside_pixels"] += int((~c["region"]).sum())
    touched, hit = total["outside"] + total["inside"], total["visible"] - total["missed"]
    total["precision"] = total["inside"] / touched if touched else math.nan
    total["recall"] = hit / total["visible"] if total["visible"] else math.nan
    total["clean_change_rate"] = total["outside"] / total["outside_pixels"] if total["outside_pixels"] else math.nan
    return total


# ----------------------------------------------------------------------------- the figures
def figures(rows: list[Row], results: dict, data: Path, seed: int = 0) -> list[dict]:
    """One record per row: the harness's means, the paired Δ vs identity, pooled change counts."""
    ref = results[REFERENCE].rows
    out = []
    for r in rows:
        res = results[r.label]
        m, s = res.summary["metrics"], res.summary
        paired = paired_columns(ref, res.rows, seed)
        ids = [row["image_id"] for row in res.rows]
        out.append({"row": r.label, "method": s["method"], "spec": r.spec, "config": s["config"], "note": r.note,
                    "is_oracle": s["is_oracle"], "n_images": len(res.rows), "psnr": m["psnr"]["mean"],
                    "psnr_ci_low": m["psnr"]["ci_low"], "psnr_ci_high": m["psnr"]["ci_high"],
                    "ssim": m["ssim"]["mean"], **paired, "psnr_in": m["psnr_in"], "psnr_out": m["psnr_out"],
                    "clean_change_rate": m["clean_change_rate"], "touch_precision": m["touch_precision"],
                    "touch_recall": m["touch_recall"], "touch_f1": m["touch_f1"], "n_touched": m["n_touched"],
                    "pooled": pooled_counts(data, ids, res.out / "images"),
                    "ms_per_mp": s["runtime"]["ms_per_megapixel"], "threads": s["runtime"]["threads"],
                    "per_image": {row["image_id"]: {k: row[k] for k in ("psnr", "psnr_input", "psnr_in", "psnr_out",
                                                                        "clean_change_rate", "touch_precision",
                                                                        "touch_recall")} for row in res.rows}})
    return out


def _num(v, fmt: str, scale: float = 1.0, cap: float = math.inf) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    return format(min(v, cap) * scale, fmt)


def _p(v) -> str:
    return "–" if v is None or math.isnan(v) else "< 0.001" if v < 0.001 else f"{v:.3f}"


def table_lines(figs: list[dict], markdown: bool = False) -> list[str]:
    """The one table: PSNR, Δ vs identity [95 % CI] with p and wins/ties/losses, masked PSNR in/out,
    clean-pixel change rate, touch precision/recall (harness means; pooled in brackets), ms/MP."""
    head = ["row", "PSNR dB", "Δ vs identity dB [95% CI]", "p", "W/T/L", "PSNR in", "PSNR out",
            "clean chg %", "touch P (pooled)", "touch R (pooled)", "ms/MP"]
    body = []
    for f in figs:
        delta = "–" if f["row"] == REFERENCE or math.isnan(f["delta_psnr"]) else \
            f"{f['delta_psnr']:+.2f} [{f['delta_psnr_ci_low']:+.2f}, {f['delta_psnr_ci_high']:+.2f}]"
        wtl = "–" if f["row"] == REFERENCE else \
            f"{int(f['delta_psnr_wins'])}/{int(f['delta_psnr_ties'])}/{int(f['delta_psnr_losses'])}"
        pool = f["pooled"]
        body.append([f["row"] + (" [oracle]" if f["is_oracle"] else ""), _num(f["psnr"], ".2f", cap=PSNR_CAP), delta,
                     "–" if f["row"] == REFERENCE else _p(f["delta_psnr_p"]), wtl,
                     _num(f["psnr_in"], ".2f", cap=PSNR_CAP),
                     _num(f["psnr_out"], ".2f", cap=PSNR_CAP), _num(f["clean_change_rate"], ".3f", 100),
                     f"{_num(f['touch_precision'], '.2f')} ({_num(pool['precision'], '.2f')})",
                     f"{_num(f['touch_recall'], '.2f')} ({_num(pool['recall'], '.2f')})", _num(f["ms_per_mp"], ".0f")])
    if markdown:
        return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(b) + " |" for b in body]
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    def fmt(cells):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))
    return [fmt(head), fmt(["-" * w for w in widths])] + [fmt(b) for b in body]


TABLE_NOTES = [
    "PSNR: mean over images (RGB, 8-bit; harness conventions). Δ: paired against identity on the same images "
    "(bootstrap 95 % CI of the differences, two-sided sign-flip permutation p, wins/ties/losses).",
    "PSNR in/out: inside / outside the damage region (mask dilated by 3 px). clean chg %: pixels outside the "
    "region the method changed by more than 2/255 (mean over images).",
    "touch P/R: of the pixels the method changed, the share inside the region / of the visibly damaged pixels, "
    "the share changed (harness: mean over images that have them; pooled: pixel totals over all images).",
    "ms/MP: method time only, 1 OpenCV/torch thread.",
]


def clean_json(obj):
    """``obj`` with NaN/inf floats as None and numpy scalars as Python numbers (strict JSON)."""
    if isinstance(obj, dict):
        return {str(k): clean_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean_json(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    return obj
