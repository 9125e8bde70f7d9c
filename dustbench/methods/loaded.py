"""Methods backed by a model file: TorchScript, torch.export ``.pt2``, or a dustbench checkpoint.

Nothing here runs code a file carries (see :mod:`dustbench.safe_torch`): checkpoints are read with
``torch.load(weights_only=True)``, a file that holds a whole pickled ``nn.Module`` is refused with
instructions to export it, a ``torch.export`` archive is inspected before torch opens it, a zip whose
members could be read two ways is refused, and a TorchScript or exported model may call tensor
operators only (no files, processes or extensions).
Models take N×C×H×W float32 in [0, 1] and return the same. A model runs exactly what it is given:
:func:`dustbench.methods.apply_method` tiles images (memory stays bounded on full-resolution scans),
with a file's ``tile``/``overlap`` options as its defaults (:attr:`~dustbench.methods.base.Method.tiling`).

Channels: a 1-channel image given to a 3-channel model is repeated to RGB and the output averaged
back to grey; a 3-channel image given to a 1-channel model is run as a batch of three grey
images. The model's channel count comes from ``channels=``, else the checkpoint (``channels``
or ``config["in_channels"]``), the input spec of an exported program, or the first 4-D weight.

Detectors: a file that says it is one (a TorchScript ``dustbench-model.json`` extra file with
``"kind": "detector"``, or a checkpoint whose family's task has such ``file_info``) outputs
P(artifact), so it is returned wrapped in :class:`dustbench.methods.detect_inpaint.DetectInpaint`
(inpainting of what it flags), and evaluating it scores restored images.
"""
from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from ..devices import pick_device
from ..errors import DustbenchError
from ..models.checkpoint import build_model, checkpoint_channels, file_info, read_checkpoint
from ..safe_torch import load_export_program, load_script_module, open_archive
from .base import BadOutputError, Method
from .detect_inpaint import DetectInpaint
from .registry import MODEL_OPTIONS, MODEL_SUFFIXES
from .spec import MethodSpec

# TorchScript extra file written by `dustbench export` (what the file is: a detector and its settings);
# files exported by dustbench 0.1 named it "dustbench.json", which is still read.
INFO_FILE = "dustbench-model.json"
LEGACY_INFO_FILE = "dustbench.json"


class LoadedModel(Method):
    """A torch model (from a file, or an ``nn.Module`` given directly), run under
    ``torch.inference_mode()`` on what it is given, with grey/RGB adapted to the channels it takes.
    Its ``tile``/``overlap`` are :func:`~dustbench.methods.base.apply_method`'s defaults for it."""

    def __init__(self, module, path: Path | None, kind: str, device: torch.device, channels: int | None,
                 tile: int | None, overlap: int, extra: dict | None = None, tile_batch: int | None = None):
        where = {"path": str(path)} if path is not None else {"module": type(module).__name__}
        super().__init__(name=f"file:{path.name}" if path is not None else f"module:{type(module).__name__}",
                         options={**where, "format": kind, "device": str(device),
                                  "channels": channels, "tile": tile, "overlap": overlap, **(extra or {})})
        self.module, self.device, self.channels = module, device, channels
        self.where = str(path) if path is not None else self.name  # names the model in errors
        # apply_method's defaults for this model (None: it has no tile size of its own)
        self.tiling = {"overlap": overlap, **({"tile": tile} if tile is not None else {})}
        # a network that pads its input to a multiple of `factor` (pix2pix, segnet: 2^depth; kept by
        # TorchScript) gets tiles laid out for that padding (dustbench.methods.tiling.tile_layout)
        factor = getattr(module, "factor", 1)
        self.multiple = factor if isinstance(factor, int) and factor > 0 else 1
        self.tile_batch = _tile_batch(tile_batch, device, self.where, self.multiple)
        self.param_count = sum(int(p.numel()) for p in module.parameters())

    def run(self, image, mask):
        return self._forward(image[None])[0]

    def run_batch(self, images, masks):
        return self._forward(images)

    def _forward(self, images: np.ndarray) -> np.ndarray:
        """N×H×W×C float32 numpy -> model (one batch) -> N×H×W×C float32 numpy, adapting grey/RGB."""
        n, height, width, c = images.shape
        # N×C×H×W with NHWC strides: channels_last with one copy (see _call_module), which also keeps
        # a model that writes to its input off the caller's image; viewed from flat so that a batch
        # of one has a real batch stride (numpy may give it 0, which oneDNN reads as NCHW)
        flat = torch.from_numpy(np.array(images, np.float32, order="C").reshape(-1))
        x = flat.view(n, height, width, c).permute(0, 3, 1, 2)
        want = self.channels
        as_batch = want == 1 and c > 1
        if want is not None and want != c:
            if c == 1:
                x = x.repeat(1, want, 1, 1)
            elif as_batch:
                x = x.reshape(n * c, 1, height, width)  # each channel as its own grey image
            else:
                raise DustbenchError(f"{self.name}: model takes {want} channels, image has {c}")
        y = self._call_module(x.to(self.device))
        if not isinstance(y, torch.Tensor) or y.ndim != 4 or tuple(y.shape[2:]) != (height, width) or \
                y.shape[0] != x.shape[0]:
            raise DustbenchError(f"{self.name}: model returned {getattr(y, 'shape', type(y).__name__)} "
                                 f"for input {tuple(x.shape)}; expected {x.shape[0]}×C×{height}×{width}")
        if not y.is_floating_point():  # as the function path: a bool/int mask is not a restored image
            raise BadOutputError(f"{self.name}: model returned dtype {str(y.dtype).replace('torch.', '')}, "
                                 "expected floats in [0, 1]")
        y = y.detach().float().cpu()
        if as_batch:
            y = y.reshape(n, c * y.shape[1], height, width)  # (N·C)×1×H×W back to N×C×H×W
        if y.shape[1] != c:
            if c == 1 and y.shape[1] == x.shape[1]:
                y = y.mean(dim=1, keepdim=True)  # RGB model on a grey image repeated to RGB: average back
            else:
                raise DustbenchError(f"{self.name}: model returned {y.shape[1]} channels for a {c}-channel image "
                                     f"given to it as {x.shape[1]} channel(s); expected {c} (or {x.shape[1]}, "
                                     "averaged back to grey)")
        # C-ordered N×H×W×C: a planar (NCHW) result viewed as NHWC made tile blending 2-5× slower
        return y.permute(0, 2, 3, 1).contiguous().numpy()

    def _call_module(self, x: torch.Tensor):
        """The module's output for N×C×H×W ``x``; failures name the file and the input shape."""
        # NHWC (channels_last) input makes oneDNN convolutions 1.1-1.9x faster on CPU, within 1e-6
        # (benchmarks/bench_tiling.py). A model that fails on it (say .view() on its activations) is
        # retried, and from then on run, in NCHW.
        nhwc = self.device.type == "cpu" and self.__dict__.get("_nhwc", True)
        try:
            with torch.inference_mode():
                try:
                    y = self.module(x.contiguous(memory_format=torch.channels_last) if nhwc else x.contiguous())
                except Exception:
                    if not nhwc:
                        raise
                    self._nhwc = False
                    y = self.module(x.contiguous())
        except Exception as exc:  # report which file and input failed, in one line
            hint = ("; a torch.export program must be exported with dynamic_shapes for H and W"
                    if self.options["format"] == "export" else "")
            raise DustbenchError(f"{self.where}: model failed on input {tuple(x.shape)}: "
                                 f"{_brief(exc)}{hint}") from exc
        return y[0] if isinstance(y, (tuple, list)) else y


def _tile_batch(value, device: torch.device, where: str, multiple: int) -> int:
    """Tiles per network call: ``value``; else 4 on an accelerator (not measured here) and, on CPU,
    4 for a network that downsamples (pads to ``multiple`` > 1: its deep layers are small, and a
    batch shares their per-call cost, for some more peak memory) and 1 for a full-resolution one
    (dust_gan, slower batched). Measured with benchmarks/bench_tiling.py: *Tiling* in docs/evaluation.md."""
    if value is None:
        return 1 if device.type == "cpu" and multiple == 1 else 4
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise DustbenchError(f"{where}: tile_batch must be an integer >= 1, got {value!r}")
    return int(value)


def module_method(module: torch.nn.Module, *, channels: int | None = None, tile: int | None = None,
                  overlap: int = 32, tile_batch: int | None = None, info: dict | None = None,
                  **detector) -> Method:
    """An ``nn.Module`` (N×C×H×W float in [0, 1] -> the same) as a Method, like a model file.

    It runs where its parameters are (it is not moved) and is put in eval mode; ``channels`` defaults
    to the first 4-D weight's input channels. ``info`` is what a file of it would say about itself
    (:meth:`dustbench.models.task.Task.file_info`): a detector's comes back as a
    :class:`DetectInpaint` with those settings (``detector`` options override them), as from
    :func:`load_model_file`; training validation builds its method this way.
    """
    params = next(iter(module.parameters()), None)
    device = params.device if params is not None else torch.device("cpu")
    if device.type == "meta":
        raise DustbenchError(f"{type(module).__name__}: its parameters are on the meta device (shapes without "
                             "values); load its weights (e.g. module.to_empty(device='cpu') then load_state_dict)")
    module.eval()  # dropout/batch-norm in inference mode, as for a model file
    loaded = LoadedModel(module, None, "module", device, channels or _weight_channels(module), tile, overlap,
                         tile_batch=tile_batch)
    return _as_described(loaded, info or {}, detector)


def load_model_file(path, device: str = "cpu", *, channels: int | None = None,
                    tile: int | None = 512, overlap: int = 32, tile_batch: int | None = None, **detector) -> Method:
    """Load a TorchScript file, a ``torch.export`` ``.pt2`` or a dustbench checkpoint as a Method.

    ``tile``/``overlap``: the tiling :func:`~dustbench.methods.apply_method` and ``method(image)``
    use when their caller gives none (``tile=None``: no tile size of its own, so ``method(image)``
    runs whole images and ``apply_method`` its default 512); ``tile_batch``: tiles per network call
    (default 4; 1 on CPU for a network that does not pad, i.e. does not downsample); ``channels``
    overrides the guessed number of input channels; ``detector`` options (``threshold``, ``dilate``,
    ``radius``, ``fill``) override what a detector file recorded. Raises DustbenchError naming the
    file when it is missing, has an unknown suffix, is corrupt, or would need arbitrary unpickling.
    """
    path = Path(path)
    if not path.is_file():
        raise DustbenchError(f"{path}: no such model file")
    if path.suffix.lower() not in MODEL_SUFFIXES:
        raise DustbenchError(f"{path}: unknown model file type {path.suffix!r}; expected one of "
                             f"{', '.join(MODEL_SUFFIXES)}")
    dev = pick_device(device)
    kind = _sniff(path)
    extra: dict = {}
    info: dict = {}  # what the file says about itself (e.g. {"kind": "detector", ...})
    try:
        if kind == "export":
            program, module = load_export_program(path)
            channels = channels or _export_channels(program)
            module = module.to(dev) if dev.type != "cpu" else module
        elif kind == "torchscript":
            files = {INFO_FILE: "", LEGACY_INFO_FILE: ""}
            with warnings.catch_warnings():  # torch 2.9+ flags TorchScript as deprecated; still supported
                warnings.simplefilter("ignore", DeprecationWarning)
                module = load_script_module(path, map_location=dev, extra_files=files)
            info = _parse_info(path, files[INFO_FILE] or files[LEGACY_INFO_FILE])
        else:
            module, ckpt_channels, extra, info = _load_checkpoint(path, dev)
            channels = channels or ckpt_channels
    except DustbenchError:
        raise
    except Exception as exc:  # torch raises many types for damaged files; report one clear line
        raise DustbenchError(f"{path}: cannot read it as a {kind.replace('export', 'torch.export')} "
                             f"file; corrupt, truncated or not a PyTorch file? ({_brief(exc)})") from exc
    try:
        module.eval()  # dropout/batch-norm in inference mode
    except (AttributeError, NotImplementedError):
        pass  # exported modules fix train/eval behaviour at export time
    loaded = LoadedModel(module, path, kind, dev, channels or _weight_channels(module), tile, overlap, extra,
                         tile_batch)
    method = _as_described(loaded, info, detector)
    method.source = MethodSpec("file", str(path))  # what the harness keys and finds the card by
    return method


def _as_described(loaded: LoadedModel, info: dict, detector: dict) -> Method:
    """``loaded`` as its file info says: a detector wrapped in :class:`DetectInpaint` (its recorded
    settings, then ``detector`` overrides), anything else as it is (and no detector options)."""
    if info.get("kind") == "detector":  # its output is P(artifact): inpaint what it flags
        return DetectInpaint.from_loaded(loaded, info, **detector)
    if detector:
        raise DustbenchError(f"{loaded.where}: option(s) {', '.join(sorted(detector))} apply to detector models "
                             f"only (e.g. an exported segnet); valid options: {', '.join(MODEL_OPTIONS)}")
    return loaded


def _load_checkpoint(path: Path, dev: torch.device):
    """(module, channels, extra options, file info) from a dustbench checkpoint."""
    ckpt = read_checkpoint(path)
    module = build_model(ckpt, path).to(dev)
    return module, checkpoint_channels(ckpt), {"model": ckpt["model"], "config": ckpt["config"]}, file_info(ckpt)


def _parse_info(path: Path, text) -> dict:
    """The info extra file of a TorchScript model (empty when it has none)."""
    import json

    if not text:
        return {}
    try:
        info = json.loads(text)
    except ValueError as exc:
        raise DustbenchError(f"{path}: unreadable {INFO_FILE} ({exc})") from None
    return info if isinstance(info, dict) else {}


def _sniff(path: Path) -> str:
    """'export', 'torchscript' or 'checkpoint', from the archive contents (suffix only for .pt2)."""
    if not zipfile.is_zipfile(path):
        return "export" if path.suffix.lower() == ".pt2" else "checkpoint"  # legacy torch.save
    with open_archive(path) as archive:  # refuses members that torch could read another copy of
        names = [n.lower() for n in archive.namelist()]  # torch looks names up ignoring case
    if any(n.endswith("/archive_format") for n in names) or path.suffix.lower() == ".pt2":
        return "export"
    if any("/code/" in n or n.endswith("/constants.pkl") for n in names):
        return "torchscript"
    return "checkpoint"


def _export_channels(program) -> int | None:
    """Input channels of an exported program from its first user input's shape, if static."""
    user_inputs = set(program.graph_signature.user_inputs)
    for node in program.graph.nodes:
        if node.op == "placeholder" and node.name in user_inputs:
            shape = getattr(node.meta.get("val"), "shape", None)
            if shape is not None and len(shape) == 4:
                try:
                    return int(shape[1])
                except (TypeError, ValueError):  # symbolic channel dimension
                    return None
            return None
    return None


def _weight_channels(module) -> int | None:
    """Input channels: the module's own ``in_channels`` when it says (a network may compute more
    inputs for its first layer, as ``fastdet`` with ``residual``), else guessed from the first 4-D
    weight (a Conv2d: out × in × kh × kw)."""
    said = getattr(module, "in_channels", None)
    if isinstance(said, int) and not isinstance(said, bool) and said > 0:
        return said
    for p in module.parameters():
        if p.ndim == 4:
            return int(p.shape[1])
    return None


def _brief(exc: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, cut to ``limit`` characters."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
