"""Synthetic training and test sets, and an on-the-fly training stream.

    >>> import os, tempfile
    >>> from dustbench.data import DatasetConfig, make_dataset, iter_split, DamageStream
    >>> out = os.path.join(tempfile.mkdtemp(), "ds")
    >>> report = make_dataset(DatasetConfig(clean="builtin", out=out, seed=0, train_patches=4, patch=64))
    >>> report.rows                                       # default: 1000 train patches of 128 px
    {'test': 1, 'train': 4, 'validation': 1}
    >>> for row in iter_split(out, "test"):               # numpy, source dtype (16-bit kept)
    ...     print(row["id"], row["damaged"].dtype, row["damaged"].shape)
    test-0000000 uint8 (427, 640, 3)
    >>> stream = DamageStream("builtin", "*_scan_*", patch=64, seed=0)    # torch IterableDataset
    >>> sample = next(iter(stream))
    >>> sample["damaged"].shape, sample["mask"].shape     # float32 C×H×W in [0, 1]; opacity 1×H×W
    (torch.Size([3, 64, 64]), torch.Size([1, 64, 64]))

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
