"""Procedural clean images: milliseconds per megapixel of each kind (target: a 1 MP image in <= 50 ms).

Run: `.venv/bin/python benchmarks/bench_procedural.py [--size 1000] [--repeat 5]`. One OpenCV thread;
best of ``--repeat`` draws, each from its own seed.
"""
from __future__ import annotations

import argparse
import time

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=1000, help="side of the square image (px)")
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    from dustbench.sources.procedural import KINDS, procedural_image

    cv2.setNumThreads(1)
    print(benchmark_header(), flush=True)
    mp = args.size * args.size / 1e6
    print(f"{'kind':<14}{'best ms/MP':>12}{'target <= 50':>14}")
    for kind in KINDS:
        times = []
        for seed in range(args.repeat):
            start = time.perf_counter()
            procedural_image(kind, (args.size, args.size), np.random.default_rng(seed))
            times.append((time.perf_counter() - start) * 1e3 / mp)
        best = min(times)
        print(f"{kind:<14}{best:>12.1f}{'MET' if best <= 50 else 'MISSED':>14}")


if __name__ == "__main__":
    main()
