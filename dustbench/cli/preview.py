"""`dustbench preview`: a contact sheet of presets, the quickest way to choose one."""
from __future__ import annotations

from ._args import add_command

from pathlib import Path

from ..errors import DustbenchError
from ..io import output_file, read_image, write_image
from ..synth.preview import preview_sheet
from ..sources import builtin_sources
from ..synth.presets import library, resolve_presets


def register(subparsers) -> None:
    p = add_command(subparsers, "preview", "draw presets on grey and on a photo (contact sheet PNG)",
                    "Draw each selected preset on a neutral grey frame and on a "
                                          "photograph at the 6 MP reference scale: whole frame and 1:1 crops.",
                    ["dustbench preview --presets 'dust_*' --out dust.png",
                     'dustbench preview --presets lab.toml:lab --photo scan.tif --out lab.png'])
    p.add_argument("--presets", default="*", help="names, globs or .toml files, comma-separated (default: all)")
    p.add_argument("--out", default="preview.png", help="PNG to write")
    p.add_argument("--photo", default="builtin:coffee", help="a built-in id (builtin:NAME) or an image path")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--crop", type=int, default=320, help="size of the 1:1 crops in pixels")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=run)


def _photo(spec: str):
    for src in builtin_sources():
        if src.id == spec:
            return src.load()
    if spec.startswith("builtin:"):
        raise DustbenchError(f"--photo {spec}: not a built-in image; have {', '.join(s.id for s in builtin_sources())}")
    return read_image(spec)


def run(args) -> int:
    presets = resolve_presets(args.presets, library())
    output_file(args.out, "--out")
    sheet = preview_sheet(presets, _photo(args.photo), seed=args.seed, crop=args.crop, progress=not args.quiet)
    write_image(Path(args.out), sheet)
    print(f"wrote {args.out}: {len(presets)} presets")
    return 0
