"""Where the headroom is, per damage family, and how much of it each row takes (``dustbench.report.headroom``).

Every row runs through the one harness (``dustbench evaluate``: the board's tiling and options,
restored images saved under ``--out``); then, per image and per family of visible damage: the gain
of ``oracle_inpaint`` told that family only, each row's gain from its output pasted into that family's
pixels only, and the share of them it changed (recall); and, once per image, what each row's
changes *outside* the damage cost. A development tool: choose on ``validation`` (the default);
``--split test`` reports, it never chooses.

Run: ``.venv/bin/python benchmarks/bench_headroom.py [--split validation] [--rows line_detect,fastdet_lines,...]``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402

DEFAULT_ROWS = "line_detect,fastdet_lines,leaderboard/models/fastdet_balanced.pt"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default="builtin-v2", help="synthetic pairs with masks and family labels")
    ap.add_argument("--split", default="validation")
    ap.add_argument("--rows", default=DEFAULT_ROWS, help="comma-separated registered methods or model files")
    ap.add_argument("--out", default="runs/headroom", help="folder for each row's harness results and images")
    ap.add_argument("--limit", type=int, default=None, help="first N images only")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    from dustbench.data.eval_data import labelled_samples  # deferred: after the thread settings above
    from dustbench.errors import DustbenchError  # deferred: after the thread settings above
    from dustbench.evaluation.harness import evaluate  # deferred: after the thread settings above
    from dustbench.io import from_float, read_image, to_float  # deferred: after the thread settings above
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    from dustbench.report import headroom  # deferred: after the thread settings above

    print(benchmark_header(), flush=True)
    specs = [r for r in args.rows.split(",") if r]
    names = [Path(r).stem if r.endswith(".pt") else r for r in specs]  # each row's results folder
    out = Path(args.out) / f"{args.data}-{args.split}"
    try:
        if len(set(names)) < len(names):
            raise DustbenchError(f"--rows {args.rows}: two rows would share a results folder ({', '.join(names)})")

        next(labelled_samples(args.data, args.split, args.limit), None)  # no labels: stop before any row runs
        for spec, name in zip(specs, names):
            evaluate(spec, args.data, out=out / name, split=args.split, limit=args.limit, save_images=True,
                     overwrite=True, threads=args.threads, progress=True)
        per_image = []
        for sample in labelled_samples(args.data, args.split, args.limit):
            # the harness saves float images as 16-bit PNG: back to the damaged image's dtype
            restored = {name: from_float(to_float(read_image(out / name / "images" / f"{sample.id}.png")),
                                         sample.damaged.dtype) for name in names}
            per_image.append(headroom.image_headroom(sample, restored))
    except DustbenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    summary = headroom.summarise(per_image)
    print(f"\n{args.data}:{args.split}, {len(per_image)} images: mean PSNR gain per image (dB) from each family's "
          "visible pixels (opacity >= 0.05) alone, and (the share of them the row changed); 'share' is the "
          "family's share of all visible damaged pixels; 'off damage' pastes each row's output outside the damage")
    print("\n".join(headroom.table_lines(summary, names)))
    (out / "headroom.json").write_text(json.dumps({"rows": dict(zip(names, specs)), "summary": summary}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
