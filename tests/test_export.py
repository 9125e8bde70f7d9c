"""Export: checkpoint -> TorchScript model.pt -> `dustbench evaluate` / load_model_file, plus the model card."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from dustbench.errors import DustbenchError
from dustbench.data import Sample
from dustbench.train import TrainConfig, train
from dustbench.data.train_sources import MemoryPairs
from dustbench.train.export import export_model

from test_trainer import tiny_pairs

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning", "ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    pairs = tiny_pairs()
    out = tmp_path_factory.mktemp("export") / "run"
    val = [Sample(f"v{i}", d, c, m) for i, (d, c, m) in enumerate(pairs)]
    train(TrainConfig("dust_gan", out=str(out), data=MemoryPairs(pairs, patch=32, samples_per_epoch=4),
                      model_config={"width": 8}, task_options={"d_width": 8}, batch_size=2, patch=32, max_steps=3,
                      val=val, progress=False, plot=False, lr=1e-3))
    return out, pairs


def test_export_round_trip_through_evaluate(run, tmp_path):
    out, pairs = run
    model_file = tmp_path / "model.pt"
    from dustbench.cli import main

    assert main(["export", str(out / "checkpoint.pt"), "--out", str(model_file)]) == 0
    card = json.loads((tmp_path / "model.card.json").read_text())
    assert card["training"]["steps"] == 3 and card["parameters"] == 12_169
    assert card["notes"]["perceptual"].startswith("off") and "val_psnr" in card["validation"]
    assert "val_psnr_identity" in card["validation"]
    assert "## Validation" in (tmp_path / "model.card.md").read_text()

    # the exported file and the training checkpoint restore identically through load_model_file
    from dustbench.methods import load_model_file

    image = pairs[1][0].astype(np.float32) / 255
    from_export = load_model_file(model_file)(image)
    from_ckpt = load_model_file(out / "checkpoint.pt")(image)
    np.testing.assert_allclose(from_export, from_ckpt, atol=1e-5)

    # and the shared harness scores it
    from dustbench.evaluation import evaluate

    pairs_dir = tmp_path / "pairs"
    from dustbench.io import write_image

    for i, (d, c, m) in enumerate(pairs):
        write_image(pairs_dir / "damaged" / f"{i}.png", d)
        write_image(pairs_dir / "clean" / f"{i}.png", c)
    result = evaluate(str(model_file), str(pairs_dir), progress=False, n_resamples=50)
    assert result.summary["data"]["n_images"] == 2
    assert np.isfinite(result.summary["metrics"]["psnr"]["mean"])


def test_exported_file_runs_without_dustbench(run, tmp_path):
    out, _ = run
    model_file = tmp_path / "model.pt"
    export_model(out, model_file, card=False)
    assert not (tmp_path / "model.card.md").exists()
    code = textwrap.dedent(f"""
        import sys, warnings, torch
        warnings.simplefilter("ignore")
        m = torch.jit.load({str(model_file)!r})
        for shape in [(1, 3, 33, 47), (2, 3, 8, 5), (1, 3, 1, 1)]:
            y = m(torch.rand(*shape))
            assert tuple(y.shape) == shape and float(y.min()) >= 0 and float(y.max()) <= 1, shape
        assert not any(name.startswith("dustbench") for name in sys.modules)
        print("ok")
    """)
    env = {**os.environ, "PYTHONPATH": ""}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                          cwd=str(tmp_path))
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-2000:]


def test_export_refuses_bad_input(tmp_path, run):
    out, _ = run
    with pytest.raises(DustbenchError, match="no such checkpoint"):
        export_model(tmp_path / "missing.pt", tmp_path / "m.pt")
    with pytest.raises(DustbenchError, match=r"\.pt file name"):
        export_model(out, tmp_path / "m.onnx")
    bogus = tmp_path / "bogus.pt"
    torch.save({"a": torch.zeros(1)}, bogus)
    with pytest.raises(DustbenchError, match="not a dustbench checkpoint"):
        export_model(bogus, tmp_path / "m.pt")


def test_export_takes_dash_o_as_the_output(run, tmp_path, capsys):
    # `-o FILE` was the documented short form; it must stay an alias of --out
    out, _ = run
    from dustbench.cli import main

    model_file = tmp_path / "short.pt"
    assert main(["export", str(out / "checkpoint.pt"), "-o", str(model_file), "--no-card"]) == 0
    assert model_file.is_file() and f"wrote {model_file}" in capsys.readouterr().out


def test_card_says_why_it_has_no_validation(tmp_path):
    """A run stopped before its first validation used to be described as 'trained with --val none'."""
    from dustbench.train.export import card_body
    info = {"model": "dust_gan", "file": "m.pt", "format": "torchscript", "parameters": 1, "sha256": "0" * 64,
            "contract": "c", "config": {}, "notes": {}, "validation": {}, "export_check_max_abs_diff": 0.0,
            "torch": "2", "training": {"train_config": {"val": "builtin"}, "data": "x", "device": "cpu"}}
    assert "stopped before its first validation" in card_body(info) and "--val none" not in card_body(info)
    info["training"]["train_config"]["val"] = "none"
    assert "trained with --val none" in card_body(info)


def test_a_detector_card_states_its_operating_point():
    from dustbench.train.export import card_body
    info = {"model": "fastdet", "file": "d.pt", "format": "torchscript", "parameters": 1, "sha256": "0" * 64,
            "contract": "c", "config": {}, "notes": {}, "validation": {}, "export_check_max_abs_diff": 0.0,
            "torch": "2", "training": {"train_config": {"val": "none"}, "data": "x", "device": "cpu"},
            "kind": "detector", "inference": {"threshold": 0.999, "dilate": 1, "fill": "telea",
                                              "calibrated": "psnr on builtin-v2:validation"}}
    assert ("- operating point: inpaint P(artifact) >= 0.999, dilated 1 px, telea fill "
            "(chosen for psnr on builtin-v2:validation)") in card_body(info)
    info["inference"]["grow"] = 0.9
    assert "P(artifact) >= 0.999, grown to connected pixels >= 0.9, dilated 1 px" in card_body(info)
    del info["kind"]
    assert "operating point" not in card_body(info)


@pytest.mark.parametrize("data, expected", [
    ({"sources": "builtin-train"}, "a handful of built-in images"),
    ({"images": ["skimage:camera", "skimage:brick"]}, "a handful of built-in images"),
    ({"sources": "builtin-train+builtin-train+procedural"}, "built-in photographs and procedural scenes of every kind"),
    ({"sources": "procedural:text+procedural:lines"}, "procedural scenes (lines, text) only"),
    ({"sources": "scans/mine+builtin-train"}, None),  # the user's own images: nothing known to warn about
    ({"kind": "PairsFolder", "path": "runs/pairs"}, None),
])
def test_the_caveat_names_what_the_clean_images_were(data, expected):
    """Every streamed row used to be 'trained on a handful of built-in images', procedural scenes too."""
    from dustbench.evaluation.model_card import clean_images_caveat
    from dustbench.train.export import card_body
    caveat = clean_images_caveat(data)
    assert caveat is None if expected is None else expected in caveat
    info = {"model": "fastdet", "file": "d.pt", "format": "torchscript", "parameters": 1, "sha256": "0" * 64,
            "contract": "c", "config": {}, "notes": {}, "validation": {}, "export_check_max_abs_diff": 0.0,
            "torch": "2", "training": {"train_config": {"val": "none"}, "data": data, "device": "cpu"}}
    assert ("- caveat:" in card_body(info)) == (expected is not None)


def test_published_cards_state_the_caveat_of_their_own_data():
    from dustbench.evaluation.model_card import clean_images_caveat
    cards = sorted(Path(__file__).resolve().parents[1].glob("leaderboard/models/*.card.json"))
    assert cards
    for card in cards:
        caveat = clean_images_caveat(json.loads(card.read_text(encoding="utf-8"))["training"]["data"])
        text = card.with_suffix(".md").read_text(encoding="utf-8")
        lines = [s for s in text.splitlines() if s.startswith("- caveat:")]
        assert lines == ([f"- caveat: {caveat}"] if caveat else []), card.name
