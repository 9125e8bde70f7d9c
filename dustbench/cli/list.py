"""`dustbench list presets|methods|models`: what can be named on the command line."""
from __future__ import annotations

from ._args import add_command

from ..synth.presets import FAMILIES, library


def _presets(args) -> None:
    presets = library()
    rows = [p for p in presets.values() if args.family in (None, p.family)]
    width = max(len(p.name) for p in rows) if rows else 0
    for p in sorted(rows, key=lambda p: p.name):
        print(f"{p.name:<{width}}  {p.family:<7}  {p.description}")


def _methods(args) -> None:
    from ..methods import list_methods, method_info  # deferred: keeps `dustbench --help` light

    infos = [method_info(name) for name in list_methods()]
    width = max((len(i["name"]) for i in infos), default=0)
    for i in infos:
        print(f"{i['name']:<{width}}  {'oracle ' if i['is_oracle'] else ''}{i['summary']}")


def _models(args) -> None:
    from ..models import list_models  # deferred: imports torch

    for name in list_models():
        print(name)


WHAT = {"presets": _presets, "methods": _methods, "models": _models}


def register(subparsers) -> None:
    p = add_command(subparsers, "list", "list presets, methods or models",
                    "List what can be named: artifact presets (name, family, "
                                          "description), restoration methods, or trainable models.",
                    ['dustbench list presets',
                     'dustbench list presets --family scratch',
                     'dustbench list methods'])
    p.add_argument("what", choices=sorted(WHAT))
    p.add_argument("--family", choices=(*FAMILIES, "mix"), help="presets: only this family")
    p.set_defaults(func=lambda args: WHAT[args.what](args))
