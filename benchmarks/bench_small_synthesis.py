"""Synthesis at small sizes, where fixed costs rule: a 1 MP image against albumentations'
RandomRain, and the training stream's CPU per patch, each with the ways of computing it.

Two choices are compared in the same run (issue #28, items 1 and 4):

* **portable math** (``dustbench.portable_math``): the NumPy code (some thirty array passes per
  call) or the same arithmetic compiled by numba (``dustbench.portable_jit``, the default). Both
  give the same bits; synthesis calls them hundreds of times per patch on small arrays.
* **drawing together** (``DamageStream(draw_together=K)`` → ``dustbench.synth.render_many``): the
  damage of K consecutive patches drawn in one drawer call per family, or each patch alone (K=1).

Targets: a 1 MP ``synthesize`` within 2× RandomRain on the same image, for each of the film-scan
mixes (the default presets, one at a time, as the stream draws them) (both single-threaded, CPU
time of this thread, median of rounds, the ratio per round); the stream's share of pre-made patches
is measured by ``bench_stream.py``, which runs the defaults (numba, K=16).
Run: ``.venv/bin/python benchmarks/bench_small_synthesis.py [--rounds 7] [--presets a,b]``.
"""
from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dustbench import portable_math  # noqa: E402
from dustbench.data.stream import DamageStream  # noqa: E402
from dustbench.sources.builtin import builtin_sources  # noqa: E402
from dustbench.synth import library, resolve_presets, synthesize  # noqa: E402

TARGET = 2.0
STREAMS = {"mixes": None, "mixes@2000-4200": (2000, 4200)}


def cpu_ms(fn) -> float:
    t = time.thread_time()
    fn()
    return (time.thread_time() - t) * 1000


def one_megapixel(args) -> None:
    import albumentations as A  # deferred: imports albumentations
    photo = builtin_sources()[0]
    image = np.ascontiguousarray(cv2.resize(photo.load(), (1224, 816), interpolation=cv2.INTER_AREA))
    rain = A.RandomRain(p=1.0)
    print(f"1 MP ({photo.id} resized to {image.shape[1]}×{image.shape[0]} RGB uint8): CPU ms of this thread, "
          f"median of {args.rounds} rounds; ratio to RandomRain per round (target <= {TARGET:g}×)")
    print(f"{'preset':<26}{'RandomRain':>11}{'numpy':>9}{'ratio':>8}{'numba':>9}{'ratio':>8}  verdict")
    ratios = []
    for preset in [p.name for p in resolve_presets(args.presets, library())]:
        times = {"rain": [], "numpy": [], "numba": []}
        for r in range(args.rounds):
            rain.set_random_seed(r)  # its own draws (slant, drop count) vary its cost: the same per round
            times["rain"].append(cpu_ms(lambda: rain(image=image)))
            for impl in ("numpy", "numba"):
                portable_math.use(impl)
                times[impl].append(cpu_ms(lambda: synthesize(image, preset, np.random.default_rng(r))))
        med = {k: statistics.median(v) for k, v in times.items()}
        ratio = {k: statistics.median(a / b for a, b in zip(times[k], times["rain"])) for k in ("numpy", "numba")}
        print(f"{preset:<26}{med['rain']:>11.1f}{med['numpy']:>9.1f}{ratio['numpy']:>7.1f}×{med['numba']:>9.1f}"
              f"{ratio['numba']:>7.1f}×  {'MET' if ratio['numba'] <= TARGET else 'MISSED'}", flush=True)
        ratios.append(ratio["numba"])
    print(f"numba: {sum(r <= TARGET for r in ratios)} of {len(ratios)} presets within {TARGET:g}× RandomRain, "
          f"median {statistics.median(ratios):.1f}×")


def stream_ms(impl: str, together: int, scan_scale, seed: int, patches: int) -> float:
    portable_math.use(impl)
    stream = DamageStream("builtin", patch=128, seed=seed, samples_per_epoch=1024, patches_per_visit=16,
                          scan_scale=scan_scale, draw_together=together)
    it = iter(stream)
    for _ in itertools.islice(it, 16):  # the first sources decoded
        pass
    return cpu_ms(lambda: sum(1 for _ in itertools.islice(it, patches))) / patches


def stream(args) -> None:
    configs = [(impl, k) for impl in ("numpy", "numba") for k in (1, 16)]
    print(f"\nstream, CPU ms per 128² patch in one process (median of {args.rounds} rounds of {args.patches} patches; "
          "speed-up against numpy, one by one, per round)")
    print(f"{'scenario':<17}" + "".join(f"{f'{impl} K={k}':>20}" for impl, k in configs))
    for name, scale in STREAMS.items():
        times = {c: [] for c in configs}
        for r in range(args.rounds):
            for c in configs:
                times[c].append(stream_ms(*c, scale, r, args.patches))
        base = times[configs[0]]
        gain = {c: statistics.median(b / t for b, t in zip(base, times[c])) for c in configs}
        print(f"{name:<17}" + "".join(f"{statistics.median(times[c]):>11.2f} ({gain[c]:.2f}×)" for c in configs),
              flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--patches", type=int, default=160)
    ap.add_argument("--presets", default="*_scan_*", help="presets (globs), each timed on its own")
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    portable_math.implementation()  # numba loaded and its cache read before any timing
    print(benchmark_header(), flush=True)
    one_megapixel(args)
    stream(args)


if __name__ == "__main__":
    main()
