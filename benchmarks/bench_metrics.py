"""Time dustbench.metrics against scikit-image on one large RGB pair, in the same run.

    .venv/bin/python benchmarks/bench_metrics.py [--size 2048] [--repeats 5]

Prints a table (best-of-N and median wall time, ours vs skimage, ratio, target) and how far
dustbench's SSIM is from skimage's and from BasicSR's ``calculate_ssim`` (reimplemented here,
not imported). Calls of the two implementations are interleaved so that load from other
processes hits both alike; the ratio uses the best-of-N times.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from skimage import data
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout
from dustbench.metrics import psnr, ssim  # noqa: E402


def sk_ssim(a, b):
    return structural_similarity(a, b, gaussian_weights=True, sigma=1.5,
                                 use_sample_covariance=False, channel_axis=-1, data_range=255)


def sk_psnr(a, b):
    return peak_signal_noise_ratio(a, b, data_range=255)


def basicsr_ssim(img, img2):
    """BasicSR ``calculate_ssim`` (crop_border=0, HWC, 0-255), reimplemented."""
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    k = cv2.getGaussianKernel(11, 1.5)
    window = np.outer(k, k.T)
    out = []
    for i in range(img.shape[2]):
        x, y = img[..., i].astype(np.float64), img2[..., i].astype(np.float64)
        f = lambda z: cv2.filter2D(z, -1, window)[5:-5, 5:-5]  # noqa: E731
        mu1, mu2 = f(x), f(y)
        s1, s2, s12 = f(x * x) - mu1 ** 2, f(y * y) - mu2 ** 2, f(x * y) - mu1 * mu2
        out.append((((2 * mu1 * mu2 + c1) * (2 * s12 + c2))
                    / ((mu1 ** 2 + mu2 ** 2 + c1) * (s1 + s2 + c2))).mean())
    return float(np.mean(out))


def basicsr_y(img):
    """BasicSR ``to_y_channel`` for RGB uint8 (float32 arithmetic, 0-255 scale, unrounded)."""
    y = (img.astype(np.float32) / 255.0) @ np.array([65.481, 128.553, 24.966], np.float32) + 16.0
    return (y / 255.0 * 255.0)[..., None]


def make_pair(size: int, seed: int = 0):
    """Natural content (astronaut, upscaled) and a degraded copy (noise + a few dust blobs)."""
    rng = np.random.default_rng(seed)
    ref = cv2.resize(data.astronaut(), (size, size), interpolation=cv2.INTER_CUBIC)
    res = ref + rng.normal(0, 6, ref.shape)
    for _ in range(200):
        cx, cy = rng.integers(0, size, 2)
        cv2.circle(res, (int(cx), int(cy)), int(rng.integers(2, 12)), (240.0, 240.0, 240.0), -1)
    return ref, np.clip(res, 0, 255).astype(np.uint8)


def interleaved(fns, a, b, repeats):
    """Run every function once as warm-up, then ``repeats`` rounds in turn; return timings."""
    times = {name: [] for name in fns}
    for fn in fns.values():
        fn(a, b)
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn(a, b)
            times[name].append(time.perf_counter() - t)
    return times


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=2048)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from dustbench.provenance import benchmark_header  # deferred: after the thread settings above
    print(benchmark_header(), flush=True)
    a, b = make_pair(args.size)
    threads = cv2.getNumThreads()

    def ours_1thread(fn):
        def run(x, y):
            cv2.setNumThreads(1)
            try:
                return fn(x, y)
            finally:
                cv2.setNumThreads(threads)
        return run

    print(f"pair: {a.shape} {a.dtype}; cv2 threads: {threads}; repeats: {args.repeats}")
    print(f"{'metric':<22}{'ours best':>11}{'ours med':>11}{'skimage best':>14}"
          f"{'skimage med':>13}{'ratio':>8}{'target':>8}")
    for metric, ours, theirs, target in (("SSIM", ssim, sk_ssim, 6.0),
                                         ("PSNR", psnr, sk_psnr, 5.0)):
        t = interleaved({"ours": ours, "ours1": ours_1thread(ours), "sk": theirs},
                        a, b, args.repeats)
        for label, key in ((metric, "ours"), (f"{metric} (1 thread)", "ours1")):
            ratio = min(t["sk"]) / min(t[key])
            print(f"{label:<22}{min(t[key]) * 1e3:9.1f}ms{statistics.median(t[key]) * 1e3:9.1f}ms"
                  f"{min(t['sk']) * 1e3:12.1f}ms{statistics.median(t['sk']) * 1e3:11.1f}ms"
                  f"{ratio:7.1f}x{target:6.0f}x{'' if ratio >= target else '  (missed)'}")

    print("\nagreement on this pair:")
    print(f"  SSIM ours - skimage            = {ssim(a, b) - sk_ssim(a, b):+.2e}")
    print(f"  PSNR ours - skimage            = {psnr(a, b) - sk_psnr(a, b):+.2e} dB")
    print(f"  SSIM ours - BasicSR (RGB)      = {ssim(a, b) - basicsr_ssim(a, b):+.2e}")
    yb = basicsr_ssim(basicsr_y(a), basicsr_y(b))
    print(f"  SSIM ours - BasicSR (Y, y_only) = {ssim(a, b, luminance_only=True) - yb:+.2e}")
    y_ssim = ssim(a, b, luminance_only=True)
    print(f"  SSIM RGB vs Y (ours)           = {ssim(a, b):.6f} vs {y_ssim:.6f}")
    bench_torch_batch(args.repeats)


def bench_torch_batch(repeats: int, shape=(16, 3, 256, 256), threads: int = 2) -> None:
    """The differentiable torch path (dustbench.torch_metrics) against torchmetrics on one float32 batch."""
    import torch
    try:
        from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure
    except ImportError:
        print("\ntorch batch: torchmetrics is not installed (the dev extra installs it); skipped")
        return
    from dustbench import torch_metrics as tm

    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(*shape, generator=g)
    y = (x + 0.05 * torch.randn(*shape, generator=g)).clamp(0, 1)
    fns = {"SSIM ours": lambda p, q: tm.ssim(p, q), "SSIM torchmetrics": lambda p, q:
           structural_similarity_index_measure(q, p, data_range=1.0),
           "PSNR ours": lambda p, q: tm.psnr(p, q), "PSNR torchmetrics": lambda p, q:
           peak_signal_noise_ratio(q, p, data_range=1.0, dim=(1, 2, 3))}
    t = interleaved(fns, x, y, repeats)
    print(f"\ntorch batch {tuple(shape)} float32, {threads} torch threads (best of {repeats}):")
    for metric in ("SSIM", "PSNR"):
        ours, theirs = min(t[f"{metric} ours"]), min(t[f"{metric} torchmetrics"])
        print(f"  {metric}: ours {ours * 1e3:.1f} ms, torchmetrics {theirs * 1e3:.1f} ms -> "
              f"{theirs / ours:.2f}x ({'MET' if ours <= theirs else 'MISSED'}: at least torchmetrics' speed)")


if __name__ == "__main__":
    main()
