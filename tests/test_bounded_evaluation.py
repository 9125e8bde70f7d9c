"""Evaluation in bounded memory: restored rows band by band, scores summed band by band, files
decoded once. Each piece is checked against the whole-image computation it replaces (equal to the
last bit where the sums are of integers), and its memory against the image's own bytes."""
from __future__ import annotations

import math
import tracemalloc

import cv2
import numpy as np
import pytest

from dustbench import evaluate
from dustbench.errors import ImageReadError
from dustbench.evaluation.band_scores import BandScores
from dustbench.io import decode_bytes, read_image, to_float, write_image
from dustbench.methods import apply_method, create_method, restored_rows
from dustbench.methods.tiling import apply_tiled, tiled_rows
from dustbench.metrics import labelled_psnr, masked_metrics, psnr, ssim, sum_squared_error, touch_metrics
from dustbench.synth import FAMILIES
from dustbench.tiff import read_plain_tiff


def pair(shape, dtype, seed=0):
    """A reference, a damaged copy (bright and dark blots), a restoration that fixes most of them
    and disturbs a few clean pixels, the blots' mask and a label map."""
    rng = np.random.default_rng(seed)
    top = np.iinfo(dtype).max if dtype != np.float32 else 1.0
    ref = (rng.random(shape) * 0.6 * top + 0.2 * top).astype(dtype)
    mask = np.zeros(shape[:2], np.uint8)
    labels = np.zeros(shape[:2], np.uint8)
    damaged, restored = ref.copy(), ref.copy()
    for i in range(40):
        y, x, r = rng.integers(0, shape[0]), rng.integers(0, shape[1]), int(rng.integers(1, 5))
        cv2.circle(mask, (int(x), int(y)), r, 255, -1)
        cv2.circle(labels, (int(x), int(y)), r, int(1 + i % 4), -1)
    blot = mask > 0
    damaged[blot] = top if dtype != np.float32 else 1.0
    fixed = blot & (rng.random(shape[:2]) < 0.7)
    restored[blot] = damaged[blot]
    restored[fixed] = ref[fixed]
    stray = rng.random(shape[:2]) < 0.002
    restored[stray] = (0.5 * top) if dtype == np.float32 else top // 2
    return ref, damaged, restored, mask, labels


def fed_in_bands(scores: BandScores, restored: np.ndarray, cuts) -> dict:
    edges = [0, *cuts, len(restored)]
    for a, b in zip(edges, edges[1:]):
        scores.add(restored[a:b])
    return scores.scores()


@pytest.mark.parametrize("dtype,shape", [(np.uint8, (131, 97, 3)), (np.uint16, (203, 150, 3)),
                                         (np.uint16, (120, 77)), (np.uint8, (64, 1200, 3))])
def test_band_scores_equal_the_whole_image_metrics_exactly(dtype, shape):
    ref, damaged, restored, mask, labels = pair(shape, dtype)
    rng = np.random.default_rng(1)
    whole = {"psnr": psnr(ref, restored), "ssim": ssim(ref, restored), "psnr_input": psnr(ref, damaged),
             **masked_metrics(ref, restored, mask, damaged=damaged)}
    whole.update({k: v for k, v in touch_metrics(ref, damaged, restored, mask).items() if k != "touched_fraction"})
    out, inp = labelled_psnr(ref, restored, labels, FAMILIES), labelled_psnr(ref, damaged, labels, FAMILIES)
    for cuts in ([], [1], sorted(rng.choice(np.arange(1, shape[0]), 5, replace=False).tolist()), [7, 8, 9, 40]):
        got = fed_in_bands(BandScores(ref, mask, damaged, labels, FAMILIES), restored, cuts)
        family = got.pop("family")
        assert got.keys() == whole.keys()
        for key, value in whole.items():
            assert got[key] == value or (math.isnan(got[key]) and math.isnan(value)), (key, cuts)
        assert family == {k: (out[k][0], inp[k][0], out[k][1]) for k in out}


def test_band_scores_of_float_images_match_to_rounding():
    ref, damaged, restored, mask, _ = pair((90, 70, 3), np.float32)
    got = fed_in_bands(BandScores(ref, mask, damaged), restored, [13, 50])
    want = masked_metrics(ref, restored, mask, damaged=damaged)
    assert got["psnr"] == pytest.approx(psnr(ref, restored), abs=1e-9)
    assert got["psnr_input"] == pytest.approx(psnr(ref, damaged), abs=1e-9)
    assert got["ssim"] == ssim(ref, restored)
    assert got["psnr_in"] == pytest.approx(want["psnr_in"], abs=1e-9)
    assert got["clean_change_rate"] == want["clean_change_rate"]


def test_band_scores_refuse_rows_out_of_order_or_missing():
    ref, damaged, restored, mask, _ = pair((40, 30), np.uint8)
    scores = BandScores(ref, mask, damaged)
    scores.add(restored[:10])
    with pytest.raises(ValueError, match="after 10 of 40 rows"):
        scores.scores()
    with pytest.raises(ValueError, match="rows 10..50"):
        scores.add(np.concatenate([restored[10:], restored[:10]]))
    with pytest.raises(ValueError, match="mask shape"):
        BandScores(ref, mask[1:])


def test_sum_squared_error_is_exact_where_cv2_norm_is_not():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (2000, 1000, 3), dtype=np.uint8)
    b = rng.integers(0, 256, (2000, 1000, 3), dtype=np.uint8)
    d = a.astype(np.int64) - b
    exact = int((d * d).sum())
    assert sum_squared_error(a, b) == exact
    assert psnr(a, b) == 10 * math.log10(255.0 ** 2 / (exact / a.size))


@pytest.mark.parametrize("multiple,batch", [(1, None), (1, 3), (128, None), (128, 4), (32, 16)])
def test_tiled_rows_are_apply_tiled_band_by_band(multiple, batch):
    image = np.random.default_rng(2).random((1100, 1300, 3), dtype=np.float32)
    fn = (lambda x: cv2.blur(x, (5, 5))) if batch is None else (lambda xs: np.stack([cv2.blur(x, (5, 5)) for x in xs]))
    whole = apply_tiled(fn, image, tile=512, overlap=32, multiple=multiple, batch=batch)
    bands, rows = [], []
    for y0, y1, part in tiled_rows(fn, image, tile=512, overlap=32, multiple=multiple, batch=batch):
        bands.append((y0, y1))
        rows.append(part.copy())  # a band is valid until the next one is asked for
    assert bands[0][0] == 0 and bands[-1][1] == 1100 and all(a[1] == b[0] for a, b in zip(bands, bands[1:]))
    assert len(bands) > 1
    assert np.array_equal(np.concatenate(rows), whole)
    assert np.abs(whole - cv2.blur(image, (5, 5))).max() < 1e-5  # local radius 2 <= overlap // 4: exact


def test_tiled_rows_hold_about_a_tile_row():
    image = np.random.default_rng(3).random((2000, 900, 3), dtype=np.float32)
    tracemalloc.start()
    try:
        for _ in tiled_rows(lambda x: x * np.float32(0.5), image, tile=256, overlap=32):
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 0.25 * image.nbytes, f"peak {peak / image.nbytes:.2f} frames"


def test_restored_rows_take_integer_images_and_match_apply_method():
    image = np.random.default_rng(4).integers(0, 65536, (700, 600, 3), dtype=np.uint16)
    median = create_method("median", radius=2)
    whole = apply_method(median, to_float(image), tile=256, overlap=32)
    got = np.concatenate([rows.copy() for _, _, rows in restored_rows(median, image, tile=256, overlap=32)])
    assert np.array_equal(got, whole)
    grey = image[..., 0]
    assert np.array_equal(np.concatenate([r.copy() for _, _, r in restored_rows(median, grey, tile=256, overlap=32)]),
                          apply_method(median, to_float(grey), tile=256, overlap=32))


@pytest.mark.parametrize("name,image", [
    ("rgb16.png", np.random.default_rng(5).integers(0, 65536, (60, 80, 3), dtype=np.uint16)),
    ("rgb8.tif", np.random.default_rng(6).integers(0, 256, (60, 80, 3), dtype=np.uint8)),
    ("grey16.tif", np.random.default_rng(7).integers(0, 65536, (60, 80), dtype=np.uint16)),
    ("grey8.png", np.random.default_rng(8).integers(0, 256, (60, 80), dtype=np.uint8))])
def test_read_image_decodes_files_as_decode_bytes_does(tmp_path, name, image):
    path = tmp_path / name
    write_image(path, image)
    got = read_image(path)
    assert got.dtype == image.dtype and np.array_equal(got, image)  # RGB order kept
    assert np.array_equal(got, decode_bytes(path.read_bytes()))


TIFF_WRITES = [{}, {"compression": "zlib"}, {"compression": "zlib", "predictor": True}, {"tile": (16, 16)},
               {"planarconfig": "separate"}, {"planarconfig": "separate", "compression": "zlib"}]
TIFF_IMAGES = [((50, 70, 3), np.uint16), ((50, 70), np.uint8), ((50, 70, 4), np.uint16), ((50, 70), np.uint16),
               ((50, 70, 3), np.uint8)]


@pytest.mark.parametrize("shape,dtype,how", [(s, d, h) for s, d in TIFF_IMAGES for h in TIFF_WRITES
                                             if len(s) == 3 or not h.get("planarconfig")])  # planes need samples
def test_tiffs_decode_to_their_pixels(tmp_path, shape, dtype, how):
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(12).integers(0, np.iinfo(dtype).max, shape, dtype=dtype)
    kw = dict(how)
    if len(shape) == 3:
        kw["photometric"] = "rgb"
        kw["extrasamples"] = ["unassalpha"] if shape[2] == 4 else []
    stored = np.ascontiguousarray(np.moveaxis(image, -1, 0)) if how.get("planarconfig") else image
    tifffile.imwrite(tmp_path / "a.tif", stored, **kw)
    plain = read_plain_tiff(tmp_path / "a.tif")
    # tifffile takes uncompressed files, and separate planes (OpenCV got 16-bit ones wrong, call by call)
    assert (plain is not None) == (not how.get("compression") or bool(how.get("planarconfig")))
    got = read_image(tmp_path / "a.tif")
    assert got.dtype == dtype and np.array_equal(got, image[..., :3] if image.ndim == 3 else image)
    if plain is None:  # OpenCV's: the same as decoding the bytes
        assert np.array_equal(got, decode_bytes((tmp_path / "a.tif").read_bytes()))


def test_an_8_bit_tiff_with_unassociated_alpha_is_left_to_opencv(tmp_path):
    # OpenCV reads it through libtiff's RGBA path, which multiplies the alpha in: tifffile would not
    tifffile = pytest.importorskip("tifffile")
    rgba = np.random.default_rng(15).integers(0, 256, (20, 30, 4), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", rgba, photometric="rgb", extrasamples=["unassalpha"])
    assert read_plain_tiff(tmp_path / "a.tif") is None
    assert np.array_equal(read_image(tmp_path / "a.tif"), decode_bytes((tmp_path / "a.tif").read_bytes()))


def test_a_tiff_that_is_not_plain_is_left_to_opencv(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    grey = np.random.default_rng(13).integers(0, 256, (20, 30), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "white.tif", grey, photometric="miniswhite")
    assert read_plain_tiff(tmp_path / "white.tif") is None
    assert np.array_equal(read_image(tmp_path / "white.tif"), decode_bytes((tmp_path / "white.tif").read_bytes()))
    (tmp_path / "cut.tif").write_bytes((tmp_path / "white.tif").read_bytes()[:40])
    assert read_plain_tiff(tmp_path / "cut.tif") is None
    with pytest.raises(ImageReadError, match="cut.tif"):
        read_image(tmp_path / "cut.tif")


def test_read_image_of_an_rgba_file_drops_alpha(tmp_path):
    rgba = np.random.default_rng(9).integers(0, 256, (30, 40, 4), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "a.png"), rgba)  # BGRA on disk
    assert np.array_equal(read_image(tmp_path / "a.png"), rgba[..., 2::-1])


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_read_image_refuses_a_corrupt_file_by_name(tmp_path, damage):
    path = tmp_path / "scan.png"
    write_image(path, np.random.default_rng(10).integers(0, 65536, (300, 400, 3), dtype=np.uint16))
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2] if damage == "truncated" else data[:100] + b"x" * (len(data) - 100))
    with pytest.raises(ImageReadError, match="scan.png"):
        read_image(path)


def test_read_image_holds_an_uncompressed_tiff_once(tmp_path):
    tifffile = pytest.importorskip("tifffile")
    image = np.random.default_rng(11).integers(0, 65536, (1000, 1500, 3), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "big.tif", image, photometric="rgb")
    tracemalloc.start()
    try:
        read_image(tmp_path / "big.tif")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1.3 * image.nbytes, f"peak {peak / image.nbytes:.2f} images"


def test_evaluate_holds_the_pair_and_a_band_not_the_restored_image(tmp_path):
    ref, damaged, _, mask, _ = pair((1500, 2000, 3), np.uint16)
    for part, image in (("clean", ref), ("damaged", damaged), ("mask", mask)):
        (tmp_path / "pairs" / part).mkdir(parents=True)
        write_image(tmp_path / "pairs" / part / "a.tif", image)
    evaluate("median", tmp_path / "pairs", options={"radius": 1}, progress=False)  # warm: imports, caches
    tracemalloc.start()
    try:
        result = evaluate("median", tmp_path / "pairs", options={"radius": 1}, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    extra = (peak - ref.nbytes - damaged.nbytes - mask.nbytes) / ref.nbytes
    # A band's temporaries grow with the width, not the height: 2.0 × this 3 MP reference's bytes
    # (0.25 × at 24 MP). Restoring whole images, float32 in and out, and whole-image metrics held 14.5 ×.
    assert extra < 3.0, f"{extra:.2f} × the reference held beside the pair"
    assert result.rows[0]["psnr"] == psnr(ref, _median_restored(damaged))


def _median_restored(damaged):
    from dustbench.io import from_float

    return from_float(apply_method(create_method("median", radius=1), to_float(damaged)), damaged.dtype)


def test_a_padding_layout_streams_by_windows_and_batches_do_not_change_the_sums(monkeypatch):
    from dustbench.methods import tiling

    monkeypatch.setattr(tiling, "WINDOW_PIXELS", 600 * 2000)  # about one tile row of this image per window
    image = np.random.default_rng(14).random((2000, 2000, 3), dtype=np.float32)
    assert len({s for _, s in tiling.tile_layout(2000, 512, 32, 128)}) == 2  # two tile sizes per axis
    fn = lambda x: cv2.blur(x, (5, 5))  # noqa: E731
    stacked = lambda xs: np.stack([fn(x) for x in xs])  # noqa: E731
    one = apply_tiled(fn, image, tile=512, overlap=32, multiple=128)
    bands = [(y0, y1) for y0, y1, _ in tiled_rows(fn, image, tile=512, overlap=32, multiple=128)]
    assert len(bands) >= 4  # a window of tile rows at a time, not the whole frame at the end
    for batch in (2, 5, 64):
        assert np.array_equal(apply_tiled(stacked, image, tile=512, overlap=32, multiple=128, batch=batch), one)
