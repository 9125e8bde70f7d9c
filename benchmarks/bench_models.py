"""Each published learned model's training throughput, with the training stream measured in the same run,
and the inference cost of each exported leaderboard row.

    .venv/bin/python benchmarks/bench_models.py [--threads 2] [--steps 6] [--models dust_gan,pix2pix,segnet]

For every model of the leaderboard recipe (``dustbench.report.recipe``: its network size, task
options, learning rate, batch 32 of 128×128 patches, the scan-scale stream on ``builtin-train``):

* **step only**: training steps on one batch already in memory (best of ``--steps`` after a warm-up):
  what the trainer can consume, in patches/s, with modules and batches laid out NCHW (contiguous)
  and NHWC (channels_last, what ``dustbench train`` uses on CPU: ``--memory-format auto``);
* **stream only**: the recipe's DataLoader (``workers`` as in the recipe) with nothing consuming it:
  what the stream can supply, in patches/s (the clock starts after the first batch);
* **trained from the stream**: the two together, as ``dustbench train`` runs them (NHWC), with the share of
  wall time the trainer waits for its next batch. The stream keeps up when that share is small.

Then **inference**: each exported leaderboard row in ``--rows`` (default ``leaderboard/models``:
the published files, detectors at their calibrated operating points) timed as a method on a
1024×1024 RGB image with the default tiling, best of 3, in ms per megapixel, with the ``median``
filter (radius 2) in the same run as the reference. Trained files, not fresh networks: a
detector's cost depends on how much it flags (the fill runs only there).

Threads are fixed: torch ``--threads`` in the trainer, OpenCV 1 thread, OMP 1 thread in the workers.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load; spawned workers inherit it

import argparse  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from dustbench.data.train_sources import open_train_data  # noqa: E402
from dustbench.methods import create_method, load_model_file  # noqa: E402
from dustbench.models import create_model  # noqa: E402
from dustbench.models.task import task_class  # noqa: E402
from dustbench.report.recipe import LEARNED, RECIPES, SHARED_TRAIN  # noqa: E402
from dustbench.train.batches import TrainData  # noqa: E402

from _common import add_allocator_option, begin  # noqa: E402

warnings.simplefilter("ignore")


def recipe_data(workers: int, batches: int) -> TrainData:
    s = SHARED_TRAIN
    source = open_train_data(s["data"], patch=s["patch"], seed=s["seed"], presets=s["presets"],
                             batch_size=s["batch_size"], steps_per_epoch=batches, scan_scale=tuple(s["scan_scale"]))
    return TrainData(source, s["batch_size"], seed=s["seed"], workers=workers, steps_per_epoch=batches)


def recipe_task(name: str, layout: torch.memory_format = torch.channels_last):
    """The recipe's task with its modules in ``layout`` (as the trainer lays them out)."""
    r = RECIPES[name]
    torch.manual_seed(0)
    task = task_class(name)(name, create_model(name, **r["model_config"]), r["task_options"])
    for m in task.modules().values():
        m.to(memory_format=layout)
    task.optimizers = task.build_optimizers(r["lr"])
    return task


def in_layout(batch: dict, layout: torch.memory_format = torch.channels_last) -> dict:
    return {k: v.contiguous(memory_format=layout) if v.ndim == 4 else v for k, v in batch.items()}


def step_only(task, batch: dict, steps: int) -> float:
    task.training_step(batch, 0)  # warm-up
    times = []
    for i in range(steps):
        t = time.perf_counter()
        task.training_step(batch, i + 1)
        times.append(time.perf_counter() - t)
    return min(times)  # best of: other jobs on a shared CPU only ever add time


def stream_only(workers: int, batches: int) -> float:
    it = recipe_data(workers, batches + 1).batches(0)
    next(it)  # worker start-up is not counted
    t = time.perf_counter()
    n = sum(1 for _ in it)
    return (time.perf_counter() - t) / n


def trained_from_stream(task, workers: int, steps: int) -> tuple[float, float]:
    """Seconds per step, and the share of them spent waiting for the next batch."""
    it = recipe_data(workers, steps + 1).batches(0)
    task.training_step(in_layout(next(it)), 0)
    wait = compute = 0.0
    for i in range(steps):
        t0 = time.perf_counter()
        batch = next(it)
        t1 = time.perf_counter()
        task.training_step(in_layout(batch), i + 1)  # the trainer lays a batch out as part of its step
        t2 = time.perf_counter()
        wait, compute = wait + t1 - t0, compute + t2 - t1
    return (wait + compute) / steps, wait / (wait + compute)


def bench_training(models: list[str], steps: int) -> None:
    s = SHARED_TRAIN
    workers, b = int(s["workers"]), int(s["batch_size"])
    batch = next(recipe_data(0, 1).batches(0))
    stream_s = stream_only(workers, steps)
    print(f"\n## training (batch {b}, {s['patch']}×{s['patch']} patches, {s['data']} at scan scale "
          f"{s['scan_scale'][0]}-{s['scan_scale'][1]} px, {workers} loader worker(s))")
    print(f"stream alone: {b / stream_s:.0f} patches/s ({stream_s:.2f} s per batch)\n")
    print("| model | step only, NCHW (patches/s) | step only, NHWC | NHWC / NCHW | trained from the stream "
          "(patches/s) | waiting for data | stream / step |")
    print("|---|---|---|---|---|---|---|")
    for name in models:
        nchw = step_only(recipe_task(name, torch.contiguous_format), in_layout(batch, torch.contiguous_format), steps)
        step = step_only(recipe_task(name), in_layout(batch), steps)
        per_step, waiting = trained_from_stream(recipe_task(name), workers, steps)
        print(f"| {name} | {b / nchw:.1f} | {b / step:.1f} | {nchw / step:.2f}× | {b / per_step:.1f} | "
              f"{100 * waiting:.0f} % | {step / stream_s:.1f}× |", flush=True)


def ms_per_mp(method, image: np.ndarray, repeat: int = 3) -> float:
    method(image)  # warm-up
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        method(image)
        times.append(time.perf_counter() - t)
    return min(times) * 1000 / (image.shape[0] * image.shape[1] / 1e6)


def bench_inference(rows_dir: str) -> None:
    rng = np.random.default_rng(0)
    image = cv2.GaussianBlur(rng.random((1024, 1024, 3), dtype=np.float32), (0, 0), 3)
    files = sorted(f for f in os.listdir(rows_dir) if f.endswith(".pt")) if os.path.isdir(rows_dir) else []
    if not files:
        raise SystemExit(f"--rows {rows_dir}: no exported rows (*.pt) there; `make leaderboard` writes them")
    rows = [("median (radius 2)", ms_per_mp(create_method("median", radius=2), image))]
    for f in files:
        rows.append((f, ms_per_mp(load_model_file(os.path.join(rows_dir, f)), image)))
    print(f"\n## inference ({rows_dir}, 1024×1024 RGB float32, default tiling)")
    print("| row | ms/MP | × median |\n|---|---|---|")
    for name, ms in rows:
        print(f"| {name} | {ms:.0f} | {ms / rows[0][1]:.1f}× |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="torch threads in the trainer (default 2)")
    p.add_argument("--steps", type=int, default=6, help="timed training steps per measurement (default 6)")
    p.add_argument("--models", default=",".join(LEARNED), help=f"comma list (default {','.join(LEARNED)})")
    p.add_argument("--what", default="training,inference", help="comma list of training, inference")
    p.add_argument("--rows", default="leaderboard/models", help="folder of exported rows to time "
                   "(default leaderboard/models)")
    add_allocator_option(p, "`dustbench train`/`evaluate` set it")
    args = p.parse_args()
    allocator = begin(args)
    torch.set_num_threads(args.threads)
    cv2.setNumThreads(1)
    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        if m not in RECIPES:
            raise SystemExit(f"--models: {m!r} is not in the recipe ({', '.join(RECIPES)})")
    print(f"torch {torch.__version__}, {args.threads} trainer thread(s), {os.cpu_count()} logical cores visible, "
          f"load average {os.getloadavg()[0]:.1f}; allocator {allocator}")
    for what in args.what.split(","):
        {"training": lambda: bench_training(models, args.steps),
         "inference": lambda: bench_inference(args.rows)}[what.strip()]()
    print(f"\nload average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
