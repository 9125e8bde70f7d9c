"""Balanced sampling: DamageStream(damage_share=p) draws damage for a share p of patches and leaves
the rest clean (hard negatives); off (None) it draws exactly as before."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dustbench.data.stream import DamageStream
from dustbench.data.train_sources import open_train_data
from dustbench.errors import DustbenchError


def _stream(share, **kw):
    img = np.random.default_rng(1).integers(0, 255, (300, 400, 3), dtype=np.uint8)
    return DamageStream([img], "dust_*", patch=32, seed=3, scan_scale=(400, 600), samples_per_epoch=64,
                        damage_share=share, **kw)


def _damaged(stream, n=48):
    return [bool((stream.sample(g)["mask"].numpy() > 0).any()) for g in range(n)]


def test_off_draws_as_before():
    # the digest the stream gave before damage_share existed (computed at commit 1af4377)
    h = hashlib.sha256()
    for g in range(8):
        x = _stream(None).sample(g)
        for k in ("damaged", "clean", "mask"):
            h.update(x[k].numpy().tobytes())
    assert h.hexdigest()[:16] == "92f925f8db6f7f59"


def test_zero_share_gives_clean_patches():
    s = _stream(0.0)
    for g in range(12):
        x = s.sample(g)
        assert not x["mask"].numpy().any() and np.array_equal(x["damaged"].numpy(), x["clean"].numpy())


def test_full_share_holds_more_damage_than_as_drawn():
    assert sum(_damaged(_stream(1.0))) > sum(_damaged(_stream(None)))


def test_half_share_is_near_half_and_reproducible():
    got = _damaged(_stream(0.5), 64)
    assert 0.25 < np.mean(got) < 0.75
    assert got == _damaged(_stream(0.5), 64)


@pytest.mark.parametrize("bad", [-0.1, 1.5, "half", True])
def test_bad_share_is_refused(bad):
    with pytest.raises(DustbenchError, match="damage_share"):
        _stream(bad)


def test_train_data_records_it_and_refuses_it_where_damage_is_fixed():
    src = open_train_data("stream:builtin", patch=32, seed=0, steps_per_epoch=2, batch_size=16, damage_share=0.5)
    assert src.describe()["damage_share"] == 0.5
    joined = open_train_data("stream:builtin+procedural:text", patch=32, steps_per_epoch=2, batch_size=16,
                             damage_share=0.5)  # a stream of joined sources is still a stream
    assert joined.describe()["sources"] == "builtin+procedural:text"
    with pytest.raises(DustbenchError, match="stream"):
        open_train_data("builtin-train", damage_share=0.5)
