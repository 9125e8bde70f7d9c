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
        hint = did_you_mean(name, known, n=3, cutoff=0.5, globs=True)
        super().__init__(f"unknown {kind} {name!r}{hint} (see `dustbench list {kind}s`)")

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.args[0]


def did_you_mean(name: str, choices, n: int = 1, cutoff: float = 0.6, joiner: str = ", ",
                 globs: bool = False) -> str:
    """The hint every "unknown name" error ends with: ``"; did you mean 'x'?"`` naming the up to ``n``
    ``choices`` nearest ``name`` (difflib ratio >= ``cutoff``) joined by ``joiner``, or ``""`` when none
    is near. ``globs``: a glob ``name`` gets the globs near it that match a choice (:func:`close_globs`).

        >>> did_you_mean("radus", ["radius", "threshold"])
        "; did you mean 'radius'?"
    """
    close = close_globs(name, choices) if globs and any(c in name for c in "*?[") else \
        difflib.get_close_matches(name, list(choices), n=n, cutoff=cutoff)
    return f"; did you mean {joiner.join(repr(c) for c in close)}?" if close else ""


def close_globs(pattern: str, known) -> list[str]:
    """Patterns near a glob that matches nothing: its literal start corrected (``rian_*`` -> ``rain_*``),
    kept only when they match something."""
    cut = min((pattern.index(c) for c in "*?[" if c in pattern), default=len(pattern))
    literal, rest = pattern[:cut], pattern[cut:]
    starts = sorted({n[:len(literal)] for n in known})
    out = [s + rest for s in difflib.get_close_matches(literal, starts, n=3, cutoff=0.6)]
    return [p for p in out if any(fnmatch.fnmatchcase(n, p) for n in known)]


ON_ERROR = ("stop", "skip")  # what --on-error takes: stop at a bad input, or report it and go on without it


def check_on_error(on_error, name: str = "on_error") -> str:
    """``on_error`` when it is one of :data:`ON_ERROR`, else a DustbenchError naming it as ``name``."""
    if on_error not in ON_ERROR:
        raise DustbenchError(f"{name} must be 'stop' or 'skip', got {on_error!r}")
    return on_error


def stop_on_error(on_error: str, message, goes_on: str, error: type[Exception] = DustbenchError) -> None:
    """A bad input under ``on_error``: "stop" raises ``error`` with ``message`` and how to go on
    instead ("(use --on-error skip to ``goes_on``)"); "skip" returns, for the caller to report it."""
    if on_error == "stop":
        raise error(f"{message} (use --on-error skip to {goes_on})") from None


class ImageReadError(DustbenchError, ValueError):
    """An image file (or encoded cell) could not be read; the message names it and the problem."""


class ImageFormatError(DustbenchError, ValueError):
    """An array cannot be used as an image (wrong dtype, shape or values)."""
