"""How well per-pixel scores rank each family's visible damage above clean pixels (``dustbench.report.separability``).

Scores: the classical detectors' residual (the luma's top-hat over the local noise sigma, bright or
dark, whichever is larger: ``line_detect``'s ``z`` and ``morph_detect``'s kind of evidence, unclipped)
and the probability of each ``--detectors`` model file. Per family of visible damage (opacity >=
0.05, changed by more than 8/255): its pixels, their share of the pixels ranked (``base``: the AP of
a score that ranks at random), the median change, and each score's average precision with its
ratio to the base rate. The negatives are every pixel no artifact touched, over all images: one
threshold for the whole split, as a detector is used. A development tool: choose on ``validation``
(the default); ``--split test`` reports, it never chooses.

Run: ``.venv/bin/python benchmarks/bench_separability.py [--split validation] [--detectors a.pt,b.pt]
[--flips]``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_DETECTORS = "leaderboard/models/fastdet_balanced.pt"
RESIDUAL = "top-hat z"


def score_name(path: str) -> str:
    """A detector file's column: its name, or its run folder's for a training run's ``checkpoint.pt``."""
    p = Path(path)
    return p.parent.name if p.stem == "checkpoint" and p.parent.name else p.stem


def score_maps(image, detectors: dict, radius: int) -> dict:
    """``{score name: H×W float32}`` for one float image: the top-hat z, then each detector's P."""
    import numpy as np

    from dustbench.methods.line_scratches import line_z  # deferred: after the thread settings above
    from dustbench.methods.residual import luma32  # deferred: after the thread settings above

    luma = luma32(image)
    out = {RESIDUAL: np.maximum(line_z(luma, 1, radius, np.inf), line_z(luma, -1, radius, np.inf))}
    for name, det in detectors.items():
        p = det.probability(image)
        out[name] = p[..., 0] if p.ndim == 3 else p
    return out


def table_lines(tables: dict) -> list[str]:
    """One line per family: pixels, base rate, median change, then each score's AP (× base rate)."""
    names = list(tables)
    first = tables[names[0]]
    lines = [f"{'family':<9}{'pixels':>9}{'base':>9}{'change':>8}" + "".join(f"{n[:24]:>26}" for n in names)]
    for i, row in enumerate(first):
        cells = "".join(f"{t[i]['ap']:.3f} ({t[i]['ap'] / t[i]['base']:.1f}×)".rjust(26) for t in tables.values())
        lines.append(f"{row['family']:<9}{row['pixels']:>9}{row['base']:>9.4f}{row['median_change']:>8.0f}{cells}")
    return lines


def collect(args) -> dict:
    """``{score name: [labelled scores of each image]}`` over the split (DustbenchError on bad input)."""
    from dustbench.errors import DustbenchError  # deferred: after the thread settings above
    from dustbench.io import to_float  # deferred: after the thread settings above
    from dustbench.methods import load_model_file  # deferred: after the thread settings above
    from dustbench.data.eval_data import labelled_samples  # deferred: after the thread settings above
    from dustbench.report import separability  # deferred: after the thread settings above
    from dustbench.threads import fixed_threads  # deferred: after the thread settings above

    files = [f for f in args.detectors.split(",") if f]
    detectors = {score_name(f): load_model_file(f) for f in files}
    if args.flips:  # each file again, its P averaged over four mirror images (-o flips=1)
        detectors.update({f"{score_name(f)}+flips": load_model_file(f, flips=True) for f in files})
    if RESIDUAL in detectors or len(detectors) < len(files):
        raise DustbenchError(f"--detectors {args.detectors}: two scores would share a name")
    per_score: dict = {}
    with fixed_threads(args.threads):
        for sample in labelled_samples(args.data, args.split, args.limit):
            for name, score in score_maps(to_float(sample.damaged), detectors, args.radius).items():
                per_score.setdefault(name, []).append(separability.labelled_scores(sample, score))
    if not per_score:
        raise DustbenchError(f"{args.data}:{args.split} holds no images")
    return per_score


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="builtin-v2", help="synthetic pairs with masks and family labels")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--detectors", default=DEFAULT_DETECTORS, help="comma-separated detector model files ('' none)")
    ap.add_argument("--flips", action="store_true", help="each detector also with -o flips=1 (four mirror images)")
    ap.add_argument("--radius", type=int, default=3, help="top-hat radius in px (line_detect's)")
    ap.add_argument("--out", default="runs/separability", help="folder for separability.json")
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    from dustbench.errors import DustbenchError  # deferred: after the thread settings above
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    from dustbench.report import separability  # deferred: after the thread settings above

    print(benchmark_header(), flush=True)
    try:
        per_score = collect(args)
    except DustbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    tables = {name: separability.family_table(rows) for name, rows in per_score.items()}
    images = len(per_score[RESIDUAL])
    print(f"\n{args.data}:{args.split}, {images} images: average precision of each score on each family's visible "
          "pixels (opacity >= 0.05, changed by > 8/255) against every untouched pixel, and (its ratio to the base "
          "rate, the AP of a random ranking); change: the median change, /255")
    print("\n".join(table_lines(tables)))
    out = Path(args.out) / f"{args.data}-{args.split}"
    out.mkdir(parents=True, exist_ok=True)
    (out / "separability.json").write_text(json.dumps({"images": images, "radius": args.radius,
                                                       "detectors": args.detectors, "tables": tables}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
