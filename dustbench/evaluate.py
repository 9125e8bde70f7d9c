"""The shared PSNR/SSIM harness: one function, ``evaluate(method, data, out)``, behind the CLI.

    >>> from dustbench.evaluate import evaluate
    >>> result = evaluate("median", "builtin", out="results/median", options={"radius": 2})
    >>> result.summary["metrics"]["psnr"]          # {"mean": ..., "ci_low": ..., "ci_high": ...}

Each image is restored with :func:`dustbench.restore.run_method` (tiles, output checks), the float
result is quantised back to the reference's dtype, and PSNR/SSIM/masked metrics are computed by
:mod:`dustbench.metrics` on those integer images (see :data:`CONVENTIONS`). With ``out`` the
per-image rows go to ``per_image.csv`` (rewritten atomically as images finish) and the aggregate
to ``summary.json``; re-running the same method and options on the same data resumes, skipping
images whose row exists and whose content hash (``digest``) is unchanged.
"""
from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from . import __version__, provenance
from .errors import DustbenchError
from .io import from_float, to_float, write_image, write_json_atomic, write_text_atomic
from .metrics import bootstrap_ci, masked_metrics, psnr, ssim
from .pairs import BuiltinData, EvalData, HFData, PairsFolder, open_data
from .restore import OutputIssues, build_method, run_method

SCHEMA = "dustbench.evaluate/1"
PSNR_CAP = 100.0  # dB; stands in for inf (pixel-identical output) in means and CIs
COLUMNS = ["image_id", "families", "presets", "height", "width", "channels", "bit_depth", "psnr", "ssim",
           "psnr_input", "psnr_in", "psnr_out", "clean_change_rate", "region_fraction", "runtime_s",
           "megapixels", "output_fixes", "digest"]
TEXT_COLUMNS = {"image_id", "families", "presets", "digest"}
CONVENTIONS = {
    "quantisation": "restored output quantised to the reference bit depth (dustbench.io.from_float: "
                    "round half to even, clip) before metrics",
    "data_range": "from the reference dtype: 255 for 8-bit, 65535 for 16-bit, 1.0 for float",
    "channels": "RGB, all channels (no luminance conversion), no border crop",
    "psnr": "10*log10(R^2/MSE), MSE over all pixels and channels; inf for a pixel-identical output, "
            f"counted as {PSNR_CAP:g} dB in means and CIs",
    "ssim": "Wang et al. 2004: 11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, per channel then averaged",
    "masked": "region = mask > 0 dilated by 3 px (square); psnr_in/psnr_out over pixels inside/outside it; "
              "clean_change_rate = fraction of outside pixels changed by more than 2/255 of the range",
    "ci": "95% percentile bootstrap of the mean over images (dustbench.metrics.bootstrap_ci)",
    "runtime": "method time only (no reading, metrics or writing), after one warm-up call; "
               "ms per megapixel = total time / total megapixels",
    "peak_memory": "peak resident memory of the whole process (ru_maxrss), data loading included",
}
CONVENTIONS_SHORT = "RGB all channels, reference bit depth, no crop, dilate 3 px"


@dataclass
class Result:
    """What :func:`evaluate` returns: the summary dict, the per-image rows, and where they were written."""

    summary: dict
    rows: list[dict]
    out: Path | None = None

    @property
    def psnr(self) -> float:
        return self.summary["metrics"]["psnr"]["mean"]

    @property
    def ssim(self) -> float:
        return self.summary["metrics"]["ssim"]["mean"]

    def frame(self):
        import pandas as pd
        return pd.DataFrame(self.rows, columns=COLUMNS)


# ----------------------------------------------------------------------------- per-image rows
def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return "inf" if value == math.inf else repr(value)
    return str(value)


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


def read_rows(path) -> list[dict]:
    """Rows of a ``per_image.csv``: numbers as floats (NaN for empty cells), text as str."""
    with open(path, newline="", encoding="utf-8") as f:
        rows = []
        for rec in csv.DictReader(f):
            rows.append({k: (v if k in TEXT_COLUMNS else float(v) if v not in ("", None) else math.nan)
                         for k, v in rec.items()})
    return rows


def image_row(sample, restored: np.ndarray, seconds: float, issues: OutputIssues) -> dict:
    """Metrics of one restored image (already quantised to the reference dtype)."""
    ref, damaged = sample.clean, sample.damaged
    if damaged.dtype != ref.dtype:
        damaged = from_float(to_float(damaged), ref.dtype)
    row = {"image_id": sample.id, "families": ";".join(sample.families), "presets": ";".join(sample.presets),
           "height": ref.shape[0], "width": ref.shape[1], "channels": 1 if ref.ndim == 2 else ref.shape[2],
           "bit_depth": ref.dtype.itemsize * 8, "psnr": psnr(ref, restored), "ssim": ssim(ref, restored),
           "psnr_input": psnr(ref, damaged), "runtime_s": seconds,
           "megapixels": ref.shape[0] * ref.shape[1] / 1e6,
           "output_fixes": issues.nonfinite + issues.out_of_range, "digest": sample.digest}
    if sample.mask is not None:
        row.update({k: float(v) for k, v in masked_metrics(ref, restored, sample.mask).items()})
    return row


# ----------------------------------------------------------------------------- aggregates
def _capped(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64)
    return np.minimum(v[~np.isnan(v)], PSNR_CAP)


def _ci(values, seed: int, n_resamples: int) -> dict:
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0}
    mean, lo, hi = bootstrap_ci(v, np.random.default_rng(seed), n_resamples)
    return {"mean": mean, "ci_low": lo, "ci_high": hi, "n": int(v.size)}


def _mean(values) -> float | None:
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else None


def aggregate(rows: list[dict], seed: int = 0, n_resamples: int = 2000) -> dict:
    """Mean PSNR/SSIM with bootstrap CIs (each from ``default_rng(seed)``), masked means, per family."""
    col = lambda k, rs=rows: [r.get(k, math.nan) for r in rs]  # noqa: E731
    masked = [r for r in rows if not math.isnan(float(r.get("psnr_in", math.nan)))]
    metrics = {"psnr": _ci(_capped(col("psnr")), seed, n_resamples),
               "ssim": _ci(np.asarray(col("ssim"), float), seed, n_resamples),
               "psnr_input": _ci(_capped(col("psnr_input")), seed, n_resamples),
               "psnr_in": _mean(_capped(col("psnr_in"))), "psnr_out": _mean(_capped(col("psnr_out"))),
               "clean_change_rate": _mean(col("clean_change_rate")), "n_masked": len(masked)}
    groups: dict[str, dict[str, list]] = {"per_family": {}, "per_preset": {}}
    for r in rows:
        for key, field in (("per_family", "families"), ("per_preset", "presets")):
            for name in filter(None, str(r.get(field) or "").split(";")):
                groups[key].setdefault(name, []).append(r)
    per = {key: {name: {"n": len(rs), "psnr": _mean(_capped(col("psnr", rs))), "ssim": _mean(col("ssim", rs)),
                        "psnr_input": _mean(_capped(col("psnr_input", rs)))}
                 for name, rs in g.items()} for key, g in groups.items()}
    return {"metrics": metrics, **per}


# ----------------------------------------------------------------------------- methods
def _open_tuning_data(spec, data: EvalData) -> EvalData:
    """The data ``--tune-on`` names: its validation split, or a plain folder of pairs as a whole."""
    if str(spec) == "builtin":
        tdata = BuiltinData("validation")
    else:
        path = Path(spec).expanduser().resolve()
        if (path / "damaged").is_dir():
            tdata = PairsFolder(str(spec), "tune", path, path)
        else:
            tdata = open_data(spec, "validation")
    same = (tdata.kind == data.kind and tdata.path == data.path and tdata.split == data.split) or (
        isinstance(tdata, PairsFolder) and isinstance(data, PairsFolder) and tdata.path == data.path)
    if same or tdata.split == "test":
        raise DustbenchError(f"--tune-on {spec}: refusing to tune on the test data ({data.name}); "
                             "give a separate folder of validation pairs")
    return tdata


def tune_if_needed(spec, options: dict, data: EvalData, tune_on=None, out: Path | None = None) -> dict:
    """For ``median_tuned`` without radius/threshold: grid-search them on validation pairs.

    Uses ``tune_on`` if given, else the data's own validation split; never the test split. The
    choice and the whole grid are recorded (``tuning.json`` in ``out``, reused on resume).
    """
    if spec != "median_tuned" or ("radius" in options and "threshold" in options):
        return options
    from .methods import tune_median

    tdata = _open_tuning_data(tune_on, data) if tune_on is not None else data.validation()
    if tdata is None:
        raise DustbenchError(f"median_tuned: {data.name} has no validation split to tune on (it is never "
                             "tuned on the test split): pass --tune-on DIR (a folder of validation pairs, or "
                             "'builtin'), or fix the values with -o radius=R -o threshold=T")
    cache = out / "tuning.json" if out else None
    desc = {**tdata.describe(), "precision": options.get("precision", "exact")}
    if cache and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("tuned_on") == desc:
            return {**options, **saved["chosen"]}
    result = tune_median(((s.damaged, s.clean) for s in tdata), precision=desc["precision"])
    chosen = {"radius": result["radius"], "threshold": result["threshold"], "tuned_on": tdata.name,
              "score": result["score"]}
    if cache:
        write_json_atomic(cache, {"tuned_on": desc, "chosen": chosen, "metric": result["metric"],
                                  "grid": result["grid"]})
    return {**options, **chosen}


def config_string(options: dict) -> str:
    """Options as ``k=v, ...`` without bookkeeping keys (path, device, score)."""
    skip = {"path", "device", "score", "tile", "overlap"}
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k not in skip and v is not None)


# ----------------------------------------------------------------------------- the harness
def _run_key(method, data: EvalData, tile, overlap, on_bad_output) -> dict:
    where = {k: v for k, v in data.describe().items() if k != "spec"}  # resolved paths, not as typed
    key = {"method": method.name, "options": method.options, "data": where, "tile": tile,
           "overlap": overlap, "on_bad_output": on_bad_output}
    model_file = method.options.get("path")
    if model_file and Path(model_file).is_file():
        # A model re-exported to the same path is a different run: key on the file's bytes too.
        with open(model_file, "rb") as fh:
            key["model_sha256"] = hashlib.file_digest(fh, "sha256").hexdigest()
    return key


def _previous_rows(out: Path | None, key: dict, overwrite: bool) -> dict[str, dict]:
    if out is None or overwrite:
        return {}
    run_file, csv_file = out / "run.json", out / "per_image.csv"
    if not csv_file.is_file():
        return {}
    old = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else None
    if old != json.loads(json.dumps(key)):
        raise DustbenchError(f"{out}: holds results of a different run (method, options, data, tiling); "
                             "use another --out, or --overwrite to replace them")
    return {r["image_id"]: r for r in read_rows(csv_file)}


def _warm_up(method, sample, tile, overlap, name: str) -> None:
    """One small call first, so one-off costs (torch graph setup, allocations) are not timed."""
    crop = (slice(0, min(64, sample.damaged.shape[0])), slice(0, min(64, sample.damaged.shape[1])))
    mask = None if sample.mask is None else sample.mask[crop]
    if method.needs_mask and mask is None:
        return
    run_method(method, to_float(np.ascontiguousarray(sample.damaged[crop])), mask, tile=tile, overlap=overlap,
               name=f"{name} (warm-up crop)", on_bad_output="clip")


def evaluate(method, data, out=None, split: str = "test", tile: int | None = 512, overlap: int = 32, *,
             options: dict | None = None, device: str = "cpu", save_images: bool = False,
             on_bad_output: str = "error", seed: int = 0, n_resamples: int = 2000, tune_on=None,
             train_data: str | None = None, limit: int | None = None, overwrite: bool = False,
             progress: bool = True) -> Result:
    """Evaluate ``method`` (a registered name, a model file, or a Method) on ``data``.

    ``data`` is ``"builtin"``, a folder (pairs, synth output, make-dataset output) or an
    :class:`~dustbench.pairs.EvalData`. ``out`` (optional) receives ``per_image.csv``,
    ``summary.json``, ``run.json`` (the resume key), ``tuning.json`` for median_tuned, and with
    ``save_images`` the restored images as ``images/<id>.png`` at the reference bit depth.
    ``seed`` seeds the bootstrap CIs. ``train_data`` is recorded for the leaderboard.
    """
    data = open_data(data, split)
    out = Path(out).expanduser() if out is not None else None
    spec = method if isinstance(method, str) else getattr(method, "name", "")
    options = tune_if_needed(str(spec), dict(options or {}), data, tune_on, out) if isinstance(method, str) \
        else options
    method = build_method(method, options, device)
    key = _run_key(method, data, tile, overlap, on_bad_output)
    previous = _previous_rows(out, key, overwrite)
    if out is not None:
        write_json_atomic(out / "run.json", key)
    rows, issues_total, resumed = [], OutputIssues(), 0
    fingerprint = hashlib.sha256()
    last_write = time.monotonic()
    total = None if isinstance(data, HFData) else len(data)
    total = min(total, limit) if total is not None and limit else total
    bar = tqdm(total=total, desc=f"evaluate {method.name}", unit="img", disable=not progress)
    warmed = False
    try:
        for i, sample in enumerate(data):
            if limit and i >= limit:
                break
            fingerprint.update(f"{sample.id}\0{sample.digest}\n".encode())
            old = previous.get(sample.id)
            saved = out is None or not save_images or (out / "images" / f"{sample.id}.png").is_file()
            if old is not None and old.get("digest") == sample.digest and saved:
                rows.append(old)
                resumed += 1
                bar.update(1)
                continue
            if not warmed:
                _warm_up(method, sample, tile, overlap, f"{data.name}/{sample.id}")
                warmed = True
            issues = OutputIssues()
            start = time.perf_counter()
            restored = run_method(method, to_float(sample.damaged), sample.mask, tile=tile, overlap=overlap,
                                  name=f"{data.name}/{sample.id}", on_bad_output=on_bad_output, issues=issues)
            seconds = time.perf_counter() - start
            ref_dtype = sample.clean.dtype
            restored = from_float(restored, ref_dtype)
            rows.append(image_row(sample, restored, seconds, issues))
            if issues:
                issues_total.add(issues)
                tqdm.write(f"{data.name}/{sample.id}: repaired output: {issues.describe()}")
            if out is not None and save_images:
                image = restored if ref_dtype != np.float32 else from_float(restored, np.uint16)
                write_image(out / "images" / f"{sample.id}.png", image)
            bar.set_postfix(psnr=f"{min(rows[-1]['psnr'], PSNR_CAP):.2f}", refresh=False)
            bar.update(1)
            if out is not None and time.monotonic() - last_write > 1.0:
                write_text_atomic(out / "per_image.csv", rows_to_csv(rows))
                last_write = time.monotonic()
    finally:
        bar.close()
        if out is not None and rows:
            write_text_atomic(out / "per_image.csv", rows_to_csv(rows))
    if not rows:
        raise DustbenchError(f"{data.name}: no images to evaluate")
    summary = _summary(method, data, rows, fingerprint.hexdigest(), key, seed, n_resamples, device,
                       train_data, issues_total, resumed)
    if out is not None:
        write_json_atomic(out / "summary.json", summary)
    return Result(summary, rows, out)


def _summary(method, data, rows, fingerprint, key, seed, n_resamples, device, train_data, issues, resumed) -> dict:
    agg = aggregate(rows, seed, n_resamples)
    runtime = float(sum(r["runtime_s"] for r in rows))
    mp = float(sum(r["megapixels"] for r in rows))
    opts = method.options
    if train_data is None and method.param_count == 0:
        train_data = f"tuned on {opts['tuned_on']}" if opts.get("tuned_on") else "none"
    return {
        "schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": method.name, "options": opts, "config": config_string(opts), "train_data": train_data,
        "param_count": method.param_count, "is_oracle": bool(method.is_oracle), "needs_mask": bool(method.needs_mask),
        "data": {**data.describe(), "n_images": len(rows), "fingerprint": fingerprint,
                 "has_masks": agg["metrics"]["n_masked"] > 0},
        "test_set": data.name, "split": data.split, "tile": key["tile"], "overlap": key["overlap"],
        "on_bad_output": key["on_bad_output"], "seed": seed, "n_resamples": n_resamples, "confidence": 0.95,
        **agg, "conventions": CONVENTIONS, "conventions_short": CONVENTIONS_SHORT,
        "runtime": {"total_s": runtime, "megapixels": mp, "ms_per_megapixel": 1000 * runtime / mp if mp else None},
        "peak_memory": {"rss_mib": provenance.peak_rss_mib(), "cuda_mib": provenance.peak_cuda_mib(device)},
        "bad_outputs": {"images": sum(1 for r in rows if r["output_fixes"] > 0),
                        "values_repaired": int(sum(r["output_fixes"] for r in rows)),
                        "this_run": {"nonfinite": issues.nonfinite, "out_of_range": issues.out_of_range,
                                     "cast_from": issues.cast_from}},
        "resumed_images": resumed, "device": str(device), "dustbench_version": __version__,
        "provenance": provenance.collect(device),
    }
