"""Throughput of the on-the-fly training stream: 128×128 patches per second with 0, 1, 2 workers.

Target: >= 500 patches/s with 2 DataLoader workers (enough to keep a CPU training step fed).
Workers are spawned (``DamageStream.loader``); the clock starts after the first batch, so worker
start-up is not counted. Scenarios:

* ``builtin/mixes``: the 5 built-in photos (~0.25 MP each) with the default film-type mixes
  (``*_scan_*``). A 128-px patch is 1/16 of such a small frame, so it holds dozens of artifacts
  (the mixes put ~1,000-2,600 on a frame): the worst case.
* ``builtin/single``: the same photos, one single-family preset per patch (the paper's "artifact
  types"): fewer artifacts per patch.
* ``6MP/mixes``: two 3000×2000 16-bit frames held in memory (as from ``cache_dir`` memory maps):
  a patch is 1/370 of the frame, so it holds a few artifacts, like a patch of a real scan.

Run: ``.venv/bin/python benchmarks/bench_stream.py [--patches 512] [--scenarios builtin/mixes,...]``.
The machine may be shared: the table also prints the load average.
"""
from __future__ import annotations

import argparse
import os
import time

import numpy as np

from dustbench.data.stream import DamageStream

TARGET = 500.0
SINGLE = "dust_*,dirt_*,hair_*,lint_*,scratch_*,stain_*,water_*,rain_*,cinch_*,mould_*"


def frames_6mp(n: int = 2) -> list[np.ndarray]:
    """Smooth random 16-bit frames: realistic enough for the stream's cost (it ignores content)."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        small = rng.random((40, 60, 3), dtype=np.float32)
        import cv2
        big = cv2.resize(small, (3000, 2000), interpolation=cv2.INTER_CUBIC)
        out.append((np.clip(big, 0, 1) * 65535).astype(np.uint16))
    return out


def make_stream(name: str, patches: int) -> DamageStream:
    common = dict(patch=128, seed=0, samples_per_epoch=patches, patches_per_visit=16)
    if name == "builtin/mixes":
        return DamageStream("builtin", **common)
    if name == "builtin/single":
        return DamageStream("builtin", presets=SINGLE, **common)
    if name == "6MP/mixes":
        return DamageStream(frames_6mp(), **common)
    raise SystemExit(f"unknown scenario {name!r}")


def measure(stream: DamageStream, workers: int, batch: int) -> tuple[float, float]:
    """(patches/s, CPU ms per patch of this process) over one whole epoch, after the first batch
    (the epoch is consumed to its end so that workers exit normally)."""
    it = iter(stream.loader(batch_size=batch, num_workers=workers))
    next(it)  # warm-up: worker start-up, first decode
    t, cpu, n = time.perf_counter(), time.process_time(), 0
    for b in it:
        n += b["damaged"].shape[0]
    return n / (time.perf_counter() - t), (time.process_time() - cpu) * 1000 / max(n, 1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--patches", type=int, default=512, help="patches per epoch (one epoch per measurement)")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--workers", default="0,1,2")
    ap.add_argument("--scenarios", default="builtin/mixes,builtin/single,6MP/mixes")
    ap.add_argument("--torch-threads", type=int, default=1,
                    help="torch threads of the main process (collation with 0 workers); DataLoader workers use 1. "
                         "On a busy 2-core machine 2 OpenMP threads made torch.stack 10-50x slower")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(args.torch_threads)
    workers = [int(w) for w in args.workers.split(",")]
    print(f"128×128 patches/s (target {TARGET:.0f}/s with 2 workers); {os.cpu_count()} CPUs, "
          f"load average before: {os.getloadavg()[0]:.2f}; main-process torch threads: {args.torch_threads}")
    print(f"{'scenario':<16}" + "".join(f"{f'{w} workers':>12}" for w in workers) + f"{'2w / target':>13}"
          + f"{'CPU ms/patch':>14}{'2 free cores':>14}")
    for name in args.scenarios.split(","):
        stream = make_stream(name, args.patches)
        res = {w: measure(stream, w, args.batch) for w in workers}
        rates = {w: r for w, (r, _) in res.items()}
        ratio = f"{rates[2] / TARGET:.2f}×" if 2 in rates else "-"
        cpu = f"{res[0][1]:.1f}" if 0 in res else "-"
        free = f"~{2000 / res[0][1]:.0f}/s" if 0 in res else "-"
        print(f"{name:<16}" + "".join(f"{rates[w]:>12.0f}" for w in workers) + f"{ratio:>13}{cpu:>14}{free:>14}",
              flush=True)
    print("CPU ms/patch: CPU time of the 0-worker run (sharing-proof); '2 free cores' = 2000 / that, what two "
          "idle cores would give with 2 workers (workers scale linearly while cores are free)")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other processes share these CPUs)")


if __name__ == "__main__":
    main()
