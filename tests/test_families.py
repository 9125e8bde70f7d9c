"""The family table (synth/families.py), tested over the registry: every entry is complete, label ids
are stable, and a family added only there (mold, id 7, plus its presets) reaches every consumer:
presets, sampling, rendering, crops, label maps, scores, dataset cards and fit-preset's classes."""
from __future__ import annotations

import importlib
from pathlib import Path

import numpy as np
import pytest

from dustbench.data.card import PALETTE
from dustbench.evaluation.rows import CONVENTIONS, family_scores
from dustbench.fit import classify
from dustbench.fit.report import FAMILY_COLOURS
from dustbench.synth import (FAMILIES, count_by_family, crop_params, families_present, library, render, sample_params,
                             synthesize)
from dustbench.synth import families as fam_table
from dustbench.synth.blobs import blob_sprites
from dustbench.synth.families import TABLE, Family, family
from dustbench.synth.presets import SCHEMA, _COMMON, expand, validate_preset
from dustbench.synth.strokes import stroke_sprites

DOCS = Path(__file__).resolve().parent.parent / "docs"
OLD = ("dust", "dirt", "hair", "lint", "scratch", "blotch")  # their label ids 1..6 are stored in datasets and results


def test_the_six_old_families_keep_their_label_ids():
    assert FAMILIES[:6] == OLD
    assert [family(name).id for name in OLD] == [1, 2, 3, 4, 5, 6]


@pytest.mark.parametrize("entry", TABLE, ids=lambda f: f.name)
def test_every_family_is_complete(entry: Family):
    """Sampler, drawer of its kind, label colour, docs line, unique id (= its place in FAMILIES)."""
    assert callable(entry.sample) and entry.draw is {"blob": blob_sprites, "stroke": stroke_sprites}[entry.kind]
    assert len(entry.colour) == 3 and all(isinstance(c, int) and 0 <= c <= 255 for c in entry.colour)
    assert entry.doc and FAMILIES[entry.id - 1] == entry.name and family(entry.name) is entry
    assert SCHEMA[entry.name] == {**_COMMON, **entry.keys}  # the presets validate exactly its keys
    assert not set(entry.keys) & set(_COMMON)
    for cls, colour in entry.fit:
        assert classify.SYNTH_FAMILY[cls] == entry.name and FAMILY_COLOURS[cls] == colour


@pytest.mark.parametrize("entry", TABLE, ids=lambda f: f.name)
def test_every_family_has_library_presets_that_sample_and_label_with_its_id(entry: Family):
    presets = [p for p in library().values() if p.family == entry.name]
    assert presets
    required = {k: v for k, v in presets[0].to_dict().items() if k != "name"}
    assert validate_preset("again", required).values == presets[0].values
    s = synthesize(np.full((300, 450), 128, np.uint8), presets[0].name, np.random.default_rng(0))
    assert set(np.unique(s.labels)) <= {0, entry.id}
    assert set(count_by_family(s.params)) == {entry.name}


def test_ids_run_one_to_n_and_names_are_unique():
    assert [f.id for f in TABLE] == list(range(1, len(TABLE) + 1)) and len(set(FAMILIES)) == len(FAMILIES)
    dust = TABLE[0]
    with pytest.raises(ValueError, match="run 1..2"):
        fam_table._check((dust, Family("fuzz", 3, "blob", {}, dust.sample, dust.draw, (0, 0, 0), "x")))
    with pytest.raises(ValueError, match="unique"):
        fam_table._check((dust, Family("dust", 2, "blob", {}, dust.sample, dust.draw, (0, 0, 0), "x")))


def test_fit_classes_come_from_the_table_in_label_order():
    """The fit side names back the old families as before, and has a rule for every class it knows."""
    assert classify.SYNTH_FAMILY == {"dust": "dust", "dirt": "dirt", "hair_short": "hair", "hair_long": "hair",
                                     "lint": "lint", "scratch": "scratch", "blotch": "blotch"}
    assert {r.family for r in classify.RULES} == set(classify.FIT_FAMILIES)
    assert importlib.import_module("dustbench.fit.estimate").BLOBS == ("dust", "dirt", "blotch")


def test_label_consumers_enumerate_the_table():
    assert len(PALETTE) == len(TABLE) + 1 and len({tuple(c) for c in PALETTE}) == len(PALETTE)
    assert f"1..{len(FAMILIES)} = {', '.join(FAMILIES)}" in CONVENTIONS["family_psnr"]


def test_docs_list_every_family_with_its_id():
    text = (DOCS / "presets.md").read_text(encoding="utf-8")
    for f in TABLE:
        assert f"\n| {f.name} | {f.id} | {f.doc} |\n" in text, f.name
        assert f"### `{f.name}`" in text


# --- mold: the family added in the table only ---------------------------------------------------

def test_no_mix_draws_mold_so_the_builtin_suites_are_unchanged():
    for p in library().values():
        if p.family == "mix":
            assert all(c.family != "mold" for c, _ in expand(p)), p.name


def test_mold_draws_clusters_of_blobs_labelled_7():
    clean = np.full((400, 600, 3), 128, np.uint8)
    s = synthesize(clean, "mold_slide_light", np.random.default_rng(3))
    g = s.params["groups"][0]
    assert family("mold").id == 7 and g["family"] == "mold" and g["n"] == len(g["x"]) == len(g["size"]) > 0
    assert set(np.unique(s.labels)) == {0, 7} and families_present(s.labels) == ["mold"]
    assert np.all(s.damaged[s.labels == 7] <= 128)  # dark spots
    # The labelled pixels score under the family's name.
    scores = family_scores(clean, clean, s.damaged, s.labels)
    assert scores["family_pixels"].startswith("mold=")


def test_a_mold_crop_renders_what_the_frame_renders_there():
    shape, box = (600, 900), (100, 200, 160, 240)
    params = sample_params("mold_negative_light", shape, np.random.default_rng(5))
    frame = render(params, shape)
    crop = render(crop_params(params, shape, box), box[2:])
    y0, x0, h, w = box
    a = np.zeros(shape, np.float32)
    for sp in frame.sprites:
        a[sp.y0:sp.y0 + sp.alpha.shape[0], sp.x0:sp.x0 + sp.alpha.shape[1]] += sp.alpha
    b = np.zeros((h, w), np.float32)
    for sp in crop.sprites:
        b[sp.y0:sp.y0 + sp.alpha.shape[0], sp.x0:sp.x0 + sp.alpha.shape[1]] += sp.alpha
    assert b.any() or not a[y0:y0 + h, x0:x0 + w].any()
    np.testing.assert_allclose(b, a[y0:y0 + h, x0:x0 + w], atol=1e-5)
    assert {sp.family for sp in crop.sprites} <= {7}


def test_mold_round_trips_through_a_dataset_label_map(tmp_path):
    from dustbench.data import DatasetConfig, iter_split, make_dataset

    out = tmp_path / "ds"
    make_dataset(DatasetConfig(clean="builtin", out=str(out), seed=1, train_patches=4, patch=64, val_images=1,
                               test_images=1, presets="mold_slide_light"), progress=False)
    rows = list(iter_split(out, "test")) + list(iter_split(out, "validation"))
    assert any(r["families"] == ["mold"] for r in rows)
    for r in rows:
        assert set(np.unique(r["labels"])) <= {0, 7} and set(r["families"]) <= {"mold"}
    card = (out / "README.md").read_text()
    assert "7 = mold" in card and "| mold |" in card
