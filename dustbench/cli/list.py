"""`dustbench list presets|methods|models`: what can be named on the command line."""
from __future__ import annotations

import importlib

from ..synth.presets import FAMILIES, library


def _presets(args) -> None:
    presets = library()
    rows = [p for p in presets.values() if args.family in (None, p.family)]
    width = max(len(p.name) for p in rows) if rows else 0
    for p in sorted(rows, key=lambda p: p.name):
        print(f"{p.name:<{width}}  {p.family:<7}  {p.description}")


def _registry(module: str, func: str):
    def show(args) -> None:
        try:
            names = getattr(importlib.import_module(module), func)()
        except ImportError as exc:  # pragma: no cover - only when the module is missing
            print(f"(not available: {exc})")
            return
        for name in names:
            print(name)
    return show


WHAT = {"presets": _presets, "methods": _registry("dustbench.methods", "list_methods"),
        "models": _registry("dustbench.models", "list_models")}


def register(subparsers) -> None:
    p = subparsers.add_parser("list", help="list presets, methods or models",
                              description="List what can be named: artifact presets (name, family, "
                                          "description), restoration methods, or trainable models.")
    p.add_argument("what", choices=sorted(WHAT))
    p.add_argument("--family", choices=(*FAMILIES, "mix"), help="presets: only this family")
    p.set_defaults(func=lambda args: WHAT[args.what](args))
