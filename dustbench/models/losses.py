"""The loss terms of Mironică (2020), section 2.3, eq. 2-7.

    L = w1·L_pixel + w2·L_gradient + w3·L_perceptual + w4·L_adversarial,  w = (1, 2, 1, 0.01)

* ``pixel_loss``: mean squared error over all pixels and channels (eq. 2).
* ``gradient_loss``: MSE between the horizontal differences of restored and clean plus MSE
  between their vertical differences (eq. 3; forward differences, no padding).
* ``PerceptualLoss``: for each chosen VGG-19 ReLU layer, the mean absolute difference of the
  feature maps (the 1/(W·H·C) sum of eq. 4), summed over layers (eq. 5).
* ``discriminator_loss`` / ``generator_adversarial_loss``: the standard GAN objective of eq. 6
  on logits (binary cross-entropy), with the non-saturating form for the generator as in
  pix2pix; the discriminator's loss is halved as in pix2pix so it learns slower than G.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import nn


@dataclass
class LossWeights:
    """Weights of eq. 7 (the paper's values by default)."""

    pixel: float = 1.0
    gradient: float = 2.0
    perceptual: float = 1.0
    adversarial: float = 0.01

    def to_dict(self) -> dict:
        return asdict(self)


def pixel_loss(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean squared error."""
    return F.mse_loss(restored, clean)


def image_gradients(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward differences (∇x, ∇y) of N×C×H×W: shapes N×C×H×(W-1) and N×C×(H-1)×W."""
    return x[..., :, 1:] - x[..., :, :-1], x[..., 1:, :] - x[..., :-1, :]


def gradient_loss(restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    """Eq. 3: MSE(∇x restored, ∇x clean) + MSE(∇y restored, ∇y clean)."""
    rx, ry = image_gradients(restored)
    cx, cy = image_gradients(clean)
    zero = restored.new_zeros(())
    lx = F.mse_loss(rx, cx) if rx.numel() else zero  # 1-px-wide images have no x-gradient
    ly = F.mse_loss(ry, cy) if ry.numel() else zero
    return lx + ly


class PerceptualLoss(nn.Module):
    """Eq. 4-5: Σ over layers of mean |Φ(restored) − Φ(clean)| with a frozen VGG-19 ``extractor``.

    ``extractor`` is a :class:`dustbench.models.vgg.VGG19Features` with real ImageNet weights;
    features of the clean image are computed without gradients.
    """

    def __init__(self, extractor: nn.Module):
        super().__init__()
        self.extractor = extractor.eval()
        for p in self.extractor.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True):  # the extractor stays in eval mode whatever the caller does
        super().train(mode)
        self.extractor.eval()
        return self

    def forward(self, restored: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.extractor.extract(clean)
        feats = self.extractor.extract(restored)
        total = restored.new_zeros(())
        for f, t in zip(feats, target):
            total = total + (f.float() - t.float()).abs().mean()
        return total


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 6 for D: ½[BCE(D(real), 1) + BCE(D(fake), 0)] on logits (patch-wise mean)."""
    real = F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
    fake = F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
    return 0.5 * (real + fake)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Eq. 6 for G, non-saturating: BCE(D(G(x)), 1) = −mean log σ(D(G(x)))."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def restoration_losses(restored: torch.Tensor, clean: torch.Tensor, weights: LossWeights,
                       perceptual: Optional[PerceptualLoss] = None,
                       fake_logits: Optional[torch.Tensor] = None) -> Dict[str, torch.Tensor]:
    """The generator's terms and their weighted sum ``"total"`` (eq. 7).

    A term whose weight is 0, or whose module is missing (no VGG weights, no discriminator), is
    left out of the dict and of the total rather than computed and multiplied by zero.
    """
    terms: Dict[str, torch.Tensor] = {}
    total = restored.new_zeros(())
    if weights.pixel:
        terms["pixel"] = pixel_loss(restored, clean)
        total = total + weights.pixel * terms["pixel"]
    if weights.gradient:
        terms["gradient"] = gradient_loss(restored, clean)
        total = total + weights.gradient * terms["gradient"]
    if weights.perceptual and perceptual is not None:
        terms["perceptual"] = perceptual(restored, clean)
        total = total + weights.perceptual * terms["perceptual"]
    if weights.adversarial and fake_logits is not None:
        terms["adversarial"] = generator_adversarial_loss(fake_logits)
        total = total + weights.adversarial * terms["adversarial"]
    terms["total"] = total
    return terms


# -- detection of rare pixels (artifacts are ~1 % of a scan) -----------------------------------------
def focal_loss(scores: torch.Tensor, target: torch.Tensor, gamma: float = 2.0, alpha: float = 0.75) -> torch.Tensor:
    """Focal loss (Lin et al. 2017) of 2-class scores N×2×H×W against N×H×W class ids (1 = artifact):
    mean of -a_t (1 - p_t)^gamma log p_t, with a_t = ``alpha`` for artifacts and 1 - ``alpha`` else.
    Easy clean pixels (most of a scan) weigh almost nothing, so the rare class is not drowned out."""
    logp = torch.log_softmax(scores, dim=1).gather(1, target[:, None]).squeeze(1)
    a = torch.where(target == 1, torch.full_like(logp, alpha), torch.full_like(logp, 1.0 - alpha))
    return (-a * (1.0 - logp.exp()).pow(gamma) * logp).mean()


def soft_dice_loss(prob: torch.Tensor, target: torch.Tensor, eps: float = 1.0) -> torch.Tensor:
    """1 - soft Dice of P(artifact) N×H×W against a 0/1 target, over the whole batch (a patch without
    damage does not blow up: ``eps`` smooths the empty case)."""
    t = target.float()
    inter = (prob * t).sum()
    return 1.0 - (2.0 * inter + eps) / (prob.sum() + t.sum() + eps)
