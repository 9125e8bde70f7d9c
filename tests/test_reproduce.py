"""`dustbench leaderboard reproduce` end to end on a tiny budget, resuming, and its guards."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from dustbench.cli import main
from dustbench.cli.leaderboard import parse_sets
from dustbench.errors import DustbenchError
from dustbench.report.recipe import LEARNED, OPERATING_POINTS
from dustbench.report.reproduce import ReproduceConfig, train_config
from dustbench.report.sections import PAPER_TABLE1

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

TINY = ["--budget", "60", "--max-steps", "2", "--batch-size", "2", "--patch", "32", "--threads", "1", "--quiet",
        "--set", "dust_gan:model.width=4", "--set", "dust_gan:task.d_width=4",
        "--set", "pix2pix:model.ngf=2", "--set", "pix2pix:model.num_downs=5", "--set", "pix2pix:task.d_width=4",
        "--set", "segnet:model.width=2", "--set", "segnet:model.depth=2", "--set", "*:train.val_limit=1"]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("reproduce")
    out, work = root / "board", root / "work"
    assert main(["leaderboard", "reproduce", "--out", str(out), "--work", str(work), "--limit", "2", *TINY]) == 0
    return out, work


def test_writes_the_whole_leaderboard(board):
    out, work = board
    with open(out / "leaderboard.csv", newline="") as f:
        rows = {r["method"]: r for r in csv.DictReader(f)}
    assert set(rows) == {"identity", "median", "median_tuned", "oracle_inpaint", "oracle_unblend", *LEARNED,
                         *OPERATING_POINTS}
    assert all(r["n_images"] == "2" and r["test_set"] == "builtin-v2:test" for r in rows.values())
    assert rows["oracle_inpaint"]["is_oracle"] == "True"
    assert rows["pix2pix"]["train_data"].startswith("stream:builtin-train at scan scale [2000, 4200]")
    for model in (*LEARNED, *OPERATING_POINTS):
        assert (out / "models" / f"{model}.pt").is_file() and (out / "models" / f"{model}.card.json").is_file()
        assert "## Reproduce this leaderboard row" in (out / "models" / f"{model}.card.md").read_text()
        assert (work / "results" / model / "images").is_dir()
    md = (out / "leaderboard.md").read_text()
    for text in ("## Beside the paper's Table 1", "**Ranking.**", "## Detection: `segnet`", "## How this was made",
                 "disjoint: no test pixel is trained on", "CPU only", "leaderboard reproduce", "## Conventions",
                 "images: p = ", "**Paired differences vs the input**", "## Detection: `gated`",
                 "operating point chosen for f1 on builtin-v2:validation (first 2), never the test split",
                 "Target for a detector that detects: precision ≥ 0.7 and recall ≥ 0.5 on visible damage"):
        assert text in md
    for row, psnr, ssim, ours in PAPER_TABLE1:
        assert f"| {row} | {psnr:.2f} / {ssim:.2f} | `{ours}`" in md
    assert md.index("## How this was made") < md.index("## Conventions")
    for plot in ("psnr_vs_runtime", "per_family_psnr", "qualitative", "masked_psnr"):
        assert (out / f"builtin-v2-test_{plot}.png").is_file()
    record = json.loads((out / "reproduce.json").read_text())
    for model in LEARNED:
        t = record["models"][model]["train"]
        assert t["steps"] == 2 and t["stop_reason"] == "max_steps" and t["budget_s"] == 60
    det = record["methods"]["segnet"]["detection"]
    assert det["images"] == 2 and {"precision", "recall", "iou"} <= set(det["against"]["any damage (mask > 0)"])
    assert json.loads((work / "results" / "segnet" / "detection.json").read_text()) == det
    # the per-image results ship with the board (not the images), so `compare` can read it
    for row in rows:
        assert {p.name for p in (out / "results" / row).iterdir()} >= {"summary.json", "per_image.csv"}
    assert not (out / "results" / "segnet" / "images").exists()
    assert main(["leaderboard", "compare", str(out), str(work / "results")]) == 0


def test_an_exported_model_reproduces_its_row(board, tmp_path):
    out, work = board
    assert main(["evaluate", str(out / "models" / "dust_gan.pt"), "--data", "builtin-v2", "--limit", "2",
                 "--out", str(tmp_path / "again"), "--quiet"]) == 0
    again = json.loads((tmp_path / "again" / "summary.json").read_text())
    first = json.loads((work / "results" / "dust_gan" / "summary.json").read_text())
    assert again["metrics"]["psnr"]["mean"] == first["metrics"]["psnr"]["mean"]


def test_rerun_needs_resume_and_keeps_finished_runs(board, capsys):
    out, work = board
    base = ["leaderboard", "reproduce", "--out", str(work / "again"), "--work", str(work), "--limit", "1",
            "--models", "dust_gan", "--methods", "identity", "--no-plots", *TINY]
    assert main(base) == 2
    assert "add --resume" in capsys.readouterr().err
    assert main([*base, "--resume"]) == 0
    record = json.loads((work / "again" / "reproduce.json").read_text())
    assert record["models"]["dust_gan"]["train"]["steps"] == 2  # finished: not trained further
    model_file = work / "again" / "models" / "dust_gan.pt"
    before = model_file.read_bytes()
    assert main([*base, "--resume"]) == 0  # same weights: the committed file is not rewritten
    assert model_file.read_bytes() == before
    assert "kept (same weights)" in (work / "again" / "leaderboard.md").read_text()
    changed = [a if a != "dust_gan:model.width=4" else "dust_gan:model.width=6" for a in base]
    assert main([*changed, "--resume"]) == 2
    assert "another recipe (model_config differ)" in capsys.readouterr().err


def test_recipes_and_guards():
    cfg = ReproduceConfig(budget=120, train={"batch_size": 4}, overrides=parse_sets(
        ["*:train.val_limit=2", "pix2pix:model.ngf=16", "segnet:task.threshold=0.4"]))
    p2p, seg = train_config("pix2pix", cfg), train_config("segnet", cfg)
    assert (p2p.lr, p2p.model_config, p2p.task_options) == (2e-4, {"ngf": 16}, {"d_width": 32})
    assert seg.task_options == {"label_threshold": 0.2, "threshold": 0.4} and seg.model_config == {"width": 8}
    assert p2p.time_budget == 120 and p2p.batch_size == 4 and p2p.val_limit == 2 and p2p.data == "stream:builtin-train"
    assert p2p.scan_scale == [2000, 4200] and p2p.val == "builtin-v2"
    with pytest.raises(DustbenchError, match="test photographs"):
        train_config("dust_gan", ReproduceConfig(train={"data": "stream"}))
    with pytest.raises(DustbenchError, match="MODEL:SECTION.KEY=VALUE"):
        parse_sets(["pix2pix.model.ngf=3"])


def test_training_images_are_not_test_photographs():
    from dustbench.sources import BUILTIN
    from dustbench.sources import BUILTIN_TRAIN

    assert not {n.rsplit('.', 1)[0] for n in BUILTIN_TRAIN} & {sid for sid, *_ in BUILTIN}


def test_published_sections_give_each_row_its_parameters_and_budget():
    """The committed board's own record and table: a registered row with learned parts (fastdet_lines,
    80,210 weights) is listed with them, a training-free one with 0, and rows trained by `leaderboard
    extend` with a 45-minute budget are not said to have had the reproduce command's hour."""
    import pandas as pd

    from dustbench.report.extend import _board
    from dustbench.report.sections import published_sections

    board = Path(__file__).resolve().parents[1] / "leaderboard"
    record, cfg = _board(str(board), "unused", plots=False, progress=False)
    lines = published_sections(record, cfg)(pd.read_csv(board / "leaderboard.csv"))
    table = lines[lines.index("## How this was made"):]
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1] for line in table if line.startswith("| ")}
    assert rows["fastdet_lines"] == "80,210" and rows["verified_detect"] == "12,552"
    assert rows["line_detect"] == "0" and rows["identity@builtin-v2-ir"] == "0" and rows["fastdet"] == "80,210"
    budget = next(line for line in lines if line.startswith("- *Budget*"))
    assert "fastdet 45m00s (3342 steps)" in budget and "fastdet_balanced 45m00s (181 steps)" in budget
    assert "dust_gan 1h00m (765 steps)" in budget
