"""Training and inference cost of dust_gan: step time, ms per megapixel, peak memory on a 24 MP scan.

    .venv/bin/python benchmarks/bench_train.py [--what steps,infer,scan,amp,compile] [--threads N]

* ``steps``: one G+D training step (the paper's loss without VGG, D = 70×70 PatchGAN) at batch 8
  and 32 on 128×128 patches, best of ``--repeat`` steps after one warm-up, and the same step
  without the adversarial term (no D) as the in-run reference.
* ``infer``: eval-mode generator on 512×512 tiles, in ms per megapixel, next to the ``median``
  baseline (radius 2) timed in the same run.
* ``scan``: a 6000×4000 RGB float32 scan through ``load_model_file`` (TorchScript export, 512-px
  tiles via ``dustbench.methods.tiling.apply_tiled``) in a fresh process: wall time and that process's own
  peak RSS while it restores the scan (VmHWM, restarted once the scan exists; Linux /proc), with
  its peak before the scan was created and the size of the input + output arrays for reference.
* ``amp`` / ``compile``: the batch-8 step with bf16 autocast / ``torch.compile``, as ratios to
  the plain float32 eager step (both are off by default; see the README for the numbers).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import warnings

import torch

from _common import add_allocator_option, begin

warnings.simplefilter("ignore")


def make_task(adversarial: bool, d_width: int = 64, amp: bool = False, compile: bool = False):
    from dustbench.models import create_model
    from dustbench.models.dust_gan import DustGanTask

    torch.manual_seed(0)
    task = DustGanTask("dust_gan", create_model("dust_gan"),
                       {"w_adversarial": 0.01 if adversarial else 0.0, "d_width": d_width})
    task.optimizers = task.build_optimizers(1e-4)
    if amp:
        task.autocast = lambda: torch.autocast("cpu", dtype=torch.bfloat16)
    if compile:
        task.wrap(torch.compile)
    return task


def step_time(task, batch: int, patch: int = 128, repeat: int = 3, warmup: int = 1) -> float:
    g = torch.Generator().manual_seed(0)
    data = {"damaged": torch.rand(batch, 3, patch, patch, generator=g),
            "clean": torch.rand(batch, 3, patch, patch, generator=g)}
    for i in range(warmup):
        task.training_step(data, i)
    times = []
    for i in range(repeat):
        t = time.perf_counter()
        task.training_step(data, i)
        times.append(time.perf_counter() - t)
    return min(times)  # best of: other jobs share this CPU, and they only ever add time


def bench_steps(repeat: int) -> None:
    print("\n## training step (dust_gan width 32, 128×128 patches, perceptual off)")
    print("| batch | G+D step (D width 64) | G only (no adversarial term) | ratio | patches/s (G+D) |")
    print("|---|---|---|---|---|")
    for batch in (8, 32):
        gd = step_time(make_task(True), batch, repeat=repeat)
        g = step_time(make_task(False), batch, repeat=repeat)
        print(f"| {batch} | {gd:.2f} s | {g:.2f} s | {gd / g:.2f}× | {batch / gd:.1f} |", flush=True)


def bench_variants(which: str, repeat: int) -> None:
    base = step_time(make_task(True), 8, repeat=repeat)
    if which == "amp":
        other = step_time(make_task(True, amp=True), 8, repeat=repeat)
        label = "bf16 autocast"
    else:
        t = time.perf_counter()
        task = make_task(True, compile=True)
        step_time(task, 8, repeat=1, warmup=1)
        compile_s = time.perf_counter() - t
        other = step_time(task, 8, repeat=repeat, warmup=0)
        label = f"torch.compile (first steps incl. compilation: {compile_s:.0f} s)"
    print(f"\n## batch-8 step: float32 eager {base:.2f} s, {label} {other:.2f} s -> {other / base:.2f}× the time")


def bench_infer(repeat: int) -> None:
    from dustbench.methods import create_method
    from dustbench.models import create_model

    model = create_model("dust_gan").eval()
    x = torch.rand(1, 3, 512, 512, generator=torch.Generator().manual_seed(0))
    times = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeat):
            t = time.perf_counter()
            model(x)
            times.append(time.perf_counter() - t)
    ms_mp = min(times) * 1000 / (512 * 512 / 1e6)
    median = create_method("median", radius=2)
    img = x[0].permute(1, 2, 0).numpy().copy()
    median(img)
    t = time.perf_counter()
    for _ in range(repeat):
        median(img)
    med_ms = (time.perf_counter() - t) / repeat * 1000 / (512 * 512 / 1e6)
    print("\n## inference (eval mode, 512×512 tiles)")
    print(f"dust_gan: {ms_mp:.0f} ms/MP; median (radius 2, same run): {med_ms:.0f} ms/MP "
          f"-> {ms_mp / med_ms:.0f}× the median filter")


SCAN = textwrap.dedent("""
    import json, sys, time, warnings
    warnings.simplefilter("ignore")
    import numpy as np, torch
    torch.set_num_threads(int(sys.argv[4]))
    from dustbench.methods import load_model_file

    def status_mib(key):
        # This process's own memory (Linux). Not getrusage's ru_maxrss: a fork+exec child inherits its
        # parent's peak there (~1 GiB under a 1 GiB parent, for its own 9 MiB).
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) / 1024 for line in status if line.startswith(key + ":"))

    method = load_model_file(sys.argv[1], tile=512, overlap=32)
    method(np.zeros((64, 64, 3), np.float32))  # warm-up
    rss0 = status_mib("VmHWM")
    h, w = int(sys.argv[2]), int(sys.argv[3])
    yy, xx = np.arange(h, dtype=np.float32)[:, None], np.arange(w, dtype=np.float32)[None, :]
    scan = np.empty((h, w, 3), np.float32)
    for c in range(3):
        scan[:, :, c] = 0.5 + 0.3 * np.sin(xx / (40 + 10 * c)) * np.cos(yy / 55)
    with open("/proc/self/clear_refs", "w") as f:  # restart VmHWM: the peak of the restoration alone
        f.write("5")
    t = time.perf_counter()
    out = method(scan)
    seconds = time.perf_counter() - t
    print(json.dumps({"seconds": seconds, "peak_rss_mib": status_mib("VmHWM"), "rss_before_mib": rss0,
                      "arrays_mib": 2 * scan.nbytes / 2**20, "shape": list(out.shape)}))
""")


def bench_scan(height: int, width: int, threads: int) -> None:
    from dustbench.models.checkpoint import write_checkpoint
    from dustbench.models import create_model
    from dustbench.train.export import export_model

    with tempfile.TemporaryDirectory() as tmp:
        ckpt, model_file = os.path.join(tmp, "ckpt.pt"), os.path.join(tmp, "model.pt")
        torch.manual_seed(0)
        write_checkpoint(ckpt, create_model("dust_gan"), "dust_gan", {})
        export_model(ckpt, model_file, card=False)
        script = os.path.join(tmp, "scan.py")
        with open(script, "w") as f:
            f.write(SCAN)
        proc = subprocess.run([sys.executable, script, model_file, str(height), str(width), str(threads)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(proc.stderr[-2000:])
        r = json.loads(proc.stdout.strip().splitlines()[-1])
    mp = height * width / 1e6
    print(f"\n## {height}×{width} ({mp:.1f} MP) RGB scan, TorchScript export, 512-px tiles, overlap 32")
    print(f"wall {r['seconds']:.0f} s ({r['seconds'] * 1000 / mp:.0f} ms/MP incl. tiling), peak RSS while "
          f"restoring {r['peak_rss_mib']:.0f} MiB (before the scan existed: {r['rss_before_mib']:.0f} MiB; "
          f"input + output float32 arrays: {r['arrays_mib']:.0f} MiB)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--what", default="steps,infer,scan", help="comma list of steps, infer, scan, amp, compile")
    p.add_argument("--threads", type=int, default=torch.get_num_threads())
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--height", type=int, default=6000)
    p.add_argument("--width", type=int, default=4000)
    add_allocator_option(p, "`dustbench train` sets it", note=" (batch-32 steps measured 13-15 %% slower)")
    args = p.parse_args()
    allocator = begin(args)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} thread(s), CPU: {os.cpu_count()} logical cores visible; "
          f"allocator {allocator}")
    for what in args.what.split(","):
        {"steps": lambda: bench_steps(args.repeat), "infer": lambda: bench_infer(args.repeat),
         "scan": lambda: bench_scan(args.height, args.width, args.threads),
         "amp": lambda: bench_variants("amp", args.repeat),
         "compile": lambda: bench_variants("compile", args.repeat)}[what.strip()]()


if __name__ == "__main__":
    main()
