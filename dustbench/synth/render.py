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

from typing import Iterator, Sequence

import numpy as np

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
            yield Sprite(y0, x0, alpha, color, family(g["families"][i]).id, i)


def render(params: dict, shape: tuple[int, ...]) -> Layer:
    """Render a parameter record for an image of `shape` (H, W[, C]). Pure: no randomness."""
    return render_many([params], [shape])[0]


def render_many(records: Sequence[dict], shapes: Sequence[tuple[int, ...]]) -> list[Layer]:
    """``[render(r, s) for r, s in zip(records, shapes)]``, the same layers, drawn together.

    Groups of one family (with the same columns) are drawn in one call of the family's drawer,
    each artifact at its own image's size: the drawers' cost is mostly per call, not per artifact,
    so many small records (the patches of a training stream) draw several times faster together.
    Every artifact is drawn as on its own (the drawers draw each on its own canvas), so each
    layer is the one render() gives; tests/test_render_many.py checks it byte for byte.
    """
    if len(records) != len(shapes):
        raise ValueError(f"render_many: {len(records)} records but {len(shapes)} shapes")
    hws = [(int(shape[0]), int(shape[1])) for shape in shapes]
    drawn: list[list[list[Sprite]]] = [[[] for _ in r["groups"]] for r in records]  # per record, per group
    together: dict[tuple, list[tuple[int, int]]] = {}
    for r, rec in enumerate(records):
        for j, g in enumerate(rec["groups"]):
            if g["family"] == "stamp":
                drawn[r][j] = list(_stamp_sprites(g, hws[r]))
            elif g["n"]:
                together.setdefault((g["family"], tuple(sorted(g))), []).append((r, j))
    for (name, _), members in together.items():
        for part in _parts(records, members):
            _draw_together(records, hws, part, family(name), drawn)
    layers = []
    for hw, per_group in zip(hws, drawn):
        for j, sprites in enumerate(per_group):
            for sp in sprites:
                sp.group = j
        layer = Layer(hw, [sp for sprites in per_group for sp in sprites])
        pack(layer)  # compositing-ready, while the alphas are still in the CPU cache
        layers.append(layer)
    return layers


_TOGETHER = 4096  # artifacts per drawer call at most: a call's scratch arrays grow with its artifacts


def _parts(records, members: list[tuple[int, int]]) -> Iterator[list[tuple[int, int]]]:
    """`members` (record, group) in runs of at most _TOGETHER artifacts (a larger group alone)."""
    part, count = [], 0
    for r, j in members:
        n = records[r]["groups"][j]["n"]
        if part and count + n > _TOGETHER:
            yield part
            part, count = [], 0
        part.append((r, j))
        count += n
    if part:
        yield part


def _draw_together(records, hws, part: list[tuple[int, int]], fam, drawn) -> None:
    """Draw the groups `part` (record, group) of family `fam` in one drawer call, each artifact at
    its record's image size, and hand each group its sprites (artifact numbers as in the group)."""
    groups = [records[r]["groups"][j] for r, j in part]
    columns = [k for k, v in groups[0].items() if isinstance(v, (list, np.ndarray))]
    if len(groups) > 1 and not all(len(g[k]) == g["n"] for g in groups for k in columns):
        for one in part:  # a list that is not one entry per artifact: no way to merge it
            _draw_together(records, hws, [one], fam, drawn)
        return
    if len(groups) == 1:
        merged, shape = groups[0], hws[part[0][0]]
    else:
        counts = [g["n"] for g in groups]
        merged = {"family": fam.name, "n": sum(counts)}
        for k in columns:  # Python lists of Python scalars, as records hold them
            merged[k] = [x for g in groups for x in (g[k].tolist() if isinstance(g[k], np.ndarray) else g[k])]
        shape = np.repeat(np.array([hws[r] for r, _ in part], np.int64), counts, axis=0)
    sprites = fam.draw(merged, shape, fam.id)
    if len(groups) == 1:
        drawn[part[0][0]][part[0][1]].extend(sprites)
        return
    starts = np.cumsum([0] + [g["n"] for g in groups])
    owner = np.searchsorted(starts, [sp.artifact for sp in sprites], "right") - 1
    for sp, k, start in zip(sprites, owner.tolist(), starts[owner].tolist()):
        sp.artifact -= start
        r, j = part[k]
        drawn[r][j].append(sp)
