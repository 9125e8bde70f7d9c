"""DamageStream: deterministic per (seed, epoch, index), disjoint across workers and ranks, the
paper's augmentation, and damage on a crop that matches the full frame's."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from dustbench.data.augment import Augment, Draw, warp
from dustbench.synth import crop_params, regenerate
from dustbench.data.stream import DamageStream
from dustbench.errors import DustbenchError
from dustbench.io import to_float
from dustbench.sources import open_sources
from dustbench.synth import artifact_mask, composite, render, sample_params

LIGHT = "dust_slide_light_sharp,hair_short_slide_light,scratch_curved_light"


def images(n=3, shape=(160, 200, 3), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, shape, dtype=np.uint8) for _ in range(n)]


def stream(**kw):
    args = dict(presets=LIGHT, patch=32, seed=4, samples_per_epoch=48, patches_per_visit=4)
    args.update(kw)
    return DamageStream(images(), **args)


def same(a, b):
    return all(torch.equal(a[k], b[k]) for k in ("damaged", "clean", "mask", "labels"))


def test_samples_are_float_chw_in_unit_range_and_damage_only_where_the_mask_is():
    s = stream(augment=False)
    x = s.sample(5)
    assert x["damaged"].shape == (3, 32, 32) and x["damaged"].dtype == torch.float32
    assert x["mask"].shape == (1, 32, 32) and x["labels"].shape == (32, 32)
    for k in ("damaged", "clean", "mask"):
        assert 0.0 <= float(x[k].min()) and float(x[k].max()) <= 1.0
    untouched = x["mask"][0] == 0
    assert torch.equal(x["damaged"][:, untouched], x["clean"][:, untouched])
    # without augmentation the clean patch is an exact crop of its source
    src = np.stack([to_float(im) for im in images()])
    patch = x["clean"].numpy().transpose(1, 2, 0)
    assert any((im[y:y + 32, xx:xx + 32] == patch).all() for im in src
               for y in range(im.shape[0] - 31) for xx in range(im.shape[1] - 31)
               if im[y, xx, 0] == patch[0, 0, 0])


def test_deterministic_per_seed_and_epoch_and_fresh_every_epoch():
    a, b = stream(), stream()
    assert same(a.sample(7), b.sample(7))
    b.set_epoch(1)
    assert not torch.equal(a.sample(7)["damaged"], b.sample(7)["damaged"])
    c = stream(epoch=1)
    assert same(b.sample(7), c.sample(7))
    assert not torch.equal(stream(seed=5).sample(7)["damaged"], a.sample(7)["damaged"])


def test_indices_split_disjointly_over_workers_and_ranks():
    s = stream(samples_per_epoch=100, patches_per_visit=4, interleave=2)
    for world in (1, 2, 3):
        seen = []
        for rank in range(world):
            per_rank = set()
            for workers in (1, 3):
                got = [g for w in range(workers) for g in s.indices(w, workers, rank, world)]
                assert len(got) == len(set(got))
                assert per_rank in (set(), set(got))  # the rank's samples do not depend on its workers
                per_rank = set(got)
            seen.append(per_rank)
        sizes = {len(p) for p in seen}
        assert len(sizes) == 1 and sizes.pop() == (100 // 4 // world) * 4  # equal share, remainder dropped
        assert all(p.isdisjoint(q) for i, p in enumerate(seen) for q in seen[i + 1:])


def test_rank_and_world_size_come_from_torch_distributed(monkeypatch):
    import torch.distributed as dist
    monkeypatch.setattr(dist, "is_available", lambda: True)
    monkeypatch.setattr(dist, "is_initialized", lambda: True)
    monkeypatch.setattr(dist, "get_rank", lambda: 1)
    monkeypatch.setattr(dist, "get_world_size", lambda: 2)
    s = stream()
    assert len(s) == 24 and [x["index"] for x in s] == s.indices(0, 1, 1, 2)
    assert set(s.indices()).isdisjoint(stream(rank=0, world_size=2).indices())


def test_dataloader_workers_give_the_same_samples_as_one_process():
    s = stream(samples_per_epoch=32)
    s.set_epoch(3)
    one = {int(i): d for b in s.loader(batch_size=4, num_workers=0) for i, d in zip(b["index"], b["damaged"])}
    two = {int(i): d for b in s.loader(batch_size=4, num_workers=2) for i, d in zip(b["index"], b["damaged"])}
    assert sorted(one) == sorted(two) == list(range(32))
    assert all(torch.equal(one[i], two[i]) for i in one)


@pytest.mark.parametrize("preset", ["negative_scan_heavy", "vertical_rain_scratches", "water_damaged",
                                    "negative_hairs_and_lint", "kitchen_sink"])
def test_damage_on_a_crop_matches_the_full_frame(preset):
    clean = open_sources("builtin")[0].load()
    params = sample_params(preset, clean.shape, np.random.default_rng(3))
    layer = render(params, clean.shape)
    full, mask = composite(clean, layer), artifact_mask(layer)
    for box in [(0, 0, 128, 128), (100, 200, 128, 200), (384, 384, 128, 128), (37, 11, 300, 90)]:
        y0, x0, h, w = box
        cp = crop_params(params, clean.shape, box)
        kept, total = sum(g["n"] for g in cp["groups"]), sum(g["n"] for g in params["groups"])
        assert kept < total or preset == "vertical_rain_scratches"  # full-height scratches reach every crop
        s = regenerate(clean[y0:y0 + h, x0:x0 + w], cp)
        assert np.abs(s.damaged.astype(int) - full[y0:y0 + h, x0:x0 + w]).max() <= 1  # rounding only
        assert np.abs(s.mask - mask[y0:y0 + h, x0:x0 + w]).max() < 0.02


def test_augmentation_rotates_and_resizes_image_and_damage_together():
    rng = np.random.default_rng(0)
    im = rng.random((40, 40, 3), dtype=np.float32)
    lab = (rng.random((40, 40)) * 6).astype(np.uint8)
    (out,), lab_out = warp([im], lab, Draw(k=1), 1.0, 40)
    assert np.array_equal(out, np.rot90(im)) and np.array_equal(lab_out, np.rot90(lab))
    (half,), _ = warp([im], None, Draw(scale=0.5), 0.5, 20)
    assert half.shape == (20, 20, 3) and abs(float(half.mean()) - float(im.mean())) < 0.02
    s = stream(augment=Augment(max_angle=30, scale=(0.5, 0.5), artifact_scale=(2, 2), intensity=(0.5, 0.5)))
    x = s.sample(3)
    assert x["damaged"].shape == (3, 32, 32) and float(x["mask"].max()) <= 0.5 + 1e-6  # intensity halves opacity


def test_sources_smaller_than_the_patch_are_passed_over_and_grey_becomes_rgb():
    grey = np.full((100, 100), 30000, np.uint16)
    s = DamageStream([np.zeros((20, 20, 3), np.uint8), grey], presets=LIGHT, patch=64, samples_per_epoch=8,
                     patches_per_visit=4)
    assert all(x["source"] == "array:1" and x["clean"].shape == (3, 64, 64) for x in s)
    with pytest.raises(DustbenchError, match="smaller than the 64-px patch"):
        DamageStream([np.zeros((20, 20), np.uint8)], presets=LIGHT, patch=64, samples_per_epoch=8,
                     patches_per_visit=4).sample(0)


def test_cache_dir_memory_maps_decoded_sources(tmp_path):
    srcs = open_sources("builtin")[:2]
    plain = DamageStream(srcs, presets=LIGHT, patch=48, samples_per_epoch=32)
    mapped = DamageStream(srcs, presets=LIGHT, patch=48, samples_per_epoch=32, cache_dir=tmp_path)
    assert same(plain.sample(17), mapped.sample(17))
    assert len(list(tmp_path.glob("*.npy"))) == 1


def test_from_dataset_streams_only_the_train_sources(tmp_path):
    from dustbench.data import DatasetConfig, make_dataset
    out = tmp_path / "ds"
    make_dataset(DatasetConfig(clean="builtin", out=str(out), train_patches=2, patch=48, presets=LIGHT), progress=False)
    s = DamageStream.from_dataset(out, samples_per_epoch=48)
    import json
    plan = json.loads((out / "dustbench.json").read_text())["plan"]["splits"]
    assert s.patch == 48 and {x.id for x in s.sources} == {r["id"] for r in plan["train"]}
    assert {s.sample(g)["source"] for g in range(0, 48, 16)} <= {r["id"] for r in plan["train"]}


def test_bad_arguments_are_clear_errors():
    with pytest.raises(DustbenchError, match="too small"):
        stream(samples_per_epoch=4, patches_per_visit=4, rank=0, world_size=2)
    with pytest.raises(DustbenchError, match="rank 3"):
        stream(rank=3, world_size=2)
    with pytest.raises(DustbenchError, match="no sources"):
        DamageStream([], presets=LIGHT)
