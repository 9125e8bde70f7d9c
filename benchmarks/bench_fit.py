"""Round trip of `dustbench.fit`: synthesize a library preset, fit it back, compare with the truth.

    .venv/bin/python benchmarks/bench_fit.py [--side 1000] [--images 4] [--seed 0] [--quick]

For each case (preset × dtype × channels) the preset is drawn on the built-in photos of
scikit-image (astronaut, chelsea, coffee, rocket; resized with INTER_CUBIC so that the short side
is --side), then `fit_scans` measures the damaged/clean pairs. Two markdown tables:

1. Round trip: the truth (what synthesis drew: group "n", and per-artifact "size"/"length") next to
   what was fitted for the preset's family; a case passes when both ratios are within ±20 %.
   Scratches of this preset run past the frame edges, so their truth size is the *visible* length
   (the part of the stroke path inside the frame); the sampled length is printed beside it.
2. Closure + timing: the `closure` row of the case's family (the fitted preset drawn again and
   measured again: count, median size and the family's proportion — its count ratio over the
   typical family's, see dustbench/fit/check.py), the fitting time per megapixel, and, as the
   reference timed in the same run,
   plain component labelling — `cv2.connectedComponentsWithStats` of a thresholded |damaged − clean|
   of the same images — so the fit time reads as a multiple of it; plus the time of `closure`.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import cv2
import numpy as np
from skimage import data

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from dustbench.fit.run import Scan, closure, fit_scans  # noqa: E402
from dustbench.synth import synthesize  # noqa: E402

from _common import best_time  # noqa: E402
from dustbench.fit.truth import fitted_family, truth_sizes  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "coffee", "rocket")
CASES = (  # (preset, fitted family, dtype, channels)
    ("dust_negative_heavy_sharp", "dust", np.uint8, 3),
    ("dust_negative_heavy_sharp", "dust", np.uint16, 1),
    ("dirt_negative_heavy", "dirt", np.uint16, 3),
    ("hair_short_negative_heavy", "hair_short", np.uint8, 1),
    ("hair_long_negative_light", "hair_long", np.uint8, 3),
    ("scratch_emulsion_heavy", "scratch", np.uint8, 3),
    # Film-transport rain: full-height vertical scratches, two thirds of them intermittent, which
    # detection sees as strings of pieces; merge.py joins them (truth n = scratches drawn).
    ("vertical_rain_scratches", "scratch", np.uint8, 3),
)
TOLERANCE = 0.2  # |ratio − 1| for a round-trip pass


def photo(name: str, side: int, dtype, channels: int) -> np.ndarray:
    img = getattr(data, name)()
    h, w = img.shape[:2]
    f = side / min(h, w)
    img = cv2.resize(img, (round(w * f), round(h * f)), interpolation=cv2.INTER_CUBIC)
    if channels == 1:
        img = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)
    return img.astype(np.uint16) * 257 if dtype == np.uint16 else img


def label_reference(pairs, dtype) -> None:
    """Plain component labelling of |damaged − clean| > 3/255, the timing reference."""
    thr = 3 * (257 if dtype == np.uint16 else 1)
    for damaged, clean in pairs:
        diff = cv2.absdiff(damaged, clean)
        if diff.ndim == 3:
            b, g, r = cv2.split(diff)
            diff = cv2.max(cv2.max(b, g), r)
        _, mask = cv2.threshold(diff, thr, 1, cv2.THRESH_BINARY)
        cv2.connectedComponentsWithStats(mask.astype(np.uint8, copy=False), connectivity=8)


def run_case(preset, fam, dtype, channels, args) -> dict:
    pairs, truth_n, sampled, visible = [], 0, [], []
    for i, name in enumerate(PHOTOS[:args.images]):
        clean = photo(name, args.side, dtype, channels)
        syn = synthesize(clean, preset, np.random.default_rng(np.random.SeedSequence([args.seed, i])))
        pairs.append((syn.damaged, clean))
        for g in syn.params["groups"]:
            if fitted_family(g) != fam:
                continue
            truth_n += g["n"]
            sampled += list(g["size"] if "size" in g else g["length"])
            visible += truth_sizes(g, clean.shape)
    scans = [Scan(f"{name}", (Path(f"{name}.png"), Path(f"{name}_clean.png")), lambda p=p: p)
             for name, p in zip(PHOTOS, pairs)]
    mp = sum(d.shape[0] * d.shape[1] for d, _ in pairs) / 1e6

    out = {}
    t_fit = best_time(lambda: out.update(run=fit_scans(scans, "bench", progress=False, warn=lambda m: None)),
                      args.repeat)
    run = out["run"]
    t_ref = best_time(lambda: label_reference(pairs, dtype), 10 * args.repeat)  # cheap: more tries
    t_closure = best_time(lambda: out.update(clo=closure(run, scans, progress=False)), args.repeat)
    clo = out["clo"]

    st = run.fit.stats.get(fam)
    fit_n = st["count"] if st else 0
    fit_med = st[st["size"]].get("median", math.nan) if st else math.nan
    others = {k: v["count"] for k, v in run.fit.stats.items() if k != fam}
    row = clo[clo["family"] == fam]
    return {"preset": preset, "fam": fam, "kind": f"{np.dtype(dtype).name} {'RGB' if channels == 3 else 'grey'}",
            "mp": mp, "truth_n": truth_n, "fit_n": fit_n,
            "sampled_med": float(np.median(sampled)) if sampled else math.nan,
            "truth_med": float(np.median(visible)) if visible else math.nan, "fit_med": fit_med,
            "others": others, "closure": row.iloc[0].to_dict() if len(row) else None,
            "t_fit": t_fit, "t_ref": t_ref, "t_closure": t_closure}


def ratio(a, b) -> float:
    return a / b if b else math.nan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--side", type=int, default=1000, help="short side of each photo, px")
    ap.add_argument("--images", type=int, default=4, choices=range(1, 5), metavar="1-4")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeat", type=int, default=3, help="best-of-N for every timing")
    ap.add_argument("--quick", action="store_true", help="smoke test: side 600, 2 images")
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    print(benchmark_header(), flush=True)
    if args.quick:
        args.side, args.images = 600, 2

    # Warm-up (imports, first-call caches) so the first case's time is not charged with it.
    small = photo(PHOTOS[0], 256, np.uint8, 3)
    pair = (synthesize(small, CASES[0][0], np.random.default_rng(0)).damaged, small)
    fit_scans([Scan("warm-up", (Path("w"), Path("w")), lambda: pair)], "warm", progress=False, warn=lambda m: None)
    results = []
    for case in CASES:
        print(f"  {case[0]} {np.dtype(case[2]).name} {case[3]}ch ...", file=sys.stderr, flush=True)
        results.append(run_case(*case, args))
    print(f"{args.images} photo(s), short side {args.side} px, seed {args.seed}; "
          f"cv2 threads {cv2.getNumThreads()}; sizes in short-side units\n")

    print("### Round trip (truth = what synthesis drew; pass: count and size within "
          f"±{TOLERANCE:.0%})\n")
    print("| preset | image | family | truth n | fitted n | n ratio | sampled med | truth med "
          "| fitted med | size ratio | pass | other families fitted |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|:---:|---|")
    failed = []
    for r in results:
        nr, sr = ratio(r["fit_n"], r["truth_n"]), ratio(r["fit_med"], r["truth_med"])
        ok = all(abs(x - 1) <= TOLERANCE for x in (nr, sr))  # NaN compares False: fails
        if not ok:
            failed.append(f"{r['preset']} ({r['kind']})")
        sampled = f"{r['sampled_med']:.4f}" if r["fam"] == "scratch" else "—"
        others = ", ".join(f"{k} {v}" for k, v in r["others"].items()) or "—"
        print(f"| {r['preset']} | {r['kind']} | {r['fam']} | {r['truth_n']} | {r['fit_n']} | {nr:.3f} "
              f"| {sampled} | {r['truth_med']:.4f} | {r['fit_med']:.4f} | {sr:.3f} "
              f"| {'yes' if ok else '**no**'} | {others} |")
    print("\nScratches: truth med is the visible length (stroke path clipped to the frame); "
          "sampled med is the length drawn by sample_params.")

    print("\n### Closure (fitted preset drawn again, measured again) and timing\n")
    print("| preset | image | MP | count ratio | size ratio | proportion | within | fit s/MP | label s/MP "
          "| fit × label | closure s/MP |")
    print("|---|---|---:|---:|---:|---:|:---:|---:|---:|---:|---:|")
    for r in results:
        c = r["closure"]
        prop = f"{c['count_vs_others']:.3f}" if c and math.isfinite(c.get("count_vs_others", math.nan)) else "—"
        cols = (f"{c['count_ratio']:.3f} | {c['size_ratio']:.3f} | {prop} | {'yes' if c['within'] else '**no**'}"
                if c else "— | — | — | (family not fitted)")
        print(f"| {r['preset']} | {r['kind']} | {r['mp']:.2f} | {cols} | {r['t_fit'] / r['mp']:.3f} "
              f"| {r['t_ref'] / r['mp']:.4f} | {r['t_fit'] / r['t_ref']:.0f}× | {r['t_closure'] / r['mp']:.3f} |")
    print("\nlabel = cv2.connectedComponentsWithStats of |damaged − clean| > 3/255 (max over channels), "
          f"same images, same run, best of {10 * args.repeat}; fit and closure best of {args.repeat}.")
    print(f"\nround trip: {len(results) - len(failed)}/{len(results)} cases pass"
          + (f"; failed: {', '.join(failed)}" if failed else ""))


if __name__ == "__main__":
    main()
