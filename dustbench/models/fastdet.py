"""``fastdet``: an artifact detector built for a CPU budget — few parameters, no convolution at full
resolution, most of its compute at a quarter of it, a receptive field wider than the largest
specks at scan scale.

Network (``create_model("fastdet", ...)``), input x: N×C×H×W float32 in [0, 1], any H, W:

    pad x to a multiple of 4 (replicate), u = 2x − 1
    (``residual=r``: u also holds the luma's bright and dark top-hat residuals, see below)
    stem:   conv 3×3 stride 2 (C -> w)                       -> s2 (½: every input pixel is seen)
    down:   conv 3×3 stride 2 (w -> c)                       -> ¼
    body:   ``blocks`` residual blocks at ¼: conv 3×3 with dilation d (d cycles through
            ``dilations``) -> BatchNorm, added to the input, ReLU
    up:     bilinear ×2, concat s2, 1×1 -> w, at ½
    head:   1×1 to 2 class scores at ½, bilinear ×2 to full resolution
    out:    P(artifact) repeated on every channel (as ``segnet``'s: the registry's contract holds)

Every conv but the heads is followed by BatchNorm and ReLU. With the defaults (w = 16, c = 32,
8 blocks, dilations 1, 2, 4, 8) it has ~80 k parameters and a receptive field of ~250 px: a
30-px speck is judged with its surroundings, a letter as part of a word, a catchlight as part of
a highlight. Flags are placed to within the half-resolution grid (a detector's mask is dilated
before the fill anyway). On CPU, depthwise convolutions and full-resolution layers cost more time
than their multiply-adds suggest (a depthwise variant trained slower: docs/performance.md), so
there are none. Speed beside ``segnet`` in ``benchmarks/bench_models.py``.

``residual=r`` (0: off, the published rows) hands the stem two more inputs, computed inside the
network from the luma y: 4·(y − opening(y)) and 4·(closing(y) − y) with a (2r + 1)-px square
(separable max-pooling): what is brighter / darker than its surroundings and narrower than the
square, the classical detector's residual (``morph_detect``). The network then learns which of
those residuals are damage instead of finding them itself. Measured (the same 4,096 stream
patches, 1 thread, two runs side by side; average precision on damage that changed a pixel by
more than 16/255, 384 held-out patches): after ~5 CPU-minutes 0.16–0.20 with ``residual=3``
against 0.07–0.12 without, although each step there cost ~1.7× (the pooling; alone in the
trainer, 0.50 s per step of 32). Trained 45 CPU-minutes, it ranks validation damage better (AP
0.19 against ``fastdet_balanced``'s 0.12) but scores below the input on ``builtin-v2:test``: not
a published row (``baselines/fastdet/README.md``).

Training is ``segnet``'s (:class:`dustbench.models.segnet.SegNetTask`: focal + soft Dice against
the synthesis mask above ``label_threshold``; export records it as a detector). Weights:
Kaiming-normal (fan-out, ReLU), BatchNorm 1/0, the BatchNorm of each residual block 0 (each block
starts as the identity).
"""
from __future__ import annotations

from typing import List

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DustbenchError
from .layers import kaiming_conv_bn_init, pad_to_multiple
from .registry import register_model
from .segnet import SegNetTask
from .task import register_task


def _conv_bn(cin: int, cout: int, k: int = 3, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class DilatedBlock(nn.Module):
    """ReLU(x + BN(conv3×3_d(x))): context from ``dilation`` steps away at 9c² weights."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x + self.bn(self.conv(x)), inplace=True)


class FastDet(nn.Module):
    """The CPU-budget detector; see the module docstring."""

    def __init__(self, in_channels: int = 3, width: int = 16, channels: int = 32, blocks: int = 8,
                 dilations: tuple = (1, 2, 4, 8), classes: int = 2, residual: int = 0):
        super().__init__()
        if min(width, channels) < 1 or blocks < 0 or classes < 2 or not dilations or min(dilations) < 1:
            raise DustbenchError(f"fastdet: width, channels >= 1, blocks >= 0, classes >= 2 and dilations >= 1 "
                                 f"needed, got width={width}, channels={channels}, blocks={blocks}, "
                                 f"classes={classes}, dilations={dilations}")
        if not 0 <= residual <= 16:
            raise DustbenchError(f"fastdet: residual must be a radius from 0 (off) to 16 px, got {residual}")
        self.factor, self.in_channels, self.residual = 4, in_channels, residual  # pads to a multiple of 4
        self.stem = _conv_bn(in_channels + (2 if residual else 0), width, stride=2)
        self.down = _conv_bn(width, channels, stride=2)
        self.body = nn.Sequential(*[DilatedBlock(channels, dilations[i % len(dilations)]) for i in range(blocks)])
        self.up = _conv_bn(channels + width, width, k=1)
        self.head = nn.Conv2d(width, classes, 1)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        kaiming_conv_bn_init(self)
        for block in self.body:
            nn.init.zeros_(block.bn.weight)

    def _max(self, v: torch.Tensor) -> torch.Tensor:
        """Max over a (2r + 1)² square, as two 1-D passes (the same values; ~2× faster on CPU)."""
        r = self.residual
        return F.max_pool2d(F.max_pool2d(v, (1, 2 * r + 1), 1, (0, r)), (2 * r + 1, 1), 1, (r, 0))

    def inputs(self, x: torch.Tensor) -> torch.Tensor:
        """What the stem sees: x, with the luma's bright and dark top-hats when ``residual`` > 0."""
        if self.residual == 0:
            return x
        luma = x[:, :1] if x.shape[1] < 3 else 0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]
        luma = luma.contiguous()  # one channel: pooled in plain layout, 2× faster than channels-last
        opening = self._max(-self._max(-luma))    # dilation of the erosion
        closing = -self._max(-self._max(luma))    # erosion of the dilation
        # cat of NHWC x with the plain-layout residuals comes back plain: give the stem x's layout
        layout = torch.channels_last if x.is_contiguous(memory_format=torch.channels_last) else torch.contiguous_format
        return torch.cat([x, 4.0 * (luma - opening), 4.0 * (closing - luma)], 1).contiguous(memory_format=layout)

    def scores(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores N×classes×H×W for an input of any size."""
        h, w = x.shape[2], x.shape[3]
        padded = pad_to_multiple(x, self.factor)
        s2 = self.stem(self.inputs(padded) * 2.0 - 1.0)
        s4 = self.body(self.down(s2))
        half: List[int] = [s2.shape[2], s2.shape[3]]
        full: List[int] = [padded.shape[2], padded.shape[3]]
        u = self.up(torch.cat([F.interpolate(s4, size=half, mode="bilinear", align_corners=False), s2], 1))
        return F.interpolate(self.head(u), size=full, mode="bilinear", align_corners=False)[:, :, :h, :w]

    def forward(self, x: torch.Tensor, logits: bool = False) -> torch.Tensor:
        s = self.scores(x)
        if logits:
            return s
        p = torch.softmax(s, dim=1)[:, 1:2]
        return p.expand(-1, x.shape[1], -1, -1).contiguous()


@register_model("fastdet")
def fastdet(in_channels: int = 3, width: int = 16, channels: int = 32, blocks: int = 8,
            dilations=(1, 2, 4, 8), residual: int = 0) -> FastDet:
    """CPU-budget artifact detector (~80 k parameters, body at ¼ resolution, ~250 px receptive field);
    ``residual=r``: top-hat residuals of radius r px as extra inputs."""
    return FastDet(int(in_channels), int(width), int(channels), int(blocks), tuple(int(d) for d in dilations),
                   residual=int(residual))


@register_task("fastdet")
class FastDetTask(SegNetTask):
    """Training of ``fastdet``: ``segnet``'s (focal + soft Dice on the synthesis mask; a detector file)."""

    family = "fastdet"
