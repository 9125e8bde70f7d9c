"""`dustbench export RUN/checkpoint.pt --out model.pt`: a self-contained model file + model card."""
from __future__ import annotations

from ..errors import DustbenchError
from ._args import add_command, add_hub_arguments, check_hub_arguments, publish


def register(subparsers) -> None:
    p = add_command(subparsers, "export", "export a training checkpoint to TorchScript with a model card",
                    "Write CHECKPOINT's network as a TorchScript file that "
                    "`dustbench evaluate FILE` and torch.jit.load run without dustbench's model code: input and "
                    "output N×C×H×W float32 in [0, 1], any H and W. The file is loaded back and checked against "
                    "the checkpoint before it is kept. Also writes FILE.card.md/.card.json (config, data, steps, "
                    "wall time, validation metrics).",
                    ['dustbench export runs/gan --out gan.pt',
                     'dustbench export runs/gan/checkpoint.pt -o gan.pt --no-card',
                     'dustbench export runs/gan --out gan.pt --push-to-hub me/film-dust-gan --datasets me/film-dust',
                     'dustbench export runs/gan --out leaderboard/models/dust_gan.pt --pretrained-dir pretrained/'])
    p.add_argument("checkpoint", help="RUN/checkpoint.pt (or the RUN folder)")
    p.add_argument("-o", "--out", "--output", dest="output", required=True, metavar="FILE.pt",
                   help="model file to write (TorchScript)")
    p.add_argument("--format", choices=("torchscript",), default="torchscript",
                   help="torch.export is not offered: it cannot keep H and W dynamic for this model")
    p.add_argument("--no-card", action="store_true", help="do not write the model card")
    p.add_argument("--datasets", metavar="ID[,ID]",
                   help="Hub dataset ids the model was trained on, for the card's `datasets:` "
                        "(default: the training data's hf:NAME, if any)")
    p.add_argument("--pretrained-dir", metavar="DIR",
                   help="also write the weights and their manifest entry to DIR, for create_model(NAME, "
                        "pretrained=True) (the repository's pretrained/ folder ships in the wheel)")
    add_hub_arguments(p, "model")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.export import export_model, model_files  # deferred: imports torch

    check_hub_arguments(args)
    if args.push_to_hub and args.no_card:
        raise DustbenchError("--push-to-hub needs the model card (leave out --no-card)")
    info = export_model(args.checkpoint, args.output, format=args.format, card=not args.no_card,
                        dataset_ids=[d for d in (args.datasets or "").split(",") if d] or None,
                        pretrained_dir=args.pretrained_dir)
    print(f"wrote {args.output} ({info['format']}, {info['parameters']:,} parameters, "
          f"{info['training'].get('steps')} training steps; export check max diff "
          f"{info['export_check_max_abs_diff']:.1e})")
    if not args.no_card:
        print(f"model card: {str(args.output).rsplit('.', 1)[0]}.card.md")
    if args.pretrained_dir:
        print(f"published weights in {args.pretrained_dir} (manifest.json)")
    if args.push_to_hub:
        publish(args, model_files(args.output), "model")
    return 0
