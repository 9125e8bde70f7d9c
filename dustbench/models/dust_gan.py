"""``dust_gan``: the GAN with residual learning of Mironică (2020), "A Generative Adversarial
Approach with Residual Learning for Dust and Scratches Artifacts Removal", section 2.

Generator (``create_model("dust_gan", ...)``), input x: N×3×H×W float32 in [0, 1], any H, W:

    pad x to even H, W (replicate)                       the one down-sampling is by 2
    m  = median_k(x)            (k = median_kernel = 5, per channel, exact, pure torch)
    r  = x − m                  the residual the paper's G and D "operate on" (section 2.2)
    f0 = ReLU(conv3×3(cat(r, m)))            input block, full resolution, ``width`` channels
                                             (as conv(r) + conv(m): same function and weights)
    f  = DownBlock(f0)                       stride-2 conv + BN + ReLU
    f  = 7 × DilatedResBlock(f, d)           d = 1, 2, 4, 8, 4, 2, 1; BN + channel attention
    f  = UpBlock(f) + f0                     sub-pixel conv back to full resolution, long skip
    δ  = conv3×3(f)                          output head, initialised to zero
    r̂  = r + δ                               the predicted clean residual
    y  = clamp(m + r̂, 0, 1)  = clamp(x + δ, 0, 1)   crop back to H×W

So G maps the residual r (with the median m as context, ``median_input``) to the clean residual
r̂, and because δ starts at zero the untrained model is exactly the identity (docs/architecture.md, known pitfalls: a short
CPU training must not start by destroying clean pixels). The output is bounded to [0, 1]; with
``bound="sigmoid"`` the bound is the paper's sigmoid, y = σ(logit(x) + δ) (still the identity at
init; its gradient vanishes near 0 and 1, where bright/dark dust lives, hence "clamp" by default).

``residual=False`` is the plain variant for the ablation: G sees x and predicts the image
directly, y = σ(conv3×3(f)) (the paper's sigmoid output, standard init, no identity start), and
D sees images instead of residuals.

Widths: ``width`` = 32 channels everywhere (res blocks at half resolution), channel attention
with reduction 4, EDSR residual scaling 0.1. That is 182,683 parameters for RGB (see
``baselines/dust_gan/README.md``); the receptive field is ~190 px. Weights are initialised as in
EDSR (:func:`dustbench.models.layers.edsr_init`), the output head to zero.

Training (``dustbench train dust_gan``) uses :class:`DustGanTask`: the 70×70 PatchGAN of
:mod:`dustbench.models.patchgan` as a conditional D on cat(x − m, candidate − m), and the loss of
:mod:`dustbench.models.losses` with the paper's weights (1, 2, 1, 0.01).
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from ..errors import DustbenchError
from . import losses as L
from .layers import (DilatedResBlock, DownBlock, UpBlock, as_int_list, edsr_init, logit, median_filter,
                     pad_to_multiple)
from .patchgan import PatchDiscriminator
from .registry import register_model
from .task import Task, register_task
from .vgg import DEFAULT_LAYERS as VGG_LAYERS
from .vgg import load_vgg19, resolve_vgg_weights

DEFAULT_DILATIONS = (1, 2, 4, 8, 4, 2, 1)


class DustGenerator(nn.Module):
    """The generator; see the module docstring for exactly what goes in and comes out."""

    def __init__(self, in_channels: int = 3, width: int = 32, dilations=DEFAULT_DILATIONS, reduction: int = 4,
                 res_scale: float = 0.1, median_kernel: int = 5, residual: bool = True,
                 median_input: bool = True, bound: str = "clamp"):
        super().__init__()
        if median_kernel < 1 or median_kernel % 2 == 0:
            raise DustbenchError(f"median_kernel must be odd and >= 1, got {median_kernel}")
        if bound not in ("clamp", "sigmoid"):
            raise DustbenchError(f"bound must be 'clamp' or 'sigmoid', got {bound!r}")
        self.residual, self.median_input, self.sigmoid_bound = bool(residual), bool(median_input), bound == "sigmoid"
        self.median_kernel = int(median_kernel)
        # The input block is conv3×3 over cat(r, m), written as two convs summed (the same function,
        # the same parameters) so that the first weight shows the image's channel count to tools
        # that guess it, such as dustbench.methods.load_model_file.
        self.head = nn.Conv2d(in_channels, width, 3, padding=1)
        self.head_median = nn.Conv2d(in_channels, width, 3, padding=1, bias=False) if residual and median_input \
            else None
        self.down = DownBlock(width, width)
        self.blocks = nn.Sequential(*[DilatedResBlock(width, d, reduction, res_scale) for d in dilations])
        self.up = UpBlock(width, width)
        self.tail = nn.Conv2d(width, in_channels, 3, padding=1)
        edsr_init(self)
        if self.residual:  # start at the identity: δ = 0
            nn.init.zeros_(self.tail.weight)
            nn.init.zeros_(self.tail.bias)

    def baseline(self, x: torch.Tensor) -> torch.Tensor:
        """The median image m that residuals are taken against (zeros when ``residual=False``)."""
        if self.residual:
            return median_filter(x, self.median_kernel)
        return torch.zeros_like(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[2], x.shape[3]
        xp = pad_to_multiple(x, 2)
        if self.residual:
            m = median_filter(xp, self.median_kernel)
            f0 = self.head(xp - m)
            head_median = self.head_median
            if head_median is not None:
                f0 = f0 + head_median(m)
        else:
            f0 = self.head(xp)
        f0 = torch.relu(f0)
        f = self.up(self.blocks(self.down(f0)))
        f = f + f0
        delta = self.tail(f)
        if not self.residual:
            y = torch.sigmoid(delta)
        elif self.sigmoid_bound:
            y = torch.sigmoid(logit(xp) + delta)
        else:
            # m + (r + δ) written as xp + δ: the same value, and exactly x when δ = 0
            y = torch.clamp(xp + delta, 0.0, 1.0)
        return y[:, :, :h, :w]


@register_model("dust_gan")
def dust_gan(in_channels: int = 3, width: int = 32, dilations=DEFAULT_DILATIONS, reduction: int = 4,
             res_scale: float = 0.1, median_kernel: int = 5, residual: bool = True, median_input: bool = True,
             bound: str = "clamp") -> DustGenerator:
    """Mironică (2020) generator: 7 dilated SE residual blocks at half resolution, median residual."""
    return DustGenerator(int(in_channels), int(width), as_int_list(dilations, "dilations"), int(reduction),
                         float(res_scale), int(median_kernel), bool(residual), bool(median_input), str(bound))


@register_task("dust_gan")
class DustGanTask(Task):
    """Training of ``dust_gan``: per step one D update, then one G update (pix2pix order).

    Options (``--set task.NAME=VALUE``): loss weights ``w_pixel`` (1), ``w_gradient`` (2),
    ``w_perceptual`` (1), ``w_adversarial`` (0.01; 0 drops D altogether); ``vgg_weights`` (local
    VGG-19 state dict, else ``$DUSTBENCH_VGG19_WEIGHTS``, else the perceptual term is off),
    ``vgg_layers``; ``d_width`` (64, pix2pix), ``d_lr_scale`` (1: D's lr relative to G's);
    ``betas`` (Adam, (0.9, 0.999): the paper names Adam without betas).
    """

    default_options = {"w_pixel": 1.0, "w_gradient": 2.0, "w_perceptual": 1.0, "w_adversarial": 0.01,
                       "vgg_weights": None, "vgg_layers": list(VGG_LAYERS),
                       "d_width": 64, "d_lr_scale": 1.0, "betas": [0.9, 0.999]}

    def __init__(self, model_name, model, options=None, device=torch.device("cpu")):
        super().__init__(model_name, model, options, device)
        o = self.options
        self.weights = L.LossWeights(float(o["w_pixel"]), float(o["w_gradient"]), float(o["w_perceptual"]),
                                     float(o["w_adversarial"]))
        channels = model.tail.out_channels
        self.discriminator = (PatchDiscriminator(2 * channels, int(o["d_width"]))
                              if self.weights.adversarial > 0 else None)
        self.perceptual, self._perceptual_note = None, "off: w_perceptual = 0"
        if self.weights.perceptual > 0:
            path = resolve_vgg_weights(o["vgg_weights"])
            if path is None:
                self._perceptual_note = ("off: no VGG-19 weights (pass task.vgg_weights=FILE or set "
                                         "$DUSTBENCH_VGG19_WEIGHTS); loss = pixel + gradient + adversarial only")
                warnings.warn(f"dust_gan: perceptual loss {self._perceptual_note}", stacklevel=2)
            else:
                self.perceptual = L.PerceptualLoss(load_vgg19(path, o["vgg_layers"]))
                self._perceptual_note = f"on: VGG-19 {','.join(o['vgg_layers'])} from {path.name}"

    def modules(self):
        mods = {"model": self.model}
        if self.discriminator is not None:
            mods["discriminator"] = self.discriminator
        return mods

    def to(self, device):
        super().to(device)
        if self.perceptual is not None:
            self.perceptual.to(device)
        return self

    def notes(self) -> dict:
        return {"perceptual": self._perceptual_note,
                "adversarial": "on" if self.discriminator is not None else "off: w_adversarial = 0",
                "weights": " ".join(f"{k}={v:g}" for k, v in self.weights.to_dict().items())}

    def build_optimizers(self, lr: float):
        betas = tuple(float(b) for b in self.options["betas"])
        opts = {"model": torch.optim.Adam(self.model.parameters(), lr=lr, betas=betas)}
        if self.discriminator is not None:
            opts["discriminator"] = torch.optim.Adam(self.discriminator.parameters(),
                                                     lr=lr * float(self.options["d_lr_scale"]), betas=betas)
        return opts

    def _pair(self, cond: torch.Tensor, candidate: torch.Tensor, base: torch.Tensor) -> torch.Tensor:
        """D's input: the condition and a candidate, both as residuals against the median."""
        return torch.cat([cond, candidate - base], dim=1)

    def training_step(self, batch, step):
        x, clean = batch["damaged"], batch["clean"]
        with self.autocast():
            restored = self.net("model")(x)
        restored = restored.float()
        out = {}
        fake_logits = None
        if self.discriminator is not None:
            with torch.no_grad():
                base = self.model.baseline(x)
            cond = x - base
            opt_d = self.optimizers["discriminator"]
            opt_d.zero_grad(set_to_none=True)
            D = self.net("discriminator")
            with self.autocast():
                real = D(self._pair(cond, clean, base))
                fake = D(self._pair(cond, restored.detach(), base))
            d_loss = L.discriminator_loss(real.float(), fake.float())
            d_loss.backward()
            opt_d.step()
            out["d"] = float(d_loss.detach())
            # G's adversarial term: through the plain D with frozen weights (no D gradients, no DDP
            # hook on D in this backward; G's gradients still flow through D's activations).
            self.discriminator.requires_grad_(False)
            with self.autocast():
                fake_logits = self.discriminator(self._pair(cond, restored, base)).float()
            self.discriminator.requires_grad_(True)
        opt_g = self.optimizers["model"]
        opt_g.zero_grad(set_to_none=True)
        terms = L.restoration_losses(restored, clean, self.weights, self.perceptual, fake_logits)
        terms["total"].backward()
        opt_g.step()
        out.update({k: float(v.detach()) for k, v in terms.items()})
        return out

