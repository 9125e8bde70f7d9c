"""What several benchmarks share: the ``--allocator`` option, the header above every table, and
best-of timing.

A benchmark run as ``python benchmarks/bench_X.py`` imports it as ``_common`` (its folder is on
``sys.path``); it imports nothing heavy at module level, so callers keep control of thread settings.
"""
from __future__ import annotations

import time

ALLOCATOR_CHOICES = ("keep", "default")


def add_allocator_option(parser, set_by: str = "the dustbench commands set it", note: str = "") -> None:
    """``--allocator keep|default``: ``keep`` is what ``set_by`` runs under (:mod:`dustbench.allocator`)."""
    parser.add_argument("--allocator", choices=ALLOCATOR_CHOICES, default="keep",
                        help=f"keep: glibc keeps freed blocks, as {set_by} (dustbench.allocator); "
                             f"default: glibc's own thresholds{note}")


def begin(args) -> str:
    """Print the benchmark header (it records the thread settings made so far), then apply
    ``args.allocator``; returns the allocator's description."""
    from dustbench.provenance import benchmark_header

    print(benchmark_header(), flush=True)
    from dustbench.allocator import allocator_settings, keep_freed_memory

    return keep_freed_memory() if args.allocator == "keep" else allocator_settings()


def best_time(run, repeat: int, warmup: int = 0) -> float:
    """Best of ``repeat`` wall times (seconds) after ``warmup`` untimed runs; best, because other jobs
    on the machine only ever add time."""
    for _ in range(warmup):
        run()
    times = []
    for _ in range(repeat):
        start_s = time.perf_counter()
        run()
        times.append(time.perf_counter() - start_s)
    return min(times)
