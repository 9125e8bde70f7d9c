"""What a run logs: per-epoch losses and validation metrics in ``history.csv``, and ``curves.png``."""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

from ..io import atomic_path, write_text_atomic


class RunLog:
    """Rows of per-epoch losses and validation metrics -> ``history.csv`` and ``curves.png``."""

    def __init__(self, out: Path, rows: list | None = None, plot: bool = True, val_name: str = "validation"):
        self.out, self.rows, self.plot_enabled, self.val_name = Path(out), list(rows or []), plot, val_name

    def add(self, row: dict) -> None:
        self.rows.append(dict(row))
        self.write()

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
        a.set_title("training losses (epoch means)")
        if loss_keys:
            a.legend(fontsize=7)
        vals = [(r["step"], r.get("val_psnr")) for r in self.rows if _finite(r.get("val_psnr"))]
        if vals:
            b.plot(*zip(*vals), marker="o", label="model")
            ident = [r.get("val_psnr_identity") for r in self.rows if _finite(r.get("val_psnr_identity"))]
            if ident:
                b.axhline(ident[-1], color="grey", ls="--", label="identity (input)")
            b.legend(fontsize=7)
        b.set_xlabel("step")
        b.set_ylabel("PSNR (dB)")
        b.set_title(f"validation PSNR ({self.val_name})")
        fig.tight_layout()
        with atomic_path(self.out / "curves.png") as tmp:
            fig.savefig(tmp, dpi=100, format="png")
        plt.close(fig)


def _finite(v) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


def _fmt(v):
    if isinstance(v, float):
        return f"{v:.6g}"
    return "" if v is None else v
