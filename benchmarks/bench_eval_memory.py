"""Peak memory and fixed start-up of ``dustbench evaluate`` on large 16-bit scans.

Targets (issue: evaluation in bounded memory): peak resident memory at most 20 MB per megapixel on
a 24 MP 16-bit RGB pair, a 100 MP pair evaluated within 4 GiB, and a fixed start-up (a command on
one tiny pair, wall clock) under 2 s.

Each pair is written once to a temporary folder by a child process (uncompressed TIFF: a smooth
photograph resized to the size, with bright blots and their mask), then evaluated by the real CLI
in a fresh process; its peak is the ``peak_memory.rss_mib`` that ``summary.json`` records (the
process's ru_maxrss, decoding included). This script never holds a pair itself: on Linux a child's
ru_maxrss starts from its parent's high-water mark. The pair's own bytes (damaged + clean + mask) are printed beside it: they are
the floor, since both images are held decoded while their rows are scored. Pairs without a mask
take the derived damage region (``dustbench.evaluation.region``), a separate row.

Threads: OMP/OpenCV as the CLI sets them (``--threads`` left at its default), printed in the header.

Run: ``.venv/bin/python benchmarks/bench_eval_memory.py [--sizes 4,24,100] [--methods identity,median]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

MB_PER_MP_TARGET = 20.0  # decimal MB per megapixel at 24 MP
BIG_MP, BIG_LIMIT_GIB = 100, 4.0
STARTUP_TARGET_S = 2.0


def write_pair(folder: Path, megapixels: float, with_mask: bool = True) -> int:
    """A 16-bit RGB pair of about ``megapixels`` MP (3:2) in ``folder``; returns its bytes held decoded."""
    from skimage import data

    width = int(round((megapixels * 1e6 * 1.5) ** 0.5))
    height = int(round(width / 1.5))
    clean = (cv2.resize(data.astronaut(), (width, height), interpolation=cv2.INTER_CUBIC).astype(np.uint16) * 257)
    rng = np.random.default_rng(0)
    mask = np.zeros((height, width), np.uint8)
    for _ in range(int(40 * megapixels)):
        x, y, r = int(rng.integers(0, width)), int(rng.integers(0, height)), int(rng.integers(1, 8))
        cv2.circle(mask, (x, y), r, 255, -1)
    damaged = clean.copy()
    damaged[mask > 0] = 60000
    plain = [cv2.IMWRITE_TIFF_COMPRESSION, 1]  # uncompressed: fast to write and to read
    for part, image in (("clean", clean), ("damaged", damaged)) + ((("mask", mask),) if with_mask else ()):
        (folder / part).mkdir(parents=True, exist_ok=True)
        bgr = image[..., ::-1] if image.ndim == 3 else image
        if not cv2.imwrite(str(folder / part / "scan.tif"), np.ascontiguousarray(bgr), plain):
            raise SystemExit(f"could not write {folder / part}")
    return clean.nbytes + damaged.nbytes + (mask.nbytes if with_mask else 0)


def make_pair(folder: Path, megapixels: float, with_mask: bool = True) -> int:
    """:func:`write_pair` in a child process. This process must stay small: a child's ru_maxrss
    starts from its parent's peak (Linux keeps the high-water mark across vfork and exec), so
    evaluate's own peak would read as this process's once it had held a pair."""
    done = subprocess.run([sys.executable, __file__, "--write-pair", str(folder), str(megapixels),
                           str(int(with_mask))], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"writing the {megapixels:g} MP pair failed:\n{done.stderr[-2000:]}")
    return int(done.stdout.split()[-1])


def run_evaluate(method: str, pairs: Path, out: Path) -> tuple[float, dict]:
    """Wall seconds and summary.json of ``dustbench evaluate METHOD --data PAIRS`` in a fresh process."""
    cmd = [sys.executable, "-m", "dustbench", "evaluate", method, "--data", str(pairs), "--out", str(out),
           "--overwrite", "--quiet"]
    start = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    return seconds, json.loads((out / "summary.json").read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="4,24,100", help="megapixels of the pairs (default 4,24,100)")
    parser.add_argument("--methods", default="identity,median", help="registered methods to evaluate")
    parser.add_argument("--no-derived", action="store_true", help="skip the 24 MP pair without a mask")
    parser.add_argument("--write-pair", nargs=3, metavar=("FOLDER", "MP", "MASK"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.write_pair:  # the child of make_pair
        folder, mp, mask = args.write_pair
        print(write_pair(Path(folder), float(mp), mask == "1"))
        return
    from dustbench.provenance import benchmark_header

    print(benchmark_header(), flush=True)
    sizes = [float(s) for s in args.sizes.split(",") if s]
    methods = [m for m in args.methods.split(",") if m]
    work = Path(tempfile.mkdtemp(prefix="bench_eval_memory_"))
    try:
        tiny = work / "tiny"
        make_pair(tiny, 0.01)
        startup = min(run_evaluate("identity", tiny, work / "out")[0] for _ in range(3))
        print(f"\nfixed start-up (identity on one {0.01:g} MP pair, best of 3, wall): {startup:.2f} s "
              f"(target < {STARTUP_TARGET_S:g} s: {'met' if startup < STARTUP_TARGET_S else 'NOT met'})\n")
        header = (f"{'pair':<24} {'method':<10} {'MP':>6} {'pair MiB':>9} {'peak MiB':>9} {'MiB/MP':>7} "
                  f"{'MB/MP':>6} {'wall s':>7}  target")
        print(header)
        print("-" * len(header))
        cases = [(mp, True) for mp in sizes] + ([] if args.no_derived or 24 not in sizes else [(24.0, False)])
        for mp, with_mask in cases:
            pairs = work / f"pairs_{mp:g}_{int(with_mask)}"
            held = make_pair(pairs, mp, with_mask)
            for method in methods:
                seconds, summary = run_evaluate(method, pairs, work / "out")
                real_mp = summary["runtime"]["megapixels"]
                peak = summary["peak_memory"]["rss_mib"]
                per_mp = peak / real_mp
                if mp == 24 and with_mask:
                    verdict = "met" if peak * 1.048576 / real_mp <= MB_PER_MP_TARGET else "NOT met"
                    target = f"<= {MB_PER_MP_TARGET:g} MB/MP: {verdict}"
                elif mp == BIG_MP:
                    target = f"<= {BIG_LIMIT_GIB:g} GiB: {'met' if peak <= BIG_LIMIT_GIB * 1024 else 'NOT met'}"
                else:
                    target = ""
                name = f"16-bit RGB {'+ mask' if with_mask else 'no mask (derived)'}"
                print(f"{name:<24} {method:<10} {real_mp:>6.1f} {held / 2**20:>9.0f} {peak:>9.0f} {per_mp:>7.1f} "
                      f"{per_mp * 1.048576:>6.1f} {seconds:>7.1f}  {target}", flush=True)
            shutil.rmtree(pairs)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONWARNINGS", "ignore")
    main()
