"""`dustbench train-verifier --out FILE.json`: learn the speck verifier of ``verified_specks`` /
``verified_detect`` on CPU (see :mod:`dustbench.train.verifier`)."""
from __future__ import annotations

from pathlib import Path

from ..data.eval_data import open_data
from ..errors import DustbenchError
from ..io import to_float
from ._args import add_command


def register(subparsers) -> None:
    p = add_command(subparsers, "train-verifier", "learn the speck verifier of verified_specks/verified_detect",
                    "Draw damage on the built-in training photographs and procedural hard negatives, find the "
                    "speck candidates of each pair, label each a positive when it lies on the damage and "
                    "Telea-filling the candidates at least halves its pixels' squared error, fit small "
                    "perceptrons to the candidates' features and choose their thresholds by mean PSNR on the "
                    "validation split of --validation (never its test split). Writes a JSON file (numbers and "
                    "words: nothing in it runs) that `-o weights=FILE` gives the methods. The published "
                    "verifier took 11 minutes on 2 CPU cores (--workers 2).",
                    ["dustbench train-verifier --out runs/verifier.json",
                     "dustbench evaluate verified_detect -o weights=runs/verifier.json --data builtin-v2 --split validation",
                     "dustbench train-verifier --samples 200 --out /tmp/quick.json    # a quick try"])
    p.add_argument("--out", "--output", dest="out", required=True, metavar="FILE.json",
                   help="verifier file to write")
    p.add_argument("--samples", type=int, default=None, metavar="N",
                   help="training pairs to draw (default: the published recipe's, 2000)")
    p.add_argument("--seed", type=int, default=None, help="seed of the training pairs and the fit (default 7)")
    p.add_argument("--validation", default="builtin-v2", metavar="DATA",
                   help="pairs whose validation split chooses the thresholds (default builtin-v2)")
    p.add_argument("--workers", type=int, default=1,
                   help="processes drawing the training pairs (the same examples with any number)")
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads of the fit (default 1: the same weights and thresholds on every run)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.verifier import RECIPE, train_verifier  # deferred: imports torch

    out = Path(args.out)
    for name in ("samples", "workers", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise DustbenchError(f"--{name} must be at least 1, got {value}")
    if out.suffix.lower() != ".json":
        raise DustbenchError(f"--out {out}: a verifier is a .json file")
    if not out.parent.is_dir():
        raise DustbenchError(f"--out {out}: the folder {out.parent} does not exist")
    try:
        data = open_data(args.validation, "validation")
    except DustbenchError as exc:  # it names the option --data; here the pairs come from --validation
        raise DustbenchError(str(exc).replace("--data ", "--validation ", 1)) from None
    pairs = [(to_float(s.damaged), to_float(s.clean)) for s in data]
    verifier = train_verifier(RECIPE["samples"] if args.samples is None else args.samples,
                              RECIPE["seed"] if args.seed is None else args.seed,
                              pairs, f"{args.validation}:validation", args.workers, args.threads,
                              not args.no_progress)
    verifier.save(out)
    info = verifier.info
    print(f"wrote {out}: {verifier.param_count:,} parameters from {info['examples']:,} candidates "
          f"({info['positives']:,} worth filling); thresholds {verifier.thresholds} chosen on "
          f"{args.validation}:validation; {info['wall_time_s']:.0f} s")
    return 0
