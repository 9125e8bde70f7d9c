"""Clean images from a Hugging Face dataset: a ``save_to_disk`` folder or ``hf:NAME[:split]``.

* a folder written by ``datasets``' ``save_to_disk`` (a ``Dataset`` or a ``DatasetDict``; all its
  splits are used unless one is named as ``DIR:split``);
* ``hf:NAME`` or ``hf:NAME:split``: a dataset on the Hugging Face hub. When the hub cannot be
  reached, the local ``datasets`` cache is used (offline mode); if the dataset is not there, the
  error says how to bring it over (``load_dataset(NAME).save_to_disk(DIR)`` on a connected machine).

Images are read one row at a time from the memory-mapped Arrow files, and decoded with OpenCV so
that 16-bit images stay 16-bit. The image column is the first ``Image`` column, or a binary column
named image/img/png/clean, or the one named by ``column``.
"""
from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

import numpy as np

from ..data_spec import parse_data_spec
from ..errors import DustbenchError, ImageReadError
from ..io import decode_image
from .source import Source

_BINARY_NAMES = ("image", "img", "png", "clean", "bytes")


@dataclass(frozen=True)
class HFSource(Source):
    """One row of a Hugging Face dataset. ``path`` reads ``REF[split][row]`` for messages."""

    ref: str = ""  # a save_to_disk folder, or hf:NAME
    split: str = ""
    row: int = 0
    column: str = "image"

    def load(self) -> np.ndarray:
        ds = _open(self.ref, self.split, self.column)
        try:
            cell = ds[self.row][self.column]
        except Exception as exc:  # noqa: BLE001 - Arrow/IO errors of any kind: name the row
            raise ImageReadError(f"{self.path}: cannot read row ({exc})") from exc
        if cell is None:
            raise ImageReadError(f"{self.path}: the {self.column!r} cell is empty")
        try:
            return decode_image(cell)
        except ImageReadError as exc:
            raise ImageReadError(f"{self.path}: {exc}") from exc


def hub_reachable(timeout: float = 3.0) -> bool:
    """Whether the Hugging Face hub answers at all (a TCP connection to its endpoint)."""
    try:
        from huggingface_hub import constants
        if constants.HF_HUB_OFFLINE:
            return False
        endpoint = constants.ENDPOINT
    except ImportError:  # pragma: no cover - huggingface_hub ships with datasets
        endpoint = "https://huggingface.co"
    url = urlparse(endpoint)
    try:
        with socket.create_connection((url.hostname, url.port or 443), timeout=timeout):
            return True
    except OSError:
        return False


def _go_offline() -> None:
    os.environ["HF_HUB_OFFLINE"] = os.environ["HF_DATASETS_OFFLINE"] = "1"
    try:
        import datasets.config
        from huggingface_hub import constants
        constants.HF_HUB_OFFLINE = True
        datasets.config.HF_HUB_OFFLINE = True
    except (ImportError, AttributeError):  # pragma: no cover
        pass


def _load_any(ref: str):
    """A save_to_disk folder or hf:NAME[:split] -> Dataset or DatasetDict."""
    import datasets as hf

    if not ref.startswith("hf:"):
        return hf.load_from_disk(ref)
    name, _, split = ref[3:].partition(":")
    online = hub_reachable()
    if not online:
        _go_offline()
    try:
        return hf.load_dataset(name, split=split or None)
    except Exception as exc:  # noqa: BLE001 - the hub raises many kinds; all mean "not available"
        where = "the Hugging Face hub" if online else "the local cache (the hub is not reachable: offline?)"
        raise DustbenchError(
            f"--clean {ref}: could not load {name!r} from {where}: {type(exc).__name__}: {exc}. "
            f"On a connected machine run `datasets.load_dataset({name!r}).save_to_disk(DIR)`, copy DIR "
            f"here and pass --clean DIR") from None


@lru_cache(maxsize=4)
def _open(ref: str, split: str, column: str):
    import datasets as hf

    ds = _load_any(ref)
    if isinstance(ds, hf.DatasetDict):
        ds = ds[split]
    if isinstance(ds.features.get(column), hf.Image):
        ds = ds.cast_column(column, hf.Image(decode=False))
    return ds.select_columns([column])


def _image_column(ds, ref: str, column: str | None) -> str:
    import datasets as hf

    if column:
        if column not in ds.features:
            raise DustbenchError(f"--clean {ref}: no column {column!r} (columns: {', '.join(ds.features)})")
        return column
    for name, feature in ds.features.items():
        if isinstance(feature, hf.Image):
            return name
    for name in _BINARY_NAMES:
        if isinstance(ds.features.get(name), hf.Value) and ds.features[name].dtype in ("binary", "large_binary"):
            return name
    raise DustbenchError(f"--clean {ref}: no image column found (columns: {', '.join(ds.features)}); "
                         "name it with --clean-column")


def _licence(ds) -> str:
    return (getattr(ds.info, "license", "") or "").strip()


def hf_sources(spec, column: str | None = None) -> list[HFSource]:
    """Sources for every row of a saved or hub dataset (``DIR``, ``DIR:split``, ``hf:NAME[:split]``)."""
    import datasets as hf

    ds = parse_data_spec(spec)
    if ds.kind not in ("hub", "dataset"):
        raise DustbenchError(f"--clean {ds.text}: not a saved dataset or hf:NAME")
    spec, split, ref = ds.text, ds.arg, ds.ref  # ref: a folder as typed (its name labels the ids)
    try:
        loaded = _load_any(ref)
    except FileNotFoundError as exc:
        raise DustbenchError(f"--clean {spec}: {exc}") from None
    if isinstance(loaded, hf.DatasetDict):
        if split and split not in loaded:
            raise DustbenchError(f"--clean {spec}: no split {split!r} (has {', '.join(loaded)})")
        parts = {s: loaded[s] for s in ([split] if split else sorted(loaded))}
    else:
        parts = {split or "": loaded}
    out: list[HFSource] = []
    label = Path(ref[3:] if ref.startswith("hf:") else ref).name or ref
    for name, ds in parts.items():
        col = _image_column(ds, spec, column)
        licence = _licence(ds)
        for row in range(len(ds)):
            prefix = f"hf:{label}/{name}/" if name else f"hf:{label}/"
            out.append(HFSource(id=f"{prefix}{row:07d}", path=f"{ref}[{name}][{row}]" if name else f"{ref}[{row}]",
                                licence=licence, ref=ref if ref.startswith("hf:") else str(Path(ref).resolve()),
                                split=name, row=row, column=col))
    if not out:
        raise DustbenchError(f"--clean {spec}: the dataset has no rows")
    return out
