"""Leaderboard plots: PSNR against runtime, PSNR per artifact family, qualitative crops, masked metrics.

Matplotlib is imported inside each function: building tables needs none of it.
"""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..evaluation.rows import PSNR_CAP
from ..io import atomic_path, read_image
from ..sheets import busiest_crop, to_display


def nan_if_none(v):
    return math.nan if v is None else v


def slug(text: str) -> str:
    """A test-set name as a file-name prefix."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "set"


def label(row) -> str:
    """A method's name and config as one legend label (configs cut at 48 characters)."""
    text = row["method"] if not row["config"] else f"{row['method']} ({row['config']})"
    text = text if len(text) <= 48 else text[:45] + "..."
    return text + (" [oracle]" if row["is_oracle"] else "")


def _save(fig, path: Path, dpi: int = 120) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
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
                    mfc="none" if r["is_oracle"] else None, label=label(r))
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
            nan_if_none(s.get("per_family", {}).get(f, {}).get("psnr")) for f in families]
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
    d = summary["data"]
    spec = {"builtin": d.get("spec", "builtin"), "pairs": d.get("root"), "hf": d.get("path")}.get(d["kind"])
    return open_data(spec, d["split"])


def plot_qualitative(entries: list[tuple[str, dict, list[dict], Path]], path: Path, title: str,
                     n_images: int = 2, crop: int = 96) -> tuple[Path | None, str]:
    """Crops of damaged, each method, clean, with the artifact region outlined; (path, note)."""
    from matplotlib.figure import Figure

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
        sl = busiest_crop(weight, crop)
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


def plot_masked(df, path: Path, title: str) -> Path:
    """Two panels per method: PSNR inside the artifact region, and the share of clean pixels changed."""
    from matplotlib.figure import Figure

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
    return _save(fig, path, dpi=110)
