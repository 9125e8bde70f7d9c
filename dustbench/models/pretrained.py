"""Published weights of the model families: ``create_model(NAME, pretrained=True)`` (as in timm).

The weights live in a folder (``pretrained/`` in the repository, ``dustbench/pretrained`` inside the
wheel; ``$DUSTBENCH_PRETRAINED_DIR`` points elsewhere) holding ``manifest.json``, which maps each
model name to a weights file, the config that builds its network and the file's SHA-256:

    {"format": "dustbench-pretrained", "version": 1,
     "models": {"dust_gan": {"weights": "dust_gan.pt", "config": {}, "channels": 3, "sha256": "...",
                             "source": "...", ...}}}

Each weights file is a weights-only dustbench checkpoint (:mod:`.checkpoint`, read with
``torch.load(weights_only=True)``), so the network built from it is a real module of its family.
:func:`publish` (called by ``dustbench export --pretrained-dir DIR``) and
:func:`publish_torchscript` (for files exported earlier) write a file and its manifest entry, so
republished weights drop in without code changes.
"""
from __future__ import annotations

import json
import os
import warnings
from importlib import resources
from pathlib import Path
from typing import Any

import torch

from ..errors import DustbenchError
from ..hashing import file_sha256
from ..io import write_json_atomic
from ..safe_torch import load_script_module
from .checkpoint import build_model, checkpoint_channels, read_checkpoint, write_checkpoint
from . import registry

MANIFEST = "manifest.json"
FORMAT = "dustbench-pretrained"
DIR_ENV = "DUSTBENCH_PRETRAINED_DIR"


def pretrained_dir() -> Path:
    """The folder of published weights: ``$DUSTBENCH_PRETRAINED_DIR``, the wheel's, or the repository's."""
    if os.environ.get(DIR_ENV):
        return Path(os.environ[DIR_ENV]).expanduser()
    candidates = [Path(str(resources.files("dustbench").joinpath("pretrained"))),
                  Path(__file__).resolve().parents[2] / "pretrained"]
    return next((c for c in candidates if (c / MANIFEST).is_file()), candidates[-1])


def read_manifest(folder: Path | None = None) -> dict[str, Any]:
    """The manifest of ``folder`` (default :func:`pretrained_dir`); an empty one when there is none."""
    path = Path(folder or pretrained_dir()) / MANIFEST
    if not path.is_file():
        return {"format": FORMAT, "version": 1, "models": {}}
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise DustbenchError(f"{path}: unreadable manifest ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT or not isinstance(manifest.get("models"), dict):
        raise DustbenchError(f"{path}: not a {FORMAT} manifest")
    for name, entry in manifest["models"].items():  # checked here, so every reader can trust the entries
        if not isinstance(entry, dict) or not isinstance(entry.get("weights"), str) or not entry["weights"]:
            raise DustbenchError(f"{path}: entry {name!r} is not an object with a 'weights' file name")
        if not isinstance(entry.get("sha256"), str) or len(entry["sha256"]) != 64:
            raise DustbenchError(f"{path}: entry {name!r} has no SHA-256 of its weights (64 hex digits), so "
                                 "they could not be checked")
    return manifest


def pretrained_names(folder: Path | None = None) -> list[str]:
    """Model names with published weights, sorted."""
    return sorted(read_manifest(folder)["models"])


def list_models(pattern: str | list[str] | None = None, pretrained: bool = False) -> list[str]:
    """Names of the registered model families, sorted; ``pattern`` filters them (fnmatch globs, e.g.
    ``'dust*'``, or a list of globs); ``pretrained=True`` keeps those with published weights."""
    names = registry.list_models(pattern)
    if pretrained:
        published = set(pretrained_names())
        names = [n for n in names if n in published]
    return names


def create_model(name: str, pretrained: bool = False, **config: Any) -> torch.nn.Module:
    """Build model ``name`` with ``config``; unknown config keys raise DustbenchError listing valid ones.

    ``pretrained=True`` loads its published weights into the network of the config they were
    trained with, and returns it in eval mode.
    """
    if pretrained:
        registry.check_config(name, config)
        return load_pretrained(name, config)
    return registry.create_model(name, **config)


def pretrained_checkpoint(name: str, folder: Path | None = None) -> tuple[dict, Path]:
    """The checkpoint dict of ``name``'s published weights (checked against the manifest) and its file."""
    folder = Path(folder or pretrained_dir())
    entry = read_manifest(folder)["models"].get(name)
    if entry is None:
        have = ", ".join(pretrained_names(folder)) or "none"
        raise DustbenchError(f"no published weights for model {name!r} in {folder} (published: {have})")
    path = folder / entry["weights"]
    if not path.is_file():
        raise DustbenchError(f"{path}: the published weights of {name!r} are missing")
    if file_sha256(path) != entry["sha256"]:
        raise DustbenchError(f"{path}: does not match the SHA-256 in {folder / MANIFEST} (changed or damaged)")
    ckpt = read_checkpoint(path)
    if ckpt["model"] != name:
        raise DustbenchError(f"{path}: holds weights of {ckpt['model']!r}, not {name!r}")
    return ckpt, path


def _same_config(name: str, config: dict, published: dict, where) -> None:
    if config and dict(config) != dict(published):
        raise DustbenchError(f"{where}: the weights of {name!r} were trained with config "
                             f"{json.dumps(published, sort_keys=True)}, not {json.dumps(config, sort_keys=True)}; "
                             "leave the config out to use theirs")


def load_pretrained(name: str, config: dict | None = None, folder: Path | None = None) -> torch.nn.Module:
    """Model ``name`` with its published weights, in eval mode (``.train()`` to fine-tune it)."""
    ckpt, path = pretrained_checkpoint(name, folder)
    _same_config(name, config or {}, ckpt["config"], path)
    return build_model(ckpt, path)


def init_weights(name: str, config: dict, source: str) -> tuple[dict, dict, dict]:
    """Weights to start training ``name`` from: ``source`` is a model name with published weights or a
    checkpoint file / run folder. Returns (config to build, state_dict, record of where they came from)."""
    path = Path(source).expanduser()
    if path.exists() or source.endswith((".pt", ".pth", ".ckpt")) or os.sep in source:
        ckpt = read_checkpoint(path)
        path = path / "checkpoint.pt" if path.is_dir() else path
    else:
        ckpt, path = pretrained_checkpoint(source)
    if ckpt["model"] != name:
        raise DustbenchError(f"--init-from {source}: holds weights of {ckpt['model']!r}, not {name!r}")
    _same_config(name, config, ckpt["config"], f"--init-from {source}")
    record = {"source": source, "file": str(path), "sha256": file_sha256(path),
              "steps": (ckpt.get("meta") or {}).get("steps")}
    return dict(ckpt["config"]), ckpt["state_dict"], record


def initial_model(name: str, config: dict, init_from: str | None = None, resumed: dict | None = None):
    """(network, config, record) a training run starts from: fresh, or with ``init_from``'s weights
    (:func:`init_weights`; the run adopts their config). A resumed run (``resumed`` = its checkpoint)
    is built fresh, its own weights being loaded afterwards, and keeps the record of its start."""
    if resumed is not None or not init_from:
        record = ((resumed or {}).get("meta") or {}).get("init_from")
        return registry.create_model(name, **config), dict(config), record
    config, weights, record = init_weights(name, config, init_from)
    model = registry.create_model(name, **config)
    model.load_state_dict(weights, strict=True)
    return model, config, record


def publish(model: torch.nn.Module, name: str, config: dict, folder, *, channels: int = 3,
            **about: Any) -> dict[str, Any]:
    """Write ``model``'s weights as ``folder/NAME.pt`` and its manifest entry; ``about`` (plain values:
    where the weights come from, steps, validation) is recorded in both. Returns the entry."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(folder)
    path = folder / f"{name}.pt"
    write_checkpoint(path, model, name, config, channels=channels, meta=about)
    entry = {"weights": path.name, "config": dict(config), "channels": channels, "sha256": file_sha256(path), **about}
    manifest["models"] = {**manifest["models"], name: entry}
    manifest["models"] = dict(sorted(manifest["models"].items()))
    write_json_atomic(folder / MANIFEST, manifest)
    return entry


def publish_checkpoint(checkpoint, folder, **about: Any) -> dict[str, Any]:
    """:func:`publish` the network of a dustbench checkpoint (a training run's, or an export's)."""
    ckpt = read_checkpoint(checkpoint)
    meta = ckpt.get("meta") or {}
    facts = {"steps": meta.get("steps"), "validation": meta.get("val") or {}}
    return publish(build_model(ckpt, checkpoint), ckpt["model"], ckpt["config"], folder,
                   channels=int(checkpoint_channels(ckpt) or 3), **{**facts, **about})


def publish_torchscript(path, name: str, config: dict, folder, *, channels: int = 3, **about: Any) -> dict:
    """:func:`publish` the weights of a TorchScript file exported from model ``name`` with ``config``.

    The file's parameters and buffers are loaded into a fresh module of the family (strictly: every
    name and shape must match), so the result computes exactly what the file computes.
    """
    path = Path(path)
    with warnings.catch_warnings():  # torch 2.9+ flags TorchScript as deprecated; still supported
        warnings.simplefilter("ignore", DeprecationWarning)
        scripted = load_script_module(path, map_location="cpu")  # checked as every loaded model file is
    model = registry.create_model(name, **config)
    try:
        model.load_state_dict(scripted.state_dict(), strict=True)
    except RuntimeError as exc:
        raise DustbenchError(f"{path}: its weights do not fit {name!r} with config {config}: "
                             f"{' '.join(str(exc).split())[:300]}") from None
    return publish(model.eval(), name, config, folder, channels=channels, source=path.as_posix(),
                   source_sha256=file_sha256(path), **about)
