"""Calibration of the film-scan mixes against real 35 mm damage, measured with dustbench.fit.

    .venv/bin/python benchmarks/bench_calibration.py [--mixes negative_scan_heavy,slide_scan_heavy]
                                                    [--short 3400] [--frames 2] [--draws 2] [--seed 0]

For each mix, one markdown table: every real statistic of docs/presets.md (counts per frame and
median dust/dirt diameters in px at a --short-px scan, from annotations of blank frames; contrast
and changed pixels from real colour-negative pairs) beside what the project's own component
measurement finds on the mix (``dustbench.calibration``: each component drawn alone on --frames
blank 3:2 frames of short side --short, fit.detect/measure/classify; the whole mix drawn --draws
times on each built-in photograph at ~1.1 MP), the ratio, and MET when it is within 1.5×. Then
the time per mix. Threads are fixed at 1 (OpenCV); the machine may be shared.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from dustbench.calibration import ANNOTATED_SHORT_SIDE, calibrate, pair_photos, table  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mixes", default="negative_scan_heavy,slide_scan_heavy")
    ap.add_argument("--short", type=int, default=ANNOTATED_SHORT_SIDE, help="frame short side in px")
    ap.add_argument("--frames", type=int, default=2, help="blank frames per component")
    ap.add_argument("--draws", type=int, default=2, help="draws of the mix per photograph")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    print(benchmark_header(), flush=True)
    cv2.setNumThreads(1)
    photos = pair_photos()
    missed = 0
    for mix in args.mixes.split(","):
        t0 = time.perf_counter()
        rows = calibrate(mix, args.short, args.frames, draws=args.draws, photos=photos, seed=args.seed)
        title = f"{mix}: {args.frames} frame(s) of {args.short} px short side per component, {args.draws} draw(s) " \
                f"per photo ({time.perf_counter() - t0:.0f} s, 1 OpenCV thread)"
        print(table(rows, title) + "\n")
        missed += sum(not r["met"] for r in rows)
    print(f"{missed} row(s) MISSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
