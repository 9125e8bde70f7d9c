"""Fixing thread counts while a method runs, so that timings mean something.

On a small machine a model's runtime depends on its OpenMP thread count far more than on its code
(*Runtimes* in docs/evaluation.md): every timing dustbench publishes states (and fixes) its thread counts.
"""
from __future__ import annotations

import contextlib
import multiprocessing
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
    traceback when it hands its next result to the dead parent.

    Three gaps to close: a worker that starts slowly (a loaded machine, torch to import) can reach
    this after its parent died, when asking to die with it is too late, so it checks its parent's
    pid (multiprocessing's, not ``getppid()``, which is then already init's); the kernel closes a
    dying parent's pipes before it signals the children that asked to die with it, so a write into
    the closed pipe (SIGPIPE) first waits for that signal (:func:`_on_broken_pipe`); elsewhere than
    Linux a thread polls for being orphaned."""
    cv2.setNumThreads(1)
    parent = _parent_pid()
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, lambda signum, frame: _on_broken_pipe(parent))
    armed = _die_with_parent()
    if os.getppid() != parent:
        os._exit(1)  # orphaned already: the results have nowhere to go, and files are written atomically
    if armed:
        return

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.2)
        os._exit(1)

    threading.Thread(target=watch, name="dustbench-parent-watch", daemon=True).start()


def _parent_pid() -> int:
    """The pid of the process that started this worker (as multiprocessing recorded it), else ``getppid()``."""
    started_by = multiprocessing.parent_process()
    return started_by.pid if started_by is not None and started_by.pid else os.getppid()


PARENT_GRACE_S = 2.0  # how long a worker whose pipe broke waits to learn that its parent died


def _on_broken_pipe(parent: int) -> None:
    """A worker wrote into a closed pipe: its parent is most likely dying. Wait up to
    :data:`PARENT_GRACE_S` for the kernel's signal, or leave quietly once orphaned; a parent still
    alive after that only closed some other pipe (a ``| head`` on stderr), and the write raises
    BrokenPipeError as it always did (a worker killed here would leave the pool waiting for its task)."""
    deadline = time.monotonic() + PARENT_GRACE_S
    while time.monotonic() < deadline:
        if os.getppid() != parent:
            os._exit(1)  # the results have nowhere to go, and files are written atomically
        time.sleep(0.02)


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
