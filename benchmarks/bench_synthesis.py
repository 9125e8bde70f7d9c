"""Synthesis speed on a 24 MP (6000×4000) 16-bit RGB scan, as ratios to np.copyto of the same image.

np.copyto and composite both write into an already-touched buffer: a fresh 144 MB allocation costs
~0.3 s of page faults on the reference machine, which would swamp both.

Targets (issue #17, 2-core reference machine): render <= 6× np.copyto, compositing <= 2× np.copyto,
the whole synthesis (sample + render + composite + mask + labels) <= 1 s.

Threads: OpenCV, OpenMP and BLAS are pinned to one thread (before numpy and cv2 load), so every
step is single-threaded like the np.copyto it is compared with. Times are CPU seconds of this
thread (time.thread_time), so time spent waiting for a core on a shared machine does not count;
the steps run in rounds, np.copyto first in each, and the ratio is the median over rounds of the
step's time over that round's copy. The load average is printed before and after. render() also
packs the layer's drawn pixels for compositing (dustbench.synth.composite.pack); that share is
shown on its own row.
Run: `.venv/bin/python benchmarks/bench_synthesis.py`.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402

from dustbench.synth import (Layer, artifact_mask, composite, family_labels, render, sample_params,  # noqa: E402
                             synthesize)

try:
    from dustbench.synth.layer import pack
except ImportError:  # an older tree, for a before/after comparison
    pack = None

TARGETS = {"render": 6.0, "composite (into a warm buffer)": 2.0}


def measure(rows: list, rounds: int) -> dict[str, tuple[float, float] | None]:
    """Per step: (median CPU seconds, median ratio to the same round's np.copyto)."""
    times: dict[str, list[float]] = {name: [] for name, fn in rows if fn}
    for _ in range(rounds):
        for name, fn in rows:
            if fn:
                t = time.thread_time()
                fn()
                times[name].append(time.thread_time() - t)
    copy = np.array(times[rows[0][0]])
    return {name: (float(np.median(times[name])), float(np.median(np.array(times[name]) / copy)))
            if fn else None for name, fn in rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="negative_scan_heavy")
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=7, help="rounds (default 7)")
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    print(benchmark_header(), flush=True)
    cv2.setNumThreads(1)
    load_before = os.getloadavg()
    shape = (args.height, args.width, 3)
    gen = np.random.default_rng(0)
    clean = gen.integers(0, 65536, shape, dtype=np.uint16)
    dst = np.empty_like(clean)
    params = sample_params(args.preset, shape, np.random.default_rng(1))
    layer = render(params, shape)
    n = sum(g["n"] for g in params["groups"])
    rows = [
        ("np.copyto (reference)", lambda: np.copyto(dst, clean)),
        ("sample_params", lambda: sample_params(args.preset, shape, np.random.default_rng(1))),
        ("render", lambda: render(params, shape)),
        ("  of which packing", (lambda: pack(Layer(layer.shape, list(layer.sprites)))) if pack else None),
        ("composite (into a warm buffer)", lambda: composite(clean, layer, out=dst)),
        ("artifact_mask", lambda: artifact_mask(layer)),
        ("family_labels", lambda: family_labels(layer)),
        ("synthesize (all of the above)", lambda: synthesize(clean, args.preset, np.random.default_rng(1))),
    ]
    results = measure(rows, args.repeat)
    print(f"{args.width}x{args.height} uint16 RGB, preset {args.preset}: {n} artifacts, {len(layer.sprites)} sprites")
    print(f"{os.cpu_count()} CPUs; cv2 threads {cv2.getNumThreads()}, OMP/BLAS threads 1; load average "
          f"{load_before[0]:.2f} before, {os.getloadavg()[0]:.2f} after (1 min)")
    print(f"{'step':<32}{'CPU s':>10}{'× copyto':>10}")
    for name, r in results.items():
        print(f"{name:<32}" + (f"{r[0]:>10.4f}{r[1]:>10.2f}" if r else f"{'n/a':>10}"))
    print()
    for name, limit in TARGETS.items():
        ratio = results[name][1]
        print(f"target {name.split(' ')[0]} <= {limit:g}× copyto: {'MET' if ratio <= limit else 'MISSED'} ({ratio:.2f}×)")
    whole = results["synthesize (all of the above)"][0]
    print(f"target synthesize <= 1 s: {'MET' if whole <= 1 else 'MISSED'} ({whole:.3f} s)")


if __name__ == "__main__":
    main()
