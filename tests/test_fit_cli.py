"""`dustbench fit-preset` end to end: outputs, stamps, bad input, and the fitted preset in synth."""
from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.io import write_image
from dustbench.synth import resolve_presets, synthesize
from dustbench.synth.stamps import load_stamps
from dustbench.sources import builtin_sources


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    out = tmp_path_factory.mktemp("fit") / "pairs"
    assert main(["synth", "--clean", "builtin", "--out", str(out), "--n", "3", "--presets",
                 "negative_scan_medium", "--quiet", "--no-contact-sheet"]) == 0
    return out


def test_fit_writes_preset_statistics_report_and_stamps(pairs, tmp_path, capsys):
    out = tmp_path / "mine.toml"
    code = main(["fit-preset", "--pairs", str(pairs), "--name", "mine", "--out", str(out), "--report",
                 str(tmp_path / "report"), "--stamps", str(tmp_path / "stamps"), "--quiet"])
    assert code == 0
    text = capsys.readouterr().out
    assert "fitted" in text and "closure" in text
    raw = tomllib.loads(out.read_text())
    assert raw["mine"]["family"] == "mix" and "mine_dust" in raw["mine"]["components"]
    assert raw["mine_stamps"]["family"] == "mix"
    stats = json.loads(out.with_suffix(".json").read_text())
    assert stats["families"]["dust"]["count"] > 0 and stats["closure"]
    assert (tmp_path / "report" / "sizes.png").is_file() and (tmp_path / "report" / "components.csv").is_file()
    assert len(list((tmp_path / "report" / "components").glob("*.png"))) == 3
    stamps = load_stamps(tmp_path / "stamps")
    assert len(stamps) == sum(f["count"] for f in stats["families"].values())
    # The fitted file works as a preset spec, procedural and stamped, in the library API and the CLI.
    clean = builtin_sources()[0].load()
    for spec in (f"{out}:mine", f"{out}:mine_stamps"):
        syn = synthesize(clean, resolve_presets(spec), np.random.default_rng(0))
        assert (syn.mask > 0).any()
        assert np.array_equal(syn.damaged[syn.mask == 0], clean[syn.mask == 0])
    assert main(["synth", "--clean", "builtin", "--out", str(tmp_path / "again"), "--n", "2",
                 "--presets", f"{out}:mine", "--quiet", "--no-contact-sheet"]) == 0


def test_select_unknown_name_in_preset_file(pairs, tmp_path):
    out = tmp_path / "m.toml"
    assert main(["fit-preset", "--pairs", str(pairs), "--name", "m", "--out", str(out), "--quiet", "--no-check"]) == 0
    with pytest.raises(Exception, match="did you mean"):
        resolve_presets(f"{out}:m_dusst")


def make_pairs(root, n=2, size=(120, 160)):
    rng = np.random.default_rng(0)
    for i in range(n):
        clean = rng.integers(90, 110, size + (3,), dtype=np.uint8)
        damaged = clean.copy()
        damaged[40:44, 50:54] = 255
        write_image(root / "clean" / f"f{i}.png", clean)
        write_image(root / "damaged" / f"f{i}.png", damaged)
    return root


def run_fit(root, tmp_path, *extra):
    out = tmp_path / "out.toml"
    return main(["fit-preset", "--pairs", str(root), "--name", "x", "--out", str(out), "--quiet", *extra]), out


def test_missing_partner_stops_or_is_skipped(tmp_path, capsys):
    root = make_pairs(tmp_path / "p")
    (root / "clean" / "f1.png").unlink()
    code, out = run_fit(root, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and "f1.png" in err and "no partner" in err and not out.exists()
    code, out = run_fit(root, tmp_path, "--on-error", "skip", "--no-check")
    assert code == 0 and out.exists() and "f1.png" in capsys.readouterr().err


def test_size_mismatch_and_unreadable_file_are_named(tmp_path, capsys):
    root = make_pairs(tmp_path / "p")
    write_image(root / "clean" / "f0.png", np.zeros((100, 100, 3), np.uint8))
    (root / "damaged" / "f1.png").write_bytes(b"not an image")
    code, out = run_fit(root, tmp_path)
    err = capsys.readouterr().err
    assert code == 2 and "f0.png" in err and "sizes and channels must match" in err and not out.exists()
    code, out = run_fit(root, tmp_path, "--on-error", "skip")
    err = capsys.readouterr().err
    assert code == 2 and "no scan could be read" in err and "f1.png" in err


def test_pairs_without_damage_fit_to_an_empty_preset(tmp_path, capsys):
    root = tmp_path / "p"
    rng = np.random.default_rng(1)
    for i in range(2):
        clean = rng.integers(0, 255, (100, 140), dtype=np.uint8)
        write_image(root / "clean" / f"g{i}.png", clean)
        write_image(root / "damaged" / f"g{i}.png", clean)
    code, out = run_fit(root, tmp_path, "--report", str(tmp_path / "r"))
    captured = capsys.readouterr()
    assert code == 1 and not out.exists()
    assert "no damage found" in captured.out and "g0.png" in captured.err
    assert json.loads((tmp_path / "r" / "fit.json").read_text())["empty"] is True


def test_blank_scans_and_a_scan_that_is_not_blank(tmp_path, capsys):
    rng = np.random.default_rng(2)
    h, w = 300, 450
    base = np.clip(0.55 + 0.1 * np.linspace(0, 1, w)[None, :] + rng.normal(0, 0.01, (h, w)), 0, 1)
    blank = (base * 65535).astype(np.uint16)
    syn = synthesize(blank, "negative_dust_only_heavy", np.random.default_rng(3))
    write_image(tmp_path / "blank1.tif", syn.damaged)
    out = tmp_path / "b.toml"
    assert main(["fit-preset", "--blank", str(tmp_path / "blank1.tif"), "--name", "b", "--out", str(out),
                 "--quiet"]) == 0
    assert "b_dust" in tomllib.loads(out.read_text())
    photo = builtin_sources()[0].load()
    write_image(tmp_path / "photo.png", photo)
    code = main(["fit-preset", "--blank", str(tmp_path / "photo.png"), "--name", "p", "--out",
                 str(tmp_path / "p.toml"), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "photo.png" in err and "blank film" in err and not (tmp_path / "p.toml").exists()


def test_bad_arguments(pairs, tmp_path, capsys):
    assert main(["fit-preset", "--pairs", str(pairs), "--name", "bad name", "--out", str(tmp_path / "a.toml")]) == 2
    assert main(["fit-preset", "--pairs", str(pairs), "--name", "a", "--out", str(tmp_path / "a.txt")]) == 2
    assert main(["fit-preset", "--pairs", str(pairs), "--name", "a", "--out", str(tmp_path / "a.toml"),
                 "--rule", "dirt_min_diamter=0.003"]) == 2
    assert "did you mean 'dirt_min_diameter'" in capsys.readouterr().err
