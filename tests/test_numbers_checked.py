"""Numbers and records a user types or brings are checked where they enter: a clear one-line error,
never a traceback and never a check quietly turned off (issue #25's cases)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from dustbench import evaluate
from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.headers import MAX_PIXELS_ENV, max_pixels
from dustbench.io import write_image


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(1)
    for name in ("a", "b"):
        clean = rng.integers(0, 255, (32, 32), dtype=np.uint8)
        write_image(tmp_path / "p" / "clean" / f"{name}.png", clean)
        write_image(tmp_path / "p" / "damaged" / f"{name}.png", np.maximum(clean, 200))
    return tmp_path / "p"


@pytest.mark.parametrize("value", ["nan", "inf", "-1", "-5e6", "many"])
def test_a_pixel_limit_must_be_a_finite_number_of_pixels(value, pairs, tmp_path, capsys, monkeypatch):
    """A negative limit used to turn the check off and NaN/inf gave a traceback."""
    rc = main([f"--max-pixels={value}", "evaluate", "identity", "--data", str(pairs), "--out", str(tmp_path / "o"),
               "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "--max-pixels" in err and ">= 0" in err and "Traceback" not in err
    monkeypatch.setenv(MAX_PIXELS_ENV, value)
    with pytest.raises(DustbenchError, match=MAX_PIXELS_ENV):
        max_pixels()


@pytest.mark.parametrize("limit", [-1, 0, 1.5, True])
def test_evaluate_limit_must_be_a_positive_count(limit, pairs):
    """--limit -1 used to score all images but the last."""
    with pytest.raises(DustbenchError, match="limit must be a whole number of images >= 1"):
        evaluate("identity", pairs, limit=limit, progress=False)
    assert len(evaluate("identity", pairs, limit=1, progress=False).rows) == 1


def test_compare_refuses_a_summary_that_is_not_an_object(tmp_path, capsys):
    for side in ("a", "b"):
        (tmp_path / side).mkdir()
        (tmp_path / side / "summary.json").write_text("[1, 2]")
        (tmp_path / side / "per_image.csv").write_text("image_id\n")
    assert main(["leaderboard", "compare", str(tmp_path / "a"), str(tmp_path / "b")]) == 2
    err = capsys.readouterr().err
    assert "not a dustbench evaluate summary" in err and "Traceback" not in err


@pytest.mark.parametrize("manifest", [
    [],
    {"format": "dustbench.pretrained", "version": 1, "models": {"dust_gan": "dust_gan.pt"}},
    {"format": "dustbench.pretrained", "version": 1, "models": {"dust_gan": {"sha256": "0" * 64}}},
    {"format": "dustbench.pretrained", "version": 1, "models": {"dust_gan": {"weights": "dust_gan.pt", "sha256": ""}}},
], ids=["list", "string-entry", "no-weights", "empty-sha256"])
def test_a_malformed_pretrained_manifest_is_refused_by_name(manifest, tmp_path):
    from dustbench.models.pretrained import FORMAT, read_manifest
    if isinstance(manifest, dict):
        manifest["format"] = FORMAT
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DustbenchError, match="manifest.json"):
        read_manifest(tmp_path)


@pytest.mark.parametrize("kwargs,field", [
    ({"opacity_scale": float("nan")}, "opacity_scale"), ({"size_scale": 0}, "size_scale"),
    ({"size_scale": -1.0}, "size_scale"), ({"size_scale": float("nan")}, "size_scale"), ({"size_scale": 1e9}, "size_scale"),
    ({"seed": -1}, "seed"), ({"frame_shape": (float("nan"), 100)}, "frame_shape"), ({"p": 2}, "p"),
])
def test_film_damage_checks_its_numbers(kwargs, field):
    from dustbench.transforms import FilmDamage
    with pytest.raises(DustbenchError, match=f"FilmDamage: {field}"):
        FilmDamage("dust_negative_fine", **kwargs)


@pytest.mark.parametrize("body", ["density = [1e7, 1e7]", "density = [1e12, 1e12]"])
def test_a_preset_file_cannot_ask_for_more_artifacts_than_memory_holds(body, tmp_path, capsys):
    """density = [1e7, 1e7] used to take 18 GB and keep going; 1e12 gave a MemoryError traceback."""
    presets = tmp_path / "p.toml"
    presets.write_text(f'[huge]\nfamily = "dust"\ndescription = "too much"\n{body}\nsize = [0.001, 0.002]\n')
    clean = tmp_path / "clean"
    write_image(clean / "a.png", np.full((64, 64), 128, np.uint8))
    rc = main(["synth", "--clean", str(clean), "--out", str(tmp_path / "o"), "--n", "1", "--presets", str(presets),
               "--quiet", "--no-contact-sheet"])
    err = capsys.readouterr().err
    assert rc == 2 and "'density'" in err and "over the limit" in err and "Traceback" not in err


def test_a_mix_cannot_scale_density_beyond_memory():
    from dustbench.synth import sample_params
    from dustbench.synth.presets import PresetError
    from dustbench.synth.params import MAX_ARTIFACTS
    with pytest.raises(PresetError, match=f"limit is {MAX_ARTIFACTS:,}"):  # a 1-px-high strip: aspect 1e5
        sample_params("dust_negative_fine", (1, 100_000), np.random.default_rng(0))


@pytest.mark.parametrize("repo", ["../../x y/../..", "/abs", "a;b", "x" * 300, "a/b/c"])
def test_a_bad_hub_repository_id_fails_before_any_work(repo, tmp_path, capsys):
    out = tmp_path / "ds"
    rc = main(["make-dataset", "--clean", "builtin", "--out", str(out), "--push-to-hub", repo, "--dry-run", "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and "not a Hub repository id" in err and len(err.splitlines()) == 1 and not out.exists()


def test_a_dry_run_leaves_no_staging_folder(tmp_path, monkeypatch, capsys):
    import tempfile
    from types import SimpleNamespace
    from dustbench.cli._args import publish
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "f.txt").write_text("x")
    publish(SimpleNamespace(dry_run=True, push_to_hub="me/x", private=False), {"f.txt": tmp_path / "f.txt"}, "model")
    assert "f.txt" in capsys.readouterr().out and not any((tmp_path / "tmp").iterdir())


def test_compare_checks_its_json_output_before_the_work(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    rc = main(["leaderboard", "compare", str(tmp_path / "nothing_a"), str(tmp_path / "nothing_b"),
               "--json", str(tmp_path / "taken")])
    assert rc == 2 and "--json" in capsys.readouterr().err  # not the missing results, found later


def test_replay_refuses_a_record_made_for_another_image_or_malformed():
    """replay used to apply a record made for 192×256 to a 100×100 image."""
    from dustbench.transforms import FilmDamage, replay
    image = np.full((192, 256, 3), 128, np.uint8)
    record = FilmDamage("dust_negative_fine", seed=0)(image=image)["damage_params"]
    np.testing.assert_array_equal(replay(image, record)["image"], FilmDamage("dust_negative_fine", seed=0)(image=image)["image"])
    with pytest.raises(DustbenchError, match="made for a 192×256 image, not 100×100"):
        replay(np.full((100, 100, 3), 128, np.uint8), record)
    for bad in ("{not json", "[1]", {"applied": "yes"}, {"applied": True}):
        with pytest.raises(DustbenchError, match="replay: damage_params"):
            replay(image, bad)


@pytest.mark.parametrize("dtype", ["bool", "int64"])
def test_a_module_returning_integers_is_refused_like_a_function(dtype, pairs):
    """An nn.Module returning bool/int64 used to be scored (the function path refuses it)."""
    import torch

    class Thresh(torch.nn.Module):
        def forward(self, x):
            return (x > 0.5) if dtype == "bool" else (x * 255).long()

    with pytest.raises(DustbenchError, match=f"returned dtype {dtype}"):
        evaluate(Thresh(), pairs, progress=False)


@pytest.mark.parametrize("scale", [float("nan"), float("inf"), 1e12, (8, float("nan")), (100, 50, 20)])
def test_scan_scales_are_checked_not_crashed_on(scale):
    from dustbench.transforms import FilmDamage
    with pytest.raises(DustbenchError, match="scan scale"):
        FilmDamage("dust_negative_fine", scan_scale=scale)


def test_a_module_on_the_meta_device_is_refused_by_name():
    import torch
    with pytest.raises(DustbenchError, match="meta device"):
        evaluate(torch.nn.Conv2d(3, 3, 1, device="meta"), "builtin", limit=1, progress=False)
