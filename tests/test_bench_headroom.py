"""benchmarks/bench_headroom.py end to end on one validation image of the standard suite: the rows go
through the harness and their saved images are read back for the per-family table."""
from __future__ import annotations

import json

import pytest


def test_identity_takes_nothing_and_the_oracle_every_visible_pixel(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("bench_headroom")
    assert bench.main(["--rows", "identity,oracle_inpaint", "--limit", "1", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "builtin-v2:validation, 1 images" in out
    summary = {s["family"]: s for s in json.loads((tmp_path / "builtin-v2-validation" / "headroom.json")
                                                  .read_text())["summary"]}
    families = [f for f in summary if f != "off damage"]
    assert families and sum(summary[f]["share"] for f in families) == pytest.approx(1.0)
    for f in families:
        assert summary[f]["identity"] == 0.0 and summary[f]["identity recall"] == 0.0
        assert summary[f]["oracle_inpaint recall"] > 0.9  # (the oracle gain itself may be negative: faint damage)
    assert summary["off damage"]["identity"] == 0.0 and summary["off damage"]["oracle_inpaint"] == 0.0


def test_a_bad_row_is_a_clear_error(tmp_path, capsys, load_benchmark):
    bench = load_benchmark("bench_headroom")
    assert bench.main(["--rows", "no_such_method", "--limit", "1", "--out", str(tmp_path)]) == 1
    assert "no_such_method" in capsys.readouterr().err
