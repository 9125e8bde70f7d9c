"""Image files: exact 8/16-bit round trips, RGB order, atomic writes and clear read errors."""
from __future__ import annotations

import struct
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from dustbench.io import (ImageFormatError, ImageReadError, channel_max, check_image, dtype_max, encode_image,
                          from_float, list_images, read_image, to_float, write_image)


def random_image(dtype, shape, seed=0):
    """Random values over the full range, with 0 and max present."""
    hi = int(dtype_max(dtype))
    img = np.random.default_rng(seed).integers(0, hi + 1, shape).astype(dtype)
    img.flat[0], img.flat[-1] = 0, hi
    return img


@pytest.mark.parametrize("suffix", [".png", ".tif", ".tiff"])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", [(37, 53), (37, 53, 3)], ids=["grey", "rgb"])
def test_write_read_round_trip_is_exact(tmp_path, suffix, dtype, shape):
    """Guards lossless storage: write then read gives the same dtype, shape and values."""
    img = random_image(dtype, shape)
    path = tmp_path / f"img{suffix}"
    write_image(path, img)
    back = read_image(path)
    assert back.dtype == img.dtype and back.shape == img.shape
    np.testing.assert_array_equal(back, img)


def test_h_w_1_is_written_and_read_as_grey(tmp_path):
    """Guards single-channel H×W×1 arrays: stored as grey, read back as H×W."""
    img = random_image(np.uint16, (20, 30, 1))
    write_image(tmp_path / "g.png", img)
    np.testing.assert_array_equal(read_image(tmp_path / "g.png"), img[:, :, 0])


@pytest.mark.parametrize("dtype,depth", [(np.uint8, 8), (np.uint16, 16)], ids=["uint8", "uint16"])
@pytest.mark.parametrize("shape,colour_type", [((9, 11), 0), ((9, 11, 3), 2)], ids=["grey", "rgb"])
def test_png_header_has_the_right_bit_depth_and_colour_type(tmp_path, dtype, depth, shape, colour_type):
    """Guards the file format itself (read from the PNG IHDR, not through OpenCV): 16-bit stays 16-bit."""
    write_image(tmp_path / "x.png", random_image(dtype, shape))
    data = (tmp_path / "x.png").read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height, bit_depth, ctype = struct.unpack(">IIBB", data[16:26])
    assert (width, height, bit_depth, ctype) == (11, 9, depth, colour_type)


def test_rgb_order_against_pillow(tmp_path):
    """Guards channel order against an independent codec: arrays are RGB in and RGB out."""
    img = np.zeros((4, 6, 3), np.uint8)
    img[:, :2] = (255, 0, 0)
    img[:, 2:4] = (0, 255, 0)
    img[:, 4:] = (0, 0, 255)
    write_image(tmp_path / "ours.png", img)
    np.testing.assert_array_equal(np.asarray(Image.open(tmp_path / "ours.png").convert("RGB")), img)
    Image.fromarray(img, "RGB").save(tmp_path / "pil.png")
    np.testing.assert_array_equal(read_image(tmp_path / "pil.png"), img)
    Image.fromarray(img, "RGB").save(tmp_path / "pil.tif")
    np.testing.assert_array_equal(read_image(tmp_path / "pil.tif"), img)


def test_16bit_rgb_order_against_opencv(tmp_path):
    """Guards 16-bit channel order: what we write as RGB, OpenCV's own reader sees as BGR."""
    img = random_image(np.uint16, (5, 7, 3), 3)
    write_image(tmp_path / "x.png", img)
    raw = cv2.imread(str(tmp_path / "x.png"), cv2.IMREAD_UNCHANGED)
    assert raw.dtype == np.uint16
    np.testing.assert_array_equal(raw[:, :, ::-1], img)


def test_16bit_grey_tiff_against_pillow(tmp_path):
    """Guards 16-bit TIFF against an independent reader."""
    img = random_image(np.uint16, (6, 8), 4)
    write_image(tmp_path / "x.tif", img)
    with Image.open(tmp_path / "x.tif") as pil:
        np.testing.assert_array_equal(np.asarray(pil).astype(np.uint16), img)


@pytest.mark.parametrize("shape", [(6, 8), (6, 8, 3)])
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_tiff_reads_back_in_the_common_readers_without_imagecodecs(tmp_path, shape, dtype):
    """Guards the TIFF compression: tifffile, skimage.io and imageio read it with zlib alone (not LZW)."""
    import imageio.v3 as iio
    import skimage.io
    import tifffile

    img = random_image(dtype, shape, 5)
    write_image(tmp_path / "x.tif", img)
    for reader in (tifffile.imread, skimage.io.imread, iio.imread):
        np.testing.assert_array_equal(np.asarray(reader(tmp_path / "x.tif")), img)


def test_alpha_channel_is_dropped(tmp_path):
    """Guards RGBA input: the alpha channel is dropped, colours kept in RGB order."""
    rgba = np.zeros((3, 4, 4), np.uint8)
    rgba[..., 0], rgba[..., 1], rgba[..., 2], rgba[..., 3] = 10, 20, 30, 128
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    back = read_image(tmp_path / "a.png")
    assert back.shape == (3, 4, 3)
    np.testing.assert_array_equal(back[0, 0], [10, 20, 30])


def test_writes_are_deterministic(tmp_path):
    """Guards byte-identical output: encoding the same array twice gives the same bytes."""
    for suffix in (".png", ".tif"):
        img = random_image(np.uint16, (16, 16, 3))
        assert encode_image(img, suffix) == encode_image(img.copy(), suffix)


# --- bad files --------------------------------------------------------------------------------

def _bad_file(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / "bad.png"
    if kind == "truncated":
        write_image(path, random_image(np.uint8, (40, 40, 3)))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "truncated_tiff":
        path = tmp_path / "bad.tif"
        write_image(path, random_image(np.uint16, (40, 40)))
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        path.write_text("hello, I am not a PNG\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "png_header_only":
        path.write_bytes(b"\x89PNG\r\n\x1a\n")
    elif kind == "missing":
        pass
    elif kind == "folder":
        path.mkdir()
    return path


@pytest.mark.parametrize("kind", ["truncated", "truncated_tiff", "text", "empty", "png_header_only", "missing",
                                  "folder"])
def test_bad_files_raise_image_read_error_naming_the_file(tmp_path, kind):
    """Guards read errors: every unreadable file gives ImageReadError with the file's path in it."""
    path = _bad_file(tmp_path, kind)
    with pytest.raises(ImageReadError) as info:
        read_image(path)
    assert str(path) in str(info.value)
    if kind == "empty":
        assert "empty" in str(info.value)


# --- writing ----------------------------------------------------------------------------------

def test_encode_refuses_float_and_16bit_jpeg():
    """Guards encoding: float32 must be converted first; JPEG holds 8-bit only."""
    with pytest.raises(ImageFormatError, match="float32"):
        encode_image(np.zeros((4, 4), np.float32))
    with pytest.raises(ImageFormatError, match="JPEG"):
        encode_image(np.zeros((4, 4), np.uint16), ".jpg")
    assert encode_image(np.zeros((4, 4), np.uint8), ".jpg")[:2] == b"\xff\xd8"


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    """Guards atomic writes: a failed write keeps the old file intact and leaves no temporary file;
    a successful one replaces it and creates missing parent folders."""
    path = tmp_path / "deep" / "er" / "x.png"
    first = random_image(np.uint8, (8, 8), 1)
    write_image(path, first)
    with pytest.raises(ImageFormatError):
        write_image(path, np.zeros((8, 8), np.float32))
    np.testing.assert_array_equal(read_image(path), first)
    second = random_image(np.uint8, (8, 8), 2)
    write_image(path, second)
    np.testing.assert_array_equal(read_image(path), second)
    assert sorted(p.name for p in path.parent.iterdir()) == ["x.png"]


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.int64), np.zeros((4, 4), np.float64),
                                 np.zeros((4, 4, 2), np.uint8), np.zeros((4, 4, 4), np.uint8), np.zeros((4,), np.uint8),
                                 np.zeros((0, 4), np.uint8), "image"],
                         ids=["int64", "float64", "2ch", "4ch", "1d", "empty", "str"])
def test_check_image_rejects_non_images(bad):
    """Guards the image contract: only uint8/uint16/float32 H×W or H×W×{1,3} arrays pass."""
    with pytest.raises(ImageFormatError):
        check_image(bad)


def test_float_conversions():
    """Guards to_float/from_float: exact for every 8-bit value, rounding and clipping on the way back."""
    u8 = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(from_float(to_float(u8), np.uint8), u8)
    u16 = np.arange(0, 65536, 7, dtype=np.uint16)
    np.testing.assert_array_equal(from_float(to_float(u16), np.uint16), u16)
    np.testing.assert_array_equal(from_float(np.array([-0.5, 0.5, 1.5], np.float32), np.uint8), [0, 128, 255])
    assert dtype_max(np.uint8) == 255 and dtype_max(np.uint16) == 65535 and dtype_max(np.float32) == 1.0


def test_list_images_is_recursive_sorted_and_skips_other_files(tmp_path):
    """Guards folder scanning: image suffixes (any case), recursive, sorted, hidden files skipped."""
    img = random_image(np.uint8, (4, 4))
    for name in ["b.png", "a.TIF", "sub/c.jpg", "sub/deeper/d.tiff", ".hidden.png", "notes.txt", "e.jpeg"]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".txt"):
            path.write_text("x")
        else:
            path.write_bytes(encode_image(img, path.suffix.lower()))
    found = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert found == ["a.TIF", "b.png", "e.jpeg", "sub/c.jpg", "sub/deeper/d.tiff"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "nope")


def test_storable_converts_floats_only():
    from dustbench.io import storable

    for dtype in (np.uint8, np.uint16):
        img = random_image(dtype, (4, 5, 3), 6)
        assert storable(img) is img
    f = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(storable(f), np.rint(f * 65535).astype(np.uint16))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.uint8, np.uint16, bool])
@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_channel_max_is_max_over_the_last_axis(dtype, channels):
    rng = np.random.default_rng(channels)
    image = (rng.random((7, 5, channels)) * 300).astype(dtype)
    got = channel_max(image)
    assert got.dtype == image.dtype and got.shape == (7, 5)
    np.testing.assert_array_equal(got, image.max(axis=-1))
    assert not np.shares_memory(got, image)  # a new array even for one channel


def test_channel_max_propagates_nan_as_numpy_does():
    image = np.zeros((2, 2, 3), np.float32)
    image[0, 0, 1], image[1, 1, 2] = np.nan, 5.0
    np.testing.assert_array_equal(channel_max(image), image.max(axis=2))  # NaN where numpy gives NaN
    assert np.isnan(channel_max(image)[0, 0]) and channel_max(image)[1, 1] == 5.0
