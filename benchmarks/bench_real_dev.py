"""Real-damage development check: the published rows on real film scans (``../shared/real-dev``).

    .venv/bin/python benchmarks/bench_real_dev.py [--data ../shared/real-dev] [--out runs/real_dev]
        [--rows identity oracle_inpaint ...] [--methods NAME...] [--models PATH...] [--crop 128]

Rows (default): ``identity``, ``median_tuned`` with the values the published board used (tuned on
``builtin-v2:validation``, read from ``leaderboard/results/median_tuned``), ``oracle_inpaint`` (Telea on
the true mask, an upper reference), every published model in ``leaderboard/models/*.pt``,
``morph_detect`` and ``line_detect``, and the learned ``verified_specks`` and ``verified_detect``
(their verifier ships with dustbench); ``--methods`` / ``--models`` add registered names / model files.
Each row runs through the one harness (``dustbench evaluate``, images saved under
``OUT/results/<row>/``) and is paired against ``identity``. Prints one table; writes
``OUT/contact_sheet.png`` (damaged / clean / each method / what each changed) and ``OUT/real_dev.json``
(every figure, per image too, with provenance). ``OUT`` must stay out of the repository's tracked files
(``runs/`` is git-ignored): real-dev's licences (GPL-3.0, MIT) keep its pixels out of it.

real-dev is for development checks only: never copied in, never trained or tuned on. Without the
folder the benchmark says so and exits 0. Threads: OpenMP/BLAS, OpenCV and torch 1 thread.
"""
from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy/torch load

import argparse  # noqa: E402
import sys  # noqa: E402
from datetime import datetime, timezone  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "real-dev"  # ../shared/real-dev from the repository root
DEFAULT_OUT = ROOT / "runs" / "real_dev"


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA,
                    help="folder of damaged/ clean/ mask/ pairs (default: ../shared/real-dev from the repo root)")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT,
                    help="where results, contact_sheet.png and real_dev.json go (default: runs/real_dev, git-ignored)")
    ap.add_argument("--rows", nargs="+", default=None,
                    help="rows to run, by label (default: all default rows); identity is always run")
    ap.add_argument("--methods", nargs="+", default=[], help="extra registered method names")
    ap.add_argument("--models", nargs="+", default=[], type=Path, help="extra model files")
    ap.add_argument("--leaderboard", type=Path, default=ROOT / "leaderboard",
                    help="published board: models/*.pt and results/median_tuned (default: leaderboard/)")
    ap.add_argument("--crop", type=int, default=128, help="contact sheet crop side around the damage (0: whole)")
    ap.add_argument("--threads", type=int, default=1, help="OpenCV/torch threads while methods run (default 1)")
    return ap.parse_args(argv)


def inside_docs(path: Path) -> bool:
    """True when ``path`` lies in the repository's docs/ (the sheet holds real-dev's pixels)."""
    return (ROOT / "docs").resolve() in [path.resolve(), *path.resolve().parents]


def main(argv=None) -> int:
    args = parse_args(argv)
    if not (args.data / "damaged").is_dir():
        print(f"real-dev not found at {args.data} (no damaged/ folder): skipped. It is not part of the repository "
              "(GPL-3.0/MIT pixels); see docs/real_dev.md.")
        return 0
    if inside_docs(args.out):
        print(f"--out {args.out}: refusing to write real-dev pixels inside docs/ (licences); use runs/real_dev")
        return 2
    import cv2
    import torch

    from dustbench.allocator import keep_freed_memory  # deferred: after the thread settings above
    from dustbench.errors import DustbenchError  # deferred: after the thread settings above
    from dustbench.io import write_json_atomic  # deferred: after the thread settings above
    from dustbench.provenance import benchmark_header, collect  # deferred: after the thread settings above
    from dustbench.report import real_dev as rd  # deferred: after the thread settings above
    from dustbench.report.real_dev_sheet import contact_sheet  # deferred: after the thread settings above

    cv2.setNumThreads(args.threads)
    torch.set_num_threads(args.threads)
    allocator = keep_freed_memory()  # as `dustbench evaluate` sets it
    header = benchmark_header()
    print(header, flush=True)
    try:  # a row name or file that does not exist: one line, not a traceback
        rows = rd.pick_rows(args.rows, args.leaderboard, args.methods, args.models)
        results = rd.run_rows(rows, args.data, args.out, threads=args.threads)
    except DustbenchError as exc:
        print(f"bench_real_dev: error: {exc}", file=sys.stderr)
        return 2
    threads = results[rows[-1].label].summary["runtime"]["threads"]
    print(f"# threads while methods ran: OpenCV {threads['opencv']}, torch {threads['torch']}, "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}; allocator {allocator}")
    data_info = results[rd.REFERENCE].summary["data"]
    print(f"# data: {args.data} ({data_info['n_images']} images, fingerprint {data_info['fingerprint'][:12]})")
    print(f"# {rd.DEV_ONLY}")
    figs = rd.figures(rows, results, args.data)
    print("\n".join(rd.table_lines(figs)))
    for note in rd.TABLE_NOTES:
        print(f"# {note}")
    for r in rows:
        if r.note:
            print(f"# {r.label}: {r.note}" + (f" ({results[r.label].summary['config']})"
                                            if results[r.label].summary["config"] else ""))
    ids = [row["image_id"] for row in results[rd.REFERENCE].rows]
    entries = [(f["row"], args.out / "results" / f["row"] / "images", f["per_image"])
               for f in figs if f["row"] != rd.REFERENCE]
    sheet = contact_sheet(args.data, ids, entries, args.out / "contact_sheet.png", crop=args.crop)
    record = {"schema": "dustbench.real_dev/1", "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
              "data": data_info, "note": rd.DEV_ONLY, "benchmark_header": header, "table_notes": rd.TABLE_NOTES,
              "rows": figs, "contact_sheet": str(sheet), "crop": args.crop, "provenance": collect("cpu")}
    write_json_atomic(args.out / "real_dev.json", rd.clean_json(record))
    print(f"# contact sheet: {sheet}\n# figures: {args.out / 'real_dev.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
