"""Rendering: a parameter record -> a sparse artifact layer (sprites of colour + alpha).

Each artifact is drawn only inside its own bounding box (long strokes: only in the 64-px tiles
they cross), so the cost grows with the damage, not with the frame. Shapes are drawn on 8-bit
canvases because OpenCV anti-aliases (LINE_AA) only there, with 4 fractional bits of position.

What does not depend on the canvas (outlines, boxes, tiles, which segment reaches which canvas)
is computed for a whole group at once; what is left per canvas is the OpenCV calls themselves.
Each family's drawer (its entry in :mod:`dustbench.synth.families`: :mod:`~dustbench.synth.blobs` or
:mod:`~dustbench.synth.strokes`) draws its groups; stamps are drawn here.
"""
from __future__ import annotations

from typing import Iterator

from .families import family
from .layer import Layer, Sprite, pack
from .stamps import draw_stamp, group_stamps


def _stamp_sprites(g: dict, shape: tuple[int, int]) -> Iterator[Sprite]:
    """Real sprites: each stamp warped to its place, drawn at its recorded size."""
    stamps = group_stamps(g)  # refuses a folder whose index changed since sampling
    h, w = shape
    s = float(min(h, w))
    for i in range(g["n"]):
        row = int(g["stamp"][i])
        px_scale = g["size"][i] * s / (stamps.sizes[row] * stamps.short_sides[row])
        drawn = draw_stamp(stamps.rgba(row), g["x"][i] * w, g["y"][i] * h, px_scale, g["angle"][i],
                           bool(g["flip"][i]), g["opacity"][i], shape)
        if drawn is not None:
            y0, x0, alpha, color = drawn
            yield Sprite(y0, x0, alpha, color, family(g["families"][i]).id)


def render(params: dict, shape: tuple[int, ...]) -> Layer:
    """Render a parameter record for an image of `shape` (H, W[, C]). Pure: no randomness."""
    hw = (int(shape[0]), int(shape[1]))
    sprites: list[Sprite] = []
    for g in params["groups"]:
        if g["family"] == "stamp":
            sprites.extend(_stamp_sprites(g, hw))
        elif g["n"]:
            fam = family(g["family"])
            sprites.extend(fam.draw(g, hw, fam.id))
    layer = Layer(hw, sprites)
    pack(layer)  # compositing-ready, while the alphas are still in the CPU cache
    return layer
