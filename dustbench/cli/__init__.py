"""The `dustbench` command line: a thin layer over library functions.

Each sub-command lives in its own module in this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed arguments. Modules are
found automatically, so adding a command never means editing this file.
"""
from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from ..errors import DustbenchError
from ..io import ImageFormatError, ImageReadError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="dustbench",
        description="Synthetic dust & scratch damage for film scans, and a benchmark for restoration models.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except (DustbenchError, ImageReadError, ImageFormatError, FileNotFoundError) as exc:
        print(f"dustbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dustbench {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
