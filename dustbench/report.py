"""Leaderboards from ``dustbench evaluate`` results: a tidy CSV, a markdown page, and plots.

``build_leaderboard(results, out)`` reads each result folder's ``summary.json`` and
``per_image.csv``, recomputes the CIs from the per-image rows with one recorded seed (so every
row uses the same procedure), and writes ``leaderboard.csv`` (one row per method × config × test
set), ``leaderboard.md`` and, per test set, ``<set>_psnr_vs_runtime.png``,
``<set>_per_family_psnr.png`` and ``<set>_qualitative.png``. The qualitative grid uses the
restored images saved by ``evaluate --save-images``; damaged/clean/mask crops are re-read from the
test data recorded in ``summary.json`` (checked against each image's content hash).
"""
from __future__ import annotations

import json
import math
import re
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from .errors import DustbenchError
from .evaluate import PSNR_CAP, aggregate, read_rows
from .io import atomic_path, read_image, write_text_atomic

COLUMNS = ["method", "config", "train_data", "test_set", "n_images", "psnr", "psnr_ci_low", "psnr_ci_high",
           "ssim", "ssim_ci_low", "ssim_ci_high", "masked_psnr_in", "masked_psnr_out", "clean_change_rate",
           "params_m", "runtime_ms_per_mp", "peak_memory_mib", "device", "is_oracle", "conventions",
           "git_commit", "fingerprint", "result"]


def find_results(paths) -> list[Path]:
    """Result folders (holding summary.json) named directly, or found below the given folders."""
    found: list[Path] = []
    for p in map(Path, paths):
        if p.is_file() and p.name == "summary.json":
            found.append(p.parent)
        elif (p / "summary.json").is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted(s.parent for s in p.rglob("summary.json"))
        else:
            raise DustbenchError(f"{p}: not a result folder (no summary.json; run `dustbench evaluate` first)")
    if not found:
        raise DustbenchError(f"no summary.json found in {', '.join(map(str, paths))}")
    return list(dict.fromkeys(found))


def load_result(folder: Path) -> tuple[dict, list[dict]]:
    try:
        summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DustbenchError(f"{folder / 'summary.json'}: unreadable ({exc})") from None
    if not str(summary.get("schema", "")).startswith("dustbench.evaluate/"):
        raise DustbenchError(f"{folder / 'summary.json'}: not a dustbench evaluate summary")
    if not (folder / "per_image.csv").is_file():
        raise DustbenchError(f"{folder}: summary.json without per_image.csv")
    return summary, read_rows(folder / "per_image.csv")


def _nan(v):
    return math.nan if v is None else v


def leaderboard_table(results: list[Path], seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """One tidy row per method × config × test set (the latest result wins over duplicates)."""
    loaded = [(folder, *load_result(folder)) for folder in results]
    names: dict[str, set] = {}
    for _, s, _ in loaded:
        names.setdefault(s["test_set"], set()).add(s["data"]["fingerprint"])
    records = []
    for folder, s, rows in loaded:
        agg = aggregate(rows, seed, n_resamples)["metrics"]
        test_set = s["test_set"] if len(names[s["test_set"]]) == 1 else \
            f"{s['test_set']}@{s['data']['fingerprint'][:8]}"
        params = s.get("param_count")
        records.append({
            "method": s["method"], "config": s.get("config", ""), "train_data": s.get("train_data") or "unknown",
            "test_set": test_set, "n_images": len(rows),
            "psnr": agg["psnr"]["mean"], "psnr_ci_low": agg["psnr"]["ci_low"], "psnr_ci_high": agg["psnr"]["ci_high"],
            "ssim": agg["ssim"]["mean"], "ssim_ci_low": agg["ssim"]["ci_low"], "ssim_ci_high": agg["ssim"]["ci_high"],
            "masked_psnr_in": _nan(agg["psnr_in"]), "masked_psnr_out": _nan(agg["psnr_out"]),
            "clean_change_rate": _nan(agg["clean_change_rate"]),
            "params_m": math.nan if params is None else params / 1e6,
            "runtime_ms_per_mp": _nan(s["runtime"]["ms_per_megapixel"]),
            "peak_memory_mib": _nan(s["peak_memory"]["rss_mib"]), "device": s.get("device", ""),
            "is_oracle": bool(s.get("is_oracle")), "conventions": s.get("conventions_short", ""),
            "git_commit": (s.get("provenance", {}).get("git", {}).get("commit") or "")[:12],
            "fingerprint": s["data"]["fingerprint"], "result": str(folder), "_created": s.get("created", "")})
    df = pd.DataFrame(records)
    df = df.sort_values("_created").drop_duplicates(["method", "config", "test_set"], keep="last")
    if len(df) < len(records):
        warnings.warn(f"{len(records) - len(df)} duplicate result(s) (same method, config, test set) ignored; "
                      "the most recent one is used", stacklevel=2)
    df = df.sort_values(["test_set", "is_oracle", "psnr"], ascending=[True, True, False])
    return df.drop(columns="_created")[COLUMNS].reset_index(drop=True)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "set"


def _label(row) -> str:
    label = row["method"] if not row["config"] else f"{row['method']} ({row['config']})"
    label = label if len(label) <= 48 else label[:45] + "..."
    return label + (" [oracle]" if row["is_oracle"] else "")


def _save(fig, path: Path) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    return path


def plot_psnr_runtime(df: pd.DataFrame, path: Path, title: str) -> Path:
    """PSNR (with 95 % CI bars) against runtime in ms per megapixel on a log axis."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    markers = "osD^v<>pPX*h"
    for i, (_, r) in enumerate(df.iterrows()):
        x = max(r["runtime_ms_per_mp"], 1e-3) if not math.isnan(r["runtime_ms_per_mp"]) else 1e-3
        yerr = [[r["psnr"] - r["psnr_ci_low"]], [r["psnr_ci_high"] - r["psnr"]]]
        ax.errorbar([x], [r["psnr"]], yerr=yerr, fmt=markers[i % len(markers)], capsize=3, markersize=7,
                    mfc="none" if r["is_oracle"] else None, label=_label(r))
    ax.set_xscale("log")
    ax.set_xlabel("runtime (ms per megapixel, log scale)")
    ax.set_ylabel("PSNR (dB, mean with 95 % CI)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8, title="method (hollow = oracle)")
    return _save(fig, path)


def plot_family_bars(entries: list[tuple[str, dict]], path: Path, title: str) -> Path | None:
    """Grouped bars: mean PSNR over the images containing each artifact family, one bar per method."""
    from matplotlib.figure import Figure

    families = list(dict.fromkeys(f for _, s in entries for f in s.get("per_family", {})))
    if not families:
        return None
    groups = ["all", *families]
    fig = Figure(figsize=(max(6.0, 1.4 * len(groups) + 2), 4.5))
    ax = fig.add_subplot()
    width = 0.8 / len(entries)
    lows = []
    for i, (label, s) in enumerate(entries):
        vals = [min(s["metrics"]["psnr"]["mean"], PSNR_CAP)] + [
            _nan(s.get("per_family", {}).get(f, {}).get("psnr")) for f in families]
        lows += [v for v in vals if not math.isnan(v)]
        ax.bar(np.arange(len(groups)) + (i - (len(entries) - 1) / 2) * width, vals, width, label=label)
    counts = {f: max(s.get("per_family", {}).get(f, {}).get("n", 0) for _, s in entries) for f in families}
    ax.set_xticks(np.arange(len(groups)), [f"all\n(n={entries[0][1]['data']['n_images']})"]
                  + [f"{f}\n(n={counts[f]})" for f in families])
    if lows:
        ax.set_ylim(max(0.0, min(lows) - 3), max(lows) + 1.5)
    ax.set_xlabel("artifact family present in the image (n = images)")
    ax.set_ylabel("mean PSNR (dB)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=8)
    return _save(fig, path)


def _reopen_data(summary: dict):
    from .pairs import open_data

    d = summary["data"]
    spec = {"builtin": "builtin", "pairs": d.get("root"), "hf": d.get("path")}.get(d["kind"])
    return open_data(spec, d["split"])


def _crop_box(weight: np.ndarray, crop: int) -> tuple[slice, slice]:
    import cv2

    h, w = weight.shape
    ch, cw = min(crop, h), min(crop, w)
    score = cv2.boxFilter(weight.astype(np.float32), -1, (cw, ch), normalize=False, borderType=cv2.BORDER_CONSTANT)
    cy, cx = np.unravel_index(int(np.argmax(score)), score.shape)
    y0, x0 = int(np.clip(cy - ch // 2, 0, h - ch)), int(np.clip(cx - cw // 2, 0, w - cw))
    return slice(y0, y0 + ch), slice(x0, x0 + cw)


def plot_qualitative(entries: list[tuple[str, dict, list[dict], Path]], path: Path, title: str,
                     n_images: int = 2, crop: int = 96) -> tuple[Path | None, str]:
    """Crops of damaged, each method, clean, with the artifact region outlined; (path, note)."""
    from matplotlib.figure import Figure

    from .sheets import to_display

    entries = [e for e in entries if (e[3] / "images").is_dir()]
    if not entries:
        return None, "no result has saved images (run `dustbench evaluate ... --save-images`)"
    by_id = [{r["image_id"]: r for r in rows} for _, _, rows, _ in entries]
    common = [i for i in by_id[0] if all(i in b for b in by_id)
              and all((e[3] / "images" / f"{i}.png").is_file() for e in entries)]
    if not common:
        return None, "the results with saved images share no image"
    spread = {i: np.ptp([min(b[i]["psnr"], PSNR_CAP) for b in by_id] + [min(by_id[0][i]["psnr_input"], PSNR_CAP)])
              for i in common}
    chosen = sorted(common, key=lambda i: (-spread[i], i))[:n_images]
    try:
        data = _reopen_data(entries[0][1])
        samples = [data.get(i) for i in chosen]
    except (DustbenchError, OSError) as exc:
        return None, f"test data not readable for the grid ({exc})"
    if any(s.digest != by_id[0][s.id]["digest"] for s in samples):
        return None, "the test data changed since evaluation (content hash differs)"
    cols = 2 + len(entries)
    fig = Figure(figsize=(2.3 * cols, 2.6 * len(samples) + 0.4))
    fig.suptitle(title + f" ({crop}×{crop} px crops, artifact region outlined)")
    for r, s in enumerate(samples):
        weight = s.mask > 0 if s.mask is not None else np.abs(
            s.damaged.astype(np.float32) - s.clean.astype(np.float32)).reshape(*s.clean.shape[:2], -1).sum(axis=2)
        sl = _crop_box(weight, crop)
        cells = [("damaged", s.damaged, by_id[0][s.id]["psnr_input"])]
        cells += [(e[0], read_image(e[3] / "images" / f"{s.id}.png"), by_id[k][s.id]["psnr"])
                  for k, e in enumerate(entries)]
        cells.append(("clean", s.clean, None))
        for c, (label, img, score) in enumerate(cells):
            ax = fig.add_subplot(len(samples), cols, r * cols + c + 1)
            ax.imshow(to_display(img[sl]), interpolation="nearest")
            if s.mask is not None and (s.mask[sl] > 0).any():
                ax.contour(s.mask[sl] > 0, levels=[0.5], colors="magenta", linewidths=0.6, alpha=0.8)
            db = "" if score is None else f"\n{min(score, PSNR_CAP):.2f} dB"
            ax.set_title("\n".join(_wrap(label)) + db, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(s.id, fontsize=8)
    return _save(fig, path), ""


def _wrap(label: str, width: int = 28) -> list[str]:
    """A method label as at most two short lines: name, then config (cut)."""
    name, _, rest = label.partition(" (")
    lines = [name[:width]]
    if rest:
        rest = "(" + rest
        lines.append(rest if len(rest) <= width else rest[: width - 3] + "...")
    return lines


def _cell(v, digits=2, ci=None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    text = f"{v:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def markdown(df: pd.DataFrame, sections: dict[str, dict], seed: int, n_resamples: int, conventions: dict) -> str:
    lines = ["# dustbench leaderboard", "",
             f"Built {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {len(df)} result(s). Higher PSNR/SSIM "
             f"is better. Means over images with 95 % percentile-bootstrap CIs ({n_resamples} resamples, "
             f"seed {seed}); PSNR of pixel-identical outputs counts as {PSNR_CAP:g} dB. Masked PSNR is inside / "
             "outside the dilated artifact region; *clean changed* is the share of pixels outside it that the "
             "method altered. Rows marked [oracle] use the ground-truth mask (upper reference, not a "
             "competitor). Full columns: `leaderboard.csv`.", ""]
    for test_set, sec in sections.items():
        part = df[df["test_set"] == test_set]
        lines += [f"## {test_set}", "", f"{int(part['n_images'].max())} images, data fingerprint "
                  f"`{part['fingerprint'].iloc[0][:12]}`.", "",
                  "| # | method | config | train data | PSNR (dB) [95 % CI] | SSIM [95 % CI] | masked PSNR in / out "
                  "(dB) | clean changed (%) | params (M) | ms/MP | peak mem (MiB) | device |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, (_, r) in enumerate(part.iterrows(), 1):
            name = f"{r['method']} [oracle]" if r["is_oracle"] else r["method"]
            lines.append(" | ".join([
                f"| {k}", name, r["config"] or "–", r["train_data"],
                _cell(r["psnr"], 2, (r["psnr_ci_low"], r["psnr_ci_high"])),
                _cell(r["ssim"], 4, (r["ssim_ci_low"], r["ssim_ci_high"])),
                f"{_cell(r['masked_psnr_in'])} / {_cell(r['masked_psnr_out'])}",
                _cell(100 * r["clean_change_rate"], 3), _cell(r["params_m"], 3), _cell(r["runtime_ms_per_mp"], 1),
                _cell(r["peak_memory_mib"], 0), f"{r['device']} |"]))
        lines.append("")
        for title, key in (("PSNR vs runtime", "runtime"), ("PSNR per artifact family", "family"),
                           ("Qualitative crops", "qualitative")):
            if sec.get(key):
                lines += [f"![{title}]({sec[key].name})", ""]
            elif sec.get(key + "_note"):
                lines += [f"*{title}: {sec[key + '_note']}.*", ""]
    lines += ["## Conventions", ""] + [f"- **{k}**: {v}" for k, v in sorted(conventions.items())] + [""]
    return "\n".join(lines)


def build_leaderboard(results, out, *, seed: int = 0, n_resamples: int = 2000, plots: bool = True,
                      grid_images: int = 2, crop: int = 96) -> dict:
    """Write leaderboard.csv, leaderboard.md and plots to ``out``; returns what was written."""
    folders = find_results(results)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    df = leaderboard_table(folders, seed, n_resamples)
    with atomic_path(out / "leaderboard.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6g")
    summaries = {str(f): load_result(f) for f in folders}
    sections: dict[str, dict] = {}
    for test_set in dict.fromkeys(df["test_set"]):
        part = df[df["test_set"] == test_set]
        sec = sections.setdefault(test_set, {})
        if not plots:
            continue
        slug = _slug(test_set)
        title = f"{test_set}, {int(part['n_images'].max())} images"
        sec["runtime"] = plot_psnr_runtime(part, out / f"{slug}_psnr_vs_runtime.png", f"PSNR vs runtime — {title}")
        entries = [(_label(r), *summaries[r["result"]], Path(r["result"])) for _, r in part.iterrows()]
        sec["family"] = plot_family_bars([(e[0], e[1]) for e in entries], out / f"{slug}_per_family_psnr.png",
                                         f"PSNR per artifact family — {title}")
        if sec["family"] is None:
            sec["family_note"] = "no family information (no labels or manifest)"
        sec["qualitative"], sec["qualitative_note"] = plot_qualitative(
            entries, out / f"{slug}_qualitative.png", test_set, grid_images, crop)
    first = next(iter(summaries.values()))[0]
    write_text_atomic(out / "leaderboard.md", markdown(df, sections, seed, n_resamples, first.get("conventions", {})))
    written = [out / "leaderboard.csv", out / "leaderboard.md"] + [
        p for sec in sections.values() for k, p in sec.items() if isinstance(p, Path)]
    return {"table": df, "files": written, "sections": sections}
