"""`dustbench train MODEL --data DIR|stream|builtin-train --out RUN`: the shared trainer.

Under ``torchrun --nproc-per-node K`` the same command trains with DistributedDataParallel.
"""
from __future__ import annotations

import json
import signal
from pathlib import Path

from ..allocator import keep_freed_memory
from ..errors import DustbenchError
from ..synth.grain import stock_names
from ._args import add_command, parse_duration, parse_key_values

def load_config_file(path) -> dict:
    """A JSON or TOML file of TrainConfig fields (``model_config`` / ``task_options`` as tables)."""
    path = Path(path)
    if not path.is_file():
        raise DustbenchError(f"--config {path}: no such file")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".toml":
            import tomllib
            return tomllib.loads(text)
        return json.loads(text)
    except Exception as exc:
        raise DustbenchError(f"--config {path}: cannot parse it ({exc})") from None


def build_config(args):
    from ..train import TrainConfig  # deferred: imports torch

    fields = set(TrainConfig.__dataclass_fields__)
    base = load_config_file(args.config) if args.config else {}
    unknown = sorted(set(base) - fields)
    if unknown:
        raise DustbenchError(f"--config {args.config}: unknown key(s) {unknown}; valid: {', '.join(sorted(fields))}")
    base = {**base, "model": args.model, "out": args.out}
    base["model_config"] = dict(base.get("model_config") or {})
    base["task_options"] = dict(base.get("task_options") or {})
    for key, value in parse_key_values(args.set, "--set", "model.width=16"):
        section, dot, name = key.partition(".")
        if not dot or section not in ("model", "task", "train"):
            raise DustbenchError(f"--set {key!r}: expected model.KEY=VALUE, task.KEY=VALUE or train.KEY=VALUE")
        if section == "model":
            base["model_config"][name] = value
        elif section == "task":
            base["task_options"][name] = value
        elif name not in fields:
            raise DustbenchError(f"--set {key!r}: TrainConfig has no field {name!r}")
        else:
            base[name] = value
    if args.vgg_weights:
        base["task_options"]["vgg_weights"] = args.vgg_weights
    for name in ("data", "epochs", "max_steps", "time_budget", "batch_size", "patch", "lr", "seed", "val",
                 "val_every", "val_limit", "steps_per_epoch", "workers", "device", "amp", "threads", "presets",
                 "memory_format",
                 "scan_scale", "grain", "damage_share", "init_from"):
        value = getattr(args, name)
        if value is not None:
            base[name] = value
    if args.compile:
        base["compile"] = True
    if args.no_tensorboard:
        base["tensorboard"] = False
    if args.quiet:
        base["progress"] = False
    return TrainConfig(**base)


def _add_damage_arguments(g) -> None:
    """What damage is drawn while training on builtin-train or a stream."""
    g.add_argument("--presets", help="damage presets for builtin-train/stream (default '*_scan_*')")
    g.add_argument("--scan-scale", metavar="PX|FILM@DPI[..]",
                   help="builtin-train/stream: draw damage as on a film frame of this short side (3400, "
                        "35mm@4000dpi; LO..HI draws one per sample, e.g. 2000..4000); default: whole frames")
    g.add_argument("--grain", metavar="STOCK[@DPI]",
                   help="builtin-train/stream: add film grain of this stock to the clean images before the damage "
                        "(the target keeps it; see docs/presets.md): " + ", ".join(stock_names()) + "; default none")
    g.add_argument("--damage-share", type=float, metavar="P",
                   help="stream: balanced sampling, a share P of patches holding damage and the rest left clean "
                        "(hard negatives: text, edges, grain); default: damage as drawn")


def register(subparsers) -> None:
    p = add_command(subparsers, "train", "train a registered model (checkpoints, --resume, DDP under torchrun)",
                    "Train MODEL (see `dustbench list models`) with the shared trainer. Writes OUT/config.json, "
                    "OUT/checkpoint.pt (atomic; resumable; also evaluable), OUT/history.csv (losses and "
                    "validation PSNR/SSIM per epoch), OUT/curves.png and, with TensorBoard installed, "
                    "OUT/tensorboard/. Run it under `torchrun --nproc-per-node K` "
                    "for DistributedDataParallel (gloo on CPU, nccl on GPU). Defaults follow Mironică (2020): "
                    "Adam, lr 5e-4 decaying linearly to 0, batch 32, 128x128 patches, 200 epochs.",
                    ["dustbench train dust_gan --out runs/gan --time-budget 45m",
                     "dustbench train segnet --data ds/ --out runs/seg --batch-size 16 --set task.artifact_weight=10",
                     "dustbench train dust_gan --out runs/gan --resume",
                     "dustbench train dust_gan --data ds/ --out runs/tuned --init-from dust_gan --lr 1e-4",
                     "torchrun --nproc-per-node 4 -m dustbench train dust_gan --data ds/ --out runs/gan"])
    p.add_argument("model", metavar="MODEL", help="a registered model name")
    p.add_argument("--data", help="'builtin-train' (default: damage on built-in images not used by the builtin "
                                  "evaluation sets), 'stream' or 'stream:SOURCES' (dustbench.data.DamageStream), "
                                  "a `dustbench make-dataset` folder, or a folder of pairs")
    p.add_argument("--out", required=True, help="run folder")
    stop = p.add_argument_group("when to stop (the first limit reached; lr decays to 0 at that point)")
    stop.add_argument("--epochs", type=int)
    stop.add_argument("--max-steps", type=int)
    stop.add_argument("--time-budget", type=parse_duration, metavar="DURATION", help="e.g. 45m, 1h30m, 600")
    stop.add_argument("--stop-after", type=int, metavar="N",
                      help="checkpoint and stop after N steps of this invocation (the schedule still spans the run)")
    p.add_argument("--batch-size", type=int)
    p.add_argument("--patch", type=int, help="training patch size in px")
    p.add_argument("--lr", type=float, help="base learning rate")
    p.add_argument("--seed", type=int)
    _add_damage_arguments(p.add_argument_group("damage drawn for builtin-train/stream"))
    p.add_argument("--steps-per-epoch", type=int)
    p.add_argument("--val", help="validation pairs: 'auto' (default: the --data folder's own validation split when "
                                 "it has one, else 'builtin'), 'builtin', 'none', or a folder with a validation split")
    p.add_argument("--val-limit", type=int, metavar="N", help="validate on the first N pairs only")
    p.add_argument("--val-every", type=int, metavar="STEPS", help="also validate every STEPS steps")
    p.add_argument("--config", help="JSON or TOML file of TrainConfig fields (model_config, task_options as tables)")
    p.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override one setting, repeatable: model.width=16, task.w_adversarial=0, train.pool=512")
    p.add_argument("--vgg-weights", metavar="FILE", help="local ImageNet VGG-19 state dict for the perceptual loss "
                                                         "(else $DUSTBENCH_VGG19_WEIGHTS; else the term is off)")
    p.add_argument("--init-from", metavar="NAME_OR_FILE",
                   help="fine-tune: start from these weights (a model name with published weights, see `dustbench "
                        "list models --pretrained`, or a checkpoint / run folder); fresh optimizer and schedule")
    p.add_argument("--resume", action="store_true", help="continue OUT/checkpoint.pt exactly")
    p.add_argument("--overwrite", action="store_true", help="start afresh even if OUT has a checkpoint")
    p.add_argument("--workers", type=int, help="DataLoader worker processes per rank")
    p.add_argument("--device", help="auto (default: this rank's GPU if any), cpu, cuda, cuda:1")
    p.add_argument("--amp", choices=("none", "bf16"), help="bf16 autocast of forward passes")
    p.add_argument("--compile", action="store_true", help="torch.compile the training modules")
    p.add_argument("--memory-format", metavar="LAYOUT",
                   help="layout of modules and batches: channels_last (NHWC), contiguous (NCHW), or auto (default: "
                        "NHWC on CPU, where convolutions train 1.2-2.1x faster; NCHW on other devices)")
    p.add_argument("--threads", type=int, help="torch intra-op threads per process")
    p.add_argument("--no-tensorboard", action="store_true",
                   help="no TensorBoard event files (written to OUT/tensorboard when tensorboard is installed)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def run(args) -> int:
    import os

    from ..train import train  # deferred: imports torch

    keep_freed_memory()  # a process-wide allocator setting: the command owns the process

    config = build_config(args)
    result = train(config, resume=args.resume, stop_after=args.stop_after, overwrite=args.overwrite)
    if int(os.environ.get("RANK", "0")) != 0:
        return 0
    v = result.val
    print(f"{config.model}: {result.step} steps, {result.epoch} epochs, {result.wall_time_s:.0f} s "
          f"(stopped: {result.stop_reason}); checkpoint {result.checkpoint}")
    if "val_psnr" in v:
        print(f"  validation PSNR {v['val_psnr']:.2f} dB (identity {v.get('val_psnr_identity', float('nan')):.2f}), "
              f"SSIM {v.get('val_ssim', float('nan')):.4f}"
              + (f", PSNR in/out artifacts {v['val_psnr_in']:.2f}/{v['val_psnr_out']:.2f} dB" if "val_psnr_in" in v else ""))
    print(f"  logs: {result.out / 'history.csv'}, {result.out / 'curves.png'}; "
          f"export: dustbench export {result.checkpoint} --out model.pt")
    if result.stop_reason.startswith("signal:"):  # a scheduler's SIGTERM or Ctrl-C: resumable
        name = result.stop_reason.split(":", 1)[1]
        print(f"  stopped by {name}; continue with `dustbench train {config.model} --out {config.out} --resume`")
        return 128 + int(getattr(signal.Signals, name))
    return 0
