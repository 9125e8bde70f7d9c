"""The 70×70 PatchGAN discriminator of pix2pix (Isola et al. 2017), in plain torch.

    C64 (no norm) – C128 – C256 – C512 (stride 1) – conv to 1 logit per patch

Every Ck is conv4×4 -> BatchNorm -> LeakyReLU(0.2); the first three convs have stride 2 (the
"3 strided layers"), the last two stride 1, padding 1. Each output logit sees a 70×70 input
patch (receptive field 1 + 3·(1 + 2 + 4 + 8 + 8) = 70, see :func:`receptive_field`),
so D judges local texture and the judgement is averaged over the image. Widths scale with
``width`` (64 in pix2pix); weights start N(0, 0.02) as in pix2pix / DCGAN.

It is not a restoration model (it maps an image pair to a map of logits), so it is not in the
model registry; :mod:`dustbench.models.dust_gan` builds it for training.
"""
from __future__ import annotations

import torch
from torch import nn

from .layers import pix2pix_init


class PatchDiscriminator(nn.Module):
    """N×in_channels×H×W -> N×1×h×w logits (h ≈ H/8 − 2). ``in_channels`` is 6 for a conditional
    D that sees (condition, candidate) stacked."""

    def __init__(self, in_channels: int = 6, width: int = 64, n_strided: int = 3):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, width, 4, stride=2, padding=1),
                                   nn.LeakyReLU(0.2, inplace=True)]
        c = width
        for i in range(1, n_strided):  # the remaining strided layers, then one stride-1 layer
            cout = width * min(2 ** i, 8)
            layers += [nn.Conv2d(c, cout, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout),
                       nn.LeakyReLU(0.2, inplace=True)]
            c = cout
        cout = width * min(2 ** n_strided, 8)
        layers += [nn.Conv2d(c, cout, 4, stride=1, padding=1, bias=False), nn.BatchNorm2d(cout),
                   nn.LeakyReLU(0.2, inplace=True), nn.Conv2d(cout, 1, 4, stride=1, padding=1)]
        self.net = nn.Sequential(*layers)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        pix2pix_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def receptive_field(model: PatchDiscriminator) -> int:
    """Receptive field (px) of one output logit, from the conv kernels and strides."""
    rf, jump = 1, 1
    for m in model.net:
        if isinstance(m, nn.Conv2d):
            rf += (m.kernel_size[0] - 1) * jump
            jump *= m.stride[0]
    return rf
