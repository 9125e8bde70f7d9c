"""render_many draws many records together and gives, layer by layer, what render gives each.

Groups of one family from different records go through one drawer call, each artifact at its own
image's size. Every sprite must come out byte for byte as render() draws it, in the same order,
with the same box, colour, family and artifact number; the packed layers must composite alike.
"""
from __future__ import annotations

import importlib

import numpy as np
import pytest

from dustbench.synth import FAMILIES, artifact_mask, composite, family_labels, library, render, render_many, resolve_presets
from dustbench.synth.scale import scaled_params


def _sprites(layer):
    return [(sp.y0, sp.x0, sp.alpha.shape, sp.alpha.tobytes(), np.asarray(sp.color).tobytes(), sp.family,
             sp.artifact, sp.group) for sp in layer.sprites]


def _records(seed: int, count: int):
    """Records of every library preset, on regions of assorted sizes: whole small frames, crops of
    frames at scan scale (the training stream's case) and sub-regions of a frame."""
    presets = resolve_presets("*", library())
    rng = np.random.default_rng(seed)
    records, shapes = [], []
    for k in range(count):
        preset = presets[int(rng.integers(len(presets)))]
        shape = (int(rng.integers(40, 300)), int(rng.integers(40, 300)))
        draw = np.random.default_rng([seed, k])
        if k % 3 == 0:
            rec = scaled_params(preset, shape, draw)
        elif k % 3 == 1:
            rec = scaled_params(preset, shape, draw, int(rng.integers(2 * max(shape), 4000)))
        else:
            frame = (shape[0] * 3, shape[1] * 3)
            box = (int(rng.integers(0, frame[0] - shape[0])), int(rng.integers(0, frame[1] - shape[1])), *shape)
            rec = scaled_params(preset, frame, draw, None, box, float(rng.uniform(0.7, 1.4)),
                                float(rng.uniform(0.7, 1.2)))
        records.append(rec)
        shapes.append(shape)
    return records, shapes


@pytest.mark.parametrize("seed", range(4))
def test_layers_drawn_together_equal_each_drawn_alone(seed):
    records, shapes = _records(seed, 24)
    assert sum(g["n"] for r in records for g in r["groups"]) > 100  # something to merge
    together = render_many(records, shapes)
    for rec, shape, layer in zip(records, shapes, together):
        alone = render(rec, shape)
        assert layer.shape == alone.shape
        assert _sprites(layer) == _sprites(alone)
        clean = np.full((*shape, 3), 30000, np.uint16)
        for a, b in ((composite(clean, layer), composite(clean, alone)), (artifact_mask(layer), artifact_mask(alone)),
                     (family_labels(layer), family_labels(alone))):
            assert np.array_equal(a, b)


def test_groups_are_split_into_parts_of_bounded_size(monkeypatch):
    """A small cap splits the merged calls (a group larger than it is drawn alone): same layers."""
    records, shapes = _records(7, 12)
    expected = [_sprites(render(r, s)) for r, s in zip(records, shapes)]
    # the module, not the function the package exports under the same name
    monkeypatch.setattr(importlib.import_module("dustbench.synth.render"), "_TOGETHER", 5)
    assert [_sprites(layer) for layer in render_many(records, shapes)] == expected


def test_sprites_know_their_group_and_artifact():
    rec = scaled_params("kitchen_sink", (200, 300), np.random.default_rng(3))
    layer = render(rec, (200, 300))
    assert len({sp.group for sp in layer.sprites}) > 2
    for sp in layer.sprites:
        g = rec["groups"][sp.group]
        assert 0 <= sp.artifact < g["n"]
        family = g["families"][sp.artifact] if g["family"] == "stamp" else g["family"]
        assert sp.family == FAMILIES.index(family) + 1


def test_mismatched_lengths_are_refused():
    with pytest.raises(ValueError, match="2 records but 1 shapes"):
        render_many([{"groups": []}, {"groups": []}], [(4, 4)])


def test_nothing_to_draw_gives_empty_layers():
    layers = render_many([{"groups": []}, {"groups": []}], [(4, 5), (6, 7)])
    assert [(layer.shape, layer.sprites) for layer in layers] == [((4, 5), []), ((6, 7), [])]
