"""The published board ships its per-image results, and they are the board's numbers."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dustbench.cli import main
from dustbench.evaluation.rows import read_rows

BOARD = Path(__file__).resolve().parent.parent / "leaderboard"


def test_every_published_row_ships_its_per_image_results_and_they_match_the_board(capsys):
    """Guards `leaderboard compare leaderboard/ my_results/`: each row of leaderboard.csv has
    results/<row>/summary.json and per_image.csv, on the same data (fingerprint) and with the mean
    PSNR/SSIM the board prints."""
    with open(BOARD / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        folder = BOARD / "results" / Path(row["result"]).name  # METHOD, or METHOD@SUITE beside the board
        summary = json.loads((folder / "summary.json").read_text())
        per_image = read_rows(folder / "per_image.csv")
        assert summary["method"] == row["method"] and summary["data"]["fingerprint"] == row["fingerprint"]
        assert len(per_image) == int(row["n_images"])
        mean = sum(min(r["psnr"], 100.0) for r in per_image) / len(per_image)
        assert mean == pytest.approx(float(row["psnr"]), abs=5e-4)
        assert summary["metrics"]["ssim"]["mean"] == pytest.approx(float(row["ssim"]), abs=5e-6)
    # the board's own test set is A's by default (the tracks beside it are other sets); B, a folder of
    # results on several sets, names one
    assert main(["leaderboard", "compare", str(BOARD), str(BOARD / "results"), "--b-set", rows[0]["test_set"]]) == 0
    assert "The rankings agree" in capsys.readouterr().out
