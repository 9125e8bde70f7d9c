"""Choosing a torch device: ``auto`` means this rank's GPU when there is one, else the CPU."""
from __future__ import annotations

import torch

from .errors import DustbenchError


def pick_device(spec: str = "auto", local_rank: int = 0) -> torch.device:
    """``auto`` -> this rank's CUDA device when available, else CPU; otherwise ``spec`` checked."""
    if spec in (None, "", "auto"):
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(spec)
    except (RuntimeError, TypeError) as exc:
        raise DustbenchError(f"unknown device {spec!r} ({exc})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise DustbenchError(f"device {spec!r} requested but CUDA is not available")
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device(f"cuda:{local_rank}")
    return dev
