"""How dustbench datasets store images, and how to read them back without losing bits.

Every image column (``damaged``, ``clean``, ``mask``, ``labels``; ``infrared`` in datasets made with
``--infrared``: the scanner's 16-bit grey plane) holds lossless PNG bytes in the source's bit depth
(8 or 16 bits, grey or RGB). The column *type* depends on what ``datasets.Image`` can decode
faithfully:

* ``storage = "image"`` (all sources 8-bit, or 16-bit grey): ``datasets.Image()`` columns. The
  Hub viewer shows them, ``ds[i]["clean"]`` is a PIL image, and ``.with_format("torch")`` yields
  integer CHW tensors.
* ``storage = "png-bytes"`` (any 16-bit RGB source): ``Value("binary")`` columns of the same PNG
  bytes, because ``datasets.Image`` decodes 16-bit RGB through Pillow, which silently drops it to
  8 bits. Decode with :func:`decode_image` (OpenCV), or use :func:`iter_split` / :func:`as_torch`.

:func:`decode_image`, :func:`iter_split`, :func:`load_split` and :func:`as_torch` read both kinds
the same way: with OpenCV, keeping 16 bits.

Torch's default ``collate_fn`` batches rows of a split (``as_torch`` and ``.with_format("torch")``):
``damaged``/``clean`` have the dataset's channel count (make-dataset ``--channels``, see
:func:`stored_channels`), and ``families`` is one ``;``-joined string (a list in format 1) that the
readers split back into a list.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from ..errors import DustbenchError
from ..io import decode_image, dtype_max, from_float, to_float, with_channels

IMAGE_COLUMNS = ("damaged", "clean", "mask", "labels", "infrared")  # "infrared": only with make-dataset --infrared
SPLITS = ("train", "validation", "test")
MANIFEST = "dustbench.json"  # the dataset manifest, written last by make-dataset: its presence means complete
FORMAT_VERSION = 2  # 2: `families` is one ";"-joined string (collates), images have `channels` channels
CHANNELS = ("3", "1", "keep")  # make-dataset --channels: RGB (grey repeated), grey (BT.601 luma), as the source
INT_COLUMNS = ("sample_seed", "frame_shape", "box")  # fixed-length integer lists: tensors in the torch view


def stored_channels(image: np.ndarray, channels: str) -> np.ndarray:
    """A uint8/uint16 source image with the dataset's ``channels`` ("3", "1" or "keep")."""
    if channels not in CHANNELS:
        raise DustbenchError(f"--channels {channels!r}: use one of {', '.join(CHANNELS)}")
    c = 1 if image.ndim == 2 else image.shape[2]
    if channels == "keep" or int(channels) == c:
        return image[:, :, 0] if image.ndim == 3 and c == 1 else image
    if channels == "3":
        return with_channels(image, 3)
    return from_float(with_channels(to_float(image), 1), image.dtype)  # luma, rounded to the source's depth


def output_channels(shape, channels: str) -> int:
    """Channels a source of ``shape`` (H, W[, C]) has in a dataset made with ``channels``."""
    return (1 if len(shape) == 2 else int(shape[2])) if channels == "keep" else int(channels)


def features(storage: str, infrared: bool = False):
    """The ``datasets.Features`` of every split for ``storage`` 'image' or 'png-bytes'; ``infrared``:
    with the ``infrared`` column (16-bit grey, which ``datasets.Image`` decodes faithfully)."""
    import datasets as hf

    if storage not in ("image", "png-bytes"):
        raise ValueError(f"unknown storage {storage!r}")
    image = hf.Image() if storage == "image" else hf.Value("binary")
    strings, ints = hf.List(hf.Value("string")), hf.List(hf.Value("int64"))
    plane = {"infrared": image} if infrared else {}  # uint16 H×W: the scanner's infrared plane of `damaged`
    return hf.Features({
        "id": hf.Value("string"),
        "damaged": image, "clean": image, "mask": image, "labels": image, **plane,
        "families": hf.Value("string"),  # ";"-joined families with a labelled pixel in this row ("" = none)
        "presets": strings,
        "params": hf.Value("string"),  # JSON parameter record: regenerate(clean, json.loads(params))
        "source": hf.Value("string"),
        "sample_seed": ints,  # numpy.random.SeedSequence(sample_seed) drew everything in this row
        "frame_shape": ints,  # (H, W) of the source image
        "box": ints,  # (y0, x0, h, w) of this row inside the source image
        "dtype": hf.Value("string"),  # uint8 | uint16: the source's pixel type, kept by the PNGs
    })


def pack_image(png: bytes, storage: str):
    return {"bytes": png, "path": None} if storage == "image" else png


def read_dataset_manifest(path: str | os.PathLike) -> dict[str, Any]:
    """The ``dustbench.json`` record of a finished make-dataset output folder."""
    file = Path(path) / MANIFEST
    if not file.is_file():
        raise DustbenchError(f"{path}: not a finished dustbench dataset (no {MANIFEST}; "
                             "re-run `dustbench make-dataset` with the same arguments to finish it)")
    return json.loads(file.read_text(encoding="utf-8"))


def load_split(path: str | os.PathLike, split: str):
    """One split as a ``datasets.Dataset`` whose image columns hold raw PNG bytes (no Pillow)."""
    import datasets as hf

    root = Path(path)
    if not (root / "dataset_dict.json").is_file():
        raise DustbenchError(f"{root}: not a dataset folder written by `dustbench make-dataset` "
                             "(no dataset_dict.json)")
    dd = hf.load_from_disk(str(root))
    if split not in dd:
        raise DustbenchError(f"{root}: no split {split!r} (has {', '.join(dd)})")
    ds = dd[split]
    for col in IMAGE_COLUMNS:
        if col in ds.features and isinstance(ds.features[col], hf.Image):
            ds = ds.cast_column(col, hf.Image(decode=False))
    return ds


def decode_row(row: dict[str, Any]) -> dict[str, Any]:
    """A raw row -> the same row with every image column decoded to a numpy array."""
    out = dict(row)
    for col in IMAGE_COLUMNS:
        if out.get(col) is not None:  # an empty cell (no mask or labels) stays None
            out[col] = decode_image(out[col])
    if isinstance(out.get("families"), str):  # stored as one string so that torch can collate it
        out["families"] = split_families(out["families"])
    return out


def join_families(families: list[str]) -> str:
    return ";".join(families)


def split_families(text: str) -> list[str]:
    """The list of a ``families`` cell (a list in datasets of format 1)."""
    return [f for f in text.split(";") if f] if isinstance(text, str) else list(text or ())


def iter_split(path: str | os.PathLike, split: str = "test") -> Iterator[dict[str, Any]]:
    """Rows of one split, one at a time: ``id, damaged, clean, mask, labels, families`` and more
    (``infrared``, uint16 H×W, in datasets made with ``--infrared``).

    Images are numpy arrays in the source's dtype (uint8/uint16); ``mask`` is the artifacts'
    opacity in that dtype, rounded up (``mask > 0`` is the artifact region); ``labels`` is a uint8
    map of family ids (0 = none, see ``dustbench.synth.FAMILIES``); ``families`` lists the
    families present; ``source``, ``presets``, ``params`` (JSON), ``box`` come along too.
    """
    ds = load_split(path, split)
    for i in range(len(ds)):
        yield decode_row(ds[i])


def to_tensor(image: np.ndarray):
    """uint8/uint16 H×W[×C] -> float32 C×H×W torch tensor in [0, 1]."""
    import torch

    scale = np.float32(dtype_max(image.dtype))
    f = image.astype(np.float32) / scale
    f = f[None] if f.ndim == 2 else f.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(f))


def _torch_transform(batch: dict[str, list]) -> dict[str, Any]:
    import torch

    out = dict(batch)
    for col in ("damaged", "clean", "mask", "infrared"):  # infrared: 1×H×W, as the mask
        if col in batch:
            out[col] = [to_tensor(decode_image(v)) for v in batch[col]]
    if "labels" in batch:
        out["labels"] = [torch.from_numpy(decode_image(v).astype(np.int64)) for v in batch["labels"]]
    for col in INT_COLUMNS:
        if col in batch:
            out[col] = [torch.tensor(v, dtype=torch.int64) for v in batch[col]]
    return out


def as_torch(dataset):
    """A split (or DatasetDict) that yields float32 C×H×W tensors in [0, 1] (labels: int64 H×W;
    ``infrared``, when the dataset has it: 1×H×W).

    Works for both storages and keeps 16-bit precision; use it instead of ``.with_format("torch")``
    when a dataset has ``png-bytes`` storage (see the module docstring). Every column collates with
    torch's default ``collate_fn``: images of one split have the dataset's channel count (train
    patches also one size), ``sample_seed``/``frame_shape``/``box`` are int64 tensors, the text
    columns (``id``, ``families``, ``params``, ...) stay strings and ``presets`` a one-name list.
    """
    import datasets as hf

    if isinstance(dataset, (str, os.PathLike)):
        dataset = hf.DatasetDict({s: load_split(dataset, s) for s in hf.load_from_disk(str(dataset))})
    if isinstance(dataset, hf.DatasetDict):
        return hf.DatasetDict({k: as_torch(v) for k, v in dataset.items()})
    for col in IMAGE_COLUMNS:
        if col in dataset.features and isinstance(dataset.features[col], hf.Image):
            dataset = dataset.cast_column(col, hf.Image(decode=False))
    return dataset.with_transform(_torch_transform)
