"""Bad input, run through every command: one line naming the file and the problem, never a traceback.

The corpus is made at test time: empty, truncated and garbage files, a header that claims
100000×100000 px, float TIFFs outside [0, 1] or with NaN, a 1×1 image, a 32-bit integer TIFF, and
output locations that cannot be written. Each command either stops with exit code 2 and one line
on stderr that names the file, or (``--on-error skip``) reports the file and goes on.
"""
from __future__ import annotations

import json
import struct
import zlib

import cv2
import numpy as np
import pytest

from dustbench.cli import main
from dustbench.io import encode_image, write_image

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
GOOD = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)


def _png_header_only(width: int, height: int) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + chunk + struct.pack(">I", zlib.crc32(chunk)) + b"\0" * 64


def _float_tiff(values: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".tiff", values.astype(np.float32))
    assert ok
    return buf.tobytes()


def _int32_tiff() -> bytes:
    ok, buf = cv2.imencode(".tiff", np.full((20, 20), 7, np.int32))
    assert ok
    return buf.tobytes()


BAD_FILES = {
    "empty.png": lambda: b"",
    "truncated.png": lambda: encode_image(GOOD)[:200],
    "garbage.png": lambda: np.random.default_rng(1).bytes(3000),
    "bomb.png": lambda: _png_header_only(100_000, 100_000),
    "float_0_1000.tif": lambda: _float_tiff(np.linspace(0, 1000, 48 * 64).reshape(48, 64)),
    "float_nan.tif": lambda: _float_tiff(np.where(np.eye(48, 64) > 0, np.nan, 0.5)),
    "int32.tif": _int32_tiff,
}
# What the one-line message must say about each file, besides its name.
PROBLEM = {"empty.png": "empty", "truncated.png": "not a readable image", "garbage.png": "not a readable image",
           "bomb.png": "pixel limit", "float_0_1000.tif": "[0, 1]", "float_nan.tif": "NaN",
           "int32.tif": "pixel type"}


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_line_naming(err: str, *words: str) -> bool:
    """Exactly one error line (warnings about other files may precede it), naming every word; no traceback."""
    lines = [line for line in err.strip().splitlines() if "error:" in line]
    return len(lines) == 1 and "Traceback" not in err and all(w in lines[0] for w in words)


@pytest.fixture()
def clean_folder(tmp_path):
    folder = tmp_path / "clean"
    write_image(folder / "good.png", GOOD)
    return folder


def _pairs(root, bad_name=None, bad_bytes=b""):
    for i in range(2):
        write_image(root / "damaged" / f"p{i}.png", GOOD)
        write_image(root / "clean" / f"p{i}.png", GOOD)
    if bad_name:
        (root / "damaged" / bad_name).write_bytes(bad_bytes)
        (root / "clean" / bad_name).write_bytes(bad_bytes)
    return root


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_synth_names_a_bad_clean_image_and_obeys_on_error(name, clean_folder, tmp_path, capsys):
    (clean_folder / name).write_bytes(BAD_FILES[name]())
    common = ["synth", "--clean", clean_folder, "--n", "4", "--seed", "3", "--presets", "dust_negative_light_sharp",
              "--quiet", "--no-contact-sheet"]
    code, _, err = run(capsys, *common, "--out", tmp_path / "stop")
    assert code == 2 and one_line_naming(err, name, PROBLEM[name]), err
    code, out, err = run(capsys, *common, "--out", tmp_path / "skip", "--on-error", "skip")
    assert code == 0 and name in err and "Traceback" not in err
    assert len(list((tmp_path / "skip" / "damaged").glob("*.png"))) >= 1  # the good image was used


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_evaluate_names_a_bad_pair_and_obeys_on_error(name, tmp_path, capsys):
    data = _pairs(tmp_path / "pairs", name, BAD_FILES[name]())
    code, _, err = run(capsys, "evaluate", "identity", "--data", data, "--out", tmp_path / "r1", "--quiet")
    assert code == 2 and one_line_naming(err, name, PROBLEM[name]), err
    code, out, err = run(capsys, "evaluate", "identity", "--data", data, "--out", tmp_path / "r2", "--quiet",
                         "--on-error", "skip")
    assert code == 0 and f"skipped {name.rsplit('.', 1)[0]}" in out, out
    summary = json.loads((tmp_path / "r2" / "summary.json").read_text())
    assert summary["data"]["n_images"] == 2 and summary["skipped"][0]["image_id"] == name.rsplit(".", 1)[0]


@pytest.mark.parametrize("name", sorted(BAD_FILES))
def test_restore_names_a_bad_scan_and_obeys_on_error(name, tmp_path, capsys):
    scans = tmp_path / "scans"
    write_image(scans / "good.png", GOOD)
    (scans / name).write_bytes(BAD_FILES[name]())
    code, _, err = run(capsys, "restore", "median", scans, "--out", tmp_path / "o1", "--quiet")
    assert code == 2 and one_line_naming(err, name, PROBLEM[name]), err
    code, out, err = run(capsys, "restore", "median", scans, "--out", tmp_path / "o2", "--quiet", "--on-error", "skip")
    assert code == 0 and name in out and (tmp_path / "o2" / "good.png").is_file()


@pytest.mark.parametrize("name", ["bomb.png", "float_0_1000.tif", "truncated.png"])
def test_fit_preset_and_preview_name_a_bad_image(name, tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs", name, BAD_FILES[name]())
    code, _, err = run(capsys, "fit-preset", "--pairs", pairs, "--name", "lab", "--out", tmp_path / "lab.toml",
                       "--quiet")
    assert code == 2 and one_line_naming(err, name, PROBLEM[name]), err
    assert not (tmp_path / "lab.toml").exists()
    photo = tmp_path / name
    photo.write_bytes(BAD_FILES[name]())
    code, _, err = run(capsys, "preview", "--presets", "dust_negative_light_sharp", "--photo", photo,
                       "--out", tmp_path / "sheet.png", "--quiet")
    assert code == 2 and one_line_naming(err, name, PROBLEM[name]), err


def test_make_dataset_names_a_bad_source(clean_folder, tmp_path, capsys):
    (clean_folder / "bomb.png").write_bytes(BAD_FILES["bomb.png"]())
    code, _, err = run(capsys, "make-dataset", "--clean", clean_folder, "--out", tmp_path / "ds", "--seed", "0",
                       "--train-patches", "4", "--patch", "32", "--quiet")
    assert code == 2 and one_line_naming(err, "bomb.png", "pixel limit"), err


def test_the_pixel_limit_is_configurable(tmp_path, capsys):
    scans = tmp_path / "scans"
    write_image(scans / "big.png", GOOD)  # 48×64 = 3,072 px
    code, _, err = run(capsys, "--max-pixels", "1000", "restore", "identity", scans, "--out", tmp_path / "o", "--quiet")
    assert code == 2 and one_line_naming(err, "big.png", "pixel limit", "--max-pixels"), err
    code, _, err = run(capsys, "--max-pixels", "5000", "restore", "identity", scans, "--out", tmp_path / "o", "--quiet")
    assert code == 0, err


def test_a_one_pixel_pair_is_a_bad_pair_not_an_ssim_traceback(tmp_path, capsys):
    data = _pairs(tmp_path / "pairs")
    write_image(data / "damaged" / "tiny.png", GOOD[:1, :1])
    write_image(data / "clean" / "tiny.png", GOOD[:1, :1])
    code, _, err = run(capsys, "evaluate", "identity", "--data", data, "--out", tmp_path / "r", "--quiet")
    assert code == 2 and one_line_naming(err, "tiny.png", "too small"), err


def test_float_images_in_range_work_everywhere(tmp_path, capsys):
    """One policy: float images are intensities in [0, 1]; files written from them are 16-bit."""
    clean = tmp_path / "clean"
    clean.mkdir()
    (clean / "f.tif").write_bytes(_float_tiff(np.linspace(0, 1, 48 * 64).reshape(48, 64)))
    code, _, err = run(capsys, "synth", "--clean", clean, "--out", tmp_path / "s", "--n", "1", "--quiet",
                       "--presets", "dust_negative_light_sharp")
    assert code == 0, err
    assert cv2.imread(str(next((tmp_path / "s" / "clean").iterdir())), cv2.IMREAD_UNCHANGED).dtype == np.uint16
    code, _, err = run(capsys, "restore", "median", clean / "f.tif", "--out", tmp_path / "r", "--quiet")
    assert code == 0 and cv2.imread(str(tmp_path / "r" / "f.tif"), cv2.IMREAD_UNCHANGED).dtype == np.uint16


def _commands(tmp_path, out):
    """Every command that writes, with ``out`` as its output location (other inputs are fine)."""
    data = _pairs(tmp_path / "pairs")
    write_image(tmp_path / "scan.png", GOOD)
    return {
        "synth": ["synth", "--clean", data / "clean", "--out", out, "--n", "1", "--quiet"],
        "evaluate": ["evaluate", "identity", "--data", data, "--out", out, "--quiet"],
        "restore": ["restore", "identity", tmp_path / "scan.png", "--out", out, "--quiet"],
        "fit-preset": ["fit-preset", "--pairs", data, "--name", "lab", "--out", f"{out}/lab.toml", "--quiet"],
        "preview": ["preview", "--presets", "dust_negative_light_sharp", "--out", f"{out}/sheet.png", "--quiet"],
        "make-dataset": ["make-dataset", "--clean", data / "clean", "--out", out, "--train-patches", "2",
                         "--patch", "16", "--quiet"],
        "train": ["train", "dust_gan", "--data", data, "--val", "none", "--out", out, "--max-steps", "1",
                  "--batch-size", "1", "--patch", "16", "--quiet"],
        "leaderboard": ["leaderboard", "build", tmp_path / "results", "--out", out],
    }


@pytest.mark.parametrize("where", ["is_a_file", "under_a_file"])
def test_every_command_refuses_an_unwritable_output_before_working(where, tmp_path, capsys):
    blocker = tmp_path / "blocker"
    blocker.write_text("keep me")
    out = blocker if where == "is_a_file" else blocker / "sub"
    assert run(capsys, "evaluate", "identity", "--data", _pairs(tmp_path / "pairs"), "--out",
               tmp_path / "results" / "identity", "--quiet")[0] == 0
    for name, argv in _commands(tmp_path, out).items():
        code, _, err = run(capsys, *argv)
        assert code == 2 and one_line_naming(err, "blocker"), (name, err)
        assert blocker.read_text() == "keep me", name


def test_export_refuses_a_folder_as_its_file(tmp_path, capsys):
    (tmp_path / "model.pt").mkdir()
    code, _, err = run(capsys, "export", tmp_path / "missing", "--out", tmp_path / "model.pt")
    assert code == 2 and one_line_naming(err, "model.pt", "is a folder"), err


def test_a_failed_run_never_touches_earlier_results(tmp_path, capsys):
    data = _pairs(tmp_path / "pairs")
    out = tmp_path / "r"
    assert run(capsys, "evaluate", "identity", "--data", data, "--out", out, "--quiet")[0] == 0
    def results():  # the folder's lock file names the latest run: bookkeeping, not a result
        return {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != ".dustbench.lock"}
    before = results()
    broken = tmp_path / "broken.pt"
    broken.write_bytes(b"not a model")
    assert run(capsys, "evaluate", broken, "--data", data, "--out", out, "--quiet")[0] == 2
    assert results() == before


# -- results are never mixed up ---------------------------------------------------------------------
def test_synth_refuses_a_folder_of_another_run_and_overwrite_replaces_it(clean_folder, tmp_path, capsys):
    out = tmp_path / "s"
    common = ["synth", "--clean", clean_folder, "--out", out, "--n", "2", "--quiet", "--no-contact-sheet",
              "--presets", "dust_negative_light_sharp"]
    assert run(capsys, *common, "--seed", "1")[0] == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    code, _, err = run(capsys, *common, "--seed", "2")
    assert code == 2 and one_line_naming(err, str(out), "another synth run", "--overwrite"), err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert run(capsys, *common, "--seed", "1", "--n", "3")[0] == 0  # the same run, extended: fine
    assert run(capsys, *common, "--seed", "2", "--overwrite")[0] == 0
    assert json.loads((out / "synth.json").read_text())["seed"] == 2


def test_two_synth_runs_cannot_both_claim_one_folder(clean_folder, tmp_path):
    from dustbench.errors import DustbenchError
    from dustbench.synth.job import claim_folder

    out = tmp_path / "s"
    out.mkdir()
    claim_folder(out, {"seed": 1})
    claim_folder(out, {"seed": 1})  # a shard of the same run
    with pytest.raises(DustbenchError, match="another synth run"):
        claim_folder(out, {"seed": 2})
    assert not [p for p in out.iterdir() if p.name != "synth.json"]  # no temporary files left


def test_evaluate_overwrite_then_resume_never_reports_another_methods_rows(tmp_path, capsys):
    """The mix-up found by the battery: identity, then a model that fails on its first image with
    --overwrite, then the same without: the third run must not resume identity's rows."""
    import torch

    from dustbench.models.checkpoint import write_checkpoint
    from dustbench.models import register_model

    @register_model("test_fails_on_images")
    def failing(channels: int = 3):
        class Fails(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.w = torch.nn.Parameter(torch.zeros(1))

            def forward(self, x):
                raise RuntimeError("this model fails on every image")
        return Fails()

    data = _pairs(tmp_path / "pairs")
    out = tmp_path / "r"
    broken = tmp_path / "broken.ckpt"
    write_checkpoint(broken, failing(), "test_fails_on_images", {})
    assert run(capsys, "evaluate", "identity", "--data", data, "--out", out, "--quiet")[0] == 0
    assert run(capsys, "evaluate", broken, "--data", data, "--out", out, "--quiet", "--overwrite")[0] == 2
    code, _, err = run(capsys, "evaluate", broken, "--data", data, "--out", out, "--quiet")
    assert code == 2 and "fails on every image" in err


def test_resumed_rows_are_written_as_an_uninterrupted_run_writes_them(tmp_path):
    from dustbench.evaluation import evaluate

    data = _pairs(tmp_path / "pairs")
    evaluate("median", data, tmp_path / "full", progress=False)
    evaluate("median", data, tmp_path / "part", limit=1, progress=False)
    evaluate("median", data, tmp_path / "part", progress=False)  # resumes the first row

    def table(folder):
        lines = (folder / "per_image.csv").read_text().splitlines()
        runtime = lines[0].split(",").index("runtime_s")
        return [",".join(c for k, c in enumerate(line.split(",")) if k != runtime) for line in lines]
    assert table(tmp_path / "part") == table(tmp_path / "full")


def test_a_model_returning_extra_channels_is_refused(tmp_path):
    import torch

    from dustbench.errors import DustbenchError
    from dustbench.methods import load_model_file

    class FourOut(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 4, 1)

        def forward(self, x):
            return torch.sigmoid(self.conv(x))

    path = tmp_path / "four.pt"
    torch.jit.script(FourOut()).save(str(path))
    grey = np.random.default_rng(0).random((16, 16), dtype=np.float32)
    with pytest.raises(DustbenchError, match="returned 4 channels for a 1-channel image"):
        load_model_file(path, tile=None)(grey)


# -- the library refuses values it would silently mangle -------------------------------------------
@pytest.mark.parametrize("values", [np.full((8, 8), 200.0), np.full((8, 8), -1.0), np.full((8, 8), np.nan)])
def test_synthesize_and_metrics_refuse_floats_outside_zero_one(values):
    import dustbench
    from dustbench.errors import DustbenchError

    image = values.astype(np.float32)
    with pytest.raises(DustbenchError, match=r"\[0, 1\]|NaN"):
        dustbench.synthesize(image, "dust_negative_light_sharp", np.random.default_rng(0))
    with pytest.raises(DustbenchError, match=r"data_range|NaN"):
        dustbench.psnr(image, image)
    if np.isfinite(values).all():  # an explicit data_range is the way to score another range
        assert dustbench.psnr(image, image + 1, data_range=255.0) > 0


def test_make_dataset_refuses_a_float_scan_outside_zero_one_before_any_work(clean_folder, tmp_path, capsys):
    (clean_folder / "hdr.tif").write_bytes(BAD_FILES["float_0_1000.tif"]())
    code, _, err = run(capsys, "make-dataset", "--clean", clean_folder, "--out", tmp_path / "ds", "--seed", "0",
                       "--train-patches", "4", "--patch", "32", "--quiet")
    assert code == 2 and one_line_naming(err, "hdr.tif", "[0, 1]"), err
    assert not (tmp_path / "ds" / "dataset_dict.json").exists()


def test_fit_preset_refuses_two_files_for_one_image(tmp_path, capsys):
    pairs = _pairs(tmp_path / "pairs")
    write_image(pairs / "damaged" / "p0.tif", GOOD)
    code, _, err = run(capsys, "fit-preset", "--pairs", pairs, "--name", "lab", "--out", tmp_path / "lab.toml",
                       "--quiet")
    assert code == 2 and one_line_naming(err, "p0.png", "p0.tif", "two files"), err
