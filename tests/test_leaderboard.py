"""`dustbench leaderboard build`: tidy CSV schema, markdown, plots, several test sets, CLI."""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.evaluation import evaluate
from dustbench.io import read_image, write_image
from dustbench.report.leaderboard import COLUMNS, build_leaderboard
from dustbench.sources import builtin_sources
from dustbench.synth import synthesize
from dustbench.io import mask_to_image


def make_pairs(root, n=3, seed=0):
    photo = read_image(builtin_sources()[1].path)
    rng = np.random.default_rng(seed)
    for i in range(n):
        clean = np.ascontiguousarray(photo[i * 40:i * 40 + 48, 60:124])
        s = synthesize(clean, "negative_scan_medium", rng)
        for sub, img in (("damaged", s.damaged), ("clean", clean), ("mask", mask_to_image(s.mask, np.uint8)),
                         ("labels", s.labels)):
            write_image(root / sub / f"f{i}.png", img)
    return root


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("lb")
    data = make_pairs(base / "scans")
    evaluate("identity", data, base / "r" / "identity", save_images=True, progress=False)
    evaluate("median", data, base / "r" / "median", options={"radius": 1}, save_images=True, progress=False)
    evaluate("oracle_inpaint", data, base / "r" / "oracle", progress=False)  # no saved images
    return base


def test_build_writes_tidy_csv_markdown_and_plots(results, tmp_path):
    report = build_leaderboard([results / "r"], tmp_path / "lb")
    df = pd.read_csv(tmp_path / "lb" / "leaderboard.csv")
    assert list(df.columns) == COLUMNS and len(df) == 3
    assert set(df["method"]) == {"identity", "median", "oracle_inpaint"}
    assert (df["test_set"] == "scans:test").all() and (df["n_images"] == 3).all()
    assert (df["psnr_ci_low"] <= df["psnr"]).all() and (df["psnr"] <= df["psnr_ci_high"]).all()
    assert (df["ssim_ci_low"] <= df["ssim"]).all()
    assert df.iloc[-1]["method"] == "oracle_inpaint" and bool(df.iloc[-1]["is_oracle"])  # oracles listed last
    assert (df["params_m"] == 0).all() and (df["runtime_ms_per_mp"] > 0).all() and df["masked_psnr_in"].notna().all()
    assert df.loc[df["method"] == "median", "config"].iloc[0].startswith("precision=exact, radius=1")
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    for name in ("scans-test_psnr_vs_runtime.png", "scans-test_per_family_psnr.png", "scans-test_qualitative.png"):
        assert f"]({name})" in md
        png = read_image(tmp_path / "lb" / name)
        assert png.shape[0] > 200 and png.shape[1] > 300, name
    assert "| 1 | median" in md or "| 1 | identity" in md
    assert "[oracle]" in md and "## Conventions" in md
    assert len(report["files"]) == 5


def test_qualitative_grid_needs_saved_images(results, tmp_path):
    build_leaderboard([results / "r" / "oracle"], tmp_path / "lb")
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "--save-images" in md and not (tmp_path / "lb" / "scans-test_qualitative.png").exists()


def test_two_test_sets_and_duplicates(results, tmp_path):
    other = evaluate("identity", "builtin", tmp_path / "builtin_id", progress=False, limit=2)
    assert other.out is not None
    shutil.copytree(results / "r" / "identity", tmp_path / "identity_again")  # same run, listed twice
    with pytest.warns(UserWarning, match="duplicate"):
        report = build_leaderboard([results / "r", tmp_path / "builtin_id", tmp_path / "identity_again"],
                                   tmp_path / "lb", plots=False)
    df = report["table"]
    assert sorted(df["test_set"].unique()) == ["builtin:test", "scans:test"] and len(df) == 4
    assert "## builtin:test" in (tmp_path / "lb" / "leaderboard.md").read_text()


def test_errors_and_cli(results, tmp_path, capsys):
    with pytest.raises(DustbenchError, match="no summary.json"):
        build_leaderboard([tmp_path / "nothing"], tmp_path / "lb")
    assert main(["leaderboard", "build", str(results / "r"), "--out", str(tmp_path / "lb"), "--no-plots"]) == 0
    out = capsys.readouterr().out
    assert "3 row(s)" in out and (tmp_path / "lb" / "leaderboard.csv").is_file()
