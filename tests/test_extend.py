"""`dustbench leaderboard extend`: new rows join a published board only if its rows still reproduce."""
from __future__ import annotations

import csv
import json
from contextlib import contextmanager

import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.report.extend import parse_checkpoint_row

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")

TINY = ["--budget", "60", "--max-steps", "2", "--batch-size", "2", "--patch", "32", "--threads", "1", "--quiet",
        "--set", "segnet:model.width=2", "--set", "segnet:model.depth=2", "--set", "*:train.val_limit=1"]


@pytest.fixture(scope="module")
def board(tmp_path_factory):
    root = tmp_path_factory.mktemp("extend")
    out, work = root / "board", root / "work"
    assert main(["leaderboard", "reproduce", "--out", str(out), "--work", str(work), "--limit", "2",
                 "--models", "segnet", "--methods", "identity", "--no-plots", *TINY]) == 0
    run = root / "fastdet"
    assert main(["train", "fastdet", "--out", str(run), "--max-steps", "2", "--batch-size", "2", "--patch", "32",
                 "--val", "none", "--threads", "1", "--quiet", "--set", "model.width=4", "--set", "model.channels=4",
                 "--set", "model.blocks=1"]) == 0
    return out, root, run


def _rows(out):
    with open(out / "leaderboard.csv", newline="") as f:
        return {r["method"]: r for r in csv.DictReader(f)}


def _scores(per_image):
    with open(per_image, newline="") as f:
        return {r["image_id"]: (r["psnr"], r["ssim"], r["clean_change_rate"]) for r in csv.DictReader(f)}


def test_adds_methods_and_model_rows_and_keeps_the_rest(board):
    out, root, run = board
    before = _rows(out)
    before_results = {p.parent.name: _scores(p) for p in (out / "results").glob("*/per_image.csv")}
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "ework"), "--no-plots", "--quiet",
                 "--methods", "morph_detect", "--checkpoint", f"fastdet={run}:f1"]) == 0
    after = _rows(out)
    assert set(after) == set(before) | {"morph_detect", "fastdet"}
    for name, row in before.items():  # published rows unchanged
        assert (row["psnr"], row["ssim"]) == (after[name]["psnr"], after[name]["ssim"])
        assert _scores(out / "results" / name / "per_image.csv") == before_results[name]  # (timings are new)
    record = json.loads((out / "reproduce.json").read_text())
    added = record["extended"][-1]["rows"]
    assert added["morph_detect"]["kind"] == "method" and added["fastdet"]["criterion"] == "f1"
    assert record["exports"]["fastdet"]["operating_point"]["calibrated"].startswith("f1 on ")
    assert (out / "models" / "fastdet.pt").is_file() and "leaderboard extend" in (
        out / "models" / "fastdet.card.md").read_text()
    assert "## Detection: `fastdet`" in (out / "leaderboard.md").read_text()
    # a later extend keeps what each added row learned from (not the board's shared recipe)
    words = after["fastdet"]["train_data"]
    assert words.startswith("builtin-train at scan scale None, ") and "on cpu" in words
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "ework"), "--no-plots", "--quiet",
                 "--methods", "oracle_inpaint"]) == 0
    assert _rows(out)["fastdet"]["train_data"] == words


@contextmanager
def first_image_scored(per_image, column, score):
    """The published ``per_image`` CSV with its first image's ``column`` set to ``score(old value)``,
    restored afterwards."""
    text = per_image.read_text()
    head, first, *rest = text.splitlines()
    cells, i = first.split(","), head.split(",").index(column)
    cells[i] = score(cells[i])
    per_image.write_text("\n".join([head, ",".join(cells), *rest]) + "\n")
    try:
        yield
    finally:
        per_image.write_text(text)


def test_refuses_a_board_that_no_longer_reproduces_and_taken_names(board, capsys):
    out, root, _ = board
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "w2"), "--methods", "identity",
                 "--quiet", "--no-plots"]) == 2
    assert "already on the board" in capsys.readouterr().err
    with first_image_scored(out / "results" / "identity" / "per_image.csv", "psnr", lambda _: "99.0"):
        assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "w3"), "--methods", "median",
                     "--quiet", "--no-plots"]) == 2
        assert "no longer reproduces its published results (1 of 2 images differ" in capsys.readouterr().err


def test_verify_checks_every_published_row_without_touching_the_board(board, capsys):
    out, root, _ = board
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    assert main(["leaderboard", "verify", "--out", str(out), "--work", str(root / "v1"), "--quiet"]) == 0
    assert "reproduce image by image" in capsys.readouterr().out
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before
    with first_image_scored(out / "results" / "segnet" / "per_image.csv", "ssim", lambda _: "0.5"):
        assert main(["leaderboard", "verify", "--out", str(out), "--work", str(root / "v2"), "--quiet"]) == 2
        assert "row 'segnet' no longer reproduces" in capsys.readouterr().err
    assert main(["leaderboard", "verify", "--out", str(root / "nowhere"), "--quiet"]) == 2
    assert "reproduce.json: no such file" in capsys.readouterr().err


@pytest.mark.parametrize("shift, passes", [(5e-7, True), (2e-4, False)])
def test_verify_allows_float_rounding_between_cpus_and_no_more(board, capsys, shift, passes):
    # another CPU class's kernels can put a network's output a level off in a pixel: ~1e-6 dB
    out, root, _ = board
    with first_image_scored(out / "results" / "segnet" / "per_image.csv", "psnr", lambda v: repr(float(v) + shift)):
        code = main(["leaderboard", "verify", "--out", str(out), "--work", str(root / f"r{shift}"), "--quiet"])
        captured = capsys.readouterr()
    if passes:
        assert code == 0 and "segnet: 1 of 2 images within float rounding" in captured.out
    else:
        assert code == 2 and "row 'segnet' no longer reproduces" in captured.err


def test_checkpoint_rows_parse():
    assert parse_checkpoint_row("fd=runs/fd:psnr") == ("fd", "runs/fd", "psnr")
    assert parse_checkpoint_row("fd=runs/fd") == ("fd", "runs/fd", None)
    assert parse_checkpoint_row("fd=C:/runs/fd:-") == ("fd", "C:/runs/fd", None)
    with pytest.raises(DustbenchError, match="ROW=CHECKPOINT"):
        parse_checkpoint_row("runs/fd")


def test_verify_publish_refreshes_a_board_that_moved_within_rounding(board, capsys):
    out, root, _ = board
    per_image = out / "results" / "segnet" / "per_image.csv"
    fresh = _scores(per_image)
    with first_image_scored(per_image, "psnr", lambda v: repr(float(v) + 5e-7)):
        assert _scores(per_image) != fresh
        assert main(["leaderboard", "verify", "--out", str(out), "--work", str(root / "p1"), "--publish",
                     "--no-plots", "--quiet"]) == 0
        captured = capsys.readouterr().out
        assert "segnet: 1 of 2 images within float rounding" in captured and "re-published" in captured
        assert _scores(per_image) == fresh  # the board holds this commit's scores again
        last = json.loads((out / "reproduce.json").read_text())["extended"][-1]
        assert last["rows"] == {} and "--publish" in last["command"]
        record = json.loads((out / "reproduce.json").read_text())
        assert record["methods"]["segnet"]["result"].startswith(str(root / "p1"))  # this run's figures
        assert last["reproduced_within_rounding"][0].startswith("segnet: 1 of 2 images")
        assert main(["leaderboard", "verify", "--out", str(out), "--work", str(root / "p2"), "--quiet"]) == 0
        assert "within float rounding" not in capsys.readouterr().out


def test_a_track_on_another_suite_of_the_same_images_stands_beside_the_board(board, capsys):
    # the infrared track: builtin-v2-ir holds builtin-v2's images with their infrared planes
    out, root, _ = board
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "ir"), "--no-plots", "--quiet",
                 "--methods", "infrared_clean", "--data", "builtin-v2-ir"]) == 0
    record = json.loads((out / "reproduce.json").read_text())
    assert set(record["extended"][-1]["rows"]) == {"identity@builtin-v2-ir", "infrared_clean@builtin-v2-ir"}
    with open(out / "leaderboard.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows[0]["test_set"] == "builtin-v2:test"  # the board's own section first, then the track's
    track = {r["method"]: r for r in rows if r["test_set"] == "builtin-v2-ir:test"}
    assert set(track) == {"identity", "infrared_clean"} and track["infrared_clean"]["track"] == "infrared"
    board_identity = next(r for r in rows if r["test_set"] == "builtin-v2:test" and r["method"] == "identity")
    assert track["identity"]["psnr"] == board_identity["psnr"]
    assert float(track["infrared_clean"]["delta_psnr"]) > 0 and int(track["infrared_clean"]["n_paired"]) == 2
    page = (out / "leaderboard.md").read_text()
    assert page.index("## builtin-v2:test") < page.index("## builtin-v2-ir:test") < page.index("## Beside the board")
    assert "`infrared_clean` vs the input, paired over the same 2 images" in page
    assert main(["leaderboard", "verify", "--out", str(out), "--work", str(root / "irv"), "--quiet"]) == 0
    assert "identity@builtin-v2-ir, infrared_clean@builtin-v2-ir" in capsys.readouterr().out
    # a second track comes after the first, as added (its name sorts first; reproduce.json's keys are sorted)
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "ir2"), "--no-plots", "--quiet",
                 "--methods", "infrared_clean", "--data", "builtin-v2-ir-silver"]) == 0
    page = (out / "leaderboard.md").read_text()
    assert page.index("## builtin-v2:test") < page.index("## builtin-v2-ir:test") < \
        page.index("## builtin-v2-ir-silver:test")
    # a suite of other images cannot stand beside the board; checkpoint rows stay on the board's data
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "v1"), "--no-plots", "--quiet",
                 "--methods", "median", "--data", "builtin"]) == 2
    assert "builtin:test does not hold this board's images" in capsys.readouterr().err
    assert "median@builtin" not in json.loads((out / "reproduce.json").read_text())["methods"]
    assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "v1"), "--quiet",
                 "--checkpoint", f"x={root}", "--data", "builtin-v2-ir"]) == 2
    assert "only registered --methods" in capsys.readouterr().err
    refused = {("--checkpoint", f"x@builtin-v2-ir={root}"): "cannot hold '@'",
               ("--methods", "median", "--data", "some/folder"): "give the name of a suite",
               ("--methods", "median", "--data", "nope"): "--data nope: no such folder",
               ("--methods", "identity", "--data", "builtin-v2-ir"): "already on the board"}
    for args, message in refused.items():  # each before any row is re-run
        assert main(["leaderboard", "extend", "--out", str(out), "--work", str(root / "v1"), "--quiet", *args]) == 2
        assert message in capsys.readouterr().err, args


def test_tracks_keep_the_order_they_were_added_in(tmp_path):
    from dustbench.report.extend import _test_sets

    def row(test_set):
        folder = tmp_path / test_set.replace(":", "_")
        folder.mkdir(exist_ok=True)
        (folder / "summary.json").write_text(json.dumps({"test_set": test_set}))
        return {"result": str(folder)}
    methods = {"identity": row("board:test"), "identity@a-silver": row("a-silver:test"),
               "identity@b": row("b:test"), "median": row("board:test")}  # sorted, as reproduce.json is saved
    extended = [{"rows": {}}, {"rows": {"identity@b": {}}}, {"rows": {"identity@a-silver": {}}}]
    assert _test_sets({"methods": methods, "extended": extended}) == ["board:test", "b:test", "a-silver:test"]
