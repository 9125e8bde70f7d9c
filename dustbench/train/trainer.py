"""The shared trainer: one loop for every model family (``dustbench train``).

A model family plugs in through its :class:`~dustbench.models.task.Task` (losses, optimizers,
schedule factor, notes). :func:`train` is the loop: linear learning-rate decay, atomic
checkpoints and exact resume (:mod:`.state`), per-epoch validation scored like ``dustbench
evaluate`` (:mod:`.validate`), ``history.csv`` + ``curves.png`` (:mod:`.runlog`), a progress bar,
and DistributedDataParallel under ``torchrun`` (:mod:`.distributed`).
"""
from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from ..data.train_sources import open_train_data
from ..errors import DustbenchError
from ..io import output_dir, write_json_atomic
from ..models.checkpoint import CHECKPOINT_NAME, read_checkpoint
from ..models.pretrained import initial_model
from ..models.task import task_class
from ..provenance import git_commit, package_versions
from ..version import __version__
from ..writer_lock import one_writer
from . import distributed, footprint, state as ckpt_io
from .batches import TrainData
from .config import TrainConfig, resolve_memory_format
from .interrupt import SignalStop
from .runlog import RunLog
from .validate import load_validation, resolve_validation, validate_task

AMP_MODES = ("none", "bf16")
# What a resumed run may change: when and how to stop, where to run. Everything else (model, data,
# batch, lr, seed) comes from the checkpoint, or the run would not continue exactly.
RESUME_OVERRIDES = ("epochs", "max_steps", "time_budget", "progress", "device", "workers",
                    "checkpoint_every", "threads", "val_every", "plot", "tensorboard", "memory_format")


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
    meta: dict = field(default_factory=dict, repr=False)  # what the checkpoint records about the run


@dataclass
class Position:
    """Where a run is: what a checkpoint must hold to continue exactly (plus the epoch's loss sums)."""

    step: int = 0
    epoch: int = 0
    batch: int = 0                     # batches of the current epoch already done
    elapsed_s: float = 0.0
    sums: dict = field(default_factory=dict)
    n: int = 0                         # steps summed in ``sums``
    logged_step: int | None = None     # the step of the last history row

    def add(self, losses: dict) -> None:
        self.step, self.batch, self.n = self.step + 1, self.batch + 1, self.n + 1
        for k, v in losses.items():
            self.sums[k] = self.sums.get(k, 0.0) + v

    def next_epoch(self) -> None:
        self.epoch += 1
        self.batch, self.sums, self.n = 0, {}, 0

    @classmethod
    def from_dict(cls, d: dict) -> "Position":
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


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
        with distributed.on_main_rank(info, lambda: one_writer(config.out, "train")):  # one run per folder
            return _Run(config, info, resume, stop_after, overwrite).run()
    finally:
        distributed.teardown(info)


class _Run:
    def __init__(self, config: TrainConfig, info, resume: bool, stop_after, overwrite: bool):
        self.info, self.stop_after = info, stop_after
        self.out = Path(config.out).expanduser()
        self.ckpt_path = self.out / CHECKPOINT_NAME
        config, saved = self._config(config, resume, overwrite)
        if info.is_main:
            output_dir(self.out)
        if config.amp not in AMP_MODES:
            raise DustbenchError(f"amp must be one of {AMP_MODES}, got {config.amp!r}")
        self.cfg = config
        if config.threads:
            torch.set_num_threads(int(config.threads))
        self._build_task(saved)
        self._build_data()
        self.memory = self._footprint() if info.is_main and info.world == 1 and not config.compile else None
        if info.is_main:
            self._write_config()

    # -- setup -------------------------------------------------------------------------------------
    def _config(self, config: TrainConfig, resume: bool, overwrite: bool) -> tuple[TrainConfig, dict | None]:
        """The config to run (a resumed run's saved one, with the allowed overrides) and the checkpoint."""
        if not resume:
            if self.ckpt_path.exists() and not overwrite:
                raise DustbenchError(f"{self.ckpt_path} exists: add --resume to continue that run, or choose "
                                     "another --out (or --overwrite to start afresh)")
            return replace(config, val=resolve_validation(config.val, config.data)), None
        saved = read_checkpoint(self.ckpt_path)
        old = ckpt_io.train_state(saved, self.ckpt_path)["train_config"]
        old.setdefault("memory_format", "contiguous")  # saved before layouts were chosen: those runs were NCHW
        if old["model"] != config.model:
            raise DustbenchError(f"{self.ckpt_path} trains {old['model']!r}, not {config.model!r}")
        defaults = TrainConfig(model=config.model, out=config.out)
        changed = [k for k in asdict(defaults) if k not in RESUME_OVERRIDES + ("out", "model", "val")
                   and isinstance(getattr(config, k), (str, int, float, dict, type(None)))
                   and getattr(config, k) != getattr(defaults, k) and getattr(config, k) != old.get(k)]
        if changed:
            was = ", ".join(f"{k}={old.get(k)!r} (asked {getattr(config, k)!r})" for k in changed)
            raise DustbenchError(f"{self.ckpt_path}: --resume continues the saved run exactly, which was trained "
                                 f"with {was}; drop those options, or train a new run into another --out")
        merged = {**old, **{k: getattr(config, k) for k in RESUME_OVERRIDES
                            if getattr(config, k) != getattr(defaults, k)}}
        merged.update(out=config.out, data=config.data if not isinstance(config.data, str) else old["data"],
                      val=config.val if not isinstance(config.val, str) else old["val"])
        return TrainConfig(**merged), saved

    def _build_task(self, saved) -> None:
        """The model, its task and optimizers, restored from ``saved`` when resuming."""
        cfg, info = self.cfg, self.info
        torch.manual_seed(cfg.seed)
        model, cfg.model_config, self.init = initial_model(cfg.model, cfg.model_config, cfg.init_from, saved)
        self.task = task_class(cfg.model)(cfg.model, model, cfg.task_options, info.device).to(info.device)
        self.layout = self._lay_out(resolve_memory_format(cfg.memory_format, info.device.type))
        opts = self.task.build_optimizers(cfg.lr)
        for opt in opts.values():
            for g in opt.param_groups:
                g.setdefault("initial_lr", g["lr"])
        self.task.optimizers = opts
        self.pos, rows = Position(), []
        if saved is not None:
            state = saved["train_state"]
            ckpt_io.restore_modules(state, saved, self.task.modules(), opts)
            ckpt_io.lay_out_optimizer_state(opts, self._format)  # as the parameters (saved in another layout?)
            self.pos, rows = Position.from_dict(state["position"]), state["log_rows"]
            ckpt_io.set_rng_state(state["rng"], info.device)
        self.task.wrap(lambda m: distributed.wrap(m, info))
        if cfg.compile:
            self.task.wrap(torch.compile)
        if cfg.amp == "bf16":
            self.task.autocast = lambda: torch.autocast(info.device.type, dtype=torch.bfloat16)
        self.log = RunLog(self.out, rows, cfg.plot, str(cfg.to_dict()["val"]), cfg.tensorboard and info.is_main)
        self.notes = self.task.notes()
        self.params = {k: sum(int(p.numel()) for p in m.parameters()) for k, m in self.task.modules().items()}

    def _lay_out(self, layout: str) -> str:
        """Put the modules in ``layout`` before the optimizers see them (values unchanged); the layout
        used. A model that cannot be NHWC (a 5-D weight) stays NCHW under "auto", and is an error when
        channels_last was asked for."""
        self._format = torch.channels_last if layout == "channels_last" else torch.contiguous_format
        try:
            for m in self.task.modules().values():
                m.to(memory_format=self._format)
        except RuntimeError as exc:
            for m in self.task.modules().values():
                m.to(memory_format=torch.contiguous_format)
            if self.cfg.memory_format != "auto":
                raise DustbenchError(f"{self.cfg.model}: cannot train with memory_format={layout} ({exc}); "
                                     "use --memory-format contiguous") from None
            self._format = torch.contiguous_format
            return "contiguous"
        return layout

    def _build_data(self) -> None:
        cfg, info = self.cfg, self.info
        source = open_train_data(cfg.data, cfg.patch, cfg.seed, info.rank, info.world, cfg.presets, cfg.batch_size,
                                 cfg.steps_per_epoch, cfg.pool, cfg.scan_scale, cfg.grain, cfg.damage_share)
        self.data = TrainData(source, cfg.batch_size, cfg.seed, info.rank, info.world, cfg.workers,
                              cfg.steps_per_epoch)
        self.horizon = min(cfg.max_steps or 10 ** 18, cfg.epochs * self.data.steps_per_epoch)
        self.val_samples = load_validation(cfg.val, cfg.val_limit) if info.is_main else None

    def _footprint(self) -> dict | None:
        """What the run will hold (:mod:`.footprint`), said before the first step when it shows progress."""
        try:
            fp = footprint.measure(self.task, self.cfg.batch_size, self.cfg.patch, self.info.device, self._format)
        except Exception as exc:  # noqa: BLE001 - an estimate must never stop a run
            return {"error": f"{type(exc).__name__}: {exc}"}
        have = footprint.machine_memory_bytes()
        if self.cfg.progress:
            print(f"{self.cfg.model}: {fp.describe()}", file=sys.stderr)
            if have and fp.total_bytes > have:
                print(f"{self.cfg.model}: that is more than this machine's {have / 1e9:.1f} GB: lower --batch-size "
                      "or the model's width (--set model.width=N)", file=sys.stderr)
        return {"total_bytes": fp.total_bytes, "process_bytes": fp.process_bytes, "state_bytes": fp.state_bytes,
                "activation_bytes_per_sample": fp.activation_bytes_per_sample, "machine_bytes": have}

    def _write_config(self) -> None:
        write_json_atomic(self.out / "config.json", {
            "model": self.cfg.model, "model_config": self.cfg.model_config,
            "task": type(self.task).__name__, "task_options": self.task.options, "notes": self.notes,
            "init_from": self.init,
            "train": self.cfg.to_dict(), "parameters": self.params, "data": self.data.describe(),
            "validation": None if self.val_samples is None else [s.id for s in self.val_samples],
            "schedule": {"horizon_steps": self.horizon, "lr": "linear decay from lr to 0 over the horizon"
                         + (" or the time budget, whichever ends first" if self.cfg.time_budget else "")},
            "memory_estimate": self.memory, "memory_format": self.layout,
            "world_size": self.info.world, "device": str(self.info.device), "dustbench": __version__,
            "versions": package_versions(), "git": git_commit()})

    # -- the loop ----------------------------------------------------------------------------------
    def run(self) -> TrainResult:
        self._start = time.monotonic() - self.pos.elapsed_s
        self._last_ckpt, self._steps_here = time.monotonic(), 0
        self.stop = SignalStop(self.task, self.info.device, can_drop=self.info.world == 1)
        bar = self._bar()
        self.task.train(True)
        reason = None
        try:
            with self.stop.installed():
                while reason is None:
                    reason = self._epoch(bar)
                if self.pos.logged_step != self.pos.step:  # the partial epoch (same test on every rank)
                    self._log_row(complete=False)
                self._save()
        except KeyboardInterrupt:  # a second signal: stop now, keeping the last consistent state
            if self.info.is_main and not self.stop.in_step:
                self._save()
            if self.info.is_main:
                print("\n" + self.resume_hint("interrupted"), file=sys.stderr)
            raise
        finally:
            if bar is not None:
                bar.close()
        distributed.barrier(self.info)
        last = self.log.rows[-1] if self.log.rows else {}
        val = {k: v for k, v in last.items() if k.startswith("val_")}
        return TrainResult(self.out, self.ckpt_path, self.pos.step, self.pos.epoch, reason, self.pos.elapsed_s,
                           val, list(self.log.rows), self.task, self._meta())

    def resume_hint(self, what: str) -> str:
        """What happened and, when a checkpoint exists, how to continue."""
        if not self.ckpt_path.is_file():
            return f"{what} before the first checkpoint: nothing to resume; run the command again to start over"
        return (f"{what}: {self.ckpt_path} holds the last consistent state; continue with "
                f"`dustbench train {self.cfg.model} --out {self.out} --resume`")

    def _epoch(self, bar) -> str | None:
        """Run (the rest of) the current epoch: a stop reason, or None when the epoch ran to its end."""
        if self.pos.epoch >= self.cfg.epochs:
            return "epochs"
        if reason := self._should_stop():  # e.g. a resumed run that already reached its end
            return reason
        for batch in self.data.batches(self.pos.epoch, self.pos.batch):
            reason = self._step(batch, bar)
            if reason:
                return reason
        self._log_row(complete=True)
        self.pos.next_epoch()
        self._save()
        self._last_ckpt = time.monotonic()
        return None

    def _step(self, batch: dict, bar) -> str | None:
        """One optimisation step, its logging and checkpointing; a stop reason or None."""
        cfg, pos = self.cfg, self.pos
        batch = {k: self._on_device(v) for k, v in batch.items()}
        lr_factor = self._set_lr(pos.step, time.monotonic() - self._start)
        losses, dropped = self.stop.run_step(lambda: self.task.training_step(batch, pos.step))
        if dropped:  # a signal before the step updated any weight: as if it never began
            return f"signal:{self.stop.signal}"
        bad = [k for k, v in losses.items() if not math.isfinite(v)]
        if bad:
            raise DustbenchError(f"loss {bad[0]} became {losses[bad[0]]} at step {pos.step}; "
                                 f"lower --lr (now {cfg.lr:g}) or check the data")
        pos.add(losses)
        self._steps_here += 1
        pos.elapsed_s = time.monotonic() - self._start
        self._tick(bar, losses, lr_factor)
        reason = self._should_stop()
        if cfg.val_every and pos.step % cfg.val_every == 0 and reason is None:
            self._log_row(complete=False)
        if reason:
            return reason
        if self.info.is_main and time.monotonic() - self._last_ckpt > cfg.checkpoint_every:
            self._save()
            self._last_ckpt = time.monotonic()
        return None

    def _on_device(self, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.to(self.info.device, non_blocking=True)
        if self.layout == "channels_last" and tensor.ndim == 4:
            return tensor.contiguous(memory_format=self._format)
        return tensor

    def _set_lr(self, step: int, elapsed: float) -> float:
        """Linear decay to 0 over the horizon (or the time budget, whichever ends first), shaped by the task."""
        progress = step / max(1, self.horizon)
        if self.cfg.time_budget:
            progress = max(progress, elapsed / self.cfg.time_budget)
        factor = self.task.lr_factor(max(0.0, 1.0 - progress))
        for opt in self.task.optimizers.values():
            for g in opt.param_groups:
                g["lr"] = g["initial_lr"] * factor
        return factor

    def _should_stop(self) -> str | None:
        cfg, pos = self.cfg, self.pos
        if cfg.max_steps and pos.step >= cfg.max_steps:
            return "max_steps"
        if self.stop_after and self._steps_here >= self.stop_after:
            return "stop_after"
        # Rank 0's clock decides the time budget for everyone; a signal on any rank stops them all; one
        # collective for both, so all ranks stop at the same step.
        over = bool(cfg.time_budget) and self.info.is_main and pos.elapsed_s >= cfg.time_budget
        if distributed.any_true(over or self.stop.signal is not None, self.info):
            return "time_budget" if over or self.stop.signal is None else f"signal:{self.stop.signal}"
        return None

    def _log_row(self, complete: bool) -> None:
        """Epoch means of the losses (over ranks) + validation, appended to history.csv (rank 0)."""
        pos = self.pos
        means = {f"loss_{k}": v / max(1, pos.n) for k, v in sorted(pos.sums.items())}
        means = distributed.mean_dict(means, self.info)
        pos.logged_step = pos.step
        if not self.info.is_main:
            distributed.barrier(self.info)
            return
        row = {"epoch": pos.epoch + (1 if complete else 0), "epoch_complete": complete, "step": pos.step,
               "time_s": round(pos.elapsed_s, 2),
               "lr": next(iter(self.task.optimizers.values())).param_groups[0]["lr"], **means}
        if self.val_samples:
            row.update(validate_task(self.task, self.val_samples))
            self.task.train(True)
        row.update({f"note_{k}": v for k, v in self.notes.items()})
        self.log.add(row)
        distributed.barrier(self.info)

    def _meta(self) -> dict:
        """What the checkpoint (and the model card of its export) records about the run so far."""
        last = self.log.rows[-1] if self.log.rows else {}
        meta = {"steps": self.pos.step, "epoch": self.pos.epoch, "wall_time_s": round(self.pos.elapsed_s, 2),
                "val": {k: v for k, v in last.items() if k.startswith("val_")}, "data": self.data.describe(),
                "notes": self.notes, "parameters": self.params, "world_size": self.info.world,
                "device": str(self.info.device), "train_config": self.cfg.to_dict(), "init_from": self.init}
        return json.loads(json.dumps(meta, default=str))

    def _save(self) -> None:
        if not self.info.is_main:
            return
        ckpt_io.save_train_checkpoint(
            self.ckpt_path, model_name=self.cfg.model, model_config=self.cfg.model_config,
            modules=self.task.modules(), optimizers=self.task.optimizers, position=asdict(self.pos),
            train_config=self.cfg.to_dict(), task_options=self.task.options, notes=self.notes,
            log_rows=self.log.rows, rng=ckpt_io.rng_state(self.info.device), meta=self._meta())

    # -- progress ----------------------------------------------------------------------------------
    def _bar(self):
        if not (self.cfg.progress and self.info.is_main):
            return None
        if self.cfg.time_budget:  # ETA of a time budget is the budget: count seconds
            return tqdm(total=int(self.cfg.time_budget), initial=int(self.pos.elapsed_s), unit="s",
                        desc=f"train {self.cfg.model}", dynamic_ncols=True)
        return tqdm(total=self.horizon, initial=self.pos.step, unit="step", desc=f"train {self.cfg.model}",
                    dynamic_ncols=True)

    def _tick(self, bar, losses: dict, lr_factor: float) -> None:
        self.log.step(self.pos.step, {**losses, "lr": self.cfg.lr * lr_factor})  # TensorBoard from the first step
        if bar is None:
            return
        if self.cfg.time_budget:
            bar.update(max(0, min(int(self.pos.elapsed_s), bar.total) - bar.n))
        else:
            bar.update(1)
        bar.set_postfix(step=self.pos.step, epoch=self.pos.epoch, loss=f"{losses.get('total', math.nan):.4g}",
                        lr=f"{self.cfg.lr * lr_factor:.2e}", refresh=False)
