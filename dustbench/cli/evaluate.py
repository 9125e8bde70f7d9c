"""`dustbench evaluate MODEL --data DIR|builtin-v2|builtin --out DIR`: the shared PSNR/SSIM harness."""
from __future__ import annotations


from ..allocator import keep_freed_memory
from ..errors import ON_ERROR
from ._args import add_command, parse_options


def add_method_arguments(p) -> None:
    """Arguments shared by `evaluate` and `restore`: method options, device, tiling, bad outputs."""
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                   help="method option, repeatable (e.g. -o radius=3 -o threshold=8); values are JSON or text")
    p.add_argument("--device", default="auto", help="torch device for model files (auto: a GPU when there is "
                                                    "one; cpu, cuda, cuda:1)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="OpenCV and torch threads while the method runs (timings depend on it; always recorded)")
    p.add_argument("--tune-on", metavar="DIR", help="median_tuned: validation pairs to tune on ('builtin' or a "
                                                    "folder of pairs; for evaluate, when --data has no validation "
                                                    "split)")
    p.add_argument("--tile", type=int, help="tile size in px (0 = whole image at once; default: a model file's "
                                            "-o tile, else 512)")
    p.add_argument("--overlap", type=int, help="tile overlap in px, smoothly blended (default: a model file's "
                                               "-o overlap, else 32)")
    p.add_argument("--on-bad-output", choices=("error", "clip"), default="error",
                   help="NaN/Inf or out-of-range output: stop with an error naming the image, or repair "
                        "(NaN -> input pixel, clip to [0, 1]), report and count it")
    p.add_argument("--on-error", choices=ON_ERROR, default="stop",
                   help="a bad image or pair (unreadable, mismatched, too small): stop with an error naming it, "
                        "or report it and go on without it")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def run_settings(args) -> dict:
    """The arguments of :func:`add_method_arguments` as :class:`~dustbench.methods.run_config.RunConfig`
    settings; ``--tile``/``--overlap`` only when given (else the method's own, else 512/32)."""
    settings = {"options": parse_options(args.option), "device": args.device, "threads": args.threads,
                "tune_on": args.tune_on, "on_bad_output": args.on_bad_output, "on_error": args.on_error,
                "progress": not args.quiet}
    if args.tile is not None:
        settings["tile"] = args.tile or None
    return settings if args.overlap is None else {**settings, "overlap": args.overlap}


def register(subparsers) -> None:
    p = add_command(subparsers, "evaluate", "score a method or model file on damaged/clean pairs (PSNR, SSIM, masked metrics)",
                    "Restore every damaged image of a test set with MODEL and score it against the clean "
                    "reference: PSNR, SSIM, masked PSNR inside/outside the artifacts, runtime. Writes "
                    "per_image.csv and summary.json to --out; re-running the same command resumes. "
                    "See docs/evaluation.md.",
                    ['dustbench evaluate median --data builtin --out results/median',
                     'dustbench evaluate model.pt --data ds/ --out results/model --save-images --threads 1',
                     'dustbench evaluate median_tuned --data pairs/ --tune-on val_pairs/ --out results/mt'])
    p.add_argument("model", metavar="MODEL",
                   help="a registered method (see `dustbench list methods`), a TorchScript file, a torch.export "
                        ".pt2 program or a dustbench checkpoint; method:NAME or file:PATH when a name is also a file")
    p.add_argument("--data", required=True,
                   help="'builtin-v2' (the standard suite: the built-in photos at the pixel scale of 35 mm scans), "
                        "'builtin' (v1: 192-px thumbnails), a folder with damaged/ and clean/ "
                        "(+ optional mask/), the output of `dustbench synth`, or of `dustbench make-dataset`")
    p.add_argument("--split", default="test", help="which split to evaluate")
    p.add_argument("--out", required=True, help="output folder for per_image.csv and summary.json")
    p.add_argument("--save-images", action="store_true", help="also write the restored images to OUT/images/ "
                                                              "(needed for the leaderboard's qualitative grid)")
    p.add_argument("--train-data", help="what the model was trained on, recorded for the leaderboard")
    p.add_argument("--seed", type=int, default=0, help="seed of the bootstrap confidence intervals")
    p.add_argument("--limit", type=int, help="evaluate only the first N images")
    p.add_argument("--overwrite", action="store_true", help="replace results of a different run in --out")
    p.add_argument("--allow-suite-drift", action="store_true",
                   help="evaluate on builtin-v2/builtin even when it renders otherwise than the published suite "
                        "(other library versions than requirements.lock); recorded in summary.json")
    add_method_arguments(p)
    p.set_defaults(func=run)


def _fmt(stat: dict, digits: int) -> str:
    if stat["mean"] is None:
        return "n/a"
    return f"{stat['mean']:.{digits}f} [{stat['ci_low']:.{digits}f}, {stat['ci_high']:.{digits}f}]"


def run(args) -> int:
    from ..evaluation import evaluate  # deferred: imports scipy.ndimage (the methods)

    keep_freed_memory()  # a process-wide allocator setting: the command owns the process

    result = evaluate(args.model, args.data, args.out, split=args.split, save_images=args.save_images,
                      seed=args.seed, train_data=args.train_data, limit=args.limit, overwrite=args.overwrite,
                      allow_suite_drift=args.allow_suite_drift, **run_settings(args))
    s, m = result.summary, result.summary["metrics"]
    print(f"{s['method']} ({s['config'] or 'defaults'}) on {s['test_set']}, {s['data']['n_images']} images"
          f" ({s['resumed_images']} resumed)")
    print(f"  PSNR {_fmt(m['psnr'], 2)} dB (input {m['psnr_input']['mean']:.2f} dB), SSIM {_fmt(m['ssim'], 4)}")
    if m["n_masked"]:
        num = lambda v, scale=1.0: "n/a" if v is None else f"{scale * v:.2f}"  # noqa: E731
        print(f"  artifact region: PSNR in {num(m['psnr_in'])} dB, out {num(m['psnr_out'])} dB, "
              f"clean pixels changed {num(m['clean_change_rate'], 100)} %")
    else:
        print("  no masks: masked metrics left empty")
    suite = s["data"].get("published_suite")
    if suite and not suite["matches"]:
        print(f"  warning: this suite renders otherwise than the published one ({suite['note']})")
    ms = s["runtime"]["ms_per_megapixel"]
    print(f"  {ms:.1f} ms/MP, peak RSS {s['peak_memory']['rss_mib']:.0f} MiB")
    if s["bad_outputs"]["images"]:
        print(f"  repaired outputs of {s['bad_outputs']['images']} images "
              f"({s['bad_outputs']['values_repaired']} values)")
    for item in s["skipped"]:
        print(f"  skipped {item['image_id']}: {item['error']}")
    print(f"  wrote {result.out / 'per_image.csv'} and {result.out / 'summary.json'}")
    return 0
