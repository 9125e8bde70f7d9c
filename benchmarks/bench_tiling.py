"""Tiled inference: peak memory of tiling numpy functions, and ms/MP of the leaderboard models.

    .venv/bin/python benchmarks/bench_tiling.py [--what memory,models] [--threads 2]
        [--height 6000 --width 4000] [--size 2000] [--repeat 3]

* ``memory``: peak memory and time of tiled vs whole-image application of numpy functions on a
  ``--height`` × ``--width`` RGB image. Peak memory is measured with tracemalloc (numpy reports its
  buffers to it) and excludes the input image; time is the best of ``--repeat`` runs without tracing.
* ``models``: each TorchScript file in leaderboard/models through ``load_model_file`` (512-px tiles,
  overlap 32): ms/MP on one 512×512 tile and on a ``--size``² image (4 MP by default), with the
  layout for the model's own padding (``LoadedModel.multiple``) and, in brackets, the plain layout
  in the same run; the pixels the model computes (tiles padded to its multiple) over the frame's,
  and MET/MISSED for the target "ms/MP at 4 MP <= 1.2 × one
  tile's". ``--repeat`` rounds, each timing the tile (5 calls back to back) and then each frame variant once,
  side by side; the ratio is the median of the rounds' own ratios (a shared machine's load swings
  single timings by ±15 %). The frame is timed under the model's default ``tile_batch`` (tiles per network call:
  4 for a network that pads, 1 for a full-resolution one on CPU) and again under the other one (1 or 4,
  "tile_batch" column); then the module on one tile with NCHW vs NHWC (channels_last) input, which
  ``LoadedModel`` uses on CPU, with the max abs difference of their outputs.

Thread counts are fixed (``--threads`` for torch intra-op and OpenMP/MKL, set before torch is
imported) and printed, and so is the allocator setting (``--allocator keep``, the default, is what the
``dustbench`` commands run under: :mod:`dustbench.allocator`).
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
import tracemalloc
from pathlib import Path

import numpy as np

from dustbench.methods.tiling import apply_tiled, tile_layout

from _common import add_allocator_option, begin, best_time

MODELS = Path(__file__).resolve().parent.parent / "leaderboard" / "models"
TARGET = 1.2  # ms/MP on a 4 MP frame over ms/MP on one tile
BATCH = 4  # the other tile_batch of a model whose default is 1
TILE_RUNS = 5  # back-to-back single-tile calls timed together in each round


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


def bench_memory(height: int, width: int, repeat: int) -> None:
    image = np.random.default_rng(0).random((height, width, 3), dtype=np.float32)
    frame = image.nbytes
    print(f"\n## memory: image {height}×{width}×3 float32 = {frame / 2**20:.0f} MiB; "
          f"best of {repeat}; peak excludes the input; ratios are against the whole image")
    print(f"{'fn':<14}{'variant':<16}{'time s':>8}{'peak MiB':>10}{'peak/frame':>12}"
          f"{'time ratio':>12}{'peak ratio':>12}")
    for fn in (pointwise, feature_maps):
        variants = [("whole image", lambda f=fn: f(image))]
        for tile, overlap in ((256, 16), (512, 32), (1024, 64)):
            variants.append((f"tiled {tile}/{overlap}",
                             lambda f=fn, t=tile, o=overlap: apply_tiled(f, image, tile=t, overlap=o)))
        base = None
        for label, run in variants:
            seconds, peak = measure(run, repeat)
            base = base or (seconds, peak)
            print(f"{fn.__name__:<14}{label:<16}{seconds:>8.2f}{peak / 2**20:>10.0f}{peak / frame:>12.2f}"
                  f"{seconds / base[0]:>12.2f}{peak / base[1]:>12.2f}")


def paired_rounds(net, one: np.ndarray, frame: np.ndarray, rounds: int, variants: dict) -> dict:
    """Median over ``rounds`` of ms/MP of one tile and of the frame once under each variant (a function
    that sets the net up), and the median of each round's frame / tile ratio: tile and frame are timed
    side by side, so a change of load hits both alike. A round's tile time is the mean of
    ``TILE_RUNS`` back-to-back calls, as a frame is ~25 back-to-back tiles (a best-of would pit the
    tile's luckiest run against the frame's average one)."""
    mp_one, mp_frame = one.shape[0] * one.shape[1] / 1e6, frame.shape[0] * frame.shape[1] / 1e6
    for setup in variants.values():  # warm-up: TorchScript profiles each new input shape
        setup()
        net(frame)
    net(one), net(one)
    got: dict = {"tile": []}
    for _ in range(rounds):
        runs = best_time(lambda: [net(one) for _ in range(TILE_RUNS)], 1)
        got["tile"].append(runs / TILE_RUNS * 1e3 / mp_one)
        for name, setup in variants.items():
            setup()
            got.setdefault(name, []).append(best_time(lambda: net(frame), 1) * 1e3 / mp_frame)
    med = {k: statistics.median(v) for k, v in got.items()}
    med.update({f"{k} ratio": statistics.median(f / t for f, t in zip(v, got["tile"]))
                for k, v in got.items() if k != "tile"})
    return med


def bench_models(size: int, repeat: int, tile: int = 512, overlap: int = 32) -> None:
    import torch

    from dustbench.methods import load_model_file

    rng = np.random.default_rng(0)
    one, frame = rng.random((tile, tile, 3), dtype=np.float32), rng.random((size, size, 3), dtype=np.float32)
    print(f"\n## models: {tile}/{overlap} tiles; one {tile}² tile vs a {size}² frame ({size * size / 1e6:.1f} MP, "
          f"{len(tile_layout(size, tile, overlap))}² tiles covering {padded_pixels(size, tile, overlap, 1, 1):.3f}× "
          f"its pixels); {repeat} rounds, each timing one tile ({TILE_RUNS} back-to-back calls) then the frame once "
          f"per variant; medians over rounds, ratios the median of each round's own; frame with the model's "
          f"default tile_batch (tiles per network call, first in the tile_batch column), and with the other one "
          f"of 1 and {BATCH}")
    print("| model | pads to | computed px / frame (plain layout) | 1 tile ms/MP | frame ms/MP (plain layout) | "
          "ratio (plain) | target <= 1.2 | tile_batch: default / other | frame ms/MP, other tile_batch | "
          "NCHW tile ms | NHWC tile ms | "
          "NHWC speed-up | NHWC max abs diff |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for path in sorted(MODELS.glob("*.pt")):
        method = load_model_file(path, tile=tile, overlap=overlap)
        net = getattr(method, "detector", method)  # a detector's network, without its inpainting
        multiple, default_batch = net.multiple, net.tile_batch
        other = 1 if default_batch > 1 else BATCH

        def variant(m: int, batch: int):
            return lambda: (setattr(net, "multiple", m), setattr(net, "tile_batch", batch))
        t = paired_rounds(net, one, frame, repeat, {"aware": variant(multiple, default_batch),
                                                    "plain": variant(1, default_batch),
                                                    "other": variant(multiple, other)})
        variant(multiple, default_batch)()
        cost = {m: padded_pixels(size, tile, overlap, m, multiple) for m in (multiple, 1)}
        x = torch.from_numpy(one.transpose(2, 0, 1).copy())[None]
        xl = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            # two untimed runs first: TorchScript re-profiles on each new input layout for its first calls
            nchw, nhwc = (best_time(lambda v=v: net.module(v), repeat, warmup=2) * 1e3 for v in (x, xl))
            diff = (net.module(x) - net.module(xl)).abs().max().item()
        print(f"| {path.stem} | {multiple} | {cost[multiple]:.3f}× ({cost[1]:.3f}×) | {t['tile']:.0f} | "
              f"{t['aware']:.0f} ({t['plain']:.0f}) | {t['aware ratio']:.2f}× ({t['plain ratio']:.2f}×) | "
              f"{'MET' if t['aware ratio'] <= TARGET else 'MISSED'} | {default_batch} / {other} | {t['other']:.0f} | "
              f"{nchw:.0f} | {nhwc:.0f} | {nchw / nhwc:.2f}× | {diff:.1e} |", flush=True)


def padded_pixels(size: int, tile: int, overlap: int, layout_multiple: int, model_multiple: int) -> float:
    """Pixels a model padding to ``model_multiple`` computes on a size² frame, over the frame's."""
    return (sum(-(-s // model_multiple) * model_multiple for _, s in tile_layout(size, tile, overlap, layout_multiple))
            / size) ** 2


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--what", default="memory,models", help="comma list of memory, models")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--height", type=int, default=6000)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--size", type=int, default=2000, help="side of the square frame for `models`")
    parser.add_argument("--repeat", type=int, default=3, help="best of N (memory); rounds (models)")
    add_allocator_option(parser)
    args = parser.parse_args()
    allocator = begin(args)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):  # read when torch loads its OpenMP/MKL runtime
        os.environ[var] = str(args.threads)
    import torch

    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}: {torch.get_num_threads()} intra-op / {torch.get_num_interop_threads()} "
          f"inter-op threads, OMP_NUM_THREADS={os.environ['OMP_NUM_THREADS']}, "
          f"{os.cpu_count()} logical cores visible; allocator {allocator}")
    for what in args.what.split(","):
        {"memory": lambda: bench_memory(args.height, args.width, args.repeat),
         "models": lambda: bench_models(args.size, args.repeat)}[what.strip()]()


if __name__ == "__main__":
    main()
