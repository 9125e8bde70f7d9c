"""`dustbench synth`: write synthetic damaged/clean/mask triplets and a manifest."""
from __future__ import annotations


from ..errors import ON_ERROR
from ._args import add_command

from ..synth import DEFAULT_PRESETS, parse_scan_scale
from ..synth.grain import parse_grain, stock_names
from ..synth.infrared import FILMS as INFRARED_FILMS
from ..synth.job import SynthConfig, parse_shard, run_synth


def register(subparsers) -> None:
    p = add_command(subparsers, "synth", "synthesize damaged/clean/mask triplets",
                    "Damage clean images with procedural dust and scratches. Each sample picks a source "
                    "image and one preset from --presets at random (from --seed and its index), and is "
                    "written as damaged/, clean/, mask/ (opacity, rounded up), labels/ (family ids) and "
                    "one line of manifest.jsonl with every sampled parameter. Re-running resumes.",
                    ['dustbench synth --clean builtin --out demo_out --n 8 --seed 0',
                        "dustbench synth --clean scans/ --out synth/ --n 1000 --presets 'dust_*,rain_*' --workers 4",
                     'dustbench synth --clean scans/ --out synth/ --n 1000 --shard 0/4   # one of four machines'])
    p.add_argument("--clean", required=True, help="'builtin' or a folder of PNG/JPEG/TIFF scans (recursive)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--n", type=int, required=True, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="master seed: same seed, same bytes")
    p.add_argument("--presets", default=DEFAULT_PRESETS,
                   help="comma-separated preset names, globs (dust_*) or .toml files; see `dustbench list presets`")
    p.add_argument("--workers", type=int, default=1, help="worker processes")
    p.add_argument("--shard", default="0/1", help="i/n: make only samples with index %% n == i")
    p.add_argument("--on-error", choices=ON_ERROR, default="stop",
                   help="what to do when a clean image cannot be read")
    p.add_argument("--format16", choices=("png", "tif"), default="png", help="file format for 16-bit images")
    p.add_argument("--overwrite", action="store_true",
                   help="replace the samples of another run (other seed, presets, sources or format) in --out")
    p.add_argument("--scan-scale", metavar="PX|FILM@DPI[..]",
                   help="draw each clean image as a crop of a film frame of this short side (3400, 35mm@4000dpi; "
                        "LO..HI draws one per sample) instead of as the whole frame; see docs/presets.md")
    p.add_argument("--grain", metavar="STOCK[@DPI]",
                   help="add film grain of this stock to each clean image before the damage (the clean target keeps "
                        "it): " + ", ".join(stock_names()) + "; default none; see docs/presets.md")
    p.add_argument("--infrared", metavar="FILM", choices=sorted(INFRARED_FILMS),
                   help="also write the infrared plane a film scanner would see (infrared/, 16-bit) for this film "
                        "type: " + ", ".join(INFRARED_FILMS) + "; see docs/infrared.md")
    p.add_argument("--no-contact-sheet", action="store_true", help="do not write contact_sheet.png")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = SynthConfig(clean=args.clean, out=args.out, n=args.n, seed=args.seed, presets=args.presets,
                      workers=args.workers, shard=parse_shard(args.shard), on_error=args.on_error,
                      format16=args.format16, contact_sheet=not args.no_contact_sheet, overwrite=args.overwrite,
                      scan_scale=parse_scan_scale(args.scan_scale), grain=parse_grain(args.grain),
                      infrared=args.infrared)
    report = run_synth(cfg, progress=not args.quiet)
    print(f"wrote {len(report.written)} samples to {report.out} "
          f"({len(report.resumed)} already there, {len(report.skipped)} skipped)")
    print(f"  manifest: {report.out / 'manifest.jsonl'}")
    if cfg.contact_sheet and (report.out / "contact_sheet.png").exists():
        print(f"  contact sheet: {report.out / 'contact_sheet.png'}")
    return 1 if report.skipped and not report.written and not report.resumed else 0
