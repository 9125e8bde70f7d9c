"""The versioned built-in evaluation sets: `builtin-v2` (the standard suite, at the pixel scale of
35 mm scans) and `builtin` (v1, unchanged since it was published)."""
from __future__ import annotations

import hashlib

import numpy as np
import pytest

from dustbench import evaluate
from dustbench.data.builtin_sets import SUITE, _v2_samples
from dustbench.data.eval_data import open_data
from dustbench.errors import DustbenchError
from dustbench.lockfile import drift_note
from dustbench.sources import builtin_sources

# sha256 over the digests of builtin v1's samples (test, then validation), as published.
V1_DIGEST = "ab51ee86b0a9dfac1362a4975143a61ed45104ec94693105d26bab1583af19f3"


def test_builtin_v1_is_byte_identical_to_the_published_set():
    """Guards the first leaderboard's data: calibrating the heavy mixes did not change builtin (v1)."""
    h = hashlib.sha256()
    for split in ("test", "validation"):
        for s in open_data("builtin", split):
            h.update(s.digest.encode())
    assert h.hexdigest() == V1_DIGEST, drift_note()


def test_v2_is_the_full_photographs_at_two_scan_scales_with_disjoint_splits():
    """Guards the suite's layout: 80 test samples from the right two thirds of each photograph at full
    resolution (pixels equal to the photograph's), 20 validation samples from the left third; both
    polarities at a flatbed and a film-scanner scale; every sample holds damage."""
    test, val = open_data("builtin-v2"), open_data("builtin-v2", "validation")
    assert len(test) == 80 and len(val) == 20 and len(set(test.ids())) == 80
    photos = {src.id.split(":")[-1]: src.load() for src in builtin_sources()}
    for split, data, (lo, hi) in (("test", test, (1 / 3, 1.0)), ("validation", val, (0.0, 1 / 3))):
        for s in data:
            photo = photos[s.id.split("_", 1)[1].rsplit("_", 2)[0]]
            w = photo.shape[1]
            assert np.array_equal(s.clean, photo[:, round(lo * w):round(hi * w)])
            assert s.mask.any() and s.presets[0] in SUITE["presets"]
    ids = test.ids()
    assert {i.rsplit("_", 1)[1] for i in ids} == {"2268", "3780"}
    assert {i.rsplit("_", 2)[1] for i in ids} == {"negative", "slide"}
    d = test.describe()
    assert d["version"] == "v2" and d["name"] == "builtin-v2:test"
    assert {k: v["short_side_px"] for k, v in d["scan_scale"].items()} == {"flatbed": 2268, "film_scanner": 3780}
    assert test.validation().name == "builtin-v2:validation" and open_data("builtin").describe()["version"] == "v1"


def test_v2_is_the_same_on_every_build():
    """Guards reproducibility: rebuilding the suite from scratch gives the same bytes."""
    first = [s.digest for s in open_data("builtin-v2")]
    _v2_samples.cache_clear()
    assert [s.digest for s in open_data("builtin-v2")] == first
    with pytest.raises(DustbenchError, match="splits"):
        open_data("builtin-v2", "train")


def test_v2_tells_the_oracle_from_doing_nothing():
    """Guards the reason for the suite: the 95 % intervals of identity and oracle_inpaint (a perfect
    detector + Telea) do not overlap, and results record the suite's version."""
    ident = evaluate("identity", "builtin-v2", progress=False).summary
    oracle = evaluate("oracle_inpaint", "builtin-v2", progress=False).summary
    assert ident["data"]["version"] == "v2" and ident["test_set"] == "builtin-v2:test"
    assert ident["metrics"]["psnr"]["n"] == 80
    assert ident["metrics"]["psnr"]["ci_high"] < oracle["metrics"]["psnr"]["ci_low"]


def test_the_standard_suite_renders_as_published_and_guards_itself(monkeypatch, tmp_path, capsys):
    """Guards trust in the board: builtin-v2 renders to the fingerprint it was published on; a suite
    that renders otherwise (simulated by another recorded fingerprint) is refused with a message
    naming the versions, and evaluated only when asked, which the summary records."""
    from dustbench.cli import main
    from dustbench.data import builtin_sets

    data = open_data("builtin-v2", "test")
    assert data.check_published() == {"published": builtin_sets.PUBLISHED[("v2", "test")],
                                      "rendered": builtin_sets.PUBLISHED[("v2", "test")], "matches": True}
    monkeypatch.setitem(builtin_sets.PUBLISHED, ("v2", "test"), "0" * 64)
    with pytest.raises(DustbenchError, match=r"not the one the leaderboard was published on \(000000000000\).*"
                                             r"(installed versions|requirements.lock).*--allow-suite-drift"):
        evaluate("identity", "builtin-v2", limit=1, progress=False)
    assert main(["evaluate", "identity", "--data", "builtin-v2", "--limit", "1", "--out", str(tmp_path / "a"),
                 "--quiet"]) != 0
    assert "--allow-suite-drift" in capsys.readouterr().err
    res = evaluate("identity", "builtin-v2", limit=1, progress=False, allow_suite_drift=True)
    suite = res.summary["data"]["published_suite"]
    assert suite["matches"] is False and suite["allowed_drift"] is True and suite["published"] == "0" * 64
