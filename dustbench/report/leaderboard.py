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
import warnings
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd

from ..errors import DustbenchError
from ..evaluation.model_card import card_record, read_card
from ..evaluation.rows import PSNR_CAP, TOUCH, aggregate, read_rows
from ..io import atomic_path, output_dir, write_text_atomic
from ..writer_lock import one_writer
from . import paired
from .plots import label, nan_if_none, plot_family_bars, plot_psnr_runtime, plot_qualitative, short_label, slug

COLUMNS = ["method", "config", "train_data", "test_set", "n_images", "psnr", "psnr_ci_low", "psnr_ci_high",
           "ssim", "ssim_ci_low", "ssim_ci_high", *paired.COLUMNS, "masked_psnr_in", "masked_psnr_out",
           "clean_change_rate", "touch_precision", "touch_recall", "touch_f1", "mask_source", "params_m",
           "runtime_ms_per_mp", "threads", "device", "peak_memory_mib", "is_oracle", "track", "conventions",
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
    if not isinstance(summary, dict) or not str(summary.get("schema", "")).startswith("dustbench.evaluate/"):
        raise DustbenchError(f"{folder / 'summary.json'}: not a dustbench evaluate summary")
    if not (folder / "per_image.csv").is_file():
        raise DustbenchError(f"{folder}: summary.json without per_image.csv")
    return summary, read_rows(folder / "per_image.csv")


def threads_of(summary: dict) -> str:
    """The thread counts the method ran with: ``1`` when OpenCV and torch agree (or torch was not
    loaded), else ``opencv 2, torch 1``; ``?`` when the result did not record them."""
    counts = (summary.get("runtime") or {}).get("threads") or \
        ((summary.get("provenance") or {}).get("hardware") or {}).get("threads") or {}
    known = {k: counts.get(k) for k in ("opencv", "torch") if counts.get(k) is not None}
    if not known:
        return "?"
    values = set(known.values())
    return str(values.pop()) if len(values) == 1 else ", ".join(f"{k} {v}" for k, v in known.items())


def _named(folder, summary: dict) -> tuple[str, str]:
    """The row's method name and training data; a model file named ``file:X.pt`` by a result made
    before cards were read gets them from its card (when the card is for the very file evaluated)."""
    name, train = summary["method"], summary.get("train_data")
    path = (summary.get("options") or {}).get("path")
    if name.startswith("file:") and path and Path(path).is_file():
        try:
            sha = json.loads((Path(folder) / "run.json").read_text(encoding="utf-8")).get("model_sha256")
        except (OSError, ValueError):
            sha = None
        card = read_card(path, sha) if sha else None
        if card:
            rec = card_record(card, path)
            name, train = rec["name"], train or rec["train_data"]
    return name, train or "unknown"


def leaderboard_table(results, seed: int = 0, n_resamples: int = 2000, order=()) -> pd.DataFrame:
    """One tidy row per method × config × test set (the latest result wins over duplicates).

    ``results`` are result folders, or ``{folder: (summary, rows)}`` already loaded. Test sets come
    in the ``order`` given (names), then the others in name order.
    """
    if not isinstance(results, dict):
        results = {folder: load_result(folder) for folder in results}
    loaded = [(folder, summary, rows) for folder, (summary, rows) in results.items()]
    names: dict[str, set] = {}
    for _, s, _ in loaded:
        names.setdefault(s["test_set"], set()).add(s["data"]["fingerprint"])
    records = []
    for folder, s, rows in loaded:
        agg = aggregate(rows, seed, n_resamples)["metrics"]
        test_set = s["test_set"] if len(names[s["test_set"]]) == 1 else \
            f"{s['test_set']}@{s['data']['fingerprint'][:8]}"
        params = s.get("param_count")
        method, train_data = _named(folder, s)
        records.append({
            "method": method, "config": s.get("config", ""), "train_data": train_data,
            "test_set": test_set, "n_images": len(rows),
            "psnr": agg["psnr"]["mean"], "psnr_ci_low": agg["psnr"]["ci_low"], "psnr_ci_high": agg["psnr"]["ci_high"],
            "ssim": agg["ssim"]["mean"], "ssim_ci_low": agg["ssim"]["ci_low"], "ssim_ci_high": agg["ssim"]["ci_high"],
            "masked_psnr_in": nan_if_none(agg["psnr_in"]), "masked_psnr_out": nan_if_none(agg["psnr_out"]),
            "clean_change_rate": nan_if_none(agg["clean_change_rate"]),
            **{k: nan_if_none(agg[k]) for k in TOUCH}, "mask_source": agg["mask_source"],
            "params_m": math.nan if params is None else params / 1e6,
            "runtime_ms_per_mp": nan_if_none(s["runtime"]["ms_per_megapixel"]),
            "threads": threads_of(s), "peak_memory_mib": nan_if_none(s["peak_memory"]["rss_mib"]),
            "device": s.get("device", ""),
            "is_oracle": bool(s.get("is_oracle")), "conventions": s.get("conventions_short", ""),
            "track": "infrared" if s.get("needs_infrared") else "rgb",  # the method takes the infrared plane
            "git_commit": (s.get("provenance", {}).get("git", {}).get("commit") or "")[:12],
            "fingerprint": s["data"]["fingerprint"], "result": str(folder), "_created": s.get("created", "")})
    df = pd.DataFrame(records)
    df = df.sort_values("_created").drop_duplicates(["method", "config", "test_set"], keep="last")
    if len(df) < len(records):
        warnings.warn(f"{len(records) - len(df)} duplicate result(s) (same method, config, test set) ignored; "
                      "the most recent one is used", stacklevel=2)
    df = df.sort_values(["test_set", "is_oracle", "psnr"], ascending=[True, True, False])
    if order:
        rank = {name: k for k, name in enumerate(order)}
        df = df.sort_values("test_set", key=lambda s: s.map(lambda v: rank.get(v, len(rank))), kind="stable")
    df = paired.add_paired(df.drop(columns="_created"), {str(f): v for f, v in results.items()}, seed, n_resamples)
    return df[COLUMNS].reset_index(drop=True)


def _cell(v, digits=2, ci=None) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    text = f"{v:.{digits}f}"
    return text + (f" [{ci[0]:.{digits}f}, {ci[1]:.{digits}f}]" if ci else "")


def _derived_mark(row) -> str:
    return " (derived)" if row.get("mask_source") in ("derived", "mixed") else ""


def _region_note(part: pd.DataFrame) -> str:
    """A sentence under a test set's heading when its damage region was derived, not given."""
    sources = set(part["mask_source"])
    if not sources & {"derived", "mixed"}:
        return ""
    some = "some images have no mask: their" if sources & {"mixed", "truth"} else "the data has no masks: the"
    return (f" **Derived damage region** ({some} region is derived from |damaged − clean| by the noise-aware "
            "threshold of `fit-preset`, without the faint halos that retouching and JPEG re-encoding leave "
            "around each spot; see the results' `data.derived_region`); masked and touch metrics marked "
            "(derived) use it.")


def _threads_cell(threads: str) -> str:
    return f"{threads} thr" if threads.isdigit() else threads


def _timing_note(part: pd.DataFrame) -> list[str]:
    """A warning under a table whose runtimes were measured with different thread counts or devices."""
    differ = [what for what, col in (("thread counts", "threads"), ("devices", "device")) if part[col].nunique() > 1]
    if not differ:
        return []
    groups = "; ".join(f"{_threads_cell(t)} on {d or '?'}: {', '.join(g['method'])}"
                       for (t, d), g in part.groupby(["threads", "device"], sort=True))
    return [f"*Runtimes here were measured with different {' and '.join(differ)}: {groups}. Compare ms/MP only "
            "between rows with the same threads and device.*", ""]


def markdown(df: pd.DataFrame, sections: dict[str, dict], seed: int, n_resamples: int, conventions: dict,
             extra: list[str] | None = None) -> str:
    """The leaderboard page; ``extra`` (markdown lines) goes after the tables, before the conventions."""
    lines = ["# dustbench leaderboard", "",
             f"Built {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {len(df)} result(s). Higher PSNR/SSIM "
             f"is better. Means over images with 95 % percentile-bootstrap CIs ({n_resamples} resamples, "
             f"seed {seed}); PSNR of pixel-identical outputs counts as {PSNR_CAP:g} dB. Masked PSNR is inside / "
             "outside the dilated artifact region; *clean changed* is the share of pixels outside it that the "
             "method altered; *touched P / R / F1* are the precision, recall and F1 of the pixels the method "
             "changed against the damage (– = it changed nothing). Rows marked [oracle] use ground truth (the "
             "mask or the synthesis layer: upper references, not competitors); rows marked [infrared] take the "
             "scanner's infrared plane as well (the infrared track, on the same images, compared with the same "
             "`identity`). Below each table, every method is "
             "compared with the input (`identity`) image by image: the paired difference, its CI and p-value "
             "say whether a gain is more than chance (it often is not, with few images). *ms/MP* is method time "
             "per megapixel with the thread count and device it was measured with. Full columns: "
             "`leaderboard.csv`.", ""]
    for test_set, sec in sections.items():
        part = df[df["test_set"] == test_set]
        lines += [f"## {test_set}", "", f"{int(part['n_images'].max())} images, data fingerprint "
                  f"`{part['fingerprint'].iloc[0][:12]}`.{_region_note(part)}", "",
                  "| # | method | config | train data | PSNR (dB) [95 % CI] | SSIM [95 % CI] | masked PSNR in / out "
                  "(dB) | clean changed (%) | touched P / R / F1 | params (M) | ms/MP (threads, device) | peak mem "
                  "(MiB) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for k, (_, r) in enumerate(part.iterrows(), 1):
            lines.append(" | ".join([
                f"| {k}", paired.row_label(r), r["config"] or "–", r["train_data"],
                _cell(r["psnr"], 2, (r["psnr_ci_low"], r["psnr_ci_high"])),
                _cell(r["ssim"], 4, (r["ssim_ci_low"], r["ssim_ci_high"])),
                f"{_cell(r['masked_psnr_in'])} / {_cell(r['masked_psnr_out'])}{_derived_mark(r)}",
                _cell(100 * r["clean_change_rate"], 3), " / ".join(_cell(r[k]) for k in TOUCH)
                + _derived_mark(r), _cell(r["params_m"], 3),
                f"{_cell(r['runtime_ms_per_mp'], 1)} ({_threads_cell(r['threads'])}, {r['device'] or '?'})",
                f"{_cell(r['peak_memory_mib'], 0)} |"]))
        lines += ["", *_timing_note(part), *paired.paired_table(part)]
        for title, key in (("PSNR vs runtime", "runtime"), ("PSNR per artifact family", "family"),
                           ("Qualitative crops", "qualitative")):
            if sec.get(key):
                lines += [f"![{title}]({sec[key].name})", ""]
            elif sec.get(key + "_note"):
                lines += [f"*{title}: {sec[key + '_note']}.*", ""]
    lines += list(extra or [])
    lines += ["## Conventions", ""] + [f"- **{k}**: {v}" for k, v in sorted(conventions.items())] + [""]
    return "\n".join(lines)


def build_leaderboard(results, out, *, seed: int = 0, n_resamples: int = 2000, plots: bool = True,
                      grid_images: int = 2, crop: int = 96, extra=None, order=()) -> dict:
    """Write leaderboard.csv, leaderboard.md and plots to ``out``; returns what was written.

    ``extra(df) -> list[str]`` adds markdown sections (e.g. the published board's comparison with the
    paper) after the tables; ``order``: test sets whose sections come first, in that order.
    """
    out = output_dir(out)
    with one_writer(out, "leaderboard build"):
        summaries = {str(f): load_result(f) for f in find_results(results)}
        df = leaderboard_table(summaries, seed, n_resamples, order)
        with atomic_path(out / "leaderboard.csv") as tmp:
            df.to_csv(tmp, index=False, float_format="%.6g")
        sections: dict[str, dict] = {}
        for test_set in dict.fromkeys(df["test_set"]):
            part = df[df["test_set"] == test_set]
            sec = sections.setdefault(test_set, {})
            if not plots:
                continue
            prefix = slug(test_set)
            title = f"{test_set}, {int(part['n_images'].max())} images"
            sec["runtime"] = plot_psnr_runtime(part, out / f"{prefix}_psnr_vs_runtime.png", f"PSNR vs runtime — {title}")
            entries = [(label(r, k), *summaries[r["result"]], Path(r["result"]), short_label(r, k))
                       for k, (_, r) in enumerate(part.iterrows(), 1)]
            sec["family"] = plot_family_bars([(e[0], e[1]) for e in entries], out / f"{prefix}_per_family_psnr.png",
                                             f"PSNR per artifact family — {title}")
            if sec["family"] is None:
                sec["family_note"] = "no per-family regions (the data has no family labels, or the results predate them)"
            sec["qualitative"], sec["qualitative_note"] = plot_qualitative(
                entries, out / f"{prefix}_qualitative.png", test_set, grid_images, crop)
        first = next(iter(summaries.values()))[0]
        write_text_atomic(out / "leaderboard.md", markdown(df, sections, seed, n_resamples, first.get("conventions", {}),
                                                           extra(df) if extra else None))
        written = [out / "leaderboard.csv", out / "leaderboard.md"] + [
            p for sec in sections.values() for k, p in sec.items() if isinstance(p, Path)]
        return {"table": df, "files": written, "sections": sections}
