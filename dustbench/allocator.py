"""Keep freed memory for reuse instead of handing it back to the OS after every tile (glibc).

glibc serves each allocation over its mmap threshold (at most 32 MiB by default) with a fresh
``mmap`` and unmaps it when freed, so a network's large activations (a 512² tile through a 64-channel
layer: 64 MiB) are page-faulted and zeroed again on every tile. Raising the threshold and the trim
threshold keeps them in the heap, which makes every network faster on CPU. The price: freed blocks
under the limit stay with the process for reuse, so its resident memory can stay near its peak
instead of falling between images. The measured gain and memory price: *Allocator* in
docs/evaluation.md. jemalloc/tcmalloc, which PyTorch's CPU tuning guide recommends preloading, make
the same trade on their own.

It is a process-wide setting, so only the command line applies it (commands that run models);
library users call :func:`keep_freed_memory` themselves. A user's own ``MALLOC_*`` / ``GLIBC_TUNABLES``
settings, or a preloaded jemalloc/tcmalloc/mimalloc, win: nothing is changed then.
"""
from __future__ import annotations

import ctypes
import os
import platform

from .errors import DustbenchError

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h> mallopt parameters
LIMIT_MB = 256  # whole 24 MP float frames (288 MB) still get their own mapping, returned when freed
MAX_MB = 2047  # mallopt takes a C int of bytes
PRELOADED = ("jemalloc", "tcmalloc", "mimalloc")  # allocators that replace glibc's malloc

_applied: dict | None = None


def keep_freed_memory(limit_mb: int = LIMIT_MB) -> dict:
    """Raise glibc's mmap and trim thresholds to ``limit_mb`` MiB; returns :func:`allocator_settings`.

    Does nothing (and says why) off glibc, or when the environment sets glibc's malloc tunables or
    preloads another allocator; the first call decides. Raises DustbenchError for a limit outside
    [1, 2047] MiB (mallopt takes a C int of bytes)."""
    global _applied
    if isinstance(limit_mb, bool) or not isinstance(limit_mb, int) or not 1 <= limit_mb <= MAX_MB:
        raise DustbenchError(f"keep_freed_memory: limit_mb must be an integer in [1, {MAX_MB}], got {limit_mb!r}")
    if _applied is None:
        why = _reason_not_to()
        if why is None:
            size = limit_mb << 20
            libc = ctypes.CDLL("libc.so.6")
            libc.mallopt.argtypes = (ctypes.c_int, ctypes.c_int)  # a C int: larger values must not wrap around
            if libc.mallopt(M_MMAP_THRESHOLD, size) and libc.mallopt(M_TRIM_THRESHOLD, size):
                _applied = {"malloc": "glibc", "mmap_threshold_mb": limit_mb, "trim_threshold_mb": limit_mb}
            else:
                why = "glibc refused the thresholds"
        if why is not None:
            _applied = {"malloc": "default", "why": why}
    return allocator_settings()


def allocator_settings() -> dict:
    """What is in effect, for results files: the thresholds this process set, or why none were."""
    if _applied is not None:
        return dict(_applied)
    return {"malloc": "default", "why": _reason_not_to() or "not requested"}


def _reason_not_to() -> str | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "not glibc"
    user = sorted(name for name in os.environ if name.startswith("MALLOC_"))
    if "malloc" in os.environ.get("GLIBC_TUNABLES", ""):
        user.append("GLIBC_TUNABLES")
    if any(name in os.environ.get("LD_PRELOAD", "") for name in PRELOADED):
        user.append("LD_PRELOAD")
    return f"set by the environment ({', '.join(user)})" if user else None
