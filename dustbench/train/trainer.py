"""One training loop for every model family, driven through a small *task* protocol.

A :class:`Task` is what a model family gives the trainer:

* ``modules()`` — every stateful module (``"model"`` is the restoration network that is saved
  and exported; a GAN adds ``"discriminator"``);
* ``build_optimizers(lr)`` — named optimizers (their ``initial_lr`` is scaled by the schedule);
* ``training_step(batch, step) -> {name: float}`` — forward, backward and optimizer steps (a GAN
  does its own D and G updates here), returning the losses to log;
* ``restore(damaged) -> restored`` — the network in eval mode, for validation and export;
* ``notes()`` — facts about the run to record in its config and every log row (e.g. that the
  perceptual term is off).

A model family names its task by setting ``training_task`` on its registered factory; families
without one are trained by :class:`SupervisedTask` (MSE, one Adam optimizer).

:func:`train` is the loop: linear learning-rate decay, atomic checkpoints and exact resume,
per-epoch validation through :mod:`dustbench.metrics`, ``history.csv`` + ``curves.png``, a
progress bar, and DistributedDataParallel under ``torchrun``.
"""
from __future__ import annotations

import contextlib
import difflib
import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

from ..errors import DustbenchError
from . import checkpoint as ckpt_io
from . import distributed
from .data import DEFAULT_PRESETS, TrainData, load_validation, open_train_data, validate


class Task:
    """Base class of training tasks (see the module docstring). Subclasses set ``default_options``."""

    default_options: dict = {}

    def __init__(self, model_name: str, model: nn.Module, options: dict | None = None,
                 device: torch.device = torch.device("cpu")):
        self.model_name, self.model, self.device = model_name, model, device
        self.options = self.check_options(options or {})
        self._nets: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}  # set by the trainer
        self.autocast: Callable[[], contextlib.AbstractContextManager] = contextlib.nullcontext

    @classmethod
    def check_options(cls, options: dict) -> dict:
        """Defaults filled in; an unknown key is a DustbenchError with a did-you-mean."""
        for key in options:
            if key not in cls.default_options:
                close = difflib.get_close_matches(key, list(cls.default_options), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise DustbenchError(f"{cls.__name__} has no option {key!r}{hint} "
                                     f"(valid: {', '.join(cls.default_options) or 'none'})")
        return {**cls.default_options, **options}

    # -- what subclasses provide ---------------------------------------------------------------
    def modules(self) -> dict[str, nn.Module]:
        return {"model": self.model}

    def build_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        raise NotImplementedError

    def training_step(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, float]:
        raise NotImplementedError

    def notes(self) -> dict:
        return {}

    def restore(self, damaged: torch.Tensor) -> torch.Tensor:
        """Eval-mode forward of the restoration network (N×C×H×W in [0, 1] -> same)."""
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                return self.model(damaged.to(self.device)).float().clamp(0, 1)
        finally:
            self.model.train(was_training)

    # -- helpers the trainer uses --------------------------------------------------------------
    def net(self, name: str) -> nn.Module:
        """The module to call in ``training_step``: DDP-wrapped / compiled when the trainer did so."""
        net = self._nets.get(name)  # not `or`: a module's truth value may call its __len__
        return net if net is not None else self.modules()[name]

    def wrap(self, fn: Callable[[nn.Module], nn.Module]) -> None:
        """Replace the training-time view of every module by ``fn(module)`` (DDP, torch.compile)."""
        for name, module in self.modules().items():
            self._nets[name] = fn(self.net(name))

    def train(self, mode: bool = True) -> None:
        for m in self.modules().values():
            m.train(mode)

    def to(self, device: torch.device) -> "Task":
        self.device = device
        for m in self.modules().values():
            m.to(device)
        return self


class SupervisedTask(Task):
    """Plain supervised restoration: ``loss(model(damaged), clean)`` with one Adam optimizer.

    Options: ``loss`` ("mse" or "l1"), ``betas`` (Adam), ``weight_decay``.
    """

    default_options = {"loss": "mse", "betas": [0.9, 0.999], "weight_decay": 0.0}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.options["loss"] not in ("mse", "l1"):
            raise DustbenchError(f"loss must be 'mse' or 'l1', got {self.options['loss']!r}")

    def build_optimizers(self, lr: float) -> dict[str, torch.optim.Optimizer]:
        return {"model": torch.optim.Adam(self.model.parameters(), lr=lr, betas=tuple(self.options["betas"]),
                                          weight_decay=float(self.options["weight_decay"]))}

    def training_step(self, batch, step):
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            restored = self.net("model")(batch["damaged"])
        restored = restored.float()
        loss = (torch.nn.functional.mse_loss if self.options["loss"] == "mse"
                else torch.nn.functional.l1_loss)(restored, batch["clean"])
        loss.backward()
        opt.step()
        return {"total": float(loss.detach())}


def task_class(model_name: str) -> type[Task]:
    """The Task subclass that trains ``model_name`` (its factory's ``training_task``, else Supervised)."""
    from ..models import get_model_factory

    cls = getattr(get_model_factory(model_name), "training_task", None)
    if cls is None:
        return SupervisedTask
    if not (isinstance(cls, type) and issubclass(cls, Task)):
        raise DustbenchError(f"model {model_name!r}: training_task must be a Task subclass, got {cls!r}")
    return cls


# -- the loop --------------------------------------------------------------------------------------
AMP_MODES = ("none", "bf16")
# What a resumed run may change: when and how to stop, where to run. Everything else (model, data,
# batch, lr, seed) comes from the checkpoint, or the run would not continue exactly.
RESUME_OVERRIDES = ("epochs", "max_steps", "time_budget", "progress", "device", "workers",
                    "checkpoint_every", "threads", "val_every", "plot")


@dataclass
class TrainConfig:
    """Everything a run depends on; defaults are the paper's (section 3.1) where it gives them."""

    model: str
    out: str
    data: Any = "builtin-train"        # see dustbench.train.data.open_train_data
    model_config: dict = field(default_factory=dict)
    task_options: dict = field(default_factory=dict)
    epochs: int = 200
    max_steps: int | None = None
    time_budget: float | None = None   # seconds of training (validation and checkpoints included)
    batch_size: int = 32
    patch: int = 128
    lr: float = 5e-4                   # Adam; decays linearly to 0 over the run
    seed: int = 0
    presets: str = DEFAULT_PRESETS
    pool: int = 256                    # builtin-train: damaged crops synthesized once and re-cropped
    steps_per_epoch: int | None = None
    workers: int = 0
    val: Any = "builtin"               # "builtin", "none", a folder with a validation split
    val_limit: int | None = None
    val_every: int = 0                 # steps between validations; 0 = at the end of each epoch
    checkpoint_every: float = 300.0    # seconds between checkpoints (plus every epoch end)
    device: str = "auto"
    amp: str = "none"                  # "bf16": autocast the forward passes
    compile: bool = False              # torch.compile the training-time modules
    threads: int | None = None
    progress: bool = True
    plot: bool = True                  # redraw curves.png with every history.csv row

    def to_dict(self) -> dict:
        d = asdict(self)
        for key in ("data", "val"):
            if not isinstance(d[key], (str, type(None))):
                d[key] = f"<{type(getattr(self, key)).__name__}>"
        return d


@dataclass
class TrainResult:
    out: Path
    checkpoint: Path
    step: int
    epoch: int
    stop_reason: str
    wall_time_s: float
    val: dict
    rows: list
    task: Any = field(default=None, repr=False)  # the trained Task (its modules), for in-process use


def train(config: TrainConfig, *, resume: bool = False, stop_after: int | None = None,
          overwrite: bool = False) -> TrainResult:
    """Train ``config.model``; see :class:`TrainConfig`. Returns on rank 0 and every other rank.

    ``resume`` continues ``config.out/checkpoint.pt`` exactly: the saved config is used, except
    for the :data:`RESUME_OVERRIDES` fields that ``config`` sets to non-default values (a new
    ``max_steps`` or ``time_budget`` also moves the end of the lr decay). ``stop_after`` stops
    after that many steps of this call (the schedule still spans the whole run), as a
    scheduler's pre-emption would. ``overwrite`` starts afresh in a folder that has a checkpoint.
    """
    info = distributed.setup(config.device)
    try:
        return _Run(config, info, resume, stop_after, overwrite).run()
    finally:
        distributed.teardown(info)


class _Run:
    def __init__(self, config: TrainConfig, info, resume: bool, stop_after, overwrite: bool):
        self.info, self.stop_after = info, stop_after
        self.out = Path(config.out).expanduser()
        self.ckpt_path = self.out / ckpt_io.CHECKPOINT_NAME
        saved = None
        if resume:
            saved = ckpt_io.load_checkpoint(self.ckpt_path)
            state = ckpt_io.train_state(saved, self.ckpt_path)
            old = state["train_config"]
            if old["model"] != config.model:
                raise DustbenchError(f"{self.ckpt_path} trains {old['model']!r}, not {config.model!r}")
            defaults = TrainConfig(model=config.model, out=config.out)
            merged = {**old, **{k: getattr(config, k) for k in RESUME_OVERRIDES
                                if getattr(config, k) != getattr(defaults, k)}}
            merged.update(out=config.out, data=config.data if not isinstance(config.data, str) else old["data"],
                          val=config.val if not isinstance(config.val, str) else old["val"])
            config = TrainConfig(**merged)
        elif self.ckpt_path.exists() and not overwrite:
            raise DustbenchError(f"{self.ckpt_path} exists: add --resume to continue that run, or choose "
                                 "another --out (or --overwrite to start afresh)")
        if config.amp not in AMP_MODES:
            raise DustbenchError(f"amp must be one of {AMP_MODES}, got {config.amp!r}")
        self.cfg = config
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self._build(saved)

    # -- setup -------------------------------------------------------------------------------------
    def _build(self, saved) -> None:
        from ..models import create_model

        cfg, info = self.cfg, self.info
        torch.manual_seed(cfg.seed)
        model = create_model(cfg.model, **cfg.model_config)
        self.task = task_class(cfg.model)(cfg.model, model, cfg.task_options, info.device).to(info.device)
        opts = self.task.build_optimizers(cfg.lr)
        for opt in opts.values():
            for g in opt.param_groups:
                g.setdefault("initial_lr", g["lr"])
        self.task.optimizers = opts
        self.pos = {"step": 0, "epoch": 0, "batch": 0, "elapsed_s": 0.0, "sums": {}, "n": 0}
        rows = []
        if saved is not None:
            state = saved["train_state"]
            ckpt_io.restore_modules(state, saved, self.task.modules(), opts)
            self.pos = dict(state["position"])
            rows = state["log_rows"]
            ckpt_io.set_rng_state(state["rng"], info.device)
        self.task.wrap(lambda m: distributed.wrap(m, info))
        if cfg.compile:
            self.task.wrap(torch.compile)
        if cfg.amp == "bf16":
            self.task.autocast = lambda: torch.autocast(info.device.type, dtype=torch.bfloat16)
        source = open_train_data(cfg.data, cfg.patch, cfg.seed, info.rank, info.world, cfg.presets,
                                 cfg.batch_size, cfg.steps_per_epoch, cfg.pool)
        self.data = TrainData(source, cfg.batch_size, cfg.seed, info.rank, info.world, cfg.workers,
                              cfg.steps_per_epoch)
        spe = self.data.steps_per_epoch
        self.horizon = min(cfg.max_steps or 10 ** 18, cfg.epochs * spe)
        self.val_samples = load_validation(cfg.val, cfg.val_limit) if info.is_main else None
        self.log = ckpt_io.RunLog(self.out, rows, plot=cfg.plot)
        self.notes = self.task.notes()
        self.params = {k: sum(int(p.numel()) for p in m.parameters()) for k, m in self.task.modules().items()}
        if info.is_main:
            self._write_config()

    def _write_config(self) -> None:
        from .. import __version__
        from ..io import write_json_atomic
        from ..provenance import git_commit, package_versions

        write_json_atomic(self.out / "config.json", {
            "model": self.cfg.model, "model_config": self.cfg.model_config,
            "task": type(self.task).__name__, "task_options": self.task.options, "notes": self.notes,
            "train": self.cfg.to_dict(), "parameters": self.params, "data": self.data.describe(),
            "validation": None if self.val_samples is None else [s.id for s in self.val_samples],
            "schedule": {"horizon_steps": self.horizon, "lr": "linear decay from lr to 0 over the horizon"
                         + (" or the time budget, whichever ends first" if self.cfg.time_budget else "")},
            "world_size": self.info.world, "device": str(self.info.device), "dustbench": __version__,
            "versions": package_versions(), "git": git_commit()})

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        cfg, pos, info = self.cfg, self.pos, self.info
        start = time.monotonic() - pos["elapsed_s"]
        last_ckpt, steps_here, reason = time.monotonic(), 0, None
        bar = self._bar()
        self.task.train(True)
        self._in_step = False
        try:
            while reason is None:
                if pos["epoch"] >= cfg.epochs:
                    reason = "epochs"
                    break
                reason = self._should_stop(steps_here)  # e.g. a resumed run that already reached its end
                if reason:
                    break
                for batch in self.data.batches(pos["epoch"], pos["batch"]):
                    batch = {k: v.to(info.device, non_blocking=True) for k, v in batch.items()}
                    elapsed = time.monotonic() - start
                    lr_factor = self._set_lr(pos["step"], elapsed)
                    self._in_step = True
                    losses = self.task.training_step(batch, pos["step"])
                    self._in_step = False
                    bad = [k for k, v in losses.items() if not math.isfinite(v)]
                    if bad:
                        raise DustbenchError(f"loss {bad[0]} became {losses[bad[0]]} at step {pos['step']}; "
                                             f"lower --lr (now {cfg.lr:g}) or check the data")
                    pos["step"] += 1
                    pos["batch"] += 1
                    steps_here += 1
                    pos["n"] += 1
                    for k, v in losses.items():
                        pos["sums"][k] = pos["sums"].get(k, 0.0) + v
                    pos["elapsed_s"] = time.monotonic() - start
                    self._tick(bar, losses, lr_factor)
                    reason = self._should_stop(steps_here)
                    if cfg.val_every and pos["step"] % cfg.val_every == 0 and reason is None:
                        self._log_row(complete=False)
                    if reason:
                        break
                    if info.is_main and time.monotonic() - last_ckpt > cfg.checkpoint_every:
                        self._save()
                        last_ckpt = time.monotonic()
                else:  # the epoch ran to its end
                    self._log_row(complete=True)
                    pos["epoch"] += 1
                    pos["batch"], pos["sums"], pos["n"] = 0, {}, 0
                    self._save()
                    last_ckpt = time.monotonic()
            if pos.get("logged_step") != pos["step"]:  # the partial epoch (same test on every rank)
                self._log_row(complete=False)
            self._save()
        except KeyboardInterrupt:
            if info.is_main and not self._in_step:
                self._save()
            elif info.is_main:
                print(f"\ninterrupted inside a step: {self.ckpt_path} keeps the last consistent state")
            raise
        finally:
            if bar is not None:
                bar.close()
        distributed.barrier(info)
        last = self.log.rows[-1] if self.log.rows else {}
        val = {k: v for k, v in last.items() if k.startswith("val_")}
        return TrainResult(self.out, self.ckpt_path, pos["step"], pos["epoch"], reason, pos["elapsed_s"], val,
                           list(self.log.rows), self.task)

    def _set_lr(self, step: int, elapsed: float) -> float:
        """Linear decay to 0 over the horizon (or the time budget, whichever ends first)."""
        progress = step / max(1, self.horizon)
        if self.cfg.time_budget:
            progress = max(progress, elapsed / self.cfg.time_budget)
        factor = max(0.0, 1.0 - progress)
        for opt in self.task.optimizers.values():
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * factor
        return factor

    def _should_stop(self, steps_here: int) -> str | None:
        cfg, pos = self.cfg, self.pos
        if cfg.max_steps and pos["step"] >= cfg.max_steps:
            return "max_steps"
        if self.stop_after and steps_here >= self.stop_after:
            return "stop_after"
        if cfg.time_budget:  # rank 0's clock decides for everyone, so all ranks stop at one step
            over = self.info.is_main and pos["elapsed_s"] >= cfg.time_budget
            if distributed.any_true(over, self.info):
                return "time_budget"
        return None

    def _log_row(self, complete: bool) -> None:
        """Epoch means of the losses (over ranks) + validation, appended to history.csv (rank 0)."""
        pos = self.pos
        means = {f"loss_{k}": v / max(1, pos["n"]) for k, v in sorted(pos["sums"].items())}
        means = distributed.mean_dict(means, self.info)
        pos["logged_step"] = pos["step"]
        if not self.info.is_main:
            distributed.barrier(self.info)
            return
        row = {"epoch": pos["epoch"] + (1 if complete else 0), "epoch_complete": complete, "step": pos["step"],
               "time_s": round(pos["elapsed_s"], 2),
               "lr": next(iter(self.task.optimizers.values())).param_groups[0]["lr"], **means}
        if self.val_samples:
            row.update(validate(self.task.restore, self.val_samples))
            self.task.train(True)
        row.update({f"note_{k}": v for k, v in self.notes.items()})
        self.log.add(row)
        distributed.barrier(self.info)

    def _save(self) -> None:
        if not self.info.is_main:
            return
        last = self.log.rows[-1] if self.log.rows else {}
        meta = {"steps": self.pos["step"], "epoch": self.pos["epoch"], "wall_time_s": round(self.pos["elapsed_s"], 2),
                "val": {k: v for k, v in last.items() if k.startswith("val_")}, "data": self.data.describe(),
                "notes": self.notes, "parameters": self.params, "world_size": self.info.world,
                "device": str(self.info.device), "train_config": self.cfg.to_dict()}
        ckpt_io.save_train_checkpoint(
            self.ckpt_path, model_name=self.cfg.model, model_config=self.cfg.model_config,
            modules=self.task.modules(), optimizers=self.task.optimizers, position=self.pos,
            train_config=self.cfg.to_dict(), task_options=self.task.options, notes=self.notes,
            log_rows=self.log.rows, rng=ckpt_io.rng_state(self.info.device),
            meta=json.loads(json.dumps(meta, default=str)))

    # -- progress ----------------------------------------------------------------------------------
    def _bar(self):
        if not (self.cfg.progress and self.info.is_main):
            return None
        from tqdm.auto import tqdm

        if self.cfg.time_budget:  # ETA of a time budget is the budget: count seconds
            return tqdm(total=int(self.cfg.time_budget), initial=int(self.pos["elapsed_s"]), unit="s",
                        desc=f"train {self.cfg.model}", dynamic_ncols=True)
        return tqdm(total=self.horizon, initial=self.pos["step"], unit="step", desc=f"train {self.cfg.model}",
                    dynamic_ncols=True)

    def _tick(self, bar, losses: dict, lr_factor: float) -> None:
        if bar is None:
            return
        if self.cfg.time_budget:
            bar.update(max(0, min(int(self.pos["elapsed_s"]), bar.total) - bar.n))
        else:
            bar.update(1)
        bar.set_postfix(step=self.pos["step"], epoch=self.pos["epoch"], loss=f"{losses.get('total', math.nan):.4g}",
                        lr=f"{self.cfg.lr * lr_factor:.2e}", refresh=False)
