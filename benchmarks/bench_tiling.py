"""Peak memory and time of tiled vs whole-image application of a pointwise function.

    .venv/bin/python benchmarks/bench_tiling.py [--height 6000 --width 4000 --repeat 3]

Peak memory is measured with tracemalloc (numpy reports its buffers to it) and excludes the
input image; time is the best of ``--repeat`` runs without tracing.
"""
from __future__ import annotations

import argparse
import time
import tracemalloc

import numpy as np

from dustbench.methods.tiling import apply_tiled


def pointwise(x: np.ndarray) -> np.ndarray:
    """A typical numpy expression (two temporaries): a small contrast change."""
    return x * np.float32(0.9) + np.float32(0.05)


def feature_maps(x: np.ndarray) -> np.ndarray:
    """A stand-in for a small CNN: an 18-channel intermediate (what makes whole frames costly)."""
    features = np.repeat(x, 6, axis=2) * np.float32(2.0)  # H×W×18, channel-major groups of 6
    return features.reshape(*x.shape[:2], x.shape[2], 6).mean(axis=3, dtype=np.float32) * np.float32(0.5)


def measure(run, repeat: int) -> tuple[float, float]:
    """(best wall time in s, peak traced memory in bytes) of ``run()``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    tracemalloc.start()
    try:
        run()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return min(times), peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    image = np.random.default_rng(0).random((args.height, args.width, 3), dtype=np.float32)
    frame = image.nbytes
    print(f"image {args.height}×{args.width}×3 float32 = {frame / 2**20:.0f} MiB; "
          f"best of {args.repeat}; peak excludes the input; ratios are against the whole image")
    print(f"{'fn':<14}{'variant':<16}{'time s':>8}{'peak MiB':>10}{'peak/frame':>12}"
          f"{'time ratio':>12}{'peak ratio':>12}")
    for fn in (pointwise, feature_maps):
        variants = [("whole image", lambda f=fn: f(image))]
        for tile, overlap in ((256, 16), (512, 32), (1024, 64)):
            variants.append((f"tiled {tile}/{overlap}",
                             lambda f=fn, t=tile, o=overlap: apply_tiled(f, image, tile=t, overlap=o)))
        base = None
        for label, run in variants:
            seconds, peak = measure(run, args.repeat)
            base = base or (seconds, peak)
            print(f"{fn.__name__:<14}{label:<16}{seconds:>8.2f}{peak / 2**20:>10.0f}{peak / frame:>12.2f}"
                  f"{seconds / base[0]:>12.2f}{peak / base[1]:>12.2f}")


if __name__ == "__main__":
    main()
