"""Rendering: a parameter record -> a sparse artifact layer (sprites of colour + alpha).

Each artifact is drawn only inside its own bounding box (long strokes: only in the 64-px tiles
they cross), so the cost grows with the damage, not with the frame. Shapes are drawn on 8-bit
canvases because OpenCV anti-aliases (LINE_AA) only there, with 4 fractional bits of position.

What does not depend on the canvas (outlines, boxes, tiles, which segment reaches which canvas)
is computed for a whole group at once; what is left per canvas is the OpenCV calls themselves.
Blobs are drawn by :mod:`dustbench.synth.blobs`, strokes by :mod:`dustbench.synth.strokes`, stamps here.
"""
from __future__ import annotations

from typing import Iterator

from .blobs import blob_sprites
from .layer import Layer, Sprite, pack
from .presets import FAMILIES
from .stamps import draw_stamp, group_stamps
from .strokes import stroke_sprites

_BLOBS = ("dust", "dirt", "blotch")


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
            yield Sprite(y0, x0, alpha, color, FAMILIES.index(g["families"][i]) + 1)


def render(params: dict, shape: tuple[int, ...]) -> Layer:
    """Render a parameter record for an image of `shape` (H, W[, C]). Pure: no randomness."""
    hw = (int(shape[0]), int(shape[1]))
    sprites: list[Sprite] = []
    for g in params["groups"]:
        family = g["family"]
        if family == "stamp":
            sprites.extend(_stamp_sprites(g, hw))
        elif g["n"]:
            draw = blob_sprites if family in _BLOBS else stroke_sprites
            sprites.extend(draw(family, g, hw, FAMILIES.index(family) + 1))
    layer = Layer(hw, sprites)
    pack(layer)  # compositing-ready, while the alphas are still in the CPU cache
    return layer
