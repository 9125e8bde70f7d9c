"""``pix2pix``: the conditional GAN of Isola et al. (2017), "Image-to-Image Translation with
Conditional Adversarial Networks", as the Pix2Pix baseline of Mironică (2020), Table 1.

Generator (``create_model("pix2pix", ...)``): the U-Net of pix2pix's ``unet_128`` (7 down-samplings,
so a 128×128 patch reaches 1×1 at the bottleneck), input x: N×C×H×W float32 in [0, 1], any H, W:

    pad x to a multiple of 2^7 = 128 (replicate)         the 7 stride-2 convs need it
    u = 2x − 1                                           pix2pix works in [−1, 1]
    encoder  C64 – C128 – C256 – C512 – C512 – C512 – C512     conv4×4 stride 2, LeakyReLU(0.2);
                                                        BatchNorm on all but the first and the innermost
    decoder  mirrored: ReLU, ConvTranspose4×4 stride 2, BatchNorm, skip concat with the encoder;
             dropout 0.5 in the two 512-wide decoder layers below the innermost
    y = (tanh(out) + 1) / 2, cropped back to H×W

Widths scale with ``ngf`` (64 in pix2pix: 41.8 M parameters for RGB; see
``baselines/pix2pix/README.md`` for the CPU-sized widths of the leaderboard). Weights start
N(0, 0.02) (BatchNorm weights N(1, 0.02)), as in pix2pix. The module is exported in eval mode:
BatchNorm uses running statistics and dropout is off, so inference is deterministic (the pix2pix
code keeps both in training mode at test time unless ``--eval``).

Training (``dustbench train pix2pix``) uses :class:`Pix2PixTask`: the 70×70 PatchGAN of
:mod:`dustbench.models.patchgan` on (input, output) pairs, vanilla GAN loss (BCE with logits) +
λ·L1 with λ = 100, Adam β1 = 0.5, and the learning rate constant for the first half of the run and
decaying linearly to 0 in the second half. Pass ``--lr 2e-4`` (pix2pix's rate; the trainer's
default is the Mironică rate 5e-4, and the task warns when it differs).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import DustbenchError
from . import losses as L
from .layers import pad_to_multiple, pix2pix_init
from .patchgan import PatchDiscriminator
from .registry import register_model
from .task import Task, register_task

PIX2PIX_LR = 2e-4


class UNetBlock(nn.Module):
    """One level of pix2pix's ``UnetSkipConnectionBlock``: down, the inner levels, up, and (except
    at the outermost level) the skip connection ``cat(x, up(inner(down(x))))``."""

    def __init__(self, outer: int, inner: int, sub: nn.Module | None = None, in_channels: int | None = None,
                 outermost: bool = False, dropout: float = 0.0):
        super().__init__()
        self.outermost = outermost
        cin = outer if in_channels is None else in_channels
        innermost = sub is None
        down: list[nn.Module] = [] if outermost else [nn.LeakyReLU(0.2, True)]
        # no bias in the down convs (pix2pix: use_bias is False with BatchNorm, at every level)
        down.append(nn.Conv2d(cin, inner, 4, stride=2, padding=1, bias=False))
        if not (outermost or innermost):
            down.append(nn.BatchNorm2d(inner))
        up: list[nn.Module] = [nn.ReLU(True)]
        up_in = inner if innermost else 2 * inner
        if outermost:
            up += [nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1), nn.Tanh()]
        else:
            up += [nn.ConvTranspose2d(up_in, outer, 4, stride=2, padding=1, bias=False), nn.BatchNorm2d(outer)]
            if dropout > 0:
                up.append(nn.Dropout(dropout))
        self.down = nn.Sequential(*down)
        self.sub = sub if sub is not None else nn.Identity()
        self.up = nn.Sequential(*up)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.up(self.sub(self.down(x)))
        if self.outermost:
            return y
        return torch.cat([x, y], dim=1)


class UNetGenerator(nn.Module):
    """pix2pix's U-Net generator; see the module docstring for what goes in and comes out."""

    def __init__(self, in_channels: int = 3, ngf: int = 64, num_downs: int = 7, dropout: float = 0.5):
        super().__init__()
        if num_downs < 5:
            raise DustbenchError(f"num_downs must be >= 5 (pix2pix's U-Net has 4 fixed outer levels), got {num_downs}")
        if ngf < 1:
            raise DustbenchError(f"ngf must be >= 1, got {ngf}")
        self.factor, self.in_channels = 2 ** num_downs, in_channels
        block = UNetBlock(ngf * 8, ngf * 8)                          # innermost
        for _ in range(num_downs - 5):
            block = UNetBlock(ngf * 8, ngf * 8, block, dropout=dropout)
        block = UNetBlock(ngf * 4, ngf * 8, block)
        block = UNetBlock(ngf * 2, ngf * 4, block)
        block = UNetBlock(ngf, ngf * 2, block)
        self.net = UNetBlock(in_channels, ngf, block, in_channels=in_channels, outermost=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        pix2pix_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        xp = pad_to_multiple(x, self.factor)
        y = self.net(xp * 2.0 - 1.0)
        return ((y + 1.0) * 0.5)[:, :, :h, :w]


@register_model("pix2pix")
def pix2pix(in_channels: int = 3, ngf: int = 64, num_downs: int = 7, dropout: float = 0.5) -> UNetGenerator:
    """Isola et al. (2017) U-Net generator (unet_128: 7 down-samplings), BatchNorm, dropout 0.5."""
    return UNetGenerator(int(in_channels), int(ngf), int(num_downs), float(dropout))


@register_task("pix2pix")
class Pix2PixTask(Task):
    """Training of ``pix2pix``: per step one D update, then one G update (as in pix2pix).

    D is the conditional 70×70 PatchGAN on cat(x, candidate), both in [−1, 1]; its loss is
    ½[BCE(D(x, y), 1) + BCE(D(x, G(x)), 0)]. G minimises BCE(D(x, G(x)), 1) + λ·|G(x) − y|₁ with
    the L1 on the [−1, 1] scale, as pix2pix computes it (twice the [0, 1] L1).

    Options (``--set task.NAME=VALUE``): ``lambda_l1`` (100), ``d_width`` (64), ``betas``
    ([0.5, 0.999]), ``schedule`` ("pix2pix": constant lr for the first half of the run, then linear
    decay to 0; "linear": the trainer's decay over the whole run).
    """

    default_options = {"lambda_l1": 100.0, "d_width": 64, "betas": [0.5, 0.999], "schedule": "pix2pix"}

    def __init__(self, model_name, model, options=None, device=torch.device("cpu")):
        super().__init__(model_name, model, options, device)
        if self.options["schedule"] not in ("pix2pix", "linear"):
            raise DustbenchError(f"pix2pix: schedule must be 'pix2pix' or 'linear', got {self.options['schedule']!r}")
        self.discriminator = PatchDiscriminator(2 * model.in_channels, int(self.options["d_width"]))

    def modules(self):
        return {"model": self.model, "discriminator": self.discriminator}

    def notes(self) -> dict:
        return {"loss": f"vanilla GAN (BCE with logits) + {float(self.options['lambda_l1']):g}·L1 on [-1, 1]",
                "schedule": ("lr constant for the first half, then linear decay to 0 (pix2pix)"
                             if self.options["schedule"] == "pix2pix" else "linear decay to 0 over the run"),
                "inference": "eval mode: BatchNorm running statistics, no dropout"}

    def build_optimizers(self, lr: float):
        if abs(lr - PIX2PIX_LR) > 1e-12:
            warnings.warn(f"pix2pix: lr {lr:g} differs from pix2pix's {PIX2PIX_LR:g} (pass --lr {PIX2PIX_LR:g})",
                          stacklevel=2)
        betas = tuple(float(b) for b in self.options["betas"])
        return {"model": torch.optim.Adam(self.model.parameters(), lr=lr, betas=betas),
                "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=lr, betas=betas)}

    def lr_factor(self, decay: float) -> float:
        """pix2pix's schedule: with the trainer's linear decay f (1 -> 0 over the run), min(1, 2f):
        constant to the middle of the run, then linear to 0."""
        return min(1.0, 2.0 * decay) if self.options["schedule"] == "pix2pix" else decay

    def training_step(self, batch, step):
        x, clean = batch["damaged"] * 2.0 - 1.0, batch["clean"] * 2.0 - 1.0
        with self.autocast():
            fake = self.net("model")(batch["damaged"])
        fake = fake.float() * 2.0 - 1.0
        opt_d, opt_g = self.optimizers["discriminator"], self.optimizers["model"]
        opt_d.zero_grad(set_to_none=True)
        D = self.net("discriminator")
        with self.autocast():
            real_logits = D(torch.cat([x, clean], 1))
            fake_logits = D(torch.cat([x, fake.detach()], 1))
        d_loss = L.discriminator_loss(real_logits.float(), fake_logits.float())
        d_loss.backward()
        opt_d.step()
        # G's adversarial term through the plain D with frozen weights (as in dust_gan: no D
        # gradients, no DDP hook on D in this backward; G's gradients flow through D's activations)
        self.discriminator.requires_grad_(False)
        with self.autocast():
            g_logits = self.discriminator(torch.cat([x, fake], 1)).float()
        self.discriminator.requires_grad_(True)
        opt_g.zero_grad(set_to_none=True)
        adversarial = L.generator_adversarial_loss(g_logits)
        l1 = torch.nn.functional.l1_loss(fake, clean)
        total = adversarial + float(self.options["lambda_l1"]) * l1
        total.backward()
        opt_g.step()
        return {"d": float(d_loss.detach()), "adversarial": float(adversarial.detach()),
                "l1": float(l1.detach()), "total": float(total.detach())}

