"""Tests for dustbench.metrics: calibration against skimage, closed forms, masks, statistics."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
from skimage import data
from skimage.metrics import peak_signal_noise_ratio as sk_psnr
from skimage.metrics import structural_similarity as sk_structural_similarity

from dustbench.errors import DustbenchError
from dustbench.metrics import (
    MetricInputError,
    bootstrap_ci,
    masked_metrics,
    paired_comparison,
    psnr,
    ssim,
)


def sk_ssim(a, b, data_range):
    return sk_structural_similarity(
        a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        channel_axis=-1 if a.ndim == 3 else None, data_range=data_range)


def basicsr_ssim(img, img2):
    """BasicSR's calculate_ssim (HWC, 0-255 float64, crop_border=0), reimplemented."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    kernel = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(kernel, kernel.transpose())

    def one(x, y):
        f = lambda z: cv2.filter2D(z, -1, window)[5:-5, 5:-5]  # noqa: E731
        mu1, mu2 = f(x), f(y)
        s1, s2, s12 = f(x ** 2) - mu1 ** 2, f(y ** 2) - mu2 ** 2, f(x * y) - mu1 * mu2
        m = ((2 * mu1 * mu2 + c1) * (2 * s12 + c2)) / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))
        return m.mean()

    img, img2 = img.astype(np.float64), img2.astype(np.float64)
    if img.ndim == 2:
        img, img2 = img[..., None], img2[..., None]
    return float(np.mean([one(img[..., i], img2[..., i]) for i in range(img.shape[2])]))


def basicsr_y(img):
    """BasicSR's to_y_channel for an RGB uint8 image (float32 arithmetic, 0-255 scale)."""
    x = img.astype(np.float32) / 255.0
    y = x @ np.array([65.481, 128.553, 24.966], np.float32) + 16.0
    return (y / 255.0 * 255.0)[..., None]


@pytest.fixture(scope="module")
def natural_pairs():
    rng = np.random.default_rng(123)
    out = {}
    for name, img in (("astronaut", data.astronaut()), ("camera", data.camera())):
        noisy = np.clip(img + rng.normal(0, 12, img.shape), 0, 255).astype(np.uint8)
        out[name] = (img, noisy)
    return out


CONVERSIONS = {
    "uint8": (lambda z: z, 255.0),
    "uint16": (lambda z: z.astype(np.uint16) * 257, 65535.0),
    "float32": (lambda z: (z / 255.0).astype(np.float32), 1.0),
}


# --------------------------------------------------------------------------- calibration
@pytest.mark.parametrize("name", ["astronaut", "camera"])
@pytest.mark.parametrize("dtype", list(CONVERSIONS))
def test_natural_images_match_skimage(natural_pairs, name, dtype):
    conv, R = CONVERSIONS[dtype]
    a, b = (conv(z) for z in natural_pairs[name])
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b, R), abs=1e-6)
    assert psnr(a, b) == pytest.approx(sk_psnr(a, b, data_range=R), abs=1e-6)
    # skimage computes float32 input in float32; against its float64 path we agree to ~1e-14.
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    assert ssim(a, b) == pytest.approx(sk_ssim(a64, b64, R), abs=1e-10)


@pytest.mark.parametrize("shape", [(64, 80), (64, 80, 3), (11, 11), (23, 17, 4)])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_random_images_match_skimage(shape, dtype):
    rng = np.random.default_rng(7)
    if dtype.startswith("uint"):
        hi = np.iinfo(dtype).max
        a = rng.integers(0, hi + 1, shape).astype(dtype)
        b = np.clip(a + rng.normal(0, hi / 20, shape), 0, hi).astype(dtype)
        R = float(hi)
    else:
        a = rng.random(shape).astype(dtype)
        b = np.clip(a + rng.normal(0, 0.05, shape), 0, 1).astype(dtype)
        R = 1.0
    assert ssim(a, b) == pytest.approx(sk_ssim(a, b, R), abs=1e-6)
    assert psnr(a, b) == pytest.approx(sk_psnr(a, b, data_range=R), abs=1e-6)


def test_thread_count_and_memory_layout_do_not_matter(natural_pairs):
    a, b = natural_pairs["astronaut"]
    expected = sk_ssim(a, b, 255.0)
    threads = cv2.getNumThreads()
    try:
        for n in (1, 3):
            cv2.setNumThreads(n)
            assert ssim(a, b) == pytest.approx(expected, abs=1e-12)
    finally:
        cv2.setNumThreads(threads)
    # Non-contiguous views (flipped channels, transposed axes, strided) and a singleton channel.
    for view in (lambda z: z[..., ::-1], lambda z: z.transpose(1, 0, 2), lambda z: z[::2, 1::2]):
        va, vb = view(a), view(b)
        assert ssim(va, vb) == pytest.approx(sk_ssim(va, vb, 255.0), abs=1e-12)
        assert psnr(va, vb) == pytest.approx(sk_psnr(va, vb, data_range=255), abs=1e-12)
    g1, g2 = a[..., :1], b[..., :1]
    assert ssim(g1, g2) == pytest.approx(sk_ssim(g1[..., 0], g2[..., 0], 255.0), abs=1e-12)


def test_explicit_data_range_and_crop_border(natural_pairs):
    a, b = natural_pairs["astronaut"]
    a, b = a / 255.0 * 2.0, b / 255.0 * 2.0  # float64 on [0, 2]
    assert ssim(a, b, data_range=2.0) == pytest.approx(sk_ssim(a, b, 2.0), abs=1e-10)
    c = 7
    assert ssim(a, b, 2.0, crop_border=c) == pytest.approx(
        sk_ssim(a[c:-c, c:-c], b[c:-c, c:-c], 2.0), abs=1e-10)
    assert psnr(a, b, 2.0, crop_border=c) == pytest.approx(
        sk_psnr(a[c:-c, c:-c], b[c:-c, c:-c], data_range=2.0), abs=1e-10)


def test_luminance_only_is_bt601_y(natural_pairs):
    a, b = natural_pairs["astronaut"]
    coeffs = np.array([65.481, 128.553, 24.966]) / 255.0
    ya, yb = a @ coeffs + 16.0, b @ coeffs + 16.0
    assert ssim(a, b, luminance_only=True) == pytest.approx(sk_ssim(ya, yb, 255.0), abs=1e-10)
    assert psnr(a, b, luminance_only=True) == pytest.approx(
        sk_psnr(ya, yb, data_range=255.0), abs=1e-10)
    # Same Y whatever the input dtype: uint16 and float input are normalised by data_range.
    a16, b16 = a.astype(np.uint16) * 257, b.astype(np.uint16) * 257
    assert ssim(a16, b16, luminance_only=True) == pytest.approx(
        ssim(a, b, luminance_only=True), abs=1e-10)
    # Studio swing: white -> 235, black -> 16.
    white, black = np.full((16, 16, 3), 255, np.uint8), np.zeros((16, 16, 3), np.uint8)
    assert psnr(white, black, luminance_only=True) == pytest.approx(
        10 * math.log10(255.0 ** 2 / 219.0 ** 2), abs=1e-9)


def test_relation_to_basicsr(natural_pairs):
    """Numbers quoted in docs/metrics.md."""
    a, b = natural_pairs["astronaut"]
    assert abs(ssim(a, b) - basicsr_ssim(a, b)) < 1e-12  # same window, valid region
    ours_y = ssim(a, b, luminance_only=True)
    theirs_y = basicsr_ssim(basicsr_y(a), basicsr_y(b))
    assert abs(ours_y - theirs_y) < 1e-6  # only BasicSR's float32 Y conversion differs


# --------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("shape", [(32, 40), (32, 40, 3)])
@pytest.mark.parametrize("dtype", ["uint8", "uint16", "float32", "float64"])
def test_identical_images(shape, dtype):
    a = (np.random.default_rng(0).random(shape) * (200 if "int" in dtype else 1)).astype(dtype)
    assert psnr(a, a.copy()) == math.inf
    assert ssim(a, a.copy()) == pytest.approx(1.0, abs=1e-12)


def test_constant_offset_psnr():
    ref = np.full((20, 30, 3), 100, np.uint8)
    assert psnr(ref, ref + 4) == pytest.approx(10 * math.log10(255 ** 2 / 16), abs=1e-12)
    ref16 = np.full((20, 30), 1000, np.uint16)
    assert psnr(ref16, ref16 + 100) == pytest.approx(10 * math.log10(65535 ** 2 / 1e4), abs=1e-12)
    reff = np.full((20, 30), 0.5)
    assert psnr(reff, reff + 0.01) == pytest.approx(40.0, abs=1e-9)


def test_constant_images_ssim_closed_form():
    # Zero variance: SSIM = (2ab + C1) / (a² + b² + C1) * C2 / C2.
    a, b = np.full((16, 16), 100, np.uint8), np.full((16, 16), 110, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1), abs=1e-12)


# --------------------------------------------------------------------------- masked metrics
def test_masked_metrics_by_hand_grey():
    ref = np.full((6, 6), 100, np.uint8)
    res = ref.copy()
    res[2, 2] = 110  # inside: error 10
    res[5, 5] = 103  # outside: error 3 > 2 -> changed
    res[0, 5] = 98   # outside: error 2, not > 2 -> unchanged
    mask = np.zeros((6, 6), np.uint8)
    mask[2, 2] = 255
    out = masked_metrics(ref, res, mask, dilate_px=1)  # region = rows 1-3 x cols 1-3, 9 px
    assert out["region_fraction"] == pytest.approx(9 / 36)
    assert out["psnr_in"] == pytest.approx(10 * math.log10(255 ** 2 / (100 / 9)))
    assert out["psnr_out"] == pytest.approx(10 * math.log10(255 ** 2 / (13 / 27)))
    assert out["clean_change_rate"] == pytest.approx(1 / 27)
    # Float alpha and bool masks give the same region.
    alpha = np.zeros((6, 6))
    alpha[2, 2] = 0.1
    assert masked_metrics(ref, res, alpha, dilate_px=1) == out
    assert masked_metrics(ref, res, mask > 0, dilate_px=1) == out


def test_masked_metrics_by_hand_rgb_any_channel():
    ref = np.zeros((4, 4, 3), np.float64)
    res = ref.copy()
    res[0, 0, 2] = 0.5           # inside, one channel
    res[3, 3, 1] = 3 / 255       # outside, one channel above 2/255 -> changed
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = True
    out = masked_metrics(ref, res, mask, dilate_px=0)
    assert out["region_fraction"] == 1 / 16
    assert out["psnr_in"] == pytest.approx(10 * math.log10(1 / (0.25 / 3)))
    assert out["psnr_out"] == pytest.approx(10 * math.log10(1 / ((3 / 255) ** 2 / 45)))
    assert out["clean_change_rate"] == pytest.approx(1 / 15)


def test_masked_metrics_empty_and_full_region():
    ref = np.full((8, 8, 3), 50, np.uint8)
    res = ref.copy()
    res[1, 1] = 60
    empty = masked_metrics(ref, res, np.zeros((8, 8), np.uint8))
    assert math.isnan(empty["psnr_in"]) and empty["region_fraction"] == 0.0
    assert empty["psnr_out"] == pytest.approx(psnr(ref, res))
    full = masked_metrics(ref, res, np.ones((8, 8), np.uint16))
    assert math.isnan(full["psnr_out"]) and math.isnan(full["clean_change_rate"])
    assert full["psnr_in"] == pytest.approx(psnr(ref, res)) and full["region_fraction"] == 1.0
    clean = masked_metrics(ref, ref.copy(), np.eye(8, dtype=bool), dilate_px=0)
    assert clean["psnr_in"] == math.inf and clean["clean_change_rate"] == 0.0


# --------------------------------------------------------------------------- statistics
def test_bootstrap_ci_contains_mean_and_narrows():
    rng = np.random.default_rng(0)
    widths = []
    for n in (20, 2000):
        values = rng.normal(30.0, 2.0, n)
        mean, low, high = bootstrap_ci(values, np.random.default_rng(1))
        assert mean == pytest.approx(values.mean())
        assert low < mean < high
        widths.append(high - low)
    assert widths[1] < widths[0] / 5  # ~1/sqrt(100) = 1/10 expected
    v = [1.0, 2.0, 3.0, 4.0]
    assert bootstrap_ci(v, np.random.default_rng(5)) == bootstrap_ci(v, np.random.default_rng(5))


@pytest.mark.parametrize("n,n_resamples,confidence", [(2, 2000, 0.95), (5, 3, 0.9), (37, 999, 0.99), (80, 2000, 0.95),
                                                    (3000, 2000, 0.95), (12, 1, 0.5)])
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # scipy's standard error of one resample
def test_bootstrap_ci_is_scipy_bootstrap_to_the_last_bit(n, n_resamples, confidence):
    from scipy import stats

    from dustbench.stats import _batch, _mean_last

    for values in (np.random.default_rng(n).normal(30, 5, n), np.arange(n) % 3 * 1.0, np.full(n, 42.0)):
        want = stats.bootstrap((values,), _mean_last, n_resamples=n_resamples, confidence_level=confidence,
                               method="percentile", vectorized=True, batch=_batch(n), rng=np.random.default_rng(7))
        mean, low, high = bootstrap_ci(values, np.random.default_rng(7), n_resamples, confidence)
        assert (low, high) == (float(want.confidence_interval.low), float(want.confidence_interval.high))
        assert mean == float(values.mean())


def test_bootstrap_ci_refuses_inf_and_nan():
    with pytest.raises(ValueError, match="inf"):
        bootstrap_ci([30.0, math.inf], np.random.default_rng(0))
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([30.0, math.nan], np.random.default_rng(0))
    with pytest.raises(ValueError, match="non-empty"):
        bootstrap_ci([], np.random.default_rng(0))
    with pytest.raises(TypeError, match="Generator"):
        bootstrap_ci([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="confidence"):
        bootstrap_ci([1.0, 2.0], np.random.default_rng(0), confidence=95)


def test_paired_comparison_known_sign():
    rng = np.random.default_rng(3)
    a = rng.normal(30.0, 3.0, 40)
    b = a + 0.5 + rng.normal(0, 0.1, 40)  # b better on every image
    out = paired_comparison(a, b, np.random.default_rng(4))
    assert out["mean_diff"] == pytest.approx((b - a).mean())
    assert 0 < out["ci_low"] < out["mean_diff"] < out["ci_high"]
    assert (out["wins"], out["losses"], out["ties"]) == (40, 0, 0)
    assert out["p_method"] == "monte-carlo" and out["p_value"] == pytest.approx(1 / 2001)
    swapped = paired_comparison(b, a, np.random.default_rng(4))
    assert swapped["mean_diff"] == pytest.approx(-out["mean_diff"]) and swapped["losses"] == 40


def test_paired_comparison_exact_and_ties():
    a = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    out = paired_comparison(a, a + 1.0, np.random.default_rng(0))
    assert out["p_method"] == "exact" and out["p_value"] == pytest.approx(2 / 32)
    same = paired_comparison(a, a.copy(), np.random.default_rng(0))
    assert same["ties"] == 5 and same["p_value"] == 1.0 and same["mean_diff"] == 0.0
    with pytest.raises(ValueError, match="same length"):
        paired_comparison([1.0, 2.0], [1.0], np.random.default_rng(0))


# --------------------------------------------------------------------------- errors
def test_input_errors():
    a = np.zeros((20, 20, 3), np.uint8)
    with pytest.raises(ValueError, match=r"shape mismatch.*\(20, 20, 3\).*\(20, 21, 3\)"):
        psnr(a, np.zeros((20, 21, 3), np.uint8))
    with pytest.raises(ValueError, match="dtype mismatch"):
        ssim(a, a.astype(np.float32))
    with pytest.raises(ValueError, match="unsupported dtype int16"):
        psnr(a.astype(np.int16), a.astype(np.int16))
    with pytest.raises(ValueError, match="unsupported dtype float16"):
        ssim(a.astype(np.float16), a.astype(np.float16))
    with pytest.raises(ValueError, match=r"at least 11×11.*\(10, 30\)"):
        ssim(np.zeros((10, 30)), np.zeros((10, 30)))
    with pytest.raises(ValueError, match=r"at least 11×11.*\(10, 10, 3\)"):
        ssim(a, a, crop_border=5)
    with pytest.raises(ValueError, match="H×W"):
        psnr(np.zeros((2, 12, 12, 3)), np.zeros((2, 12, 12, 3)))
    with pytest.raises(ValueError, match="RGB"):
        ssim(a[..., 0], a[..., 0], luminance_only=True)
    with pytest.raises(ValueError, match="data_range"):
        psnr(a, a, data_range=0)
    with pytest.raises(ValueError, match="mask shape"):
        masked_metrics(a, a, np.zeros((20, 19), bool))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        masked_metrics(a, a, np.full((20, 20), 2.0))
    with pytest.raises(DustbenchError):  # the CLI reports these as one line
        psnr(a, a[:10])
    assert issubclass(MetricInputError, ValueError)


# --------------------------------------------------------------------------- benchmarks
def _skip_unless_benchmarking(benchmark):
    # pytest.ini passes --benchmark-disable; opt in with --benchmark-enable
    if not benchmark.enabled:
        pytest.skip("benchmarks disabled (run with --benchmark-enable)")


@pytest.fixture(scope="module")
def bench_pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    b = np.clip(a + rng.normal(0, 8, a.shape), 0, 255).astype(np.uint8)
    return a, b


@pytest.mark.parametrize("impl", ["dustbench", "skimage"])
def test_bench_ssim(benchmark, bench_pair, impl):
    _skip_unless_benchmarking(benchmark)
    fn = ssim if impl == "dustbench" else (lambda a, b: sk_ssim(a, b, 255.0))
    benchmark(fn, *bench_pair)


@pytest.mark.parametrize("impl", ["dustbench", "skimage"])
def test_bench_psnr(benchmark, bench_pair, impl):
    _skip_unless_benchmarking(benchmark)
    fn = psnr if impl == "dustbench" else (lambda a, b: sk_psnr(a, b, data_range=255))
    benchmark(fn, *bench_pair)


def test_statistics_of_a_single_image():
    assert bootstrap_ci([31.5], np.random.default_rng(0)) == (31.5, 31.5, 31.5)
    one = paired_comparison([30.0], [31.0], np.random.default_rng(0))
    assert (one["mean_diff"], one["ci_low"], one["ci_high"], one["p_value"], one["wins"]) == (1.0, 1.0, 1.0, 1.0, 1)


def test_ssim_does_not_depend_on_the_thread_count():
    # the strips' sums are added in strip order whatever the bands the threads take
    rng = np.random.default_rng(5)
    a = rng.random((700, 300, 3))
    b = np.clip(a + rng.normal(0, 0.05, a.shape), 0, 1)
    before = cv2.getNumThreads()
    try:
        values = set()
        for threads in (1, 2, 3, 5):
            cv2.setNumThreads(threads)
            values.add(ssim(a, b, data_range=1.0))
    finally:
        cv2.setNumThreads(before)
    assert len(values) == 1
