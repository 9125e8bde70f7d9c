"""`dustbench leaderboard build RESULTS... --out DIR`: tables and plots from evaluate results."""
from __future__ import annotations

import argparse


def register(subparsers) -> None:
    p = subparsers.add_parser("leaderboard", help="build leaderboard tables and plots from evaluate results",
                              description="Combine `dustbench evaluate` results into a leaderboard.")
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = sub.add_parser(
        "build", help="write leaderboard.csv, leaderboard.md and plots",
        description="Read the summary.json and per_image.csv of each result folder (or of every result found "
                    "below a folder) and write leaderboard.csv (one row per method x config x test set), "
                    "leaderboard.md and per test set: PSNR vs runtime, per-family PSNR bars and a qualitative "
                    "grid of crops (needs `evaluate --save-images`). See docs/evaluation.md.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    b.add_argument("results", metavar="RESULTS", nargs="+", help="evaluate output folders, or folders holding them")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    b.add_argument("--grid-images", type=int, default=2, help="images (rows) in the qualitative grid")
    b.add_argument("--crop", type=int, default=96, help="crop size in px for the qualitative grid")
    b.add_argument("--no-plots", action="store_true", help="tables only")
    b.set_defaults(func=run)


def run(args) -> int:
    from ..report import build_leaderboard

    report = build_leaderboard(args.results, args.out, seed=args.seed, plots=not args.no_plots,
                               grid_images=args.grid_images, crop=args.crop)
    df = report["table"]
    print(f"{len(df)} row(s), {df['test_set'].nunique()} test set(s):")
    for _, r in df.iterrows():
        print(f"  {r['test_set']:<20} {r['method']:<16} PSNR {r['psnr']:6.2f} dB  SSIM {r['ssim']:.4f}  {r['config']}")
    for sec in report["sections"].values():
        for key, note in sec.items():
            if key.endswith("_note") and note:
                print(f"  note: {key[:-5]}: {note}")
    print("wrote " + ", ".join(str(p) for p in report["files"]))
    return 0
