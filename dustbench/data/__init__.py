"""Synthetic training and test sets, and an on-the-fly training stream.

    >>> from dustbench.data import DatasetConfig, make_dataset, iter_split, DamageStream
    >>> make_dataset(DatasetConfig(clean="builtin", out="ds", seed=0, train_patches=1000))
    >>> for row in iter_split("ds", "test"): ...          # numpy, source dtype (16-bit kept)
    >>> stream = DamageStream("builtin", "*_scan_*", patch=128, seed=0)   # torch IterableDataset

See docs/datasets.md for the storage format, determinism and resume guarantees.
"""
from __future__ import annotations

from ..io import decode_image
from .codec import IMAGE_COLUMNS, SPLITS, as_torch, decode_row, features, iter_split, load_split, read_dataset_manifest
from .eval_data import EvalData, Sample, open_data
from .make_dataset import DatasetConfig, DatasetReport, make_dataset

__all__ = ["IMAGE_COLUMNS", "SPLITS", "DamageStream", "DatasetConfig", "DatasetReport", "EvalData", "Sample",
           "as_torch", "decode_image", "decode_row", "features", "iter_split", "load_split", "make_dataset",
           "open_data", "read_dataset_manifest"]


def __getattr__(name):
    if name == "DamageStream":
        from .stream import DamageStream  # deferred: the stream imports torch
        return DamageStream
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
