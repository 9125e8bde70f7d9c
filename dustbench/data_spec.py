"""What a data string means (``--clean``, ``--data``, ``--tune-on``), decided once.

:func:`parse_data_spec` reads the string and, for a folder, what the folder holds; each command then
opens the kinds it can use (``sources.open_sources`` clean images, ``data.open_data`` scored pairs,
``data.open_train_data`` training patches) and refuses the others with its own list of what it takes.

Kinds: ``builtin``, ``builtin-v2``, ``builtin-v2-ir``, ``builtin-v2-ir-silver``, ``builtin-train``
(names; ``builtin`` is the photographs to ``--clean`` and the v1 suite to ``--data``), ``procedural`` and ``stream`` (``arg``: what follows the
colon), ``hub`` (``hf:NAME[:split]``), ``dataset`` (a folder written by ``save_to_disk``, which is
what ``make-dataset`` writes; ``DIR:split`` names a split), ``pairs`` (``damaged/`` + ``clean/``),
``split_pairs`` (one such folder per split), ``folder`` (any other folder), ``file`` (a path that is
not a folder), ``joined`` (parts joined by ``+``) and ``missing`` (nothing of that name).

    >>> parse_data_spec("procedural:text")
    DataSpec(kind='procedural', text='procedural:text', arg='text')
    >>> [p.kind for p in parse_data_spec("builtin-train+procedural").parts]
    ['builtin-train', 'procedural']
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import DustbenchError

NAMES = ("builtin", "builtin-v2", "builtin-v2-ir", "builtin-v2-ir-silver", "builtin-train")
PREFIXED = ("procedural", "stream")  # NAME or NAME:ARG (stream's ARG: a clean-source spec, may be joined)


def is_saved_dataset(path) -> bool:
    """A folder written by ``datasets``' ``save_to_disk`` (a DatasetDict or one Dataset)."""
    p = Path(path)
    return (p / "dataset_dict.json").is_file() or (p / "state.json").is_file()


@dataclass(frozen=True)
class DataSpec:
    """``kind`` (see the module docstring), the ``text`` as given, ``arg`` (a prefix's argument or a
    dataset's split), ``path`` (folders and files: resolved), ``ref`` and ``parts`` (``joined``)."""

    kind: str
    text: str
    arg: str = ""
    path: Path | None = None
    ref: str = ""  # datasets: what ``datasets`` loads (``hf:NAME[:split]``, or the folder as typed)
    parts: tuple = ()

    def __repr__(self) -> str:
        shown = (("arg", self.arg), ("path", self.path), ("ref", self.ref), ("parts", self.parts))
        extra = "".join(f", {k}={v!r}" for k, v in shown if v)
        return f"DataSpec(kind={self.kind!r}, text={self.text!r}{extra})"

    @property
    def is_dataset_dict(self) -> bool:
        """A whole saved DatasetDict (what ``make-dataset`` writes), no split named."""
        return self.kind == "dataset" and not self.arg and (self.path / "dataset_dict.json").is_file()

    def splits(self) -> list[str]:
        """``split_pairs``: the splits it holds (folders with ``damaged/``)."""
        if self.path is None or not self.path.is_dir():
            return []
        return sorted(p.name for p in self.path.iterdir() if (p / "damaged").is_dir())


def _has_split_folders(path: Path) -> bool:
    try:
        return any((p / "damaged").is_dir() for p in path.iterdir())
    except OSError:  # unreadable: whoever opens it reports why
        return False


def _folder(text: str, path: Path) -> DataSpec:
    path = path.resolve()
    if is_saved_dataset(path):
        return DataSpec("dataset", text, path=path, ref=text)
    if (path / "damaged").is_dir():
        return DataSpec("pairs", text, path=path)
    if _has_split_folders(path):
        return DataSpec("split_pairs", text, path=path)
    return DataSpec("folder", text, path=path)


def parse_data_spec(spec) -> DataSpec:
    """A data string or path -> :class:`DataSpec` (a DataSpec passes through). The reserved names are
    read first (``./builtin`` names a folder called builtin), then ``stream:SOURCES`` (whose sources
    may be joined), then ``+`` joins (unless a path of that name exists), then the other prefixes,
    then paths."""
    if isinstance(spec, DataSpec):
        return spec
    if not isinstance(spec, (str, os.PathLike)):
        raise DustbenchError(f"expected a data name or a path, got a {type(spec).__name__}")
    text = os.fspath(spec)
    if text in NAMES:
        return DataSpec(text, text)
    if text == "stream" or text.startswith("stream:"):  # its argument is a whole clean-source spec, joins too
        return DataSpec("stream", text, arg=text.partition(":")[2])
    if "+" in text and not Path(text).expanduser().exists():
        return DataSpec("joined", text, parts=tuple(parse_data_spec(p) if p else DataSpec("missing", p)
                                                    for p in text.split("+")))
    name, colon, arg = text.partition(":")
    if name in PREFIXED:
        return DataSpec(name, text, arg=arg)
    if name == "hf" and colon:  # datasets loads the hub name with its split: ref is the whole text
        ref, _, split = arg.partition(":")
        return DataSpec("hub", text, arg=split, ref=text) if ref else DataSpec("missing", text)
    path = Path(text).expanduser()
    if path.is_dir():
        return _folder(text, path)
    if path.exists():
        return DataSpec("file", text, path=path.resolve())
    base, colon, split = text.rpartition(":")
    if colon and is_saved_dataset(Path(base).expanduser()):
        return DataSpec("dataset", text, arg=split, path=Path(base).expanduser().resolve(), ref=base)
    return DataSpec("missing", text, path=path)
