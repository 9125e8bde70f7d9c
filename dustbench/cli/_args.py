"""Argument helpers shared by the sub-commands (not a sub-command: the name starts with ``_``)."""
from __future__ import annotations

import argparse
import json
import re

from ..errors import DustbenchError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_value(text: str):
    """A command-line value: JSON when it parses (3, 1.5, true, null, [1, 2]), else the text itself."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_key_values(items: list[str] | None, flag: str, example: str) -> list[tuple[str, object]]:
    """``["radius=3", "precision=fast"]`` -> ``[("radius", 3), ("precision", "fast")]`` (values via :func:`parse_value`).

    A malformed item is a DustbenchError naming ``flag`` and showing ``example``.
    """
    out = []
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise DustbenchError(f"{flag} {item!r}: expected KEY=VALUE, e.g. {example}")
        out.append((key.strip(), parse_value(value)))
    return out


def parse_options(items: list[str] | None) -> dict:
    """``-o KEY=VALUE`` method options as a dict."""
    return dict(parse_key_values(items, "option", "radius=3"))


def parse_duration(text: str) -> float:
    """``45m``, ``1h30m``, ``90s``, ``2.5h`` or plain seconds -> seconds."""
    t = str(text).strip().lower()
    try:
        return float(t)
    except ValueError:
        pass
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([smhd])", t)
    if not parts or re.sub(r"(\d+(?:\.\d+)?)\s*([smhd])", "", t).strip():
        raise argparse.ArgumentTypeError(f"{text!r}: expected a duration like 45m, 1h30m, 90s or 2.5h")
    return sum(float(n) * _UNITS[u] for n, u in parts)
