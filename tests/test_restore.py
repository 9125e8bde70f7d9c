"""`dustbench restore`: bit depth kept, inputs never overwritten, comparison sheets, tiling, CLI."""
from __future__ import annotations

import numpy as np
import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.io import from_float, read_image, to_float, write_image
from dustbench.methods import create_method
from dustbench.cli._args import parse_options
from dustbench.methods import apply_method
from dustbench.methods.restore import restore


def scan(shape=(70, 90, 3), dtype=np.uint16, seed=0):
    rng = np.random.default_rng(seed)
    img = rng.random(shape, dtype=np.float32) * 0.2 + 0.4
    img[10:12, 20:24] = 0.0  # a dark speck for the median to remove
    return from_float(img, dtype)


def test_16bit_tiff_in_16bit_tiff_out_and_same_pixels_as_the_method(tmp_path):
    src = tmp_path / "in" / "frame.tif"
    image = scan()
    write_image(src, image)
    records = restore("median", [src], tmp_path / "out", options={"radius": 2}, tile=32, overlap=8, progress=False)
    out = read_image(tmp_path / "out" / "frame.tif")
    assert records[0].status == "written" and out.dtype == np.uint16 and out.shape == image.shape
    want = from_float(create_method("median", radius=2)(to_float(image)), np.uint16)
    assert np.abs(out.astype(int) - want.astype(int)).max() <= 1  # tiling: float32 rounding only
    assert out[10:12, 20:24].min() > 20000  # the speck is gone
    assert np.array_equal(read_image(src), image)


def test_folders_jpeg_to_png_grey_and_skip_existing(tmp_path):
    write_image(tmp_path / "in" / "roll" / "a.jpg", scan((30, 40, 3), np.uint8))
    write_image(tmp_path / "in" / "b.png", scan((30, 40), np.uint8))
    records = restore("identity", [tmp_path / "in"], tmp_path / "out", progress=False)
    assert sorted(r.output.relative_to(tmp_path / "out").as_posix() for r in records) == ["b.png", "roll/a.png"]
    assert read_image(tmp_path / "out" / "b.png").shape == (30, 40)
    again = restore("identity", [tmp_path / "in"], tmp_path / "out", progress=False)
    assert {r.status for r in again} == {"exists"}
    assert {r.status for r in restore("identity", [tmp_path / "in"], tmp_path / "out", overwrite=True,
                                      progress=False)} == {"written"}


def test_never_overwrites_inputs(tmp_path):
    src = tmp_path / "a.png"
    write_image(src, scan((20, 20, 3), np.uint8))
    before = src.read_bytes()
    with pytest.raises(DustbenchError, match="overwrite an input"):
        restore("median", [src], tmp_path, overwrite=True, progress=False)
    assert src.read_bytes() == before
    with pytest.raises(DustbenchError, match="no such file"):
        restore("identity", [tmp_path / "missing.png"], tmp_path / "out", progress=False)


def test_compare_sheet_and_oracle_refused(tmp_path):
    src = tmp_path / "a.png"
    write_image(src, scan((60, 80, 3), np.uint8))
    rec = restore("median", [src], tmp_path / "out", compare=True, progress=False)[0]
    sheet = read_image(rec.compare)
    assert rec.compare == tmp_path / "out" / "compare" / "a.png" and sheet.dtype == np.uint8 and sheet.shape[1] > 160
    with pytest.raises(DustbenchError, match="oracle"):
        restore("oracle_inpaint", [src], tmp_path / "out2", progress=False)


def test_large_image_tiled_matches_whole():
    x = to_float(scan((1100, 700, 3), np.uint8))
    median = create_method("median", radius=3, threshold=8)
    tiled = apply_method(median, x, tile=512, overlap=32)
    np.testing.assert_allclose(tiled, apply_method(median, x, tile=None), atol=3e-7, rtol=0)


def test_parse_options():
    assert parse_options(["radius=3", "precision=8bit", "t=1.5", "x=null"]) == {
        "radius": 3, "precision": "8bit", "t": 1.5, "x": None}
    with pytest.raises(DustbenchError, match="KEY=VALUE"):
        parse_options(["radius"])


def test_cli_restore(tmp_path, capsys):
    src = tmp_path / "a.tif"
    write_image(src, scan())
    assert main(["restore", "median", str(src), "--out", str(tmp_path / "o"), "-o", "radius=1", "--compare",
                 "--quiet"]) == 0
    assert "restored 1 image" in capsys.readouterr().out
    assert read_image(tmp_path / "o" / "a.tif").dtype == np.uint16 and (tmp_path / "o" / "compare" / "a.png").is_file()
    assert main(["restore", "nosuch", str(src), "--out", str(tmp_path / "o"), "--quiet"]) == 2
