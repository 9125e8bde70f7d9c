"""Paired differences against the input: is a method better than doing nothing, on the same images?

Unpaired CIs of two methods overlap even when one beats the other on every image, and a mean gain
can rest on two lucky images. For every leaderboard row this module compares the method with the
``identity`` result of the same test set image by image (matched by id and content digest) with
:func:`dustbench.metrics.paired_comparison`: the mean difference, its bootstrap CI, a sign-flip
permutation p-value and the wins / ties / losses. PSNR of pixel-identical outputs is capped at
``PSNR_CAP`` on both sides, as in the means. Each comparison draws from its own
``default_rng(seed)``, so a build gives the same numbers every time.

:func:`paired_lines` gives the markdown sentences (e.g. for the published board's own sections).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

from ..evaluation.rows import PSNR_CAP
from ..metrics import paired_comparison

REFERENCE = "identity"
METRICS = {"psnr": ("PSNR", "dB", 2), "ssim": ("SSIM", "", 4)}
ALPHA = 0.05
_STATS = ("", "_ci_low", "_ci_high", "_p", "_wins", "_ties", "_losses", "_significant")
COLUMNS = ["n_paired"] + [f"delta_{m}{s}" for m in METRICS for s in _STATS]


def _values(rows: list[dict], metric: str) -> dict[tuple, float]:
    out = {}
    for r in rows:
        v = float(r.get(metric, math.nan))
        if not math.isnan(v):
            out[(r["image_id"], r.get("digest", ""))] = min(v, PSNR_CAP) if metric == "psnr" else v
    return out


def paired_arrays(reference_rows: list[dict], rows: list[dict], metric: str) -> tuple[np.ndarray, np.ndarray]:
    """The two methods' scores on the images both scored (same id and digest), in the reference's order."""
    ref, other = _values(reference_rows, metric), _values(rows, metric)
    keys = [k for k in ref if k in other]
    return np.array([ref[k] for k in keys]), np.array([other[k] for k in keys])


def significant(stats: dict, alpha: float = ALPHA) -> bool:
    """The CI excludes 0 and p < alpha."""
    return (stats["ci_low"] > 0 or stats["ci_high"] < 0) and stats["p_value"] < alpha


def paired_columns(reference_rows: list[dict] | None, rows: list[dict], seed: int = 0,
                   n_resamples: int = 2000) -> dict:
    """The leaderboard's paired columns of one result against the reference's rows (NaN without them)."""
    out: dict = {c: math.nan for c in COLUMNS}
    if reference_rows is None:
        return out
    for metric in METRICS:
        a, b = paired_arrays(reference_rows, rows, metric)
        if metric == "psnr":
            out["n_paired"] = int(a.size)
        if a.size == 0:
            continue
        s = paired_comparison(a, b, np.random.default_rng(seed), n_resamples)
        p = f"delta_{metric}"
        out.update({p: s["mean_diff"], f"{p}_ci_low": s["ci_low"], f"{p}_ci_high": s["ci_high"],
                    f"{p}_p": s["p_value"], f"{p}_wins": s["wins"], f"{p}_ties": s["ties"],
                    f"{p}_losses": s["losses"], f"{p}_significant": significant(s)})
    return out


def add_paired(df: pd.DataFrame, loaded: dict, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    """``df`` (leaderboard rows) with the paired columns against each test set's ``identity`` row.

    ``loaded`` maps each row's ``result`` to its ``(summary, rows)``.
    """
    refs = {r["test_set"]: loaded[r["result"]][1] for _, r in df.iterrows() if r["method"] == REFERENCE}
    cols = [paired_columns(refs.get(r["test_set"]), loaded[r["result"]][1], seed, n_resamples)
            for _, r in df.iterrows()]
    return pd.concat([df.reset_index(drop=True), pd.DataFrame(cols, columns=COLUMNS)], axis=1)


def row_label(row) -> str:
    """A row's name in the board's tables: the method, marked [oracle] and/or [infrared]."""
    return row["method"] + (" [oracle]" if row["is_oracle"] else "") + (
        " [infrared]" if row.get("track") == "infrared" else "")


def _p_text(p: float) -> str:
    return "< 0.001" if p < 0.001 else f"{p:.2g}"


def p_clause(p: float) -> str:
    """'< 0.001' or '= 0.03': what follows "p" in a sentence."""
    text = _p_text(p)
    return text if text.startswith("<") else f"= {text}"


def delta_cells(row, metric: str) -> list[str]:
    """Markdown cells for one metric: Δ [95 % CI], p, wins/ties/losses, verdict."""
    p = f"delta_{metric}"
    if pd.isna(row.get(p)):
        return ["–", "–", "–", "–"]
    d = METRICS[metric][2]
    n = int(row[f"{p}_wins"]) + int(row[f"{p}_ties"]) + int(row[f"{p}_losses"])
    verdict = ("identical on every image" if int(row[f"{p}_ties"]) == n else "not significant"
               if not row[f"{p}_significant"] else "better" if row[p] > 0 else "**worse**")
    return [f"{row[p]:+.{d}f} [{row[f'{p}_ci_low']:+.{d}f}, {row[f'{p}_ci_high']:+.{d}f}]", _p_text(row[f"{p}_p"]),
            f"{int(row[f'{p}_wins'])} / {int(row[f'{p}_ties'])} / {int(row[f'{p}_losses'])}", verdict]


def paired_table(part: pd.DataFrame) -> list[str]:
    """Markdown: the paired table of one test set's rows (already ranked), or a note without identity."""
    if REFERENCE not in set(part["method"]):
        return [f"*Paired differences: no `{REFERENCE}` result on this test set (`dustbench evaluate identity "
                "--data ...` gives one), so none are shown.*", ""]
    n = int(part.loc[part["method"] == REFERENCE, "n_paired"].iloc[0])
    lines = [f"**Paired differences vs the input** (`{REFERENCE}`; the same {n} images, method − input): mean Δ "
             "with a 95 % bootstrap CI of the paired differences, the two-sided sign-flip permutation p-value, "
             "and the images where the method scores higher / the same / lower. *Not significant* = the CI "
             f"includes 0 or p ≥ {ALPHA:g}.", "",
             "| # | method | Δ PSNR (dB) [95 % CI] | p | wins / ties / losses | PSNR verdict | Δ SSIM [95 % CI] | p "
             "| wins / ties / losses | SSIM verdict |", "|---|---|---|---|---|---|---|---|---|---|"]
    for k, (_, r) in enumerate(part.iterrows(), 1):
        if r["method"] == REFERENCE:
            continue
        lines.append("| " + " | ".join([str(k), row_label(r), *delta_cells(r, "psnr"), *delta_cells(r, "ssim")]) + " |")
    return lines + [""]


def paired_sentence(row) -> str:
    """One sentence on a leaderboard row's paired PSNR difference vs the input (empty without one)."""
    if pd.isna(row.get("delta_psnr")):
        return ""
    cells = delta_cells(row, "psnr")
    verdict = cells[3] if cells[3] in ("not significant", "identical on every image") else "significant"
    return (f"`{row['method']}` vs the input, paired over the same {int(row['n_paired'])} images: Δ PSNR "
            f"{row['delta_psnr']:+.2f} dB (95 % CI {row['delta_psnr_ci_low']:+.2f} to {row['delta_psnr_ci_high']:+.2f}), "
            f"p {p_clause(row['delta_psnr_p'])}, {cells[2].replace(' / ', '/')} wins/ties/losses: {verdict}.")


def paired_lines(df: pd.DataFrame, test_set: str | None = None) -> list[str]:
    """Markdown bullets, one :func:`paired_sentence` per method but ``identity`` (one test set)."""
    part = df[df["test_set"] == (test_set or df["test_set"].iloc[0])]
    return [f"- {s}" for s in (paired_sentence(r) for _, r in part.iterrows() if r["method"] != REFERENCE) if s]
