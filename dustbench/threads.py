"""Fixing thread counts while a method runs, so that timings mean something.

The same model measured minutes apart gave 40,250 vs 2,504 ms/MP on two cores with default vs one
OpenMP thread: every timing dustbench publishes states (and fixes) its thread counts.
"""
from __future__ import annotations

import contextlib
import sys
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
