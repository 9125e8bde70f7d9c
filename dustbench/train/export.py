"""``dustbench export RUN/checkpoint.pt --out model.pt``: a self-contained model file plus a model card.

The file is TorchScript: it takes N×C×H×W float32 in [0, 1] of any H, W and returns the same
shape (padding to the down-sampling factor and the median filter happen inside), and runs with
no dustbench model code: ``torch.jit.load("model.pt")`` or ``dustbench evaluate model.pt --data
builtin --out ...``. (``torch.export`` with dynamic H and W was tried and is not offered: its
shape solver cannot prove that padding to even, halving and pixel-shuffling give back the padded
size, so it refuses odd sizes.)

Before the file is kept, it is loaded back through :func:`dustbench.methods.load_model_file` and
compared with the eager model on odd-sized inputs; a mismatch is an error, not a warning.
The model card (``model.card.md`` + ``model.card.json`` beside the file) records the config,
training data, steps, wall time, validation metrics against ``identity``, and the run's notes;
``model.card.md`` is a Hugging Face ``ModelCard`` (YAML front matter: ``library_name``, tags,
``datasets``, metrics and the validation results as ``model-index``), and :func:`model_files` is what
``dustbench export --push-to-hub REPO`` uploads (the card as ``README.md``). ``pretrained_dir``
also publishes the weights for ``create_model(NAME, pretrained=True)``
(:func:`dustbench.models.pretrained.publish_checkpoint`).
"""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import torch

from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from ..evaluation.model_card import clean_images_caveat
from ..hashing import file_sha256
from ..io import atomic_path, output_file, write_json_atomic, write_text_atomic
from ..methods import load_model_file
from ..methods.loaded import INFO_FILE
from ..models.checkpoint import build_model, checkpoint_channels, file_info, read_checkpoint
from ..models.pretrained import publish_checkpoint

FORMATS = ("torchscript",)
CHECK_SHAPES = ((1, 37, 45), (2, 64, 50))  # (batch, H, W): odd and even sizes
TOLERANCE = 1e-4


def _script(model: torch.nn.Module, path: Path, info: dict | None = None) -> None:
    with warnings.catch_warnings():  # torch 2.9+ flags TorchScript as deprecated; it is still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            scripted = torch.jit.script(model)
        except Exception as exc:
            raise DustbenchError(f"TorchScript cannot compile this model ({' '.join(str(exc).split())[:300]})") from None
        files = {INFO_FILE: json.dumps(info, sort_keys=True)} if info else None
        with atomic_path(path) as tmp:
            torch.jit.save(scripted, str(tmp), _extra_files=files)


def check_exported(path: Path, model: torch.nn.Module, channels: int) -> float:
    """Largest |exported − eager| over :data:`CHECK_SHAPES`, loaded the way ``evaluate`` loads it."""
    method = load_model_file(path, tile=None)
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    for n, hh, ww in CHECK_SHAPES:
        x = torch.rand(n, channels, hh, ww, generator=gen)
        with torch.no_grad():
            want = model(x)
            got = method.module(x)
        if tuple(got.shape) != tuple(x.shape):
            raise DustbenchError(f"{path}: exported model returned {tuple(got.shape)} for input {tuple(x.shape)}")
        worst = max(worst, float((got - want).abs().max()))
    image = torch.rand(29, 31, channels, generator=gen).numpy()  # and through the Method interface
    out = method(image.astype(np.float32))
    if out.shape != image.shape:
        raise DustbenchError(f"{path}: load_model_file returned {out.shape} for an image of {image.shape}")
    if worst > TOLERANCE:
        raise DustbenchError(f"{path}: exported model differs from the checkpoint by {worst:.2e} (> {TOLERANCE})")
    return worst


def export_model(checkpoint, out, *, format: str = "torchscript", card: bool = True, dataset_ids=None,
                 pretrained_dir=None, inference: dict | None = None) -> dict:
    """Export ``checkpoint`` (a file or a run folder) to ``out``; returns the model card as a dict.

    ``dataset_ids`` (Hub dataset ids the model was trained on) go to the card's ``datasets:``
    (default: the training data's ``hf:`` name, if any); ``pretrained_dir`` also writes the weights
    and their manifest entry there (see :mod:`dustbench.models.pretrained`). ``inference`` overrides
    what a detector file records about its use (threshold, dilation, how they were chosen).
    """
    if format not in FORMATS:
        raise DustbenchError(f"format must be one of {FORMATS}, got {format!r}")
    out = Path(out).expanduser()
    if out.suffix.lower() not in (".pt", ".ts", ".pth"):
        raise DustbenchError(f"-o {out}: use a .pt file name (TorchScript)")
    output_file(out, "--out")
    ckpt = read_checkpoint(checkpoint)
    model = build_model(ckpt, checkpoint).cpu()
    channels = int(checkpoint_channels(ckpt) or 3)
    info_extra = file_info(ckpt)
    if inference:
        if info_extra.get("kind") != "detector":
            raise DustbenchError(f"{checkpoint}: inference settings apply to detector models only")
        info_extra = {**info_extra, **inference}
    _script(model, out, info_extra)
    try:
        max_diff = check_exported(out, model, channels)
    except Exception:
        out.unlink(missing_ok=True)  # never leave an export that does not match its checkpoint
        raise
    info = model_card(ckpt, checkpoint, out, format, max_diff, model)
    if info_extra.get("kind") == "detector":
        info.update(kind="detector", inference=info_extra,
                    contract="input N×C×H×W float32 in [0, 1], any H and W; output P(artifact), repeated on "
                             "every channel (load_model_file/evaluate inpaint the pixels it flags)")
    if card:
        stem = out.with_suffix("")
        write_json_atomic(stem.parent / f"{stem.name}.card.json", info)
        write_text_atomic(stem.parent / f"{stem.name}.card.md", card_markdown(info, dataset_ids))
    if pretrained_dir is not None:
        publish_checkpoint(checkpoint, pretrained_dir, source=out.as_posix(), source_sha256=info["sha256"])
    return info


def model_files(model_file) -> dict[str, Path]:
    """What ``--push-to-hub`` uploads for an exported model: its card as README.md, the file, the card's JSON."""
    path = Path(model_file)
    stem = path.with_suffix("")
    files = {"README.md": stem.parent / f"{stem.name}.card.md", path.name: path,
             f"{stem.name}.card.json": stem.parent / f"{stem.name}.card.json"}
    missing = [str(f) for f in files.values() if not f.is_file()]
    if missing:
        raise DustbenchError(f"{path}: cannot publish it without {', '.join(missing)} (export it with its card)")
    return files


MODEL_LICENSE = "bsd-3-clause"  # dustbench's own: the exported weights are the trainer's output


def hub_datasets(info: dict, dataset_ids=None) -> list[str]:
    """Hub dataset ids for the card: ``dataset_ids``, else the training data's ``hf:NAME[:split]``."""
    if dataset_ids:
        return [dataset_ids] if isinstance(dataset_ids, str) else list(dataset_ids)
    data = str(((info["training"] or {}).get("train_config") or {}).get("data") or "")
    ds = parse_data_spec(data) if data else None
    return [ds.text[3:].partition(":")[0]] if ds is not None and ds.kind == "hub" else []


def card_metadata(info: dict, dataset_ids=None) -> dict:
    """The model card's YAML front matter (Hugging Face ``ModelCardData`` fields)."""
    from huggingface_hub import EvalResult

    v = info["validation"]
    val_set = str(((info["training"] or {}).get("train_config") or {}).get("val") or "builtin")
    results = [EvalResult(task_type="image-to-image", dataset_type=val_set, dataset_name=f"dustbench validation: "
                          f"{val_set}", dataset_split="validation", metric_type=m, metric_name=m.upper(),
                          metric_value=round(float(v[f"val_{m}"]), 4))
               for m in ("psnr", "ssim") if isinstance(v.get(f"val_{m}"), (int, float))]
    tags = ["dustbench", "film-restoration", "image-restoration", info["model"], info["format"]]
    if info.get("kind") == "detector":
        tags.append("artifact-detection")
    meta = {"library_name": "dustbench", "license": MODEL_LICENSE, "pipeline_tag": "image-to-image", "tags": tags,
            "datasets": hub_datasets(info, dataset_ids) or None, "metrics": ["psnr", "ssim"]}
    if results:
        meta.update(model_name=Path(info["file"]).stem, eval_results=results)
    return meta


def model_card(ckpt: dict, checkpoint, out: Path, format: str, max_diff: float, model) -> dict:
    meta = ckpt.get("meta") or {}
    digest = file_sha256(out)
    return {
        "model": ckpt["model"], "name": out.stem,  # the row name evaluate and the board give this file
        "config": ckpt["config"], "file": out.name, "format": format, "sha256": digest,
        "parameters": sum(int(p.numel()) for p in model.parameters()),
        "contract": "input N×C×H×W float32 in [0, 1], any H and W; output the same shape, in [0, 1]",
        "channels": int(ckpt.get("channels") or 3), "checkpoint": str(checkpoint),
        "export_check_max_abs_diff": max_diff,
        "training": {k: meta.get(k) for k in ("steps", "epoch", "wall_time_s", "world_size", "device", "data",
                                              "train_config", "parameters")},
        "notes": meta.get("notes") or {},
        "validation": meta.get("val") or {},
        "torch": torch.__version__,
    }


def card_markdown(info: dict, dataset_ids=None) -> str:
    """The model card: a Hugging Face ``ModelCard`` (YAML front matter, then :func:`card_body`)."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(**card_metadata(info, dataset_ids))
    return str(ModelCard(f"---\n{data.to_yaml()}\n---\n\n{card_body(info)}"))


def card_body(info: dict) -> str:
    t, v = info["training"], info["validation"]
    cfg = t.get("train_config") or {}
    name = info.get("name") or Path(info["file"]).stem
    lines = [f"# Model card: {name} ({info['model']} family, {info['file']})", "",
             f"- format: {info['format']}, {info['parameters']:,} parameters, sha256 `{info['sha256'][:16]}…`",
             f"- contract: {info['contract']}",
             f"- model config: `{json.dumps(info['config'], sort_keys=True)}`",
             f"- trained: {t.get('steps')} steps, {t.get('epoch')} full epochs, {t.get('wall_time_s')} s wall time "
             f"on {t.get('world_size')} × {t.get('device')}"
             + (" (CPU only: a short budget, not the paper's 200 epochs)" if str(t.get("device")).startswith("cpu")
                else ""),
             f"- batch {cfg.get('batch_size')}, patch {cfg.get('patch')}, lr {cfg.get('lr')} (linear decay), "
             f"seed {cfg.get('seed')}",
             f"- data: `{json.dumps(t.get('data'), sort_keys=True, default=str)}`"]
    caveat = clean_images_caveat(t.get("data"))
    if caveat:
        lines.append(f"- caveat: {caveat}")
    lines += [f"- {k}: {val}" for k, val in sorted(info["notes"].items())]
    point = info.get("inference") or {}
    if info.get("kind") == "detector" and "threshold" in point:  # what load_model_file / evaluate use
        grown = f", grown to connected pixels >= {point['grow']:g}" if point.get("grow") else ""
        how = f" (chosen for {point['calibrated']})" if point.get("calibrated") else ""
        lines.append(f"- operating point: inpaint P(artifact) >= {point['threshold']:g}{grown}, dilated "
                     f"{point.get('dilate')} px, {point.get('fill', 'telea')} fill{how}")
    lines += ["", f"## Validation on `{cfg.get('val')}` (last evaluation during training)", ""]
    if v:
        lines += ["| metric | model | identity (input) |", "|---|---|---|"]
        for key in ("val_psnr", "val_ssim", "val_psnr_in", "val_psnr_out", "val_clean_change_rate"):
            if key in v:
                ident = v.get(f"{key}_identity")
                lines.append(f"| {key[4:]} | {v[key]:.4f} | {'' if ident is None else f'{ident:.4f}'} |")
    elif str(cfg.get("val")).lower() == "none":
        lines.append("none recorded (trained with --val none)")
    else:
        lines.append("none recorded yet: the run stopped before its first validation")
    lines += ["", f"Export check: max |exported − checkpoint| = {info['export_check_max_abs_diff']:.2e} on odd sizes; "
              f"torch {info['torch']}.", ""]
    return "\n".join(lines)
