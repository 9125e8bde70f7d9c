"""The shared PSNR/SSIM harness: one function, ``evaluate(method, data, out)``, behind the CLI.

    >>> import os, tempfile
    >>> from dustbench import evaluate
    >>> out = os.path.join(tempfile.mkdtemp(), "median")                   # e.g. "results/median"
    >>> result = evaluate("median", "builtin", out=out, options={"radius": 2}, limit=2)   # limit: first N images
    >>> result
    Result(method='median', data='builtin:test', images=2, psnr=... dB, ssim=..., out='...median')
    >>> sorted(result.summary["metrics"]["psnr"])
    ['ci_high', 'ci_low', 'mean', 'n']
    >>> sorted(os.listdir(out))
    [...'per_image.csv', 'run.json', 'summary.json']

Each image is restored with :func:`dustbench.methods.restored_rows` (:func:`~dustbench.methods.apply_method`
band by band: tiles, output checks), each band of float rows is quantised back to the reference's
dtype and scored as it comes (:class:`~dustbench.evaluation.band_scores.BandScores`: exactly the
whole-image PSNR/SSIM/masked metrics of :mod:`dustbench.evaluation.rows`, see ``CONVENTIONS``), so
memory holds the pair and a band, not the restored image. With ``out`` the
per-image rows go to ``per_image.csv`` (rewritten atomically as images finish) and the aggregate
to ``summary.json``; re-running the same method and options on the same data resumes, skipping
images whose row exists and whose content hash (``digest``) is unchanged.
"""
from __future__ import annotations

import hashlib
import json
import shutil
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .. import provenance
from ..data.eval_base import fingerprint_line
from ..data.eval_data import EvalData, open_data
from ..errors import DustbenchError, stop_on_error
from ..hashing import file_sha256
from ..version import __version__
from ..io import from_float, output_dir, storable, to_float, write_image, write_json_atomic, write_text_atomic
from ..metrics import WINDOW
from ..threads import fixed_threads
from ..methods import Method, OutputIssues, apply_method, restored_rows
from ..methods.base import resolve_tiling
from ..methods.run_config import with_settings
from ..methods.tuning import load_tuned_method
from ..data.truth import truth_layer
from ..writer_lock import one_writer
from .config import EvalConfig
from .model_card import card_record, read_card
from .region import DERIVED, derivation, with_region
from .rows import (COLUMNS, CONVENTIONS, CONVENTIONS_SHORT, PSNR_CAP, aggregate, image_row, read_rows, rows_to_csv,
                   sample_scores)

SCHEMA = "dustbench.evaluate/1"
QUANTISE_CHUNK = 1 << 20  # float values quantised and scored at once


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

    def __repr__(self) -> str:
        """One line, as a REPL shows it: the method, the data and the headline numbers with their CIs
        (the whole summary is ``.summary``, the rows ``.frame()``)."""
        s, m = self.summary, self.summary["metrics"]

        def stat(key: str, digits: int) -> str:
            x = m[key]
            return "n/a" if x["mean"] is None else \
                f"{x['mean']:.{digits}f} [{x['ci_low']:.{digits}f}, {x['ci_high']:.{digits}f}]"
        where = f", out={str(self.out)!r}" if self.out is not None else ""
        return (f"Result(method={s['method']!r}, data={s['test_set']!r}, images={len(self.rows)}, "
                f"psnr={stat('psnr', 2)} dB, ssim={stat('ssim', 4)}{where})")


def config_string(options: dict) -> str:
    """Options as ``k=v, ...`` without bookkeeping keys (path, device, score)."""
    skip = {"path", "device", "score", "tile", "overlap"}
    return ", ".join(f"{k}={v}" for k, v in sorted(options.items()) if k not in skip and v is not None)


# ----------------------------------------------------------------------------- the harness
def _run_key(method, data: EvalData, tile, overlap, on_bad_output) -> dict:
    where = {k: v for k, v in data.describe().items() if k != "spec"}  # resolved paths, not as typed
    key = {"method": method.name, "options": method.options, "data": where, "tile": tile,
           "overlap": overlap, "on_bad_output": on_bad_output}
    model_file = method.source.path if method.source is not None else None
    if model_file is not None:
        # A model re-exported to the same path is a different run: key on the file's bytes too.
        key["model_sha256"] = file_sha256(model_file)
    if method.weights_sha256:  # a registered method with learned parameters read from a file
        key["weights_sha256"] = method.weights_sha256
    return key


RESULT_FILES = ("per_image.csv", "summary.json", "run.json")


def _previous_rows(out: Path | None, key: dict, overwrite: bool) -> dict[str, dict]:
    """The rows a matching earlier run left in ``out`` (resume); with ``overwrite`` its results are removed
    first, so rows of another run can never be mistaken for this one's."""
    if out is None:
        return {}
    if overwrite:
        for name in RESULT_FILES:
            (out / name).unlink(missing_ok=True)
        shutil.rmtree(out / "images", ignore_errors=True)
        return {}
    run_file, csv_file = out / "run.json", out / "per_image.csv"
    if not csv_file.is_file():
        return {}
    old = json.loads(run_file.read_text(encoding="utf-8")) if run_file.is_file() else None
    if old != json.loads(json.dumps(key)):
        raise DustbenchError(f"{out}: holds results of a different run (method, options, data, tiling); "
                             "use another --out, or --overwrite to replace them")
    return {r["image_id"]: r for r in read_rows(csv_file)}


def _warm_up(method, sample, layer, tile, overlap, name: str) -> None:
    """One small call first, so one-off costs (torch graph setup, allocations) are not timed."""
    crop = (slice(0, min(64, sample.damaged.shape[0])), slice(0, min(64, sample.damaged.shape[1])))
    mask = None if sample.mask is None else sample.mask[crop]
    infrared = None if sample.infrared is None else np.ascontiguousarray(sample.infrared[crop])
    if (method.needs_mask and mask is None) or (method.needs_infrared and infrared is None):
        return  # the real call says what is missing
    apply_method(method, to_float(np.ascontiguousarray(sample.damaged[crop])), mask, infrared=infrared,
                 layer=None if layer is None else np.ascontiguousarray(layer[crop]), tile=tile, overlap=overlap,
                 name=f"{name} (warm-up crop)", on_bad_output="clip")


def _truth_of(method, sample, name: str):
    """The sample with its damage region (derived from the pair when it has no mask) and, for an
    oracle that needs it, the synthesis layer; nothing more reaches any method."""
    sample = with_region(sample, name)
    layer = truth_layer(sample.params, sample.damaged, sample.clean, name) if method.needs_layer else None
    return sample, layer


@dataclass
class _Run:
    """The state of one evaluation while it walks the data."""

    method: Method
    data: EvalData
    out: Path | None
    config: EvalConfig
    tile: int | None  # resolved for this method (config.tile may be left out)
    overlap: int
    previous: dict
    rows: list = field(default_factory=list)
    issues: OutputIssues = field(default_factory=OutputIssues)
    skipped: list = field(default_factory=list)  # [image id, why] of bad pairs left out under on_error="skip"
    resumed: int = 0
    warmed: bool = False

    def sample(self, sample_id: str):
        """The pair ``sample_id``, or None when it is bad and ``on_error`` is "skip" (reported)."""
        try:
            sample = self.data.get(sample_id)
            h, w = sample.clean.shape[:2]
            if min(h, w) < WINDOW:
                raise DustbenchError(f"{sample.source or sample_id}: {h}×{w} px is too small to score "
                                     f"(SSIM needs at least {WINDOW}×{WINDOW} px)")
            return sample
        except DustbenchError as exc:
            stop_on_error(self.config.on_error, exc, "evaluate the other pairs")
            self.skipped.append([sample_id, str(exc)])
            tqdm.write(f"skipped {self.data.name}/{sample_id}: {exc}")
            return None

    def kept_row(self, sample) -> dict | None:
        """The row of an earlier run for this very sample (same content hash, image saved if asked)."""
        old = self.previous.get(sample.id)
        saved = self.out is None or not self.config.save_images or (self.out / "images" / f"{sample.id}.png").is_file()
        return old if old is not None and old.get("digest") == sample.digest and saved else None

    def restore(self, sample) -> dict:
        """Restore one sample band by band, score each band as it comes (the restored image is
        never held whole unless it is saved), save the image if asked, and return its row."""
        name = f"{self.data.name}/{sample.id}"
        sample, layer = _truth_of(self.method, sample, name)
        if not self.warmed:
            _warm_up(self.method, sample, layer, self.tile, self.overlap, name)
            self.warmed = True
        issues = OutputIssues()
        scores = sample_scores(sample)
        kept = np.empty_like(sample.clean) if self.out is not None and self.config.save_images else None
        bands = restored_rows(self.method, sample.damaged, sample.mask, layer=layer, infrared=sample.infrared,
                              tile=self.tile, overlap=self.overlap, name=name, on_bad_output=self.config.on_bad_output,
                              issues=issues)
        seconds = 0.0
        while True:
            start = time.perf_counter()  # the method's time only: not quantising or scoring
            band = next(bands, None)
            seconds += time.perf_counter() - start
            if band is None:
                break
            y0, y1, rows = band
            step = max(1, QUANTISE_CHUNK // max(1, rows[0].size))
            for r in range(0, len(rows), step):  # in chunks of rows: bounded float temporaries
                part = from_float(rows[r:r + step], sample.clean.dtype)
                scores.add(part)
                if kept is not None:
                    kept[y0 + r:y0 + r + len(part)] = part
        if issues:
            self.issues.add(issues)
            tqdm.write(f"{name}: repaired output: {issues.describe()}")
        if kept is not None:
            write_image(self.out / "images" / f"{sample.id}.png", storable(kept))
        return image_row(sample, scores.scores(), seconds, issues.nonfinite + issues.out_of_range)


def evaluate(method, data, out=None, *, config: EvalConfig | None = None, **settings) -> Result:
    """Evaluate ``method`` (a registered name, a model file, or a Method) on ``data``.

    ``data`` is ``"builtin"``, a folder (pairs, synth output, make-dataset output) or an
    :class:`~dustbench.data.EvalData`. ``out`` (optional) receives ``per_image.csv``,
    ``summary.json``, ``run.json`` (the resume key), ``tuning.json`` for median_tuned, and with
    ``save_images`` the restored images as ``images/<id>.png`` at the reference bit depth.
    ``config`` (an :class:`~dustbench.evaluation.config.EvalConfig`) or its fields as keyword
    arguments (``split=``, ``options=``, ``limit=``, ...; they override ``config``'s) say how: see
    there. A bad pair (unreadable, mismatched, too small) stops the run or is reported and left out
    (``on_error``); a built-in suite that renders otherwise than it was published is refused unless
    ``allow_suite_drift``.
    """
    cfg = with_settings(EvalConfig, config, settings)
    data = open_data(data, cfg.split)
    suite_check = data.check_published(cfg.allow_suite_drift)
    out = output_dir(out) if out is not None else None
    with one_writer(out, "evaluate"):  # a second run into out is refused, not mixed
        method = load_tuned_method(method, cfg.options, cfg.device, data, cfg.tune_on, out)
        device = device_used(method, cfg.device)
        tile, overlap = resolve_tiling(method, cfg.tile, cfg.overlap)
        key = _run_key(method, data, tile, overlap, cfg.on_bad_output)
        run = _Run(method, data, out, cfg, tile, overlap, _previous_rows(out, key, cfg.overwrite))
        if out is not None:
            write_json_atomic(out / "run.json", key)
        with fixed_threads(cfg.threads) as counts:
            fingerprint = _walk(run, cfg.limit, cfg.progress)
        if not run.rows:
            raise DustbenchError(f"{data.name}: no images to evaluate")
        summary = _summary(run, fingerprint, key, device, _card_of(method, key))
        summary["skipped"] = [{"image_id": i, "error": e} for i, e in run.skipped]
        if suite_check is not None:
            summary["data"]["published_suite"] = suite_check
        summary["runtime"]["threads"] = counts
        if out is not None:
            write_json_atomic(out / "summary.json", summary)
        return Result(summary, run.rows, out)


def _walk(run: _Run, limit: int | None, progress: bool) -> str:
    """Score every sample (up to ``limit``), writing ``per_image.csv`` as rows finish; the data fingerprint."""
    ids = run.data.ids()[:limit] if limit else run.data.ids()
    fingerprint = hashlib.sha256()
    last_write = time.monotonic()
    bar = tqdm(total=len(ids), desc=f"evaluate {run.method.name}", unit="img", disable=not progress)
    try:
        for sample_id in ids:
            sample = run.sample(sample_id)
            if sample is None:
                bar.update(1)
                continue
            fingerprint.update(fingerprint_line(sample))
            row = run.kept_row(sample)
            if row is not None:
                run.resumed += 1
            else:
                row = run.restore(sample)
                bar.set_postfix(psnr=f"{min(row['psnr'], PSNR_CAP):.2f}", refresh=False)
            run.rows.append(row)
            bar.update(1)
            if run.out is not None and time.monotonic() - last_write > 1.0:
                write_text_atomic(run.out / "per_image.csv", rows_to_csv(run.rows))
                last_write = time.monotonic()
    finally:
        bar.close()
        if run.out is not None and run.rows:
            write_text_atomic(run.out / "per_image.csv", rows_to_csv(run.rows))
    return fingerprint.hexdigest()


def device_used(method: Method, requested) -> str:
    """The device the method ran on, as recorded: a model's own (``auto`` already resolved when it
    was loaded), else ``auto`` resolved the way model files resolve it (summaries said "auto")."""
    own = method.options.get("device")
    if own:
        return str(own)
    if str(requested or "auto") != "auto":
        return str(requested)
    if "torch" not in sys.modules:  # a method that never imported torch ran on the CPU
        return "cpu"
    from ..devices import pick_device  # deferred: devices imports torch, which classical methods never load

    return str(pick_device("auto"))


def _card_of(method, key: dict) -> dict | None:
    """The model card of a model file evaluated under its file name (``file:NAME.pt``), if it has one."""
    path = method.source.path if method.source is not None else None
    if path is None or not method.name.startswith("file:"):  # not a file, or a file given a row name (reproduce)
        return None
    card = read_card(path, key["model_sha256"])
    return card_record(card, path) if card else None


def _summary(run: _Run, fingerprint: str, key: dict, device: str, card=None) -> dict:
    method, data, rows, cfg = run.method, run.data, run.rows, run.config
    agg = aggregate(rows, cfg.seed, cfg.n_resamples)
    runtime = float(sum(r["runtime_s"] for r in rows))
    mp = float(sum(r["megapixels"] for r in rows))
    opts, train_data = method.options, cfg.train_data
    if train_data is None and method.param_count == 0:
        train_data = f"tuned on {opts['tuned_on']}" if opts.get("tuned_on") else "none"
    if train_data is None and card:
        train_data = card["train_data"]
    if train_data is None and method.trained_on:
        train_data = method.trained_on
    return {
        "schema": SCHEMA, "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "method": card["name"] if card else method.name, "model_card": card, "options": opts, "config": config_string(opts), "train_data": train_data,
        "param_count": method.param_count, "is_oracle": bool(method.is_oracle), "needs_mask": bool(method.needs_mask),
        "needs_layer": bool(method.needs_layer), "needs_infrared": bool(method.needs_infrared),
        "data": {**data.describe(), "n_images": len(rows), "fingerprint": fingerprint,
                 "has_masks": agg["metrics"]["n_masked"] > 0, "mask_source": agg["metrics"]["mask_source"],
                 "derived_region": derivation() if agg["metrics"]["mask_source"] in (DERIVED, "mixed") else None},
        "test_set": data.name, "split": data.split, "tile": key["tile"], "overlap": key["overlap"],
        "on_bad_output": key["on_bad_output"], "seed": cfg.seed, "n_resamples": cfg.n_resamples, "confidence": 0.95,
        **agg, "conventions": CONVENTIONS, "conventions_short": CONVENTIONS_SHORT,
        "runtime": {"total_s": runtime, "megapixels": mp, "ms_per_megapixel": 1000 * runtime / mp if mp else None},
        "peak_memory": {"rss_mib": provenance.peak_rss_mib(), "cuda_mib": provenance.peak_cuda_mib(device)},
        "bad_outputs": {"images": sum(1 for r in rows if r["output_fixes"] > 0),
                        "values_repaired": int(sum(r["output_fixes"] for r in rows)),
                        "this_run": {"nonfinite": run.issues.nonfinite, "out_of_range": run.issues.out_of_range,
                                     "cast_from": run.issues.cast_from}},
        "resumed_images": run.resumed, "device": str(device), "dustbench_version": __version__,
        "provenance": provenance.collect(device),
    }
