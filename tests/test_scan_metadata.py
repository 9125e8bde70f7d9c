"""restore keeps what a scanning workflow relies on: a 16-bit TIFF's resolution, ICC profile and
description, a PNG's pHYs/iCCP/text chunks; the pixels stay what the method made."""
from __future__ import annotations

import struct
import zlib

import cv2
import numpy as np
import tifffile

from dustbench.cli import main
from dustbench.io import read_image, write_image

ICC = bytes(range(256)) * 3  # a stand-in profile: carried byte for byte


def _tiff_scan(path, image):
    tifffile.imwrite(path, image, photometric="rgb", resolution=(4000, 4000), resolutionunit="INCH",
                     description="Nikon LS-5000, frame 12", metadata=None, software="VueScan 9",
                     extratags=[(34675, "B", len(ICC), ICC, True)])


def test_restored_tiff_keeps_resolution_icc_and_description(tmp_path):
    rng = np.random.default_rng(0)
    scan = rng.integers(1000, 60000, (48, 64, 3), dtype=np.uint16)
    _tiff_scan(tmp_path / "scan.tif", scan)
    assert main(["restore", "identity", str(tmp_path / "scan.tif"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = tmp_path / "out" / "scan.tif"
    with tifffile.TiffFile(out) as tif:
        tags = tif.pages[0].tags
        assert tags["XResolution"].value == (4000, 1) and tags["YResolution"].value == (4000, 1)
        assert int(tags["ResolutionUnit"].value) == 2
        assert tags["ImageDescription"].value == "Nikon LS-5000, frame 12" and tags["Software"].value == "VueScan 9"
        assert bytes(tags["InterColorProfile"].value) == ICC
        assert tif.pages[0].dtype == np.uint16
    np.testing.assert_array_equal(read_image(out), scan)  # identity: bit-exact, readable as before


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def test_restored_png_keeps_its_resolution_profile_and_text(tmp_path):
    image = np.random.default_rng(1).integers(0, 255, (40, 50, 3), dtype=np.uint8)
    ok, buf = cv2.imencode(".png", image)
    data = buf.tobytes()
    extra = (_chunk(b"pHYs", struct.pack(">IIB", 157480, 157480, 1)) +
             _chunk(b"iCCP", b"scanner\x00\x00" + zlib.compress(ICC)) + _chunk(b"tEXt", b"Comment\x00roll 7"))
    ihdr_end = 8 + 25
    (tmp_path / "scan.png").write_bytes(data[:ihdr_end] + extra + data[ihdr_end:])
    assert main(["restore", "identity", str(tmp_path / "scan.png"), "--out", str(tmp_path / "out"), "--quiet"]) == 0
    out = (tmp_path / "out" / "scan.png").read_bytes()
    for chunk in (b"pHYs", b"iCCP", b"tEXt"):
        assert chunk in out
    assert out.index(b"pHYs") < out.index(b"IDAT")
    np.testing.assert_array_equal(read_image(tmp_path / "out" / "scan.png"), read_image(tmp_path / "scan.png"))


def test_a_tiff_without_such_tags_is_written_as_before(tmp_path):
    image = np.full((20, 30), 1234, np.uint16)
    write_image(tmp_path / "plain.tif", image)
    assert main(["restore", "identity", str(tmp_path / "plain.tif"), "--out", str(tmp_path / "o"), "--quiet"]) == 0
    np.testing.assert_array_equal(read_image(tmp_path / "o" / "plain.tif"), image)
