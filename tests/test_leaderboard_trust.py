"""Comparisons a reader can trust: paired differences vs the input, PSNR inside each family's own
region, names and training data from model cards, and runtimes stated with their thread counts."""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pandas as pd
import pytest

from dustbench.data.eval_data import open_data
from dustbench.evaluation import evaluate
from dustbench.evaluation.rows import PSNR_CAP, parse_family, read_rows
from dustbench.metrics import paired_comparison
from dustbench.report.leaderboard import build_leaderboard, leaderboard_table
from dustbench.report.paired import paired_arrays, paired_columns, paired_lines
from dustbench.report.plots import label
from dustbench.synth import FAMILIES

MODELS = Path(__file__).resolve().parent.parent / "leaderboard" / "models"


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    base = tmp_path_factory.mktemp("trust")
    evaluate("identity", "builtin", base / "identity", threads=1, progress=False)
    evaluate("median", "builtin", base / "median", options={"radius": 2}, threads=1, progress=False)
    evaluate("median", "builtin", base / "median_r1", options={"radius": 1, "threshold": 24}, threads=2,
             progress=False)
    evaluate("oracle_inpaint", "builtin", base / "oracle", threads=1, progress=False)
    return base


def _capped(rows, key):
    return [min(r[key], PSNR_CAP) for r in rows]


def test_paired_columns_are_paired_comparison_vs_identity(results, tmp_path):
    report = build_leaderboard([results], tmp_path / "lb", plots=False, seed=3)
    df = pd.read_csv(tmp_path / "lb" / "leaderboard.csv")
    ident = read_rows(results / "identity" / "per_image.csv")
    for name, folder in (("median", "median"), ("oracle_inpaint", "oracle")):
        rows = read_rows(results / folder / "per_image.csv")
        row = df[(df["method"] == name) & (df["result"] == str(results / folder))].iloc[0]
        for metric, cap in (("psnr", _capped), ("ssim", lambda rs, k: [r[k] for r in rs])):
            want = paired_comparison(cap(ident, metric), cap(rows, metric), np.random.default_rng(3))
            p = f"delta_{metric}"
            assert row[p] == pytest.approx(want["mean_diff"], rel=1e-5)
            assert row[f"{p}_ci_low"] == pytest.approx(want["ci_low"], rel=1e-5)
            assert row[f"{p}_ci_high"] == pytest.approx(want["ci_high"], rel=1e-5)
            assert row[f"{p}_p"] == pytest.approx(want["p_value"], rel=1e-5)
            assert (row[f"{p}_wins"], row[f"{p}_ties"], row[f"{p}_losses"]) == (want["wins"], want["ties"],
                                                                               want["losses"])
        assert row["n_paired"] == 10
    table = report["table"]
    median = table[table["config"].str.contains("radius=2")].iloc[0]
    assert median["delta_psnr"] < 0 and median["delta_psnr_significant"]  # r=2 loses on 9 of 10 images
    ident_row = table[table["method"] == "identity"].iloc[0]
    assert ident_row["delta_psnr"] == 0 and ident_row["delta_psnr_ties"] == 10
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "Paired differences vs the input" in md and "**worse**" in md
    lines = paired_lines(table)
    assert len(lines) == 3 and all("paired over the same 10 images" in t for t in lines)


def test_not_significant_is_said(results):
    """A gain whose CI includes 0 is called not significant: built from rows with a known spread."""
    ident = read_rows(results / "identity" / "per_image.csv")
    noisy = [{**r, "psnr": r["psnr"] + d, "ssim": r["ssim"]} for r, d in
             zip(ident, [3.0, -2.5, 2.0, -1.5, 1.0, 0.5, -0.5, 1.5, -1.0, 0.2])]
    cols = paired_columns(ident, noisy)
    assert cols["delta_psnr_ci_low"] < 0 < cols["delta_psnr_ci_high"] and cols["delta_psnr_p"] >= 0.05
    assert not cols["delta_psnr_significant"] and cols["delta_psnr_wins"] == 6
    assert cols["delta_ssim_ties"] == 10


def test_paired_values_cap_inf_and_match_by_digest(results):
    ident = read_rows(results / "identity" / "per_image.csv")
    perfect = [{**r, "psnr": math.inf} for r in ident]
    a, b = paired_arrays(ident, perfect, "psnr")
    assert (b == PSNR_CAP).all() and len(a) == 10
    other = [{**r, "digest": "changed"} if i < 3 else r for i, r in enumerate(perfect)]
    assert len(paired_arrays(ident, other, "psnr")[0]) == 7  # changed images are not paired


def test_family_psnr_inside_each_familys_region(results):
    rows = read_rows(results / "median" / "per_image.csv")
    data = open_data("builtin", "test")
    sample = data.get(rows[0]["image_id"])
    restored = cv2.medianBlur(sample.damaged, 5)  # median r=2, threshold 0: the whole image filtered
    got, pixels = parse_family(rows[0]["family_psnr"]), parse_family(rows[0]["family_pixels"])
    assert set(got) == {FAMILIES[i - 1] for i in np.unique(sample.labels) if i}
    for name, value in got.items():
        region = cv2.dilate((sample.labels == FAMILIES.index(name) + 1).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
        err = (sample.clean.astype(float) - restored.astype(float))[region]
        assert value == pytest.approx(10 * np.log10(255 ** 2 / np.mean(err ** 2)), abs=1e-9)
        assert pixels[name] == int(region.sum())
    # the input's value is the damaged image's PSNR in the same region; families differ
    ident = parse_family(read_rows(results / "identity" / "per_image.csv")[0]["family_psnr"])
    assert ident == parse_family(rows[0]["family_psnr_input"])
    summary = json.loads((results / "median" / "summary.json").read_text())
    fam = summary["per_family"]
    assert len({round(v["psnr"], 6) for v in fam.values()}) == len(fam) > 1  # no longer one number repeated
    for name, v in fam.items():
        have = [r for r in rows if name in parse_family(r["family_psnr"])]
        assert v["n"] == len(have) and v["pixels"] == sum(parse_family(r["family_pixels"])[name] for r in have)
        assert v["ci_low"] <= v["psnr"] <= v["ci_high"]


def test_family_columns_read_back_exactly(tmp_path):
    result = evaluate("median", "builtin", tmp_path / "r", options={"radius": 1}, limit=3, progress=False)
    again = read_rows(tmp_path / "r" / "per_image.csv")
    for mem, disk in zip(result.rows, again):
        for col in ("family_psnr", "family_psnr_input", "family_pixels"):
            assert parse_family(mem[col]) == parse_family(disk[col]) and parse_family(disk[col])
    resumed = evaluate("median", "builtin", tmp_path / "r", options={"radius": 1}, limit=3, progress=False)
    assert resumed.summary["resumed_images"] == 3 and resumed.summary["per_family"] == result.summary["per_family"]


def test_runtime_states_threads_and_device(results, tmp_path):
    df = leaderboard_table([results / n for n in ("identity", "median", "median_r1")])
    assert set(df["threads"]) == {"1", "2"} and set(df["device"]) == {"cpu"}
    build_leaderboard([results / n for n in ("identity", "median", "median_r1")], tmp_path / "lb", plots=False)
    md = (tmp_path / "lb" / "leaderboard.md").read_text()
    assert "(1 thr, cpu)" in md and "(2 thr, cpu)" in md and "different thread counts" in md
    build_leaderboard([results / n for n in ("identity", "median")], tmp_path / "same", plots=False)
    assert "different thread counts" not in (tmp_path / "same" / "leaderboard.md").read_text()


def test_model_file_named_by_its_card(tmp_path):
    for suffix in (".pt", ".card.json"):
        shutil.copy(MODELS / f"dust_gan{suffix}", tmp_path / f"gan{suffix}")
    res = evaluate(str(tmp_path / "gan.pt"), "builtin", tmp_path / "r", limit=2, progress=False, device="cpu")
    assert res.summary["method"] == "dust_gan"  # the name it was published under, not the copy's
    card = json.loads((tmp_path / "gan.card.json").read_text())["training"]
    assert res.summary["train_data"] == (f"stream:builtin-train (*_scan_*, scan scale [2000, 4200]), {card['steps']} "
                                         f"steps, 1h00m on 1× cpu")  # the published leaderboard recipe
    assert res.summary["model_card"]["sha256"] == json.loads((tmp_path / "gan.card.json").read_text())["sha256"]
    # a result written before cards were read gets the name when the leaderboard is built
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    s.update(method="file:gan.pt", train_data=None, model_card=None)
    (tmp_path / "r" / "summary.json").write_text(json.dumps(s))
    row = leaderboard_table([tmp_path / "r"]).iloc[0]
    assert row["method"] == "dust_gan" and row["train_data"].startswith("stream:builtin-train")
    # a card for other weights does not count
    card = json.loads((tmp_path / "gan.card.json").read_text())
    (tmp_path / "gan.card.json").write_text(json.dumps({**card, "sha256": "0" * 64}))
    other = evaluate(str(tmp_path / "gan.pt"), "builtin", tmp_path / "r2", limit=1, progress=False, device="cpu")
    assert other.summary["method"] == "file:gan.pt" and other.summary["train_data"] is None


def test_published_model_file_reproduces_its_board_row(tmp_path):
    # gated.pt is segnet's network at another operating point: a user's evaluation of it must give
    # the published row's name and config, not "segnet (gated.pt)"
    from dustbench.cli import main

    board = pd.read_csv(MODELS.parent / "leaderboard.csv").set_index("method")
    assert main(["evaluate", str(MODELS / "gated.pt"), "--data", "builtin", "--limit", "1", "--out",
                 str(tmp_path / "r"), "--quiet"]) == 0
    summary = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert summary["method"] == "gated" and summary["config"] == board.at["gated", "config"]
    assert leaderboard_table([tmp_path / "r"]).iloc[0]["method"] == "gated"


def test_labels_are_wrapped_not_cut():
    config = "channels=3, dilate=1, fill=telea, format=torchscript, kind=detector, label_threshold=0.05"
    text = label({"method": "segnet", "config": config, "is_oracle": False}, 3)
    assert " ".join(text.split()) == f"3. segnet ({config})" and max(map(len, text.splitlines())) <= 48
