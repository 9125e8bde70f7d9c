"""Throughput of the on-the-fly training stream against the same DataLoader fed pre-made patches.

Target: the stream supplies >= 75 % of what the same DataLoader (2 spawned workers, batch 32)
delivers when its dataset only hands out the very same patches, made beforehand and held in
memory: that ceiling is the cost of the DataLoader itself (collation, shared memory, the queue).
Both are measured in the same run, in alternating rounds (the machine may be shared); the ratio
is the median over rounds of stream / pre-made of that round. The clock starts after the first
batch, so worker start-up is not counted.

Scenarios (128×128 patches, the 5 built-in photos, the default film-scan mixes ``*_scan_*``):

* ``mixes``: each photo is a whole frame (``scan_scale=None``): a patch is 1/16 of such a small
  frame, so it holds dozens of artifacts (the worst case);
* ``mixes@2000-4200``: each photo is a crop of a frame scanned at a short side drawn in
  2000..4200 px per sample (what the reference models train with): specks of real-scan size.

Threads are fixed: OpenCV 1 thread and torch 1 thread in the main process and in the workers
(OMP_NUM_THREADS=1 is inherited by spawned workers). The load average is printed before and after.

It ends with a projection for a GPU host (``--project-cores``, default 16): the measured worker
CPU per patch times the workers such a host would run, for the stream and for the pre-made patches.

Run: ``.venv/bin/python benchmarks/bench_stream.py [--patches 1024] [--rounds 3] [--scenarios mixes,...]``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load; spawned workers inherit it

import argparse  # noqa: E402
import itertools  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader, IterableDataset, get_worker_info  # noqa: E402

from dustbench.data.stream import DamageStream  # noqa: E402

TARGET = 0.75
KEYS = ("damaged", "clean", "mask", "labels")
SCENARIOS = {"mixes": None, "mixes@2000-4200": (2000, 4200)}


class PreMade(IterableDataset):
    """The stream's samples, made beforehand and held in memory (arrays in /dev/shm, mapped by each
    worker): each worker yields the share the stream's worker would (same indices, same dict layout)."""

    def __init__(self, stream: DamageStream, folder: str, workers: int):
        super().__init__()
        self.order = stream.indices(0, 1)
        self.split = [stream.indices(w, workers) for w in range(workers)]
        samples = [stream.sample(g) for g in self.order]
        self.paths = {k: os.path.join(folder, f"{k}.npy") for k in KEYS}
        for k in KEYS:
            np.save(self.paths[k], np.stack([s[k].numpy() for s in samples]))
        self.row = {g: i for i, g in enumerate(self.order)}
        self.extra = [{k: s[k] for k in ("source", "scan_scale") if k in s} for s in samples]

    def __iter__(self):
        info = get_worker_info()
        cv2.setNumThreads(1)
        arrays = {k: np.load(p, mmap_mode="r") for k, p in self.paths.items()}
        mine = self.order if info is None else self.split[info.id]
        for g in mine:
            i = self.row[g]
            yield {**{k: torch.from_numpy(np.array(arrays[k][i])) for k in KEYS}, "index": g, **self.extra[i]}


class Clocked(IterableDataset):
    """A dataset whose samples also carry their worker and that worker's CPU time so far, so that
    the worker CPU per patch can be read off the batches (one process_time() call per sample)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def __iter__(self):
        info = get_worker_info()
        worker = 0 if info is None else info.id
        for x in self.inner:
            yield {**x, "worker": worker, "cpu": time.process_time()}


def loader(dataset, batch: int, workers: int) -> DataLoader:
    """Both datasets go through this very DataLoader (the stream's own ``loader`` settings)."""
    extra = dict(multiprocessing_context="spawn", persistent_workers=False) if workers else {}
    return DataLoader(Clocked(dataset), batch_size=batch, num_workers=workers, **extra)


def rate(dataset, batch: int, workers: int) -> tuple[float, float]:
    """(patches/s, worker CPU ms per patch) over one whole epoch after the first batch (consumed to
    its end: workers exit normally). A worker's CPU counts from the end of its first batch on."""
    it = iter(loader(dataset, batch, workers))
    next(it)  # warm-up: worker start-up, first decode
    t, n, first, last, counted = time.perf_counter(), 0, {}, {}, 0
    for b in it:
        n += b["damaged"].shape[0]
        w, cpu = int(b["worker"][0]), float(b["cpu"][-1])
        if w in first:
            counted += b["damaged"].shape[0]
        first.setdefault(w, cpu)
        last[w] = cpu
    busy = sum(last[w] - first[w] for w in first)
    return n / (time.perf_counter() - t), busy * 1000 / max(counted, 1)


def cpu_ms(stream: DamageStream, n: int = 320) -> float:
    """CPU ms per sample of iterating the stream in this process (sharing-proof), after 32 samples."""
    it = iter(stream)
    for _ in itertools.islice(it, 32):
        pass
    t = time.process_time()
    done = sum(1 for _ in itertools.islice(it, n))
    return (time.process_time() - t) * 1000 / done if done else float("nan")


def scenario(name: str, args) -> None:
    stream = DamageStream("builtin", patch=128, seed=0, samples_per_epoch=args.patches, patches_per_visit=16,
                          scan_scale=SCENARIOS[name])
    ms = cpu_ms(stream)
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.path.isdir("/dev/shm") else None) as folder:
        premade = PreMade(stream, folder, args.workers)
        rounds = [measure(stream, premade, args, r) for r in range(args.rounds)]
    (s, p), (sc, pc) = ([statistics.median(r[k][i] for r in rounds) for k in (0, 1)] for i in (0, 1))
    ratio = statistics.median(r[0][0] / r[1][0] for r in rounds)
    verdict = "MET" if ratio >= TARGET else "MISSED"
    print(f"{name:<17}{s:>8.0f}{p:>10.0f}{ratio:>8.0%}  {verdict:<7}{sc:>8.2f}{pc:>9.2f}{pc / sc:>8.0%}{ms:>8.2f}   "
          "rounds: " + ", ".join(f"{r[0][0]:.0f}/{r[1][0]:.0f}" for r in rounds), flush=True)
    return name, sc, pc


def projection(rows, cores: int) -> None:
    """Patches/s a host with ``cores`` cores could stream, from the measured worker CPU per patch
    (one core left to the trainer's own loop): a projection, not a measurement."""
    workers = max(1, cores - 1)
    print(f"projection for a {cores}-core GPU host ({workers} workers, measured worker CPU per patch × workers; "
          "assumes the cores are as fast as these and nothing else is their bottleneck):")
    for name, sc, pc in rows:
        print(f"  {name:<17} stream {workers * 1000 / sc:>7.0f} patches/s, pre-made {workers * 1000 / pc:>7.0f} "
              f"patches/s (a step of batch 32 consumes 32 × the steps per second)")


def measure(stream, premade, args, r: int) -> tuple[tuple, tuple]:
    """((patches/s, worker CPU ms/patch) of the stream, the same of the pre-made patches); the
    order alternates between rounds, so that a change of load hits both alike."""
    pair = [(0, stream), (1, premade)][:: 1 if r % 2 == 0 else -1]
    got = {k: rate(ds, args.batch, args.workers) for k, ds in pair}
    return got[0], got[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=1024, help="patches per epoch (one epoch per measurement)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--scenarios", default=",".join(SCENARIOS))
    ap.add_argument("--project-cores", type=int, default=16, help="cores of the host to project to (0: none)")
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    print(benchmark_header(), flush=True)
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    print(f"128×128 patches/s, {args.workers} spawned workers, batch {args.batch}, {args.patches} patches per epoch, "
          f"median of {args.rounds} rounds; {os.cpu_count()} CPUs, load average before: "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}; threads: torch 1, OpenCV 1, OMP 1")
    print(f"{'':<17}{'patches/s':>18}{'':>17}{'worker CPU ms/patch':>25}")
    print(f"{'scenario':<17}{'stream':>8}{'pre-made':>10}{'ratio':>8}  {'>=75 %':<7}{'stream':>8}{'pre-made':>9}"
          f"{'ratio':>8}{'1 proc':>8}")
    rows = []
    for name in args.scenarios.split(","):
        if name not in SCENARIOS:
            raise SystemExit(f"unknown scenario {name!r}: use {', '.join(SCENARIOS)}")
        rows.append(scenario(name, args))
    print("ratio: stream / pre-made patches/s (median over rounds of each round's ratio): the same DataLoader over "
          "DamageStream and over its own patches made beforehand. Worker CPU ms/patch: CPU time of the workers per "
          "patch they delivered; its ratio (pre-made / stream) is what the patches/s ratio tends to when the CPUs are "
          "saturated. 1 proc: CPU ms per patch of iterating the stream in the main process, without a DataLoader")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())} "
          "(the machine is shared: other processes use these CPUs)")
    if args.project_cores:
        projection(rows, args.project_cores)


if __name__ == "__main__":
    main()
