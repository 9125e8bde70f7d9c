"""`dustbench export RUN/checkpoint.pt --out model.pt`: a self-contained model file + model card."""
from __future__ import annotations


from ._args import add_command


def register(subparsers) -> None:
    p = add_command(subparsers, "export", "export a training checkpoint to TorchScript with a model card",
                    "Write CHECKPOINT's network as a TorchScript file that "
                    "`dustbench evaluate FILE` and torch.jit.load run without dustbench's model code: input and "
                    "output N×C×H×W float32 in [0, 1], any H and W. The file is loaded back and checked against "
                    "the checkpoint before it is kept. Also writes FILE.card.md/.card.json (config, data, steps, "
                    "wall time, validation metrics).",
                    ['dustbench export runs/gan --out gan.pt',
                     'dustbench export runs/gan/checkpoint.pt --out gan.pt --no-card'])
    p.add_argument("checkpoint", help="RUN/checkpoint.pt (or the RUN folder)")
    p.add_argument("--out", "--output", dest="output", required=True, metavar="FILE.pt",
                   help="model file to write (TorchScript)")
    p.add_argument("--format", choices=("torchscript",), default="torchscript",
                   help="torch.export is not offered: it cannot keep H and W dynamic for this model")
    p.add_argument("--no-card", action="store_true", help="do not write the model card")
    p.set_defaults(func=run)


def run(args) -> int:
    from ..train.export import export_model  # deferred: imports torch

    info = export_model(args.checkpoint, args.output, format=args.format, card=not args.no_card)
    print(f"wrote {args.output} ({info['format']}, {info['parameters']:,} parameters, "
          f"{info['training'].get('steps')} training steps; export check max diff "
          f"{info['export_check_max_abs_diff']:.1e})")
    if not args.no_card:
        print(f"model card: {str(args.output).rsplit('.', 1)[0]}.card.md")
    return 0
