"""Fixing thread counts while a method runs, so that timings mean something.

On a small machine a model's runtime depends on its OpenMP thread count far more than on its code
(*Runtimes* in docs/evaluation.md): every timing dustbench publishes states (and fixes) its thread counts.
"""
from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

import cv2


def thread_counts() -> dict:
    """The thread counts in effect: OpenCV's, and torch's when torch is loaded (else None)."""
    torch = sys.modules.get("torch")
    return {"opencv": cv2.getNumThreads(), "torch": torch.get_num_threads() if torch is not None else None}


@contextlib.contextmanager
def fixed_threads(n: int | None) -> Iterator[dict]:
    """Run the block with ``n`` OpenCV and torch threads (``None``: as they are); yields the counts."""
    if not n:
        yield thread_counts()
        return
    torch = sys.modules.get("torch")  # only when a model file loaded it: classical methods never need it
    before = thread_counts()
    cv2.setNumThreads(int(n))
    if torch is not None:
        torch.set_num_threads(int(n))
    try:
        yield thread_counts()
    finally:
        cv2.setNumThreads(before["opencv"])
        if torch is not None:
            torch.set_num_threads(before["torch"])


def pool_worker_setup() -> None:
    """Initialiser of every worker process (synth, make-dataset, the source scan): one OpenCV
    thread (one process per core already; more would only contend), and a quiet exit when the
    parent is gone (a ``kill -9`` of the command): without it each worker prints a BrokenPipeError
    traceback when it hands its next result to the dead parent."""
    cv2.setNumThreads(1)
    if _die_with_parent():
        return
    parent = os.getppid()

    def watch() -> None:  # elsewhere than Linux: poll for being orphaned
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)  # the results have nowhere to go, and files are written atomically

    threading.Thread(target=watch, name="dustbench-parent-watch", daemon=True).start()


def _die_with_parent() -> bool:
    """Linux: have the kernel end this process the moment its parent dies (prctl PR_SET_PDEATHSIG)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return False
