"""`dustbench leaderboard build RESULTS... --out DIR`: tables and plots from evaluate results;
`dustbench leaderboard compare A_RESULTS B_RESULTS`: do two test sets rank the methods alike;
`dustbench leaderboard reproduce --out DIR --budget 15m`: train, export, evaluate and build it all;
`dustbench leaderboard extend --out DIR --methods M --checkpoint ROW=RUN:f1`: add rows to a published board."""
from __future__ import annotations

import shlex

from ..allocator import keep_freed_memory
from ..errors import DustbenchError
from ..io import output_file, write_json_atomic
from ..report.recipe import CLASSICAL, LEARNED
from ._args import add_command, parse_duration, parse_key_values


def register(subparsers) -> None:
    p = add_command(subparsers, "leaderboard", "build leaderboard tables and plots from evaluate results",
                    "Combine `dustbench evaluate` results into a leaderboard (build), or make the published "
                    "one from scratch (reproduce).",
                    ["dustbench leaderboard build results/ --out board/",
                     "dustbench leaderboard reproduce --out leaderboard --budget 45m --resume"])
    sub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    b = add_command(sub, "build", "write leaderboard.csv, leaderboard.md and plots",
                    "Read the summary.json and per_image.csv of each result folder (or of every result found "
                    "below a folder) and write leaderboard.csv (one row per method x config x test set), "
                    "leaderboard.md and per test set: PSNR vs runtime, per-family PSNR bars and a qualitative "
                    "grid of crops (needs `evaluate --save-images`). See docs/evaluation.md.",
                    ["dustbench leaderboard build results/median results/model --out board/",
                     "dustbench leaderboard build results/ --out board/ --no-plots"])
    b.add_argument("results", metavar="RESULTS", nargs="+", help="evaluate output folders, or folders holding them")
    b.add_argument("--out", required=True, help="output folder")
    b.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    b.add_argument("--grid-images", type=int, default=2, help="images (rows) in the qualitative grid")
    b.add_argument("--crop", type=int, default=96, help="crop size in px for the qualitative grid")
    b.add_argument("--no-plots", action="store_true", help="tables only")
    b.set_defaults(func=run)
    _register_compare(sub)
    _register_reproduce(sub)
    _register_extend(sub)
    _register_verify(sub)


def _register_compare(sub) -> None:
    c = add_command(sub, "compare", "do two test sets rank the methods alike? (Kendall tau, swapped pairs)",
                    "Match the methods (name and config) evaluated on two test sets, rank them by a metric on "
                    "each, and print Kendall's tau-b and every pair whose order differs: check that a synthetic "
                    "suite ranks methods the way your real pairs do. Oracles are left out unless --oracles.",
                    ["dustbench leaderboard compare results/synthetic results/real_pairs",
                     "dustbench leaderboard compare results/a results/b --metric masked_psnr_in --json agree.json"])
    c.add_argument("a", metavar="A_RESULTS", help="evaluate output folder(s) on one test set (a folder holding them)")
    c.add_argument("b", metavar="B_RESULTS", help="the same methods evaluated on another test set")
    c.add_argument("--metric", default="psnr", help="psnr, ssim, masked_psnr_in, masked_psnr_out, touch_f1, "
                                                    "touch_precision or touch_recall (higher is better)")
    c.add_argument("--a-set", help="test set to use from A_RESULTS when it holds several (a published board: "
                                   "its own, the first of its leaderboard.csv, unless named)")
    c.add_argument("--b-set", help="test set to use from B_RESULTS when it holds several")
    c.add_argument("--oracles", action="store_true", help="rank oracles too")
    c.add_argument("--json", metavar="FILE", help="also write the comparison as JSON")
    c.set_defaults(func=run_compare)


def run_compare(args) -> int:
    from ..report.compare import compare_rankings, format_comparison  # deferred: imports pandas, scipy.stats

    if args.json:
        output_file(args.json, "--json")  # before the work, not after it
    result = compare_rankings(args.a, args.b, args.metric, a_set=args.a_set, b_set=args.b_set,
                              include_oracles=args.oracles)
    print(format_comparison(result))
    if args.json:
        write_json_atomic(args.json, result)
        print(f"wrote {args.json}")
    return 0


def _register_reproduce(sub) -> None:
    r = add_command(sub, "reproduce", "train every learned model, evaluate every method, write the published leaderboard",
                    "One command for the published leaderboard: train each learned model with the shared trainer "
                    "on builtin-train for the same wall-clock --budget (into WORK/runs/MODEL; --resume continues "
                    "unfinished runs and keeps finished ones), export it to OUT/models/MODEL.pt with a model card, "
                    "evaluate every method on the builtin test split (WORK/results/METHOD, images saved), and "
                    "write OUT/leaderboard.csv, leaderboard.md (with the comparison to Mironică 2020, Table 1 "
                    "and how it was made), plots and reproduce.json. See dustbench/report/reproduce.py.",
                    ["dustbench leaderboard reproduce --out leaderboard --budget 45m --resume",
                     "dustbench leaderboard reproduce --out /tmp/lb --work /tmp/lbw --budget 1m --max-steps 2 --limit 2"])
    r.add_argument("--out", default="leaderboard", help="leaderboard folder (committed)")
    r.add_argument("--work", default="runs/leaderboard", help="runs and evaluation results (not committed)")
    r.add_argument("--budget", type=parse_duration, default=900.0, metavar="DURATION",
                   help="wall-clock training time per learned model, e.g. 15m, 1h")
    r.add_argument("--models", default=",".join(LEARNED), help="learned models to train, comma-separated ('' for none)")
    r.add_argument("--methods", default=",".join(CLASSICAL), help="registered methods to evaluate as they are")
    r.add_argument("--resume", action="store_true", help="continue the runs in --work (finished ones are kept)")
    r.add_argument("--device", default="auto", help="training device (auto: a GPU when there is one)")
    r.add_argument("--eval-device", default="cpu", help="evaluation device (cpu keeps runtimes comparable)")
    r.add_argument("--batch-size", type=int, help="override the shared batch size")
    r.add_argument("--patch", type=int, help="override the shared training patch size")
    r.add_argument("--max-steps", type=int, help="also stop each training after N steps (smoke tests)")
    r.add_argument("--threads", type=int, help="torch threads for training")
    r.add_argument("--set", action="append", default=[], metavar="MODEL:SECTION.KEY=VALUE",
                   help="recipe override, repeatable; MODEL may be '*': pix2pix:model.ngf=16, "
                        "*:train.val_limit=2, segnet:task.threshold=0.4")
    r.add_argument("--limit", type=int, help="evaluate only the first N test images, and choose detector thresholds on the "
                        "first N validation pairs (smoke tests)")
    r.add_argument("--publish-weights", metavar="DIR",
                   help="also write the learned weights and their manifest to DIR (the repository's pretrained/ "
                        "is what create_model(name, pretrained=True) loads)")
    r.add_argument("--no-plots", action="store_true", help="tables only")
    r.add_argument("--quiet", action="store_true", help="no progress bars")
    r.set_defaults(func=run_reproduce)


def _register_extend(sub) -> None:
    e = add_command(sub, "extend", "add rows to a published leaderboard without retraining its other rows",
                    "Re-evaluate every row of the board in --out (each image must score as published: exactly, or within "
                    "float rounding where another CPU class's kernels round a network differently), "
                    "then evaluate the new registered --methods and the new --checkpoint rows (a training run "
                    "exported to OUT/models/ROW.pt at the operating point chosen on validation: f1, psnr, or - for "
                    "the file's own threshold), and rebuild the tables, plots and reproduce.json. See "
                    "dustbench/report/extend.py.",
                    ["dustbench leaderboard extend --out leaderboard --methods morph_detect",
                     "dustbench leaderboard extend --out leaderboard --checkpoint fastdet=runs/fastdet:f1",
                     "dustbench leaderboard extend --out leaderboard --methods infrared_clean --data builtin-v2-ir"])
    e.add_argument("--out", default="leaderboard", help="the published leaderboard folder")
    e.add_argument("--work", default="runs/leaderboard-extend", help="evaluation results (not committed)")
    e.add_argument("--methods", default="", help="registered methods to add, comma-separated")
    e.add_argument("--checkpoint", action="append", default=[], metavar="ROW=CHECKPOINT[:f1|psnr|-]",
                   help="a model row to add from a training checkpoint (or run folder), repeatable")
    e.add_argument("--data", metavar="SUITE",
                   help="score the new --methods on this suite's test split instead of the board's: the board's "
                        "images with more to them (builtin-v2-ir: infrared planes). Rows are named METHOD@SUITE, in a "
                        "section of their own; identity@SUITE comes with them and must score as the board's identity")
    e.add_argument("--no-plots", action="store_true", help="tables only")
    e.add_argument("--quiet", action="store_true", help="no progress bars")
    e.set_defaults(func=run_extend)


def _register_verify(sub) -> None:
    v = add_command(sub, "verify", "check that every published row still scores as published",
                    "Re-evaluate every row of the board in --out from its committed model file or registered "
                    "name, and fail unless each image's PSNR and SSIM come back as published: exactly, or within "
                    "float rounding (1e-4 dB, 1e-6 SSIM: a level in a pixel or two, where another CPU class's "
                    "kernels round a network differently; such rows are named). The board is left untouched "
                    "(unless --publish); results go to --work.",
                    ["dustbench leaderboard verify --out leaderboard"])
    v.add_argument("--out", default="leaderboard", help="the published leaderboard folder")
    v.add_argument("--work", default="runs/leaderboard-verify", help="evaluation results (not committed)")
    v.add_argument("--publish", action="store_true",
                   help="then re-publish the board at this commit: the fresh per-image results, tables and plots, "
                        "recorded in reproduce.json (after a change that moved scores within float rounding only)")
    v.add_argument("--no-plots", action="store_true", help="with --publish: tables only")
    v.add_argument("--quiet", action="store_true", help="no progress bars")
    v.set_defaults(func=run_verify)


def run_verify(args) -> int:
    from ..report.extend import extend, verify  # deferred: imports torch

    keep_freed_memory()
    if args.publish:
        command = " ".join(shlex.quote(p) for p in ["dustbench", "leaderboard", "verify", "--out", args.out, "--work",
                                                    args.work, "--publish"])
        record = extend(args.out, args.work, plots=not args.no_plots, progress=not args.quiet, command=command)
        rows, notes = record["methods"], record["extended"][-1]["reproduced_within_rounding"]
    else:
        rows, notes = verify(args.out, args.work, progress=not args.quiet)
    print(f"{len(rows)} published row(s) of {args.out} reproduce image by image: {', '.join(rows)}")
    for note in notes:
        print(f"  {note}")
    if args.publish:
        plots = "" if args.no_plots else ", plots"
        print(f"re-published {args.out}: per-image results, leaderboard.md, leaderboard.csv{plots}, reproduce.json")
    return 0


def run_extend(args) -> int:
    from ..report.extend import extend, parse_checkpoint_row  # deferred: imports torch

    keep_freed_memory()
    methods = tuple(m for m in args.methods.split(",") if m)
    checkpoints = tuple(parse_checkpoint_row(c) for c in args.checkpoint)
    if not methods and not checkpoints:
        raise DustbenchError("leaderboard extend: nothing to add: give --methods and/or --checkpoint")
    command = " ".join(shlex.quote(p) for p in ["dustbench", "leaderboard", "extend", "--out", args.out, "--work",
                                                args.work, *(["--methods", args.methods] if methods else []),
                                                *[x for c in args.checkpoint for x in ("--checkpoint", c)],
                                                *(["--data", args.data] if args.data else [])])
    record = extend(args.out, args.work, methods, checkpoints, plots=not args.no_plots, progress=not args.quiet,
                    command=command, data=args.data)
    for name in record["extended"][-1]["rows"]:
        rec = record["methods"][name]
        print(f"  added {name:<24} PSNR {rec['psnr']:6.2f} dB  SSIM {rec['ssim']:.4f}")
    for note in record["extended"][-1]["reproduced_within_rounding"]:
        print(f"  {note}")
    print(f"wrote {args.out}/leaderboard.md, leaderboard.csv, plots and reproduce.json")
    return 0


def parse_sets(items: list[str]) -> dict:
    """``["pix2pix:model.ngf=16", "*:train.val_limit=2"]`` -> ``{"pix2pix": {"model": {"ngf": 16}}, ...}``."""
    out: dict = {}
    for key, value in parse_key_values(items, "--set", "pix2pix:model.ngf=16"):
        target, colon, rest = key.partition(":")
        section, dot, name = rest.partition(".")
        if not (colon and dot and section in ("model", "task", "train") and target and name):
            raise DustbenchError(f"--set {key!r}: expected MODEL:SECTION.KEY=VALUE with SECTION model, task or train")
        out.setdefault(target, {}).setdefault(section, {})[name] = value
    return out


def command_of(args) -> str:
    """The reproduce command as parsed (not sys.argv: main() may be called with other arguments)."""
    from ..evaluation.model_card import fmt_duration  # deferred: imports scipy.ndimage (evaluation's methods)

    parts = ["dustbench", "leaderboard", "reproduce", "--out", args.out, "--work", args.work,
             "--budget", fmt_duration(args.budget), "--models", args.models, "--methods", args.methods]
    for flag in ("device", "eval_device", "batch_size", "patch", "max_steps", "threads", "limit", "publish_weights"):
        value = getattr(args, flag)
        if value is not None and not (flag == "device" and value == "auto") and not (
                flag == "eval_device" and value == "cpu"):
            parts += ["--" + flag.replace("_", "-"), str(value)]
    for item in args.set:
        parts += ["--set", item]
    parts += [f for f, on in (("--resume", args.resume), ("--no-plots", args.no_plots), ("--quiet", args.quiet)) if on]
    return " ".join(shlex.quote(p) for p in parts)


def run_reproduce(args) -> int:
    from ..report.reproduce import ReproduceConfig, reproduce  # deferred: imports torch

    keep_freed_memory()  # a process-wide allocator setting: the command owns the process

    train = {k: v for k, v in (("batch_size", args.batch_size), ("patch", args.patch), ("max_steps", args.max_steps),
                               ("threads", args.threads)) if v is not None}
    cfg = ReproduceConfig(out=args.out, work=args.work, budget=args.budget,
                          models=tuple(m for m in args.models.split(",") if m),
                          methods=tuple(m for m in args.methods.split(",") if m), resume=args.resume,
                          device=args.device, eval_device=args.eval_device, train=train,
                          overrides=parse_sets(args.set), limit=args.limit, plots=not args.no_plots,
                          progress=not args.quiet, command=command_of(args), publish_weights=args.publish_weights)
    record = reproduce(cfg)
    for name, rec in record["methods"].items():
        print(f"  {name:<16} PSNR {rec['psnr']:6.2f} dB  SSIM {rec['ssim']:.4f}")
    print(f"wrote {cfg.out}/leaderboard.md, leaderboard.csv, plots, models/ and reproduce.json "
          f"in {record['wall_time_s']:.0f} s")
    return 0


def run(args) -> int:
    from ..report.leaderboard import build_leaderboard  # deferred: imports pandas and the harness

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
