"""Leaderboard plots: PSNR against runtime, PSNR per artifact family, qualitative crops, masked metrics.

Matplotlib is imported inside each function: building tables needs none of it.
"""
from __future__ import annotations

import math
import re
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd

from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..evaluation.rows import PSNR_CAP
from ..io import atomic_path, read_image
from ..sheets import busiest_crop, to_display
from ..synth.presets import FAMILIES


def nan_if_none(v):
    return math.nan if v is None else v


def slug(text: str) -> str:
    """A test-set name as a file-name prefix."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-") or "set"


def label(row, rank: int | None = None, width: int = 48) -> str:
    """A method's name and config as one legend label, wrapped (never cut) at ``width`` characters;
    ``rank`` (the row's # in the leaderboard table) goes first."""
    text = row["method"] if not row["config"] else f"{row['method']} ({row['config']})"
    text = (f"{rank}. " if rank is not None else "") + text + (" [oracle]" if row["is_oracle"] else "")
    return "\n".join(textwrap.wrap(text, width, subsequent_indent="   ", break_on_hyphens=False)) or text


def short_label(row, rank: int | None = None) -> str:
    """Rank and method name only (for narrow places; :func:`label` in a key gives the config)."""
    return (f"{rank}. " if rank is not None else "") + row["method"] + (" [oracle]" if row["is_oracle"] else "")


def timing_text(df: pd.DataFrame) -> str | None:
    """``1 thread(s), cpu`` when every row was timed alike, else None (each label then says it)."""
    pairs = set(zip(df["threads"].astype(str), df["device"].astype(str)))
    if len(pairs) != 1:
        return None
    threads, device = pairs.pop()
    return f"{threads} thread(s), {device or '?'}"


def _save(fig, path: Path, dpi: int = 120) -> Path:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    return path


def plot_psnr_runtime(df: pd.DataFrame, path: Path, title: str) -> Path:
    """PSNR (with 95 % CI bars) against runtime in ms per megapixel on a log axis; the thread count
    and device on the axis when all rows share them, else in each label."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(8, 4.8))
    ax = fig.add_subplot()
    markers = "osD^v<>pPX*h"
    same = timing_text(df)
    for i, (_, r) in enumerate(df.iterrows()):
        x = max(r["runtime_ms_per_mp"], 1e-3) if not math.isnan(r["runtime_ms_per_mp"]) else 1e-3
        yerr = [[r["psnr"] - r["psnr_ci_low"]], [r["psnr_ci_high"] - r["psnr"]]]
        text = label(r, i + 1) + ("" if same else f"\n   timed with {r['threads']} thread(s), {r['device'] or '?'}")
        ax.errorbar([x], [r["psnr"]], yerr=yerr, fmt=markers[i % len(markers)], capsize=3, markersize=7,
                    mfc="none" if r["is_oracle"] else None, label=text)
    ax.set_xscale("log")
    ax.set_xlabel("runtime (ms per megapixel, log scale; " + (same or "thread counts differ: see legend") + ")")
    ax.set_ylabel("PSNR (dB, mean with 95 % CI)")
    ax.set_title(title)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7, title="method (hollow = oracle)")
    return _save(fig, path)


def _family_bar(s: dict, family: str | None):
    """(mean, low, high) of one result: its PSNR inside all damage (``family`` None) or one family's region."""
    if family is None:
        v = nan_if_none(s["metrics"].get("psnr_in"))
        return v, v, v
    f = s.get("per_family", {}).get(family)
    if not f or "ci_low" not in f:  # results made before per-family regions: nothing comparable
        return math.nan, math.nan, math.nan
    return (nan_if_none(f["psnr"]), nan_if_none(f["ci_low"]), nan_if_none(f["ci_high"]))


def plot_family_bars(entries: list[tuple[str, dict]], path: Path, title: str) -> Path | None:
    """Grouped bars: mean PSNR inside each artifact family's labelled region (95 % CI), one bar per
    method, the input's level as a black tick; the first group is the whole damage region."""
    from matplotlib.figure import Figure

    found = {f for _, s in entries for f, v in s.get("per_family", {}).items() if "ci_low" in v}
    families = [f for f in FAMILIES if f in found] + sorted(found - set(FAMILIES))
    if not families:
        return None
    groups = [None, *families]
    fig = Figure(figsize=(max(6.0, 1.5 * len(groups) + 2), 4.8))
    ax = fig.add_subplot()
    width = 0.8 / len(entries)
    seen = []
    for i, (text, s) in enumerate(entries):
        bars = [_family_bar(s, g) for g in groups]
        means = np.array([b[0] for b in bars], float)
        err = np.abs(np.array([[b[0] - b[1] for b in bars], [b[2] - b[0] for b in bars]], float))
        ax.bar(np.arange(len(groups)) + (i - (len(entries) - 1) / 2) * width, means, width, label=text,
               yerr=np.nan_to_num(err), capsize=2)
        seen += [v for b in bars for v in b if not math.isnan(v)]
    first = entries[0][1]
    inputs = {x: nan_if_none(first["per_family"].get(f, {}).get("psnr_input")) for x, f in enumerate(families, 1)}
    ticks = [(x, v) for x, v in inputs.items() if not math.isnan(v)]
    for j, (x, v) in enumerate(ticks):
        ax.hlines(v, x - 0.45, x + 0.45, colors="black", linewidth=1.5, label=None if j else "input (damaged)")
        seen.append(v)
    pf = {f: max((s.get("per_family", {}).get(f, {}) for _, s in entries), key=lambda d: d.get("n", 0))
          for f in families}
    ax.set_xticks(np.arange(len(groups)), [f"all damage\n(n={first['metrics'].get('n_masked', 0)} img)"]
                  + [f"{f}\n(n={pf[f]['n']} img,\n{pf[f]['pixels']:,} px)" for f in families])
    if seen:
        ax.set_ylim(max(0.0, min(seen) - 3), max(seen) + 1.5)
    ax.set_xlabel("artifact family: PSNR inside its labelled pixels, dilated 3 px (n = images containing it, "
                  "region pixels)", fontsize=8)
    ax.set_ylabel("mean PSNR in the region (dB, 95 % CI)")
    ax.set_title(title)
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), fontsize=7)
    return _save(fig, path)


def _reopen_data(summary: dict):
    d = summary["data"]
    spec = {"builtin": d.get("spec", "builtin"), "pairs": d.get("root"), "hf": d.get("path")}.get(d["kind"])
    return open_data(spec, d["split"])


def plot_qualitative(entries: list[tuple], path: Path, title: str,
                     n_images: int = 2, crop: int = 96) -> tuple[Path | None, str]:
    """Crops of damaged, each method, clean, with the artifact region outlined; (path, note).

    ``entries`` are ``(label, summary, rows, result folder[, short label])``: columns are titled with
    the short label (default: the label) and the full labels are listed under the grid as a key.
    """
    from matplotlib.figure import Figure

    entries = [e for e in entries if (e[3] / "images").is_dir()]
    if not entries:
        return None, "no result has saved images (run `dustbench evaluate ... --save-images`)"
    by_id = [{r["image_id"]: r for r in e[2]} for e in entries]
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
        cells += [(e[4] if len(e) > 4 else e[0], read_image(e[3] / "images" / f"{s.id}.png"), by_id[k][s.id]["psnr"])
                  for k, e in enumerate(entries)]
        cells.append(("clean", s.clean, None))
        for c, (label, img, score) in enumerate(cells):
            ax = fig.add_subplot(len(samples), cols, r * cols + c + 1)
            ax.imshow(to_display(img[sl]), interpolation="nearest")
            if s.mask is not None and (s.mask[sl] > 0).any():
                ax.contour(s.mask[sl] > 0, levels=[0.5], colors="magenta", linewidths=0.6, alpha=0.8)
            db = "" if score is None else f"\n{min(score, PSNR_CAP):.2f} dB"
            ax.set_title("\n".join(textwrap.wrap(label, 26, break_on_hyphens=False)) + db, fontsize=7)
            ax.set_xticks([])
            ax.set_yticks([])
            if c == 0:
                ax.set_ylabel(s.id, fontsize=8)
    if any(len(e) > 4 and e[4] != e[0] for e in entries):
        key = [textwrap.fill(" ".join(e[0].split()), 34 * cols, subsequent_indent="    ") for e in entries]
        fig.text(fig.subplotpars.left, 0.0, "Methods:\n" + "\n".join(key), fontsize=7, va="top", ha="left")
    return _save(fig, path), ""


def plot_masked(df, path: Path, title: str) -> Path:
    """Two panels per method: PSNR inside the artifact region, and the share of clean pixels changed
    (methods labelled in full, with their rank on the board)."""
    from matplotlib.figure import Figure

    labels = [label(r, k, width=40) for k, (_, r) in enumerate(df.iterrows(), 1)]
    fig = Figure(figsize=(11, max(4.0, 0.3 * sum(t.count("\n") + 1 for t in labels) + 1.2)))
    a, b = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
    a.barh(labels, df["masked_psnr_in"], color="tab:blue")
    ident = df[df["method"] == "identity"]
    if len(ident):
        a.axvline(float(ident["masked_psnr_in"].iloc[0]), color="grey", ls="--", label="input (identity)")
        a.legend(fontsize=7)
    a.set_xlabel("PSNR inside the artifact region (dB): what was repaired")
    a.set_ylabel("method (leaderboard rank)")
    b.barh(labels, 100 * df["clean_change_rate"], color="tab:red")
    b.set_xlabel("clean pixels changed by > 2/255 (%): what was damaged")
    for ax in (a, b):
        ax.invert_yaxis()
        ax.grid(True, axis="x", alpha=0.3)
    a.tick_params(axis="y", labelsize=7)
    b.set_yticks([])
    fig.suptitle(title)
    return _save(fig, path, dpi=110)
