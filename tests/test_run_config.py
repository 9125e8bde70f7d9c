"""evaluate and restore are told how by one value each (EvalConfig, RestoreConfig), checked when made."""
from __future__ import annotations

import numpy as np
import pytest

from dustbench.errors import DustbenchError
from dustbench.evaluation import EvalConfig, evaluate
from dustbench.io import read_image, write_image
from dustbench.methods.restore import RestoreConfig, restore
from dustbench.methods.run_config import RunConfig, with_settings


def test_unknown_setting_gets_a_did_you_mean():
    with pytest.raises(DustbenchError, match="EvalConfig has no setting 'limt'; did you mean 'limit'"):
        evaluate("identity", "builtin", limt=2)
    with pytest.raises(DustbenchError, match="RestoreConfig has no setting 'comapre'"):
        restore("identity", [], "out", comapre=True)


@pytest.mark.parametrize("bad, match", [
    ({"on_error": "ignore"}, "on_error must be 'stop' or 'skip'"),
    ({"on_bad_output": "fix"}, "on_bad_output must be one of"),
    ({"threads": -1}, "threads must be a whole number"),
    ({"threads": 1.5}, "threads must be a whole number"),
    ({"limit": 0}, "limit must be a whole number of images"),
    ({"limit": True}, "limit must be a whole number of images"),
    ({"options": [("radius", 2)]}, "options must be a dict"),
])
def test_bad_values_are_refused_when_made(bad, match):
    with pytest.raises(DustbenchError, match=match):
        EvalConfig(**bad)


def test_settings_override_the_config():
    base = EvalConfig(limit=2, seed=3)
    cfg = with_settings(EvalConfig, base, {"limit": 1})
    assert (cfg.limit, cfg.seed, base.limit) == (1, 3, 2)
    with pytest.raises(DustbenchError, match="config: expected EvalConfig, got RunConfig"):
        with_settings(EvalConfig, RunConfig(), {})


def test_config_and_keywords_give_the_same_run():
    cfg = EvalConfig(limit=2, n_resamples=50, progress=False, options={"radius": 1})
    a = evaluate("median", "builtin", config=cfg)
    b = evaluate("median", "builtin", limit=2, n_resamples=50, progress=False, options={"radius": 1})
    assert [r["psnr"] for r in a.rows] == [r["psnr"] for r in b.rows]
    assert a.summary["n_resamples"] == 50 and a.summary["options"]["radius"] == 1


def test_restore_config(tmp_path):
    scan = tmp_path / "scan.png"
    write_image(scan, np.full((16, 16, 3), 100, np.uint8))
    cfg = RestoreConfig(compare=True, progress=False)
    [rec] = restore("identity", [scan], tmp_path / "out", config=cfg)
    assert rec.status == "written" and rec.compare.is_file()
    assert np.array_equal(read_image(rec.output), read_image(scan))
    [again] = restore("identity", [scan], tmp_path / "out", config=cfg)
    assert again.status == "exists"
