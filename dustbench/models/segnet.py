"""``segnet``: the artifact detector of Strubel et al. (2019), "Deep learning approach for artefacts
correction on photographic films" (QCAV), as Mironică (2020) describes it: a SegNet
(Badrinarayanan et al. 2017) encoder–decoder trained with cross-entropy to label artifact pixels.
The restored image is the input with the flagged pixels inpainted (OpenCV Telea by default; see
:mod:`dustbench.fill` and :mod:`dustbench.methods.detect_inpaint`).

Network (``create_model("segnet", ...)``), input x: N×C×H×W float32 in [0, 1], any H, W:

    pad x to a multiple of 2^depth (replicate), u = 2x − 1
    encoder: VGG-16's conv blocks (2, 2, 3, 3, 3 convs of width·(1, 2, 4, 8, 8) channels), every
             conv 3×3 -> BatchNorm -> ReLU, each block followed by 2×2 max-pooling that keeps its indices
    decoder: the mirror image; each block starts by max-*un*pooling with the indices of its encoder
             block (SegNet's point: boundaries come back without learned up-sampling), then its convs
    head:    conv 3×3 to 2 class scores (clean, artifact)
    out:     P(artifact) = softmax(scores)[artifact], repeated on every channel -> N×C×H×W in [0, 1]

The output is a probability map, not an image: it is repeated on every channel only so that the
registry's image-in/same-shape-out contract, tiling and the export check hold unchanged. The
training task, the export metadata (``dustbench-model.json``: ``{"kind": "detector", ...}``) and
:func:`dustbench.methods.load_model_file` treat it as a detector. ``forward(x, True)`` returns the
raw N×2×H×W class scores (the training loss uses them).

``width`` = 64 and ``depth`` = 5 are SegNet's (29.4 M parameters); the leaderboard uses a CPU-sized
width (see ``baselines/segnet/README.md``). Weights: Kaiming-normal (fan-out, ReLU), BatchNorm 1/0.

Training (``dustbench train segnet``) uses :class:`SegNetTask`: cross-entropy between the class
scores and the synthesis mask thresholded at ``label_threshold`` (artifact = opacity above it).
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DustbenchError
from ..fill import check_inference_options
from . import losses as L
from .layers import kaiming_conv_bn_init, pad_to_multiple
from .registry import register_model
from .task import Task, register_task

VGG16_CONVS = (2, 2, 3, 3, 3)      # convs per encoder block
VGG16_SCALE = (1, 2, 4, 8, 8)      # channels per block, in units of width
ARTIFACT = 1                       # class index of "artifact" (0 = clean)


def _conv(cin: int, cout: int) -> List[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


class SegNet(nn.Module):
    """SegNet with a VGG-style encoder; see the module docstring."""

    def __init__(self, in_channels: int = 3, width: int = 64, depth: int = 5, classes: int = 2):
        super().__init__()
        if not 1 <= depth <= len(VGG16_CONVS):
            raise DustbenchError(f"depth must be 1..{len(VGG16_CONVS)} (VGG-16 has 5 blocks), got {depth}")
        if width < 1 or classes < 2:
            raise DustbenchError(f"width must be >= 1 and classes >= 2, got width={width}, classes={classes}")
        chans = [width * s for s in VGG16_SCALE[:depth]]
        convs = VGG16_CONVS[:depth]
        self.factor, self.in_channels = 2 ** depth, in_channels
        enc, c = [], in_channels
        for n, cout in zip(convs, chans):
            layers: List[nn.Module] = []
            for _ in range(n):
                layers += _conv(c, cout)
                c = cout
            enc.append(nn.Sequential(*layers))
        self.encoder = nn.ModuleList(enc)
        # decoder block i mirrors encoder block i: same number of convs, the last one narrows to
        # the previous block's width (SegNet's conv5_1_D 512->512 ... conv2_1_D 128->64)
        dec = []
        for i in reversed(range(depth)):
            cout = chans[i - 1] if i > 0 else chans[0]
            layers = []
            for k in range(convs[i]):
                layers += _conv(chans[i], cout if k == convs[i] - 1 else chans[i])
            dec.append(nn.Sequential(*layers))
        self.decoder = nn.ModuleList(dec)
        self.head = nn.Conv2d(chans[0], classes, 3, padding=1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        kaiming_conv_bn_init(self)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores N×classes×H×W for an input of any size."""
        h, w = x.shape[2], x.shape[3]
        f = pad_to_multiple(x, self.factor) * 2.0 - 1.0
        indices: List[torch.Tensor] = []
        sizes: List[List[int]] = []
        for block in self.encoder:
            f = block(f)
            sizes.append([f.shape[2], f.shape[3]])
            f, idx = F.max_pool2d_with_indices(f, 2, 2)
            indices.append(idx)
        for i, block in enumerate(self.decoder):
            j = len(indices) - 1 - i
            f = F.max_unpool2d(f, indices[j], 2, 2, output_size=sizes[j])
            f = block(f)
        return self.head(f)[:, :, :h, :w]

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        s = self.scores(x)
        if logits:
            return s
        p = torch.softmax(s, dim=1)[:, 1:2]  # class 1 = ARTIFACT
        return p.expand(-1, x.shape[1], -1, -1).contiguous()


@register_model("segnet")
def segnet(in_channels: int = 3, width: int = 64, depth: int = 5) -> SegNet:
    """Strubel et al. (2019) SegNet artifact detector (VGG-16 encoder, pooling indices); output P(artifact)."""
    return SegNet(int(in_channels), int(width), int(depth))


@register_task("segnet")
class SegNetTask(Task):
    """Training of ``segnet``: its 2-class scores against the synthesis mask.

    Artifacts are ~1 % of a scan's pixels: plain cross-entropy (the paper's) learns to answer "clean"
    everywhere (it did in a CPU training run: docs/performance.md). The default loss is what segmentation of
    rare classes uses: focal loss (easy clean pixels weigh ~nothing) plus soft Dice (the overlap with
    the damage, whatever its area).

    Options (``--set task.NAME=VALUE``): ``loss`` ("focal_dice", or "ce" as in the paper),
    ``focal_gamma`` (2), ``focal_alpha`` (0.75: weight of the artifact class), ``dice_weight`` (1),
    ``label_threshold`` (0.05: a pixel is an artifact when the synthesis mask's opacity exceeds
    it; fainter pixels change by < 4/255 on average and are better left alone),
    ``label_contrast`` (0: off; L > 0 also asks that the damage changed the pixel by more than L/255
    in some channel, ``|damaged − clean|``: opacity says how much dust covers a pixel, not whether
    it shows — dark dust on a dark patch changes nothing, and a fill only helps where it shows),
    ``artifact_weight`` (for "ce": 1 is plain cross-entropy, > 1 weights the artifact class up),
    ``betas`` / ``weight_decay`` (Adam), and for validation and export the inference settings
    ``threshold`` (0.5 on P(artifact); calibrated on validation data when the leaderboard exports
    it), ``dilate`` (1 px), ``radius`` (3 px), ``fill`` ("telea" or "median").
    """

    family = "segnet"  # the model name an exported file records (a subclass trains another detector)
    default_options = {"loss": "focal_dice", "focal_gamma": 2.0, "focal_alpha": 0.75, "dice_weight": 1.0,
                       "label_threshold": 0.05, "label_contrast": 0.0, "artifact_weight": 1.0,
                       "betas": [0.9, 0.999],
                       "weight_decay": 0.0, "threshold": 0.5, "dilate": 1, "radius": 3.0, "fill": "telea"}

    def __init__(self, model_name, model, options=None, device=torch.device("cpu")):
        super().__init__(model_name, model, options, device)
        o = self.options
        check_inference_options(o["threshold"], o["dilate"], o["radius"], o["fill"])
        if not 0.0 <= float(o["label_threshold"]) < 1.0 or float(o["artifact_weight"]) <= 0:
            raise DustbenchError("segnet: label_threshold must be in [0, 1) and artifact_weight > 0")
        if not 0.0 <= float(o["label_contrast"]) < 255.0:
            raise DustbenchError(f"segnet: label_contrast must be in [0, 255) levels, got {o['label_contrast']!r}")
        if o["loss"] not in ("focal_dice", "ce"):
            raise DustbenchError(f"segnet: loss must be 'focal_dice' or 'ce', got {o['loss']!r}")

    def build_optimizers(self, lr: float):
        return {"model": torch.optim.Adam(self.model.parameters(), lr=lr,
                                          betas=tuple(float(b) for b in self.options["betas"]),
                                          weight_decay=float(self.options["weight_decay"]))}

    def notes(self) -> dict:
        o = self.options
        loss = (f"focal (gamma {float(o['focal_gamma']):g}, alpha {float(o['focal_alpha']):g}) + "
                f"{float(o['dice_weight']):g}·soft Dice" if o["loss"] == "focal_dice" else
                "cross-entropy (2 classes)" + (f", artifact class weight {float(o['artifact_weight']):g}"
                                               if float(o["artifact_weight"]) != 1 else ""))
        shows = f" and |damaged - clean| > {float(o['label_contrast']):g}/255" if float(o["label_contrast"]) else ""
        return {"labels": f"artifact = synthesis mask opacity > {float(o['label_threshold']):g}{shows}", "loss": loss,
                "restore": f"{o['fill']} inpainting of P(artifact) >= {float(o['threshold']):g}, "
                           f"dilated {int(o['dilate'])} px"}

    @classmethod
    def file_info(cls, options: dict) -> dict:
        """An exported segnet is a detector: it records its inference settings (``dustbench-model.json``)."""
        o = {**cls.default_options, **(options or {})}
        return {"kind": "detector", "model": cls.family, "output": "P(artifact) repeated on every channel",
                "threshold": float(o["threshold"]), "dilate": int(o["dilate"]), "radius": float(o["radius"]),
                "fill": str(o["fill"]), "label_threshold": float(o["label_threshold"]),
                **({"label_contrast": float(o["label_contrast"])} if float(o["label_contrast"]) else {})}

    def labels(self, mask: torch.Tensor, damaged: torch.Tensor | None = None,
               clean: torch.Tensor | None = None) -> torch.Tensor:
        """N×1×H×W opacity (and, with ``label_contrast``, the N×C×H×W images) -> N×H×W class ids
        (1 = artifact)."""
        target = mask[:, 0] > float(self.options["label_threshold"])
        contrast = float(self.options["label_contrast"])
        if contrast:
            if damaged is None or clean is None:
                raise DustbenchError("segnet: label_contrast needs the damaged and clean images")
            target &= (damaged.float() - clean.float()).abs().amax(1) > contrast / 255.0
        return target.long()

    def loss(self, scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        o = self.options
        if o["loss"] == "ce":
            weight = torch.tensor([1.0, float(o["artifact_weight"])], device=scores.device)
            return F.cross_entropy(scores, target, weight=weight)
        prob = torch.softmax(scores, dim=1)[:, ARTIFACT]
        return (L.focal_loss(scores, target, float(o["focal_gamma"]), float(o["focal_alpha"]))
                + float(o["dice_weight"]) * L.soft_dice_loss(prob, target))

    def training_step(self, batch, step):
        opt = self.optimizers["model"]
        opt.zero_grad(set_to_none=True)
        with self.autocast():
            scores = self.net("model")(batch["damaged"], True)
        target = self.labels(batch["mask"], batch["damaged"], batch["clean"])
        loss = self.loss(scores.float(), target)
        loss.backward()
        opt.step()
        with torch.no_grad():
            pred = scores.argmax(1)
            hit = float(((pred == ARTIFACT) & (target == ARTIFACT)).sum())
            out = {"total": float(loss.detach()),
                   "recall": hit / max(1.0, float((target == ARTIFACT).sum())),
                   "precision": hit / max(1.0, float((pred == ARTIFACT).sum()))}
        return out
