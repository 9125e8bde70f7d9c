"""`dustbench restore MODEL INPUT... --out DIR`: apply a method to real scans (no reference needed)."""
from __future__ import annotations


from ..allocator import keep_freed_memory
from ._args import add_command
from .evaluate import add_method_arguments, run_settings


def register(subparsers) -> None:
    p = add_command(subparsers, "restore", "apply a method or model file to scans",
                    "Restore scans with MODEL, tile by tile (bounded memory). Outputs keep name, format and "
                    "bit depth (16-bit TIFF in, 16-bit TIFF out; JPEG is written as PNG); inputs are never "
                    "overwritten and existing outputs are kept unless --overwrite.",
                    ['dustbench restore median scans/ --out restored/ -o radius=2 -o threshold=16',
                     'dustbench restore leaderboard/models/dust_gan.pt scan.tif --out restored/ --compare',
                     'dustbench restore median_tuned scans/ --out restored/ --tune-on builtin'])
    p.add_argument("model", metavar="MODEL", help="a registered method or a model file (as for `evaluate`)")
    p.add_argument("inputs", metavar="INPUT", nargs="+", help="image files or folders (searched recursively)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--compare", action="store_true",
                   help="also write OUT/compare/<name>.png: before/after, whole frame and a 1:1 crop")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    p.add_argument("--infrared", choices=("auto", "yes", "no"), default="auto",
                   help="a 4-channel TIFF's fourth channel is the scanner's infrared plane (RGBI) and is written "
                        "back unchanged: auto (when the file marks it as not alpha, as VueScan, SilverFast and "
                        "Nikon Scan do), yes, no (alpha: dropped); see docs/infrared.md")
    add_method_arguments(p)
    p.set_defaults(func=run)


def run(args) -> int:
    from ..methods.restore import restore  # deferred: imports scipy.ndimage

    keep_freed_memory()  # a process-wide allocator setting: the command owns the process

    records = restore(args.model, args.inputs, args.out, compare=args.compare, overwrite=args.overwrite,
                      infrared=args.infrared, **run_settings(args))
    written = [r for r in records if r.status == "written"]
    for r in records:
        if r.issues:
            print(f"{r.input}: repaired output: {r.issues.describe()}")
        if r.status == "skipped":
            print(f"skipped {r.error}")
    mp = sum(r.megapixels for r in written)
    secs = sum(r.seconds for r in written)
    rate = f", {1000 * secs / mp:.0f} ms/MP" if mp else ""
    print(f"restored {len(written)} image(s) into {args.out}{rate}; "
          f"{sum(r.status == 'exists' for r in records)} already there (use --overwrite to redo)"
          + (f"; {sum(r.status == 'skipped' for r in records)} skipped" if any(r.status == "skipped" for r in records)
             else ""))
    return 0
