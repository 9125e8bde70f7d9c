"""`dustbench list presets|methods|models [PATTERN]`: what can be named on the command line."""
from __future__ import annotations

import fnmatch
import sys

from ..synth.presets import FAMILIES, library
from ._args import add_command


def _presets(args) -> list[str]:
    presets = library()
    rows = [p for p in presets.values() if args.family in (None, p.family)
            and (args.pattern is None or fnmatch.fnmatchcase(p.name, args.pattern))]
    width = max(len(p.name) for p in rows) if rows else 0
    return [f"{p.name:<{width}}  {p.family:<7}  {p.description}" for p in sorted(rows, key=lambda p: p.name)]


def _methods(args) -> list[str]:
    from ..methods import list_methods, method_info  # deferred: imports scipy.ndimage

    infos = [method_info(name) for name in list_methods(args.pattern)]
    width = max((len(i["name"]) for i in infos), default=0)
    return [f"{i['name']:<{width}}  {'oracle ' if i['is_oracle'] else ''}{i['summary']}" for i in infos]


def _models(args) -> list[str]:
    from ..models.pretrained import list_models, pretrained_names  # deferred: imports torch

    published = set(pretrained_names())
    names = list_models(args.pattern, pretrained=args.pretrained)
    width = max((len(n) for n in names), default=0)
    return [f"{n:<{width}}  {'pretrained weights' if n in published else ''}".rstrip() for n in names]


WHAT = {"presets": _presets, "methods": _methods, "models": _models}


def run(args) -> int:
    if args.pretrained and args.what != "models":
        print("--pretrained applies to `list models` only", file=sys.stderr)
        return 2
    lines = WHAT[args.what](args)
    for line in lines:
        print(line)
    if not lines and args.pattern is not None:
        print(f"no {args.what} match {args.pattern!r} (`dustbench list {args.what}` lists them all)", file=sys.stderr)
        return 1
    return 0


def register(subparsers) -> None:
    p = add_command(subparsers, "list", "list presets, methods or models",
                    "List what can be named: artifact presets (name, family, description), restoration "
                    "methods, or trainable models (those with published weights marked). PATTERN keeps the "
                    "names matching a shell glob; quote it so the shell leaves it alone.",
                    ["dustbench list presets",
                     "dustbench list presets 'rain_*'",
                     "dustbench list presets --family scratch",
                     "dustbench list methods 'median*'",
                     "dustbench list models 'dust*'",
                     "dustbench list models --pretrained"])
    p.add_argument("what", choices=sorted(WHAT))
    p.add_argument("pattern", nargs="?", metavar="PATTERN", help="only names matching this glob ('rain_*')")
    p.add_argument("--family", choices=(*FAMILIES, "mix"), help="presets: only this family")
    p.add_argument("--pretrained", action="store_true", help="models: only those with published weights")
    p.set_defaults(func=run)
