"""Errors that the CLI reports as one clear line instead of a traceback."""
from __future__ import annotations

import difflib
import fnmatch


class DustbenchError(Exception):
    """Base class of user-facing errors (bad input, unknown names, bad files)."""


class UnknownNameError(DustbenchError, KeyError):
    """A registry lookup (preset, method, model) for a name that does not exist."""

    def __init__(self, kind: str, name: str, known):
        self.kind, self.name = kind, name
        close = close_globs(name, known) if any(c in name for c in "*?[") else \
            difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (see `dustbench list {kind}s`)")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


def close_globs(pattern: str, known) -> list[str]:
    """Patterns near a glob that matches nothing: its literal start corrected (``rian_*`` -> ``rain_*``),
    kept only when they match something."""
    cut = min((pattern.index(c) for c in "*?[" if c in pattern), default=len(pattern))
    literal, rest = pattern[:cut], pattern[cut:]
    starts = sorted({n[:len(literal)] for n in known})
    out = [s + rest for s in difflib.get_close_matches(literal, starts, n=3, cutoff=0.6)]
    return [p for p in out if any(fnmatch.fnmatchcase(n, p) for n in known)]


class ImageReadError(DustbenchError, ValueError):
    """An image file (or encoded cell) could not be read; the message names it and the problem."""


class ImageFormatError(DustbenchError, ValueError):
    """An array cannot be used as an image (wrong dtype, shape or values)."""
