"""What a training run leaves on disk: the resumable checkpoint, the loss CSV and the curve plot.

``RUN/checkpoint.pt`` is a dustbench checkpoint (``{"format": "dustbench-checkpoint", "model",
"config", "state_dict", ...}``), so :func:`dustbench.methods.load_model_file` and ``dustbench
evaluate RUN/checkpoint.pt`` read it directly, plus a ``train_state`` entry with everything needed
to continue exactly: every module and optimizer state, the step, epoch and batch position, wall
time so far, the log rows, and the RNG states. It holds only tensors and plain Python values, so
it loads with ``torch.load(weights_only=True)``. Writes are atomic (temp file + rename): a run
killed while saving keeps its previous checkpoint.
"""
from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import torch

from ..errors import DustbenchError
from ..io import atomic_path, write_text_atomic
from ..safe_torch import load_weights

CHECKPOINT_NAME = "checkpoint.pt"
STATE_VERSION = 1


def rng_state(device: torch.device) -> dict:
    """Torch's global RNG states (CPU, and CUDA when used). Data order never depends on them."""
    state = {"torch": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["torch"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _cpu(obj):
    """A state dict (nested dicts/lists of tensors) with every tensor moved to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: _cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_cpu(v) for v in obj)
    return obj


def save_train_checkpoint(path, *, model_name: str, model_config: dict, modules: dict, optimizers: dict,
                          position: dict, train_config: dict, task_options: dict, notes: dict,
                          log_rows: list, rng: dict, meta: dict, channels: int = 3) -> None:
    """Write the resumable checkpoint atomically; ``modules["model"]`` is the exported network."""
    state = {
        "format": "dustbench-checkpoint",
        "model": model_name,
        "config": dict(model_config),
        "state_dict": _cpu(modules["model"].state_dict()),
        "channels": channels,
        "meta": meta,
        "train_state": {
            "version": STATE_VERSION,
            "modules": {k: _cpu(m.state_dict()) for k, m in modules.items() if k != "model"},
            "optimizers": {k: _cpu(o.state_dict()) for k, o in optimizers.items()},
            "position": dict(position),
            "train_config": train_config,
            "task_options": task_options,
            "notes": notes,
            "log_rows": log_rows,
            "rng": _cpu(rng),
        },
    }
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path) -> dict:
    """Read a dustbench checkpoint safely (``weights_only``); DustbenchError naming the file otherwise."""
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise DustbenchError(f"{path}: no such checkpoint")
    ckpt = load_weights(path, path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != "dustbench-checkpoint":
        raise DustbenchError(f"{path}: not a dustbench checkpoint (written by `dustbench train`)")
    return ckpt


def train_state(ckpt: dict, path="checkpoint") -> dict:
    """The resumable part of a checkpoint (DustbenchError if it is a weights-only checkpoint)."""
    state = ckpt.get("train_state")
    if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
        raise DustbenchError(f"{path}: holds weights only (or a newer format); it cannot resume training")
    return state


def restore_modules(state: dict, ckpt: dict, modules: dict, optimizers: dict) -> None:
    """Load every module and optimizer state from a checkpoint into the freshly built ones."""
    try:
        modules["model"].load_state_dict(ckpt["state_dict"], strict=True)
        for k, m in modules.items():
            if k != "model":
                m.load_state_dict(state["modules"][k], strict=True)
        for k, o in optimizers.items():
            o.load_state_dict(state["optimizers"][k])
    except (KeyError, RuntimeError, ValueError) as exc:
        raise DustbenchError(f"checkpoint does not fit the model being trained ({' '.join(str(exc).split())[:300]}); "
                             "resume with the same model and config") from None


class RunLog:
    """Rows of per-epoch losses and validation metrics -> ``history.csv`` and ``curves.png``."""

    def __init__(self, out: Path, rows: list | None = None, plot: bool = True):
        self.out, self.rows, self.plot_enabled = Path(out), list(rows or []), plot

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
        b.set_title("validation PSNR")
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
