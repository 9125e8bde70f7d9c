"""The lock file (``requirements.lock``): the exact versions ``make demo``, ``make test`` and CI
install, and how the installed ones differ from it.

``pyproject.toml`` keeps compatible ranges for people who install dustbench into their own
environment; the lock is what every published figure and golden test was made with. Results
record the lock's SHA-256 and any drift (:func:`lock_record`), and the golden tests name the
drifted packages when bytes change, so a new release shows up as a finding, not a mystery.

``make test-latest`` prints :func:`drift_note` for the newest allowed versions.
"""
from __future__ import annotations

import re
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from packaging.version import InvalidVersion, Version

from .hashing import file_sha256

LOCK_NAME = "requirements.lock"
_PIN = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+)")


def lock_path() -> Path | None:
    """The lock beside the checkout dustbench is imported from (``None`` in a wheel install)."""
    path = Path(__file__).resolve().parent.parent / LOCK_NAME
    return path if path.is_file() else None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def parse_lock(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` line (comments and options skipped)."""
    return {_canonical(m.group(1)): m.group(2) for m in map(_PIN.match, text.splitlines()) if m}


def _installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _release(version: str):
    """A comparable version without its local label (torch's ``+cpu``): 2.13 == 2.13.0."""
    try:
        return Version(version.split("+")[0])
    except InvalidVersion:
        return version.split("+")[0]


@lru_cache(maxsize=1)
def drift() -> tuple[tuple[str, str, str | None], ...]:
    """``(package, locked, installed)`` for every locked package whose installed version differs
    (a local label such as torch's ``+cpu`` is not a difference)."""
    path = lock_path()
    if path is None:
        return ()
    out = []
    for name, locked in sorted(parse_lock(path.read_text(encoding="utf-8")).items()):
        have = _installed(name)
        if have is None or _release(have) != _release(locked):
            out.append((name, locked, have))
    return tuple(out)


def drift_note() -> str:
    """One line for an assertion or error message: which installed versions differ from the lock."""
    if lock_path() is None:
        return "no requirements.lock beside this install, so versions cannot be compared with it"
    found = drift()
    if not found:
        return f"installed versions match {LOCK_NAME}"
    return "installed versions differ from " + LOCK_NAME + ": " + ", ".join(
        f"{name} {have or 'missing'} (lock {locked})" for name, locked, have in found)


def lock_record() -> dict:
    """For provenance: the lock's SHA-256 and the drift from it (``None``s without a lock)."""
    path = lock_path()
    try:
        digest = file_sha256(path) if path else None
    except OSError:  # provenance never raises
        path, digest = None, None
    if path is None:
        return {"file": None, "sha256": None, "drift": None}
    return {"file": LOCK_NAME, "sha256": digest,
            "drift": {name: {"lock": locked, "installed": have} for name, locked, have in drift()}}
