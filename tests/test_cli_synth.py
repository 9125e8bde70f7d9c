"""The command line for synthesis: `dustbench list`, `preview` and `synth`; one-line errors, exit 2."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.io import read_image, write_image
from dustbench.synth import library, regenerate
from dustbench.synth.job import read_records

PRESETS = "dirt_negative_light,hair_long_negative_heavy,scratch_base_heavy,stain_dark_heavy"


def make_clean(folder: Path) -> Path:
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "a.png", rng.integers(40, 220, (48, 72, 3)).astype(np.uint8))
    write_image(folder / "b.png", rng.integers(40, 220, (50, 50)).astype(np.uint8))
    return folder


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(code: int, err: str, *words: str) -> None:
    """Exit status 2 and exactly one stderr line, no traceback, containing every word."""
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err and lines[0].startswith("dustbench ")
    assert "error:" in lines[0]
    for w in words:
        assert w in lines[0], (w, lines[0])


# --- list ---------------------------------------------------------------------------------------

def test_list_presets_prints_every_preset_name_first(capsys):
    """Guards `dustbench list presets`: >= 100 lines, one per library preset, name first, sorted."""
    code, out, _ = run_cli(capsys, "list", "presets")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) >= 100 and len(lines) == len(library())
    names = [line.split()[0] for line in lines]
    assert names == sorted(library())
    for line in lines:
        name, family = line.split()[:2]
        assert library()[name].family == family


def test_list_presets_filters_by_family(capsys):
    """Guards --family: only dust presets, all of them."""
    code, out, _ = run_cli(capsys, "list", "presets", "--family", "dust")
    assert code == 0
    names = [line.split()[0] for line in out.splitlines()]
    assert names == sorted(n for n, p in library().items() if p.family == "dust")
    assert all(line.split()[1] == "dust" for line in out.splitlines())


def test_console_script_runs():
    """Guards the installed entry point (`dustbench` on PATH of the venv, or python -m dustbench)."""
    exe = Path(sys.executable).with_name("dustbench")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "dustbench"]
    result = subprocess.run([*cmd, "list", "presets", "--family", "blotch"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "stain_yellowed" in result.stdout


# --- preview ------------------------------------------------------------------------------------

def test_preview_writes_a_readable_png(tmp_path, capsys):
    """Guards `dustbench preview`: a contact sheet PNG with one row per selected preset."""
    out = tmp_path / "sheet.png"
    code, stdout, _ = run_cli(capsys, "preview", "--presets", "dust_negative_*", "--out", str(out), "--crop", "64",
                              "--quiet")
    assert code == 0 and out.is_file()
    n = sum(1 for name in library() if name.startswith("dust_negative_"))
    assert f"{n} presets" in stdout
    sheet = read_image(out)
    assert sheet.dtype == np.uint8 and sheet.ndim == 3 and sheet.shape[2] == 3
    assert sheet.shape[0] >= n * 64 and sheet.shape[1] >= 3 * 64
    assert sheet.std() > 1  # not a blank canvas


@pytest.mark.parametrize("command", ["preview", "synth"])
def test_unknown_preset_exits_2_with_did_you_mean(tmp_path, capsys, command):
    """Guards typos on the command line: one error line with 'did you mean', exit 2, nothing written."""
    out = tmp_path / ("x.png" if command == "preview" else "out")
    argv = ["--presets", "dust_negativ_light_sharp", "--out", str(out)]
    if command == "synth":
        argv += ["--clean", str(make_clean(tmp_path / "clean")), "--n", "2", "--quiet"]
    code, _, err = run_cli(capsys, command, *argv)
    assert_one_line_error(code, err, "did you mean 'dust_negative_light_sharp'")
    assert not out.exists()


# --- synth --------------------------------------------------------------------------------------

def test_synth_writes_samples_and_resumes(tmp_path, capsys):
    """Guards `dustbench synth`: writes n triplets + manifest; the same command again resumes."""
    clean, out = make_clean(tmp_path / "clean"), tmp_path / "out"
    argv = ["synth", "--clean", str(clean), "--out", str(out), "--n", "3", "--seed", "4", "--presets", PRESETS,
            "--quiet"]
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "wrote 3 samples" in stdout
    assert len(read_records(out)) == 3 and (out / "contact_sheet.png").is_file()
    first = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, stdout, _ = run_cli(capsys, *argv)
    assert code == 0 and "wrote 0 samples" in stdout and "3 already there" in stdout
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == first


def test_synth_cli_matches_library_call_with_workers_and_shards(tmp_path, capsys):
    """Guards the CLI's plumbing: --workers 2 and --shard 0/2 + 1/2 give the bytes of one plain run."""
    clean = make_clean(tmp_path / "clean")
    common = ["synth", "--clean", str(clean), "--n", "4", "--seed", "9", "--presets", PRESETS, "--quiet",
              "--no-contact-sheet"]
    assert run_cli(capsys, *common, "--out", str(tmp_path / "plain"))[0] == 0
    assert run_cli(capsys, *common, "--out", str(tmp_path / "w2"), "--workers", "2")[0] == 0
    for shard in ("1/2", "0/2"):
        assert run_cli(capsys, *common, "--out", str(tmp_path / "sharded"), "--shard", shard)[0] == 0

    def tree(folder):
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}

    plain = tree(tmp_path / "plain")
    assert len(plain) == 4 * 5 + 2 and "contact_sheet.png" not in plain and "synth.json" in plain
    assert tree(tmp_path / "w2") == plain
    assert tree(tmp_path / "sharded") == plain


def test_synth_with_16bit_tif(tmp_path, capsys):
    """Guards --format16 tif on the command line: 16-bit scans give .tif files read back as uint16."""
    clean = tmp_path / "clean"
    write_image(clean / "a.png", np.random.default_rng(1).integers(0, 65536, (40, 60, 3)).astype(np.uint16))
    out = tmp_path / "out"
    code, _, _ = run_cli(capsys, "synth", "--clean", str(clean), "--out", str(out), "--n", "2", "--presets", PRESETS,
                         "--format16", "tif", "--quiet")
    assert code == 0
    for r in read_records(out):
        assert r["damaged"].endswith(".tif") and read_image(out / r["damaged"]).dtype == np.uint16


def test_synth_writes_the_infrared_plane_its_record_reproduces(tmp_path, capsys):
    """Guards --infrared: a 16-bit plane per sample under infrared/, named in the record, whose
    parameters regenerate it; the damaged images are those of a run without it."""
    clean = make_clean(tmp_path / "clean")
    common = ["synth", "--clean", str(clean), "--n", "2", "--seed", "3", "--presets", PRESETS, "--quiet",
              "--no-contact-sheet"]
    assert run_cli(capsys, *common, "--out", str(tmp_path / "ir"), "--infrared", "slide")[0] == 0
    assert run_cli(capsys, *common, "--out", str(tmp_path / "plain"))[0] == 0
    for with_ir, plain in zip(read_records(tmp_path / "ir"), read_records(tmp_path / "plain")):
        plane = read_image(tmp_path / "ir" / with_ir["infrared"])
        assert plane.dtype == np.uint16 and plane.shape == tuple(with_ir["shape"][:2])
        assert with_ir["params"]["infrared"]["film"] == "slide" and "infrared" not in plain
        assert (tmp_path / "ir" / with_ir["damaged"]).read_bytes() == (tmp_path / "plain" / plain["damaged"]).read_bytes()
        again = regenerate(read_image(tmp_path / "ir" / with_ir["clean"]), with_ir["params"])
        assert np.array_equal(again.infrared, plane)


@pytest.mark.parametrize("what", ["missing", "empty"])
def test_synth_bad_clean_folder_is_one_line_exit_2(tmp_path, capsys, what):
    """Guards --clean errors on the command line: one line naming the folder, exit 2, no output folder."""
    clean = tmp_path / "clean"
    if what == "empty":
        clean.mkdir()
    out = tmp_path / "out"
    code, _, err = run_cli(capsys, "synth", "--clean", str(clean), "--out", str(out), "--n", "2", "--quiet")
    assert_one_line_error(code, err, str(clean))
    assert not out.exists()


@pytest.mark.parametrize("kind", ["truncated", "text", "empty"])
def test_synth_bad_image_is_one_line_exit_2(tmp_path, capsys, kind):
    """Guards unreadable scans on the command line (--on-error stop): one line naming the file, exit 2."""
    clean = tmp_path / "clean"
    clean.mkdir()
    bad = clean / "only.png"
    if kind == "truncated":
        write_image(bad, np.zeros((30, 30), np.uint8) + 90)
        bad.write_bytes(bad.read_bytes()[:40])
    elif kind == "text":
        bad.write_text("not an image")
    else:
        bad.write_bytes(b"")
    code, _, err = run_cli(capsys, "synth", "--clean", str(clean), "--out", str(tmp_path / "out"), "--n", "2",
                           "--presets", PRESETS, "--quiet")
    assert_one_line_error(code, err, str(bad), "sample 0")


def test_synth_on_error_skip_reports_and_exits_1_when_nothing_was_made(tmp_path, capsys):
    """Guards --on-error skip on the command line: each skipped sample reported; status 1 when every
    sample was skipped."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "only.png").write_text("not an image")
    code, stdout, err = run_cli(capsys, "synth", "--clean", str(clean), "--out", str(tmp_path / "out"), "--n", "2",
                                "--presets", PRESETS, "--on-error", "skip", "--quiet")
    assert code == 1
    assert "skipped sample 0" in err and "skipped sample 1" in err and "Traceback" not in err
    assert "2 skipped" in stdout


@pytest.mark.parametrize("shard", ["2/2", "x"])
def test_synth_bad_shard_is_one_line_exit_2(tmp_path, capsys, shard):
    """Guards --shard errors on the command line."""
    clean = make_clean(tmp_path / "clean")
    code, _, err = run_cli(capsys, "synth", "--clean", str(clean), "--out", str(tmp_path / "out"), "--n", "2",
                           "--shard", shard, "--quiet")
    assert_one_line_error(code, err, "--shard")
