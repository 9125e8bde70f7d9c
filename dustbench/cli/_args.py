"""Argument helpers shared by the sub-commands (not a sub-command: the name starts with ``_``)."""
from __future__ import annotations

import argparse
import json
import re
import shutil

from ..errors import DustbenchError, did_you_mean
from ..hub import push, stage, staged_files

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


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Defaults shown only where there is one (no "(default: None)"); example lines kept as written."""

    def _get_help_string(self, action):
        if action.default in (None, False, argparse.SUPPRESS) or action.default == []:
            return action.help
        return super()._get_help_string(action)

    def _fill_text(self, text, width, indent):
        # Paragraphs are re-wrapped; lines that start with spaces (commands in "examples:") are kept.
        out = []
        for para in text.split("\n\n"):
            if any(line.startswith(" ") for line in para.splitlines()):
                out.append("\n".join(indent + line for line in para.splitlines()))
            else:
                out.append(super()._fill_text(para, width, indent))
        return "\n\n".join(out)


def add_command(subparsers, name: str, summary: str, description: str, examples: list[str]):
    """A sub-command's parser: one-line ``summary`` for the command list, ``description`` and examples
    for its ``--help``."""
    epilog = "examples:\n" + "\n".join(f"  {e}" for e in examples)
    return subparsers.add_parser(name, help=summary, description=description, epilog=epilog,
                                 formatter_class=HelpFormatter)


def suggest_command(message: str) -> str:
    """argparse's "invalid choice" message with the closest choices suggested (``synt`` -> ``synth``)."""
    found = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
    if not found:
        return message
    choices = re.findall(r"'([^']*)'", found.group(2))
    return message + did_you_mean(found.group(1), choices, n=2, cutoff=0.5, joiner=" or ")


def add_hub_arguments(parser, what: str) -> None:
    """``--push-to-hub REPO``, ``--private``, ``--dry-run``: publishing ``what`` ("dataset"/"model")."""
    group = parser.add_argument_group("Hugging Face Hub")
    group.add_argument("--push-to-hub", metavar="REPO",
                       help=f"upload the {what} (with its card as README.md) to the Hub {what} repository REPO "
                            "(user/name; created if needed; log in with `hf auth login` or set $HF_TOKEN)")
    group.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    group.add_argument("--dry-run", action="store_true",
                       help="with --push-to-hub: stage the exact folder that would be uploaded, print it, push nothing")


def check_hub_arguments(args) -> None:
    """Before any work: the Hub flags go together, and the repository id is one the Hub accepts
    (``name`` or ``namespace/name``), so a bad id fails now, not after the data is built."""
    if (args.private or args.dry_run) and not args.push_to_hub:
        raise DustbenchError("--private and --dry-run apply to --push-to-hub REPO only")
    if args.push_to_hub:
        from huggingface_hub.utils import HFValidationError, validate_repo_id  # deferred: only for --push-to-hub

        try:
            validate_repo_id(args.push_to_hub)
        except HFValidationError as exc:
            raise DustbenchError(f"--push-to-hub {args.push_to_hub[:100]!r}: not a Hub repository id "
                                 f"({' '.join(str(exc).split())[:200]})") from None


def publish(args, files: dict, repo_type: str) -> None:
    """Stage ``files`` and push them to ``args.push_to_hub`` (or, with ``--dry-run``, only show them)."""
    folder = stage(files)
    if args.dry_run:
        print(f"dry run: would push {len(files)} file(s) to {repo_type} {args.push_to_hub}:")
        for name in staged_files(folder):
            print(f"  {name}")
        shutil.rmtree(folder, ignore_errors=True)  # a dry run leaves nothing behind in the temp folder
        return
    try:
        url = push(folder, args.push_to_hub, repo_type, private=args.private or None)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"pushed to {url}")
