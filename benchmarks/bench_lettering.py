"""Does a method leave lettering alone? The published rows on printed text with film damage.

Issue #27 found the learned rows erasing lettering on real scans (white letters on a film box, a
camera's numerals). real-dev holds no lettering, and its licences keep its pixels out of the docs,
so this benchmark makes its own: ``--images`` procedural ``text`` scenes (printed lines of many sizes,
weights and contrasts over a dead-leaves scene, :mod:`dustbench.sources.procedural`), each damaged
by a film-scan mix as a crop of a 35 mm frame at 4000 dpi. Which pixels are letters is known
exactly: the ``dead_leaves`` kind draws the same scene from the same seed and stops before the text,
so the two images differ only where letters were drawn.

Each row of ``bench_real_dev.py`` (identity, median_tuned with its published values, oracle_inpaint,
every published model, morph_detect) runs through the one harness; printed per row: the paired PSNR
gain over identity, the share of letter pixels outside the damage region that the method changed
(*letters changed*; a pixel is changed when it moved by more than 2 levels, the harness's tolerance),
the clean-pixel change rate and the touched recall of visible damage. Writes ``OUT/lettering.json``;
``--sheet FILE`` also writes a contact sheet (damaged, then what each row changed, letters' changes
in red, damage fixed in green): synthetic pixels only, so it may go to docs/.

Run: ``.venv/bin/python benchmarks/bench_lettering.py [--images 8] [--size 768] [--out runs/lettering]
[--rows identity fastdet ...] [--sheet docs/images/lettering.jpg]``.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load

import argparse  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MIXES = ("negative_scan_medium", "negative_scan_heavy", "slide_scan_medium")  # one per image, in turn
SCAN_SCALE = 3780  # a 35 mm frame's short side at 4000 dpi


def make_pairs(folder: Path, images: int, size: int) -> dict[str, np.ndarray]:
    """Write damaged/, clean/ and mask/ for the text scenes; returns each image's letter pixels."""
    from dustbench.io import mask_to_image, write_image
    from dustbench.sources.procedural import procedural_image
    from dustbench.synth import synthesize

    letters = {}
    for i in range(images):
        clean = procedural_image("text", (size, size), np.random.default_rng([27, i]))
        scene = procedural_image("dead_leaves", (size, size), np.random.default_rng([27, i]))
        s = synthesize(clean, MIXES[i % len(MIXES)], np.random.default_rng([28, i]), scan_scale=SCAN_SCALE)
        sid = f"text_{i:02d}"
        for part, image in (("damaged", s.damaged), ("clean", s.clean), ("mask", mask_to_image(s.mask, clean.dtype))):
            write_image(folder / part / f"{sid}.png", image)
        letters[sid] = (clean != scene).any(axis=2)
    return letters


def letter_changes(folder: Path, images: Path, letters: dict[str, np.ndarray]) -> dict:
    """Pooled over the images: letter pixels outside the damage region, and how many were changed."""
    from dustbench.io import read_image
    from dustbench.report.real_dev import change_classes

    total = {"letters": 0, "changed": 0, "changed_images": 0}
    for sid, on_letters in letters.items():
        damaged, clean, mask = (read_image(folder / part / f"{sid}.png") for part in ("damaged", "clean", "mask"))
        c = change_classes(damaged, read_image(images / f"{sid}.png"), clean, mask)
        mine = on_letters & ~c["region"]
        changed = int((c["outside"] & mine).sum())
        total["letters"] += int(mine.sum())
        total["changed"] += changed
        total["changed_images"] += int(changed > 0)
    total["share"] = total["changed"] / total["letters"] if total["letters"] else math.nan
    return total


def sheet(path: Path, folder: Path, out: Path, rows, letters: dict[str, np.ndarray], crop: int = 256) -> None:
    """Damaged crop (where damage lies on letters), then per row the pixels it changed, over the damaged
    image darkened: green in the damage region, red on letters outside it, amber elsewhere."""
    import cv2

    from dustbench.io import read_image, write_image
    from dustbench.report.real_dev import change_classes
    from dustbench.sheets import busiest_crop, contact_sheet

    panels, captions = [], []
    for sid in list(letters)[:2]:
        damaged, clean, mask = (read_image(folder / part / f"{sid}.png") for part in ("damaged", "clean", "mask"))
        near = cv2.dilate(letters[sid].astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
        box = busiest_crop(((mask > 0) & near).astype(np.float32) + 0.1 * letters[sid], crop)  # damage on letters
        line, words = [damaged[box]], ["damaged"]
        for r in rows:
            if r.label == "identity":
                continue
            c = change_classes(damaged, read_image(out / "results" / r.label / "images" / f"{sid}.png"), clean, mask)
            view = (damaged[box] // 3).copy()
            view[(c["inside"])[box]] = (60, 220, 60)
            view[(c["outside"] & letters[sid])[box]] = (255, 40, 40)
            view[(c["outside"] & ~letters[sid])[box]] = (255, 200, 0)
            line.append(view)
            words.append(r.label)
        panels.append(line)
        captions.append(words)
    write_image(path, contact_sheet(panels, captions, height=192))
    print(f"wrote {path}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=8)
    ap.add_argument("--size", type=int, default=768, help="side of each square text scene (px)")
    ap.add_argument("--out", type=Path, default=ROOT / "runs" / "lettering")
    ap.add_argument("--rows", nargs="+", default=None, help="rows by label (default: all of bench_real_dev's)")
    ap.add_argument("--sheet", type=Path, help="also write the contact sheet there")
    args = ap.parse_args(argv)
    from dustbench.provenance import benchmark_header
    from dustbench.report.paired import paired_columns
    from dustbench.report.real_dev import pick_rows, run_rows

    print(benchmark_header())
    data = args.out / "data"
    letters = make_pairs(data, args.images, args.size)
    rows = pick_rows(args.rows, ROOT / "leaderboard")
    results = run_rows(rows, data, args.out, threads=1)
    ref = results["identity"].rows
    print(f"\n{args.images} procedural text scenes of {args.size}², film-scan mixes at scan scale {SCAN_SCALE}; "
          f"{sum(int(v.sum()) for v in letters.values()):,} letter pixels")
    print(f"{'row':<18}{'Δ PSNR (dB)':>12}{'p':>8}{'letters changed':>17}{'images':>8}{'clean changed':>15}"
          f"{'recall':>8}")
    record = []
    for r in rows:
        res = results[r.label]
        m, paired = res.summary["metrics"], paired_columns(ref, res.rows)
        lc = letter_changes(data, res.out / "images", letters)
        record.append({"row": r.label, "spec": r.spec, "delta_psnr": paired["delta_psnr"], "p": paired["delta_psnr_p"],
                       "letters": lc, "clean_change_rate": m["clean_change_rate"], "touch_recall": m["touch_recall"]})
        delta = "–" if r.label == "identity" else f"{paired['delta_psnr']:+.2f}"
        p = "–" if r.label == "identity" else f"{paired['delta_psnr_p']:.2g}"
        print(f"{r.label:<18}{delta:>12}{p:>8}{100 * lc['share']:>16.3f}%{lc['changed_images']:>5}/{args.images}"
              f"{100 * m['clean_change_rate']:>14.3f}%{m['touch_recall']:>8.2f}")
    (args.out / "lettering.json").write_text(json.dumps(record, indent=1, default=float), encoding="utf-8")
    if args.sheet:
        sheet(args.sheet, data, args.out, rows, letters)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
