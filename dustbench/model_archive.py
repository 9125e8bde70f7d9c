"""One reader of a model file's zip archive, for the checks and for torch alike.

A model file is read once (:func:`read_model_file`) and both :mod:`dustbench.safe_torch`'s checks
and torch read those bytes; :func:`open_archive` refuses any archive that two zip readers could read
differently (duplicate or case-folded names, dotted or absolute names, data around the archive), and
:func:`read_member` any member too large for code or a graph (a zip bomb).
"""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

from .errors import DustbenchError


class UnsafeModelError(DustbenchError):
    """A model file was refused because loading it could run code it carries."""


def unsafe(path, why: str) -> UnsafeModelError:
    return UnsafeModelError(f"{path}: refusing to load it, refused as unsafe: {why}; nothing in it was "
                            "run (see README, Safety)")


# -- zip archives -----------------------------------------------------------------------------------
_EOCD_SIZE = 22  # end-of-central-directory record without a comment


def read_model_file(path) -> bytes:
    """A model file's bytes, read once: the checks and torch then read these very bytes, so the file
    cannot be swapped between the check and the load."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise DustbenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None


def open_archive(path, data: bytes | None = None) -> zipfile.ZipFile:
    """``path`` as a :class:`zipfile.ZipFile` whose every member torch's zip reader (miniz) finds
    under the same name with the same bytes; anything that could be read two ways is refused.

    miniz looks names up case-insensitively and reads the central directory where the end record
    says it is, while :mod:`zipfile` keeps the last of duplicate names, cuts names at a NUL and
    allows data before the archive: each is a way for a check to read one copy and torch another.
    """
    path = Path(path)
    try:
        archive = zipfile.ZipFile(path if data is None else io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, ValueError) as exc:
        raise DustbenchError(f"{path}: not a readable zip archive ({exc})") from None
    try:
        _check_layout(archive, path)
        _check_names(archive.infolist(), path)
    except BaseException:
        archive.close()
        raise
    return archive


def _check_layout(archive: zipfile.ZipFile, path) -> None:
    """The central directory starts where the end record says and the end record ends the file."""
    fp = archive.fp
    end = zipfile._EndRecData(fp)  # what zipfile itself read; None cannot happen after it opened
    size = fp.seek(0, io.SEEK_END)
    if end is None or end[zipfile._ECD_COMMENT_SIZE] or end[zipfile._ECD_LOCATION] + _EOCD_SIZE != size:
        raise unsafe(path, "its zip end record is not at the end of the file (a comment or trailing data)")
    if archive.start_dir != end[zipfile._ECD_OFFSET]:
        raise unsafe(path, "data precedes its zip archive, so zip readers disagree on where members are")
    if end[zipfile._ECD_ENTRIES_TOTAL] != len(archive.infolist()):
        raise unsafe(path, "its zip directory holds another number of members than its end record says")


def _check_names(infos, path) -> None:
    """Every name plain, relative and unique, also after case folding (miniz compares that way)."""
    seen: set = set()
    for info in infos:
        name = info.orig_filename  # before zipfile cut it at a NUL
        raw = name.encode("utf-8" if info.flag_bits & 0x800 else "cp437")
        parts = name.rstrip("/").split("/")
        if name != info.filename or "\\" in name or name.startswith("/") or \
                any(p in ("", ".", "..") for p in parts) or any(ord(c) < 32 for c in name):
            raise unsafe(path, f"zip member {name!r} is not a plain relative name")
        if info.flag_bits & 0x1:
            raise unsafe(path, f"zip member {name!r} is encrypted")
        keys = {("text", name.casefold()), ("bytes", raw.lower())}
        if keys & seen:
            raise unsafe(path, f"zip member {name!r} appears twice (zip readers may pick different copies)")
        seen |= keys


_MEMBER_LIMIT = 256 * 2**20  # code, graphs and configs are small: a larger member is a zip bomb, not a model


def read_member(archive: zipfile.ZipFile, name: str, path) -> bytes:
    """A member's bytes, refusing one that claims more than :data:`_MEMBER_LIMIT` uncompressed."""
    if archive.getinfo(name).file_size > _MEMBER_LIMIT:
        raise unsafe(path, f"zip member {name!r} claims {archive.getinfo(name).file_size:,} bytes, more than a "
                            "model's code or graph needs")
    return archive.read(name)
