"""What a run logs: per-epoch losses and validation metrics in ``history.csv``, ``curves.png``, and
TensorBoard event files in ``tensorboard/`` when the optional ``tensorboard`` package is installed
(``pip install dustbench[tensorboard]``; view with ``tensorboard --logdir RUN``)."""
from __future__ import annotations

import csv
import io
import math
import sys
import time
from pathlib import Path

from ..io import atomic_path, write_text_atomic

TB_DIR = "tensorboard"
TB_TAGS = {"lr": "train/lr", "time_s": "train/time_s", "epoch": "train/epoch"}  # besides loss_* and val_*


def tensorboard_tag(column: str) -> str | None:
    """The TensorBoard tag of a history column (``loss_total`` -> ``loss/total``), None if not logged."""
    for prefix, group in (("loss_", "loss/"), ("val_", "val/")):
        if column.startswith(prefix):
            return group + column[len(prefix):]
    return TB_TAGS.get(column)


def summary_writer(folder: Path, rows: list):
    """A TensorBoard SummaryWriter for ``folder``, or None (with a one-line note) without tensorboard.

    A resumed run purges the events from its last logged step on, which an interrupted run may have
    written after its checkpoint, so no step appears twice.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        print("note: tensorboard is not installed, so no TensorBoard logs (history.csv has every row); "
              "pip install 'dustbench[tensorboard]' to get them", file=sys.stderr)
        return None
    purge = rows[-1]["step"] + 1 if rows else 0  # 0: a fresh run (--overwrite) hides an old run's events
    _after_earlier_events(folder)
    return SummaryWriter(log_dir=str(folder), purge_step=purge)


def _after_earlier_events(folder: Path) -> None:
    """Wait, if need be, until a new event file sorts after the folder's earlier ones. Readers take
    the files in name order, and a name is the creation second, host, pid and a per-process counter
    written as text ("…10" sorts before "…9"): a run resumed within the same second as an earlier
    one could be read first, and its purge would then hide the wrong steps. At most 1.5 s, even
    when a file is named in the future (a folder copied from a machine whose clock runs ahead)."""
    seconds = [int(p.name.split(".")[3]) for p in Path(folder).glob("events.out.tfevents.*")
               if p.name.split(".")[3].isdigit()]
    if seconds:
        deadline = min(max(seconds) + 1, time.time() + 1.5)
        while time.time() < deadline:
            time.sleep(0.05)


class RunLog:
    """Rows of per-epoch losses and validation metrics -> ``history.csv``, ``curves.png``, TensorBoard."""

    def __init__(self, out: Path, rows: list | None = None, plot: bool = True, val_name: str = "validation",
                 tensorboard: bool = False):
        self.out, self.rows, self.plot_enabled, self.val_name = Path(out), list(rows or []), plot, val_name
        self.writer = summary_writer(self.out / TB_DIR, self.rows) if tensorboard else None
        self._flushed = 0.0  # the first step is flushed at once: a short run shows something

    def add(self, row: dict) -> None:
        self.rows.append(dict(row))
        self.write()
        if self.writer is not None:
            for column, value in row.items():
                tag = tensorboard_tag(column)
                if tag and _finite(value) and not isinstance(value, bool):
                    self.writer.add_scalar(tag, value, global_step=row["step"])
            self.writer.flush()  # readers (and a run killed later) see every row logged so far

    def step(self, step: int, scalars: dict) -> None:
        """Each step's losses and lr as ``train_step/...`` TensorBoard scalars, so a run shows curves
        from its first step, not from its first logged row (flushed at most every 2 s)."""
        if self.writer is None:
            return
        for name, value in scalars.items():
            if _finite(value) and not isinstance(value, bool):
                self.writer.add_scalar(f"train_step/{name}", value, global_step=step)
        if time.monotonic() - self._flushed > 2.0:
            self.writer.flush()
            self._flushed = time.monotonic()

    def write(self) -> None:
        if not self.rows:
            return
        columns: list[str] = []
        for r in self.rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({k: _fmt(r.get(k)) for k in columns})
        write_text_atomic(self.out / "history.csv", buf.getvalue())
        if self.plot_enabled:
            self.plot()

    def plot(self) -> None:
        """Loss curves (log scale) and validation PSNR against steps, with the identity floor."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        import matplotlib.pyplot as plt

        steps = [r["step"] for r in self.rows]
        loss_keys = [k for k in self.rows[-1] if k.startswith("loss_")]
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6))
        for k in loss_keys:
            ys = [r.get(k) for r in self.rows]
            if all(_finite(y) and y > 0 for y in ys):
                a.plot(steps, ys, marker=".", label=k[5:])
        a.set_yscale("log")
        a.set_xlabel("step")
        a.set_ylabel("loss (log scale)")
        a.set_title("training losses (epoch means)")
        if loss_keys:
            a.legend(fontsize=7, title="loss term", title_fontsize=7)
        vals = [(r["step"], r.get("val_psnr")) for r in self.rows if _finite(r.get("val_psnr"))]
        if vals:
            b.plot(*zip(*vals), marker="o", label="model")
            ident = [r.get("val_psnr_identity") for r in self.rows if _finite(r.get("val_psnr_identity"))]
            if ident:
                b.axhline(ident[-1], color="grey", ls="--", label="identity (input)")
            b.legend(fontsize=7)
        b.set_xlabel("step")
        b.set_ylabel("mean PSNR on the validation images (dB)")
        b.set_title(f"validation PSNR ({self.val_name})")
        fig.tight_layout()
        with atomic_path(self.out / "curves.png") as tmp:
            fig.savefig(tmp, dpi=100, format="png", bbox_inches="tight")
        plt.close(fig)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v
