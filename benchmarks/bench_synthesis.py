"""Synthesis speed on a 24 MP (6000×4000) 16-bit RGB scan, as ratios to np.copyto of the same image.

np.copyto and composite both write into an already-touched buffer: a fresh 144 MB allocation costs
~0.3 s of page faults on the reference machine, which would swamp both.

Targets on the 2-core reference machine: compositing alone <= 3× np.copyto; the whole synthesis
(sample + render + composite + mask + labels) <= 1 s. Run: `.venv/bin/python benchmarks/bench_synthesis.py`.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from dustbench.synth import artifact_mask, composite, family_labels, render, sample_params, synthesize


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--preset", default="negative_scan_heavy")
    ap.add_argument("--height", type=int, default=4000)
    ap.add_argument("--width", type=int, default=6000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    shape = (args.height, args.width, 3)
    gen = np.random.default_rng(0)
    clean = gen.integers(0, 65536, shape, dtype=np.uint16)
    dst = np.empty_like(clean)
    params = sample_params(args.preset, shape, np.random.default_rng(1))
    layer = render(params, shape)
    n = sum(g["n"] for g in params["groups"])

    rows = [
        ("np.copyto (reference)", best_of(lambda: np.copyto(dst, clean), args.repeat)),
        ("sample_params", best_of(lambda: sample_params(args.preset, shape, np.random.default_rng(1)), args.repeat)),
        ("render", best_of(lambda: render(params, shape), args.repeat)),
        ("composite (into a warm buffer)", best_of(lambda: composite(clean, layer, out=dst), args.repeat)),
        ("artifact_mask", best_of(lambda: artifact_mask(layer), args.repeat)),
        ("family_labels", best_of(lambda: family_labels(layer), args.repeat)),
        ("synthesize (all of the above)", best_of(lambda: synthesize(clean, args.preset, np.random.default_rng(1)), args.repeat)),
    ]
    ref = rows[0][1]
    print(f"{args.width}x{args.height} uint16 RGB, preset {args.preset}: {n} artifacts, {len(layer.sprites)} sprites")
    print(f"{'step':<32}{'seconds':>10}{'× copyto':>10}")
    for name, t in rows:
        print(f"{name:<32}{t:>10.4f}{t / ref:>10.2f}")
    comp, whole = rows[3][1], rows[-1][1]
    print(f"\ntarget composite <= 3× copyto: {'MET' if comp / ref <= 3 else 'MISSED'} ({comp / ref:.2f}×)")
    print(f"target synthesize <= 1 s:      {'MET' if whole <= 1 else 'MISSED'} ({whole:.3f} s)")


if __name__ == "__main__":
    main()
