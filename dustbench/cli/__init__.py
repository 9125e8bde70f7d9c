"""The `dustbench` command line: a thin layer over library functions.

Each sub-command lives in its own module in this package and exposes ``register(subparsers)``,
which adds its parser and sets ``func`` to a function taking the parsed arguments. Modules are
found automatically, so adding a command never means editing this file.
"""
from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys

from ..errors import DustbenchError
from ..headers import MAX_PIXELS_ENV, pixel_limit
from ..version import __version__
from ._args import suggest_command


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        super().error(suggest_command(message))


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="dustbench",
        description="Synthetic dust & scratch damage for film scans, and a benchmark for restoration models.",
        epilog="`dustbench COMMAND --help` shows each command's options and examples.",
    )
    parser.add_argument("--version", action="version", version=f"dustbench {__version__}")
    parser.add_argument("--max-pixels", metavar="N",
                        help="refuse images whose header claims more than N pixels, before decoding "
                             f"(default 300e6, or ${MAX_PIXELS_ENV}; 0 = no limit)")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(subparsers)
    return parser


def _os_error(exc: OSError) -> str:
    """An OS error as one line naming the path (permission denied, not a folder, disk full, ...)."""
    where = exc.filename if exc.filename is not None else ""
    other = f" -> {exc.filename2}" if getattr(exc, "filename2", None) else ""
    return f"{where}{other}: {exc.strerror or exc}" if where else str(exc)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    before = os.environ.get(MAX_PIXELS_ENV)
    try:
        if args.max_pixels is not None:  # through the environment, so worker processes see it too
            os.environ[MAX_PIXELS_ENV] = str(pixel_limit(args.max_pixels, "--max-pixels"))
        result = args.func(args)
        sys.stdout.flush()  # a closed pipe shows here, inside the handler, not at interpreter exit
    except DustbenchError as exc:
        print(f"dustbench {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `dustbench list presets | head`: the reader left; so do we, quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    except OSError as exc:  # e.g. an output folder that cannot be written, a full disk
        print(f"dustbench {args.command}: error: {_os_error(exc)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"dustbench {args.command}: interrupted; re-run the same command to resume", file=sys.stderr)
        return 130
    finally:
        if before is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = before
    return int(result or 0)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
