"""`dustbench fit-preset`: fit presets (and real stamps) to the damage in a user's own scans."""
from __future__ import annotations


from ..errors import ON_ERROR, DustbenchError, UnknownNameError
from ..fit.settings import THRESHOLD_FLOOR, DetectionSettings
from ._args import add_command, parse_key_values


def register(subparsers) -> None:
    d = DetectionSettings()
    p = add_command(subparsers, "fit-preset", "fit presets to the damage in your own damaged/clean pairs or blank-film scans",
                    "Detect the damage in your scans (against their retouched partners, or against a smooth "
                    "background for scans of blank film), measure every artifact, name its family by the rules "
                    "in docs/fitting.md, and write a preset file that `dustbench synth --presets FILE.toml` uses. "
                    "Prints the fitted families and a closure check (damage synthesized with the fitted preset, "
                    "measured again).",
                    ["dustbench fit-preset --pairs lab_pairs/ --name lab --out lab.toml --report lab_report/",
                     "dustbench fit-preset --blank blank1.tif blank2.tif --name scanner --out scanner.toml --stamps stamps/",
                     "dustbench synth --clean scans/ --out synth/ --presets lab.toml:lab   # use the fit"])
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--pairs", metavar="DIR", help="folder with damaged/ and clean/ (matching file names), e.g. "
                                                    "the output of `dustbench synth`")
    src.add_argument("--blank", nargs="+", metavar="SCAN", help="scans of clear film (files or folders)")
    p.add_argument("--name", required=True, help="preset name; family presets are NAME_dust, NAME_hair_long, ...")
    p.add_argument("--out", required=True, metavar="FILE.toml", help="preset file to write (statistics go "
                                                                     "beside it as FILE.json)")
    p.add_argument("--report", metavar="DIR", help="write outlines per scan, size histograms and components.csv")
    p.add_argument("--stamps", metavar="DIR", help="also cut every artifact into an RGBA stamp in DIR, and add "
                                                   "stamp presets (NAME_stamps) that draw them")
    p.add_argument("--k-low", type=float, default=d.k_low, help="damaged pixels depart by more than this many "
                                                                "noise sigmas")
    p.add_argument("--k-high", type=float, default=d.k_high, help="... and each component by more than this "
                                                                  "somewhere")
    p.add_argument("--noise-sigma", type=float, default=None, metavar="S",
                   help="noise sigma in 1/255 units (default: estimated per 32-px block from the scan, robust MAD)")
    p.add_argument("--floor", type=float, default=THRESHOLD_FLOOR * 255, help="smallest departure counted, "
                                                                              "in 1/255 units")
    p.add_argument("--background-size", type=float, default=d.background_size,
                   help="blank scans: background median window, fraction of the short side")
    p.add_argument("--max-damage-fraction", type=float, default=d.max_damage_fraction,
                   help="blank scans: refuse a scan with more of its pixels flagged than this")
    p.add_argument("--rule", action="append", default=[], metavar="NAME=VALUE",
                   help="override a family rule threshold, e.g. dirt_min_diameter=0.003 (see docs/fitting.md)")
    p.add_argument("--on-error", choices=ON_ERROR, default="stop",
                   help="a scan that cannot be read, has no partner or the wrong size: stop, or report and skip it")
    p.add_argument("--no-check", action="store_true", help="skip the closure check")
    p.add_argument("--seed", type=int, default=0, help="seed of the closure check's synthesis")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_rules(items: list[str]) -> dict[str, float]:
    """``--rule dirt_min_diameter=0.003`` ... -> {name: value}; unknown names get a did-you-mean."""
    from ..fit.classify import THRESHOLDS  # deferred: imports pandas

    out = {}
    for key, value in parse_key_values(items, "--rule", "dirt_min_diameter=0.003"):
        if key not in THRESHOLDS:
            raise UnknownNameError("rule", key, THRESHOLDS)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise DustbenchError(f"--rule {key}={value}: {value!r} is not a number")
        out[key] = float(value)
    return out


def run(args) -> int:
    from ..fit.job import FitPresetConfig, fit_preset  # deferred: imports pandas, scipy.spatial

    settings = DetectionSettings(
        k_low=args.k_low, k_high=args.k_high, floor=args.floor / 255,
        sigma=None if args.noise_sigma is None else args.noise_sigma / 255,
        background_size=args.background_size, max_damage_fraction=args.max_damage_fraction)
    cfg = FitPresetConfig(name=args.name, out=args.out, pairs=args.pairs, blank=args.blank or [],
                          report=args.report, stamps=args.stamps, settings=settings,
                          thresholds=parse_rules(args.rule), on_error=args.on_error, check=not args.no_check,
                          seed=args.seed)
    result = fit_preset(cfg, progress=not args.quiet)
    fit = result.fit
    if fit.empty:
        return 1
    print(f"fitted {len(fit.stats)} families on {len(fit.images)} scan(s):")
    print(f"  {'family':<11}{'count':>7}{'per ref MP':>12}  {'median size (short side)':<26}{'closure':>9}")
    closure = {} if result.closure is None else {r["family"]: r for r in result.closure.to_dict(orient="records")}
    for fam, st in fit.stats.items():
        med = st[st["size"]].get("median", float("nan"))
        c = closure.get(fam)
        check = "-" if c is None else f"{c['count_ratio']:.2f}×{'' if c['within'] else ' !'}"
        print(f"  {fam:<11}{st['count']:>7}{st['density']:>12.3g}  {st['size'] + ' ' + format(med, '.4g'):<26}"
              f"{check:>9}")
    print(f"  preset: {cfg.out} (use: dustbench synth --presets {cfg.out}:{cfg.name} ...)")
    print(f"  statistics: {cfg.out[:-5]}.json" + (f"; report: {cfg.report}" if cfg.report else ""))
    if result.closure is not None and not result.closure["within"].all():
        bad = ", ".join(result.closure.loc[~result.closure["within"], "family"])
        print(f"  note: closure outside 1.5× for {bad} (often: too few components to fit; see the JSON)")
    return 0
