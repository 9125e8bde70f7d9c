"""Errors that the CLI reports as one clear line instead of a traceback."""
from __future__ import annotations

import difflib


class DustbenchError(Exception):
    """Base class of user-facing errors (bad input, unknown names, bad files)."""


class UnknownNameError(DustbenchError, KeyError):
    """A registry lookup (preset, method, model) for a name that does not exist."""

    def __init__(self, kind: str, name: str, known):
        self.kind, self.name = kind, name
        close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}{hint} (see `dustbench list {kind}s`)")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


class ImageReadError(DustbenchError, ValueError):
    """An image file (or encoded cell) could not be read; the message names it and the problem."""


class ImageFormatError(DustbenchError, ValueError):
    """An array cannot be used as an image (wrong dtype, shape or values)."""
