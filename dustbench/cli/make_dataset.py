"""`dustbench make-dataset`: a Hugging Face DatasetDict of train patches and full-size test images."""
from __future__ import annotations

import shlex
import sys

from ..data.hub import dataset_files
from ..data.make_dataset import DatasetConfig, make_dataset
from ..synth import DEFAULT_PRESETS, parse_scan_scale
from ..synth.grain import parse_grain, stock_names
from ..synth.infrared import FILMS as INFRARED_FILMS
from ..synth.job import parse_shard
from ..errors import ON_ERROR
from ._args import add_command, add_hub_arguments, check_hub_arguments, publish


def register(subparsers) -> None:
    p = add_command(subparsers, "make-dataset", "make a train/validation/test dataset (Hugging Face datasets format)",
                    "Split clean images by source into train, validation and test; cut random --patch "
                    "patches from the train images and keep validation/test images full size; damage every "
                    "row with one preset drawn from --presets (as on the full frame); save a "
                    "datasets.DatasetDict (load it with datasets.load_from_disk(OUT) or "
                    "dustbench.data.iter_split) with a dataset card (README.md) and preview.png. Same "
                    "--seed, same bytes, for any --num-proc or --shard. Re-running resumes.",
                    ['dustbench make-dataset --clean builtin --out ds --seed 0',
                     'dustbench make-dataset --clean scans/ --out ds --train-patches 20000 --num-proc 8',
                     'dustbench make-dataset --clean hf:user/film-scans:train --out ds',
                     'dustbench make-dataset --clean grey_scans/ --out ds --channels 1',
                     'dustbench make-dataset --clean scans/ --out ds --infrared colour_negative',
                     'dustbench make-dataset --clean scans/ --out ds --push-to-hub me/film-dust --dry-run'])
    p.add_argument("--clean", required=True,
                   help="'builtin', a folder of PNG/JPEG/TIFF scans, a datasets save_to_disk folder "
                        "(DIR or DIR:split), or hf:NAME[:split] (hub; local cache when offline)")
    p.add_argument("--out", required=True, help="output folder (new or empty; or an unfinished run to resume)")
    p.add_argument("--seed", type=int, default=0, help="master seed: same seed, same dataset")
    p.add_argument("--train-patches", type=int, default=1000, help="number of training patches")
    p.add_argument("--patch", type=int, default=128, help="training patch size in px")
    p.add_argument("--val-images", type=int, default=1, help="source images in the validation split")
    p.add_argument("--test-images", type=int, default=1, help="source images in the test split")
    p.add_argument("--presets", default=DEFAULT_PRESETS,
                   help="comma-separated preset names, globs or .toml files; see `dustbench list presets`")
    p.add_argument("--num-proc", type=int, default=1, help="worker processes")
    p.add_argument("--shard", default="0/1", help="i/n: make every n-th chunk only; the last shard to "
                                                   "finish (or a re-run without --shard) assembles the dataset")
    p.add_argument("--on-error", choices=ON_ERROR, default="stop",
                   help="unreadable source images: stop before any work, or leave them out")
    p.add_argument("--channels", choices=("3", "1", "keep"), default="3",
                   help="channels of every stored image: 3 = grey sources repeated to RGB, 1 = RGB sources to "
                        "grey (BT.601 luma), keep = as each source is (a mix of grey and RGB cannot be batched)")
    p.add_argument("--clean-column", help="image column of a Hugging Face --clean dataset (default: the first Image column)")
    p.add_argument("--scan-scale", metavar="PX|FILM@DPI[..]",
                   help="draw each source as a crop of a film frame of this short side (3400, 35mm@4000dpi; "
                        "LO..HI draws one per row) instead of as the whole frame; see docs/presets.md")
    p.add_argument("--grain", metavar="STOCK[@DPI]",
                   help="add film grain of this stock to every clean image before its damage (the clean column keeps "
                        "it): " + ", ".join(stock_names()) + "; default none; see docs/presets.md")
    p.add_argument("--infrared", metavar="FILM",  # checked by DatasetConfig: an unknown film is a one-line error
                   help="also store the infrared plane a film scanner would see (column `infrared`, 16-bit grey) "
                        "for this film type: " + ", ".join(INFRARED_FILMS) + "; see docs/infrared.md")
    p.add_argument("--keep-work", action="store_true", help="keep the chunk files in OUT/.work after assembling")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    add_hub_arguments(p, "dataset")
    p.set_defaults(func=run)


def run(args) -> int:
    cfg = DatasetConfig(clean=args.clean, out=args.out, seed=args.seed, train_patches=args.train_patches,
                        patch=args.patch, val_images=args.val_images, test_images=args.test_images,
                        presets=args.presets, num_proc=args.num_proc, shard=parse_shard(args.shard),
                        on_error=args.on_error, clean_column=args.clean_column, channels=args.channels,
                        keep_work=args.keep_work, scan_scale=parse_scan_scale(args.scan_scale),
                        grain=parse_grain(args.grain), infrared=args.infrared,
                        command=" ".join(shlex.quote(a) for a in ["dustbench", *sys.argv[1:]])
                        if sys.argv and sys.argv[0].endswith("dustbench") else None)
    check_hub_arguments(args)
    report = make_dataset(cfg, progress=not args.quiet)
    if not report.complete:
        print(f"made {report.made} chunk(s) in {report.out} ({report.resumed} already there); "
              f"{report.pending} chunk(s) left to the other shards: run them (same --out), or re-run "
              "without --shard to finish and assemble")
        return 0
    rows = ", ".join(f"{k} {v}" for k, v in report.rows.items())
    print(f"dataset in {report.out}: {rows} rows ({report.made} chunks made, {report.resumed} resumed, "
          f"{len(report.skipped)} rows skipped)")
    print(f"  load: datasets.load_from_disk({str(report.out)!r}); card: {report.out / 'README.md'}")
    if args.push_to_hub:
        publish(args, dataset_files(report.out), "dataset")
    return 0
