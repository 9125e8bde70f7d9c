"""Per-image rows of the harness: how one restored image is scored, stored and summed up.

:func:`image_scores` is the one scoring of a restored image against its reference (PSNR, SSIM,
masked metrics), used by the trainer's validation; ``dustbench evaluate`` feeds the same scores
(:class:`~dustbench.evaluation.band_scores.BandScores`, :func:`sample_scores`) band by band as an
image is restored; :func:`image_row` adds what a row records; :func:`rows_to_csv` / :func:`read_rows` are
``per_image.csv``; :func:`aggregate` turns rows into means with bootstrap CIs.
"""
from __future__ import annotations

import csv
import io
import math

import numpy as np

from ..io import from_float, to_float
from ..metric_defs import PSNR_CAP
from ..metrics import bootstrap_ci
from ..synth.presets import FAMILIES
from .band_scores import BandScores

COLUMNS = ["image_id", "families", "presets", "height", "width", "channels", "bit_depth", "psnr", "ssim",
           "psnr_input", "psnr_in", "psnr_out", "clean_change_rate", "region_fraction", "mask_source",
           "touch_precision", "touch_recall", "touch_f1", "family_psnr", "family_psnr_input", "family_pixels",
           "runtime_s", "megapixels", "output_fixes", "digest"]
FAMILY_COLUMNS = ("family_psnr", "family_psnr_input", "family_pixels")
TEXT_COLUMNS = {"image_id", "families", "presets", "mask_source", "digest", *FAMILY_COLUMNS}
TOUCH = ("touch_precision", "touch_recall", "touch_f1")
CONVENTIONS = {
    "quantisation": "restored output quantised to the reference bit depth (dustbench.io.from_float: "
                    "round half to even, clip) before metrics",
    "data_range": "from the reference dtype: 255 for 8-bit, 65535 for 16-bit, 1.0 for float",
    "channels": "RGB, all channels (no luminance conversion), no border crop",
    "psnr": "10*log10(R^2/MSE), MSE over all pixels and channels; inf for a pixel-identical output, "
            f"counted as {PSNR_CAP:g} dB in means and CIs",
    "ssim": "Wang et al. 2004: 11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03, per channel then averaged",
    "masked": "region = mask > 0 dilated by 3 px (square); psnr_in/psnr_out over pixels inside/outside it; "
              "clean_change_rate = fraction of outside pixels the method changed (vs its input) by more than "
              "2/255 of the range; "
              "mask_source = truth (the data's mask) or derived (for pairs without masks: from |damaged - clean| "
              "above its noise, without the faint halos around each spot; summary.json data.derived_region says how)",
    "touch": "touched = pixels the method changed (|restored - damaged| > 2/255 of the range, any channel); "
             "touch_precision = touched inside the region / touched (NaN when nothing is touched); "
             "touch_recall = touched among the visibly damaged pixels (mask > 0 and |damaged - clean| > 2/255) "
             "/ those; touch_f1 = their harmonic mean",
    "family_psnr": f"PSNR inside each artifact family's labelled pixels (labels == family, 1..{len(FAMILIES)} = "
                   f"{', '.join(FAMILIES)}) dilated by 3 px like the masked region; per family the mean over "
                   "the images that contain it",
    "ci": "95% percentile bootstrap of the mean over images (dustbench.metrics.bootstrap_ci)",
    "runtime": "method time only (no reading, metrics or writing), after one warm-up call; "
               "ms per megapixel = total time / total megapixels",
    "peak_memory": "peak resident memory of the whole process (ru_maxrss), data loading included",
}
CONVENTIONS_SHORT = "RGB all channels, reference bit depth, no crop, dilate 3 px"


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return "inf" if value == math.inf else repr(value)
    return str(value)


def family_text(values: dict) -> str:
    """``{"dust": 41.2, ...}`` as ``dust=41.2;...`` (floats as repr, so reading back is exact)."""
    return ";".join(f"{k}={_fmt(v)}" for k, v in values.items())


def parse_family(text) -> dict:
    """The inverse of :func:`family_text` (empty for an empty or missing cell)."""
    if not isinstance(text, str) or not text:
        return {}
    pairs = (item.split("=", 1) for item in text.split(";"))
    return {k: _number(v) for k, v in pairs}


def family_scores(reference, restored, damaged, labels) -> dict:
    """The three family columns of a row: PSNR of the output and of the input inside each family's
    labelled pixels (dilated by 3 px), and those regions' sizes in pixels."""
    scores = BandScores(reference, damaged=damaged, labels=labels, names=FAMILIES)
    scores.add(restored)
    return family_columns(scores.scores()["family"])


def family_columns(family: dict) -> dict:
    """``{name: (psnr, psnr of the input, pixels)}`` (:class:`BandScores`) as a row's three columns."""
    return {"family_psnr": family_text({k: v[0] for k, v in family.items()}),
            "family_psnr_input": family_text({k: v[1] for k, v in family.items()}),
            "family_pixels": family_text({k: v[2] for k, v in family.items()})}


def rows_to_csv(rows: list[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, COLUMNS, lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _fmt(row.get(k)) for k in COLUMNS})
    return buf.getvalue()


def _number(text: str | None):
    """A CSV cell as written by :func:`rows_to_csv`: int for integers (so a rewrite keeps ``400``),
    float otherwise, NaN when empty."""
    if text in ("", None):
        return math.nan
    try:
        return int(text)
    except ValueError:
        return float(text)


def read_rows(path) -> list[dict]:
    """Rows of a ``per_image.csv``: numbers as int/float (NaN for empty cells), text as str."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (v if k in TEXT_COLUMNS else _number(v)) for k, v in rec.items()} for rec in csv.DictReader(f)]


def image_scores(reference: np.ndarray, restored: np.ndarray, mask: np.ndarray | None = None,
                 damaged: np.ndarray | None = None) -> dict:
    """PSNR, SSIM (NaN below the SSIM window's size), with the ``damaged`` input (reference dtype) its
    PSNR, with a mask the masked metrics, and with both what the method touched (precision/recall/F1).
    The whole-image form of :class:`~dustbench.evaluation.band_scores.BandScores`."""
    scores = BandScores(reference, mask, damaged)
    scores.add(restored)
    return scores.scores()


def sample_scores(sample) -> BandScores:
    """Running scores of a restored image of ``sample`` (fed band by band, reference dtype): all
    that :func:`image_row` records."""
    return BandScores(sample.clean, sample.mask, input_as_reference(sample), sample.labels, FAMILIES)


def input_as_reference(sample) -> np.ndarray:
    """The damaged input in the reference's dtype (as metrics compare it)."""
    damaged, ref = sample.damaged, sample.clean
    return damaged if damaged.dtype == ref.dtype else from_float(to_float(damaged), ref.dtype)


def image_row(sample, scores: dict, seconds: float, output_fixes: int) -> dict:
    """The row of one restored image, from its :func:`sample_scores`' ``scores()``."""
    ref = sample.clean
    scores = dict(scores)
    family = scores.pop("family", None)
    row = {"image_id": sample.id, "families": ";".join(sample.families), "presets": ";".join(sample.presets),
           "height": ref.shape[0], "width": ref.shape[1], "channels": 1 if ref.ndim == 2 else ref.shape[2],
           "bit_depth": ref.dtype.itemsize * 8, "psnr": scores.pop("psnr"), "ssim": scores.pop("ssim"),
           "psnr_input": scores.pop("psnr_input"), "runtime_s": seconds,
           "megapixels": ref.shape[0] * ref.shape[1] / 1e6, "output_fixes": output_fixes, "digest": sample.digest,
           "mask_source": sample.mask_source if sample.mask is not None else ""}
    if family is not None:
        row.update(family_columns(family))
    return {**row, **{k: float(v) for k, v in scores.items()}}


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


def _count(values) -> int:
    return int(np.count_nonzero(~np.isnan(np.asarray(values, dtype=np.float64))))


def mask_source(rows: list[dict]) -> str:
    """Where the rows' masks came from: "truth", "derived", "mixed" or "none" (no masks)."""
    masked = [r for r in rows if not math.isnan(float(r.get("region_fraction", math.nan)))]
    sources = {str(r.get("mask_source") or "truth") for r in masked}  # rows older than derived masks: truth
    return "none" if not sources else sources.pop() if len(sources) == 1 else "mixed"


def aggregate(rows: list[dict], seed: int = 0, n_resamples: int = 2000) -> dict:
    """Mean PSNR/SSIM with bootstrap CIs (each from ``default_rng(seed)``), masked means, per family."""
    col = lambda k, rs=rows: [r.get(k, math.nan) for r in rs]  # noqa: E731
    masked = [r for r in rows if not math.isnan(float(r.get("psnr_in", math.nan)))]
    metrics = {"psnr": _ci(_capped(col("psnr")), seed, n_resamples),
               "ssim": _ci(np.asarray(col("ssim"), float), seed, n_resamples),
               "psnr_input": _ci(_capped(col("psnr_input")), seed, n_resamples),
               "psnr_in": _mean(_capped(col("psnr_in"))), "psnr_out": _mean(_capped(col("psnr_out"))),
               "clean_change_rate": _mean(col("clean_change_rate")), "n_masked": len(masked),
               **{k: _mean(col(k)) for k in TOUCH}, "n_touched": _count(col("touch_precision")),
               "mask_source": mask_source(rows)}
    per_preset: dict[str, list] = {}
    for r in rows:
        for name in filter(None, str(r.get("presets") or "").split(";")):
            per_preset.setdefault(name, []).append(r)
    return {"metrics": metrics, "per_family": per_family(rows, seed, n_resamples),
            "per_preset": {name: {"n": len(rs), "psnr": _mean(_capped(col("psnr", rs))), "ssim": _mean(col("ssim", rs)),
                                  "psnr_input": _mean(_capped(col("psnr_input", rs)))}
                           for name, rs in per_preset.items()}}


def per_family(rows: list[dict], seed: int = 0, n_resamples: int = 2000) -> dict:
    """Per artifact family, over the images that contain it: mean PSNR inside the family's region
    (capped, with a bootstrap CI), the input's, and the number of images and region pixels."""
    scores: dict[str, dict[str, list]] = {}
    for r in rows:
        out, inp, px = (parse_family(r.get(c)) for c in FAMILY_COLUMNS)
        for name, value in out.items():
            s = scores.setdefault(name, {"psnr": [], "psnr_input": [], "pixels": []})
            s["psnr"].append(value)
            s["psnr_input"].append(inp.get(name, math.nan))
            s["pixels"].append(px.get(name, 0))
    result = {}
    for name in [f for f in FAMILIES if f in scores] + sorted(set(scores) - set(FAMILIES)):
        s = scores[name]
        ci = _ci(_capped(s["psnr"]), seed, n_resamples)
        result[name] = {"n": ci["n"], "pixels": int(sum(s["pixels"])), "psnr": ci["mean"], "ci_low": ci["ci_low"],
                        "ci_high": ci["ci_high"], "psnr_input": _mean(_capped(s["psnr_input"]))}
    return result
