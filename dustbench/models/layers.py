"""Building blocks shared by the model families, in plain torch (no torchvision).

Everything here is TorchScript-compatible (``torch.jit.script``), so an exported model needs no
dustbench code: the median filter is an ``unfold`` + ``median`` in torch, and padding to the
down-sampling factor happens inside the forward pass.
"""
from __future__ import annotations

import math
from typing import List

import torch
import torch.nn.functional as F
from torch import nn


def median_filter(x: torch.Tensor, kernel: int) -> torch.Tensor:
    """Per-channel k×k median of an N×C×H×W tensor, edges replicated; same shape out (exact).

    The k² neighbours are shifted views of the padded image, and the median is selected with
    Paeth's *forgetful selection* (min/max only): keep the first n//2 + 2 values, bubble the
    largest to the end and the smallest to the front, forget both, take in the next value, and
    repeat; the last three hold the median. For k = 5 that is 165 compare-exchanges on whole
    tensors — faster than ``unfold`` + ``median`` on a CPU (docs/performance.md), with ~n/2
    image-sized temporaries instead of n. No gradient is needed (preprocessing, not a learned
    layer); works in TorchScript.
    """
    if kernel <= 1:
        return x
    h, w = x.shape[2], x.shape[3]
    r = kernel // 2
    # replicate, not reflect: reflect padding needs the image to be larger than the pad
    p = F.pad(x, [r, r, r, r], mode="replicate")
    values: List[torch.Tensor] = []
    for dy in range(kernel):
        for dx in range(kernel):
            values.append(p[:, :, dy:dy + h, dx:dx + w])
    n = len(values)
    keep = n // 2 + 2
    work = values[:keep]
    for nxt in range(keep, n + 1):
        s = len(work)
        for i in range(s - 1):  # largest to the end
            lo = torch.minimum(work[i], work[i + 1])
            work[i + 1] = torch.maximum(work[i], work[i + 1])
            work[i] = lo
        for i in range(s - 2, 0, -1):  # smallest (of the rest) to the front
            hi = torch.maximum(work[i - 1], work[i])
            work[i - 1] = torch.minimum(work[i - 1], work[i])
            work[i] = hi
        if nxt == n:  # all values taken in: the median is the middle of what is left
            break
        work = work[1:s - 1]
        work.append(values[nxt])
    return work[len(work) // 2]


def pad_to_multiple(x: torch.Tensor, factor: int) -> torch.Tensor:
    """Replicate-pad the bottom/right of N×C×H×W so H and W are multiples of ``factor``."""
    h, w = x.shape[-2], x.shape[-1]
    ph, pw = (factor - h % factor) % factor, (factor - w % factor) % factor
    # no "if nothing to pad" shortcut: torch.export would specialise on the parity of H and W
    return F.pad(x, [0, pw, 0, ph], mode="replicate")


def logit(x: torch.Tensor, eps: float = 1e-4) -> torch.Tensor:
    """Inverse sigmoid of ``x`` clamped to [eps, 1 - eps] (so 0 and 1 stay finite)."""
    x = x.clamp(eps, 1.0 - eps)
    return torch.log(x) - torch.log1p(-x)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): weight channels by their global average.

    Global average pool -> 1×1 conv (C -> C/r) -> ReLU -> 1×1 conv (C/r -> C) -> sigmoid, and the
    feature map is multiplied by that per-channel gate.
    """

    def __init__(self, channels: int, reduction: int = 4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.squeeze = nn.Conv2d(channels, hidden, 1)
        self.excite = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean(dim=(2, 3), keepdim=True)
        return x * torch.sigmoid(self.excite(F.relu(self.squeeze(s))))


class DilatedResBlock(nn.Module):
    """conv3×3(d) -> BN -> ReLU -> conv3×3(d) -> BN -> channel attention, scaled, plus the input.

    ``dilation`` d widens the receptive field without pooling; ``res_scale`` (EDSR's residual
    scaling, 0.1) keeps early training stable; like EDSR there is no activation after the sum.
    """

    def __init__(self, channels: int, dilation: int = 1, reduction: int = 4, res_scale: float = 0.1):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
            nn.BatchNorm2d(channels),
            ChannelAttention(channels, reduction),
        )
        self.res_scale = float(res_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.res_scale * self.body(x)


class DownBlock(nn.Module):
    """Halve the resolution: stride-2 conv3×3 -> BN -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False),
                                  nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class UpBlock(nn.Module):
    """Double the resolution by sub-pixel convolution (EDSR's upsampler, no checkerboard): conv3×3
    to 4·C channels -> PixelShuffle(2) -> ReLU."""

    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(cin, 4 * cout, 3, padding=1), nn.PixelShuffle(2),
                                  nn.ReLU(inplace=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def kaiming_conv_bn_init(module: nn.Module) -> None:
    """Every conv Kaiming-normal (fan-out, ReLU) with zero bias, every BatchNorm 1/0 (SegNet's init)."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def edsr_init(module: nn.Module) -> None:
    """Initialise as EDSR (Lim et al. 2017) does: PyTorch's default conv initialisation, made explicit.

    EDSR's code keeps ``nn.Conv2d``'s default (Kaiming-uniform with a = √5, i.e. weights and
    biases uniform in ±1/√fan_in) and relies on residual scaling (``res_scale`` = 0.1) for
    stability; batch-norm starts at weight 1, bias 0. Calling it explicitly makes the model's
    initial weights depend only on the seed, not on torch's defaults of the day.
    """
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.kaiming_uniform_(m.weight, a=math.sqrt(5))
            if m.bias is not None:
                fan_in = m.weight[0].numel()
                bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
                nn.init.uniform_(m.bias, -bound, bound)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)


def pix2pix_init(module: nn.Module) -> None:
    """pix2pix initialisation: (transposed) conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters."""
    return sum(int(p.numel()) for p in module.parameters() if p.requires_grad or not trainable_only)


def as_int_list(values, name: str) -> List[int]:
    """A tuple/list/comma string of ints as a list (config files give lists, the CLI strings)."""
    if isinstance(values, str):
        values = [v for v in values.replace(" ", "").split(",") if v]
    try:
        out = [int(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"{name}: expected a list of integers, got {values!r}") from None
    if not out or any(v < 1 for v in out):
        raise ValueError(f"{name}: expected positive integers, got {values!r}")
    return out
