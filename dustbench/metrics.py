"""Full-reference metrics (PSNR, SSIM, artifact-masked metrics) and paired statistics.

Conventions (see docs/metrics.md):

* images are H×W (grey) or H×W×C arrays of dtype uint8, uint16, float32 or float64, and both
  images of a pair must have the same shape *and* dtype;
* ``data_range`` defaults from the dtype (255, 65535, 1.0 for floats), never from the data;
* SSIM is Wang et al. (2004): 11×11 Gaussian window (σ = 1.5), K1 = 0.01, K2 = 0.03, population
  covariance, per channel then averaged, mean over the SSIM map with the 5-pixel border dropped.
  It equals ``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, channel_axis=-1, data_range=R)`` to float64 rounding;
* :func:`psnr` and :func:`ssim` also take torch tensors, N×C×H×W (a batch) or C×H×W (one image),
  of the same dtypes (other float types are computed as float32): each image is scored as above
  and ``reduction="mean"`` (default) returns the mean over the batch, ``"none"`` the per-image
  values as a list. torch is never imported here: a tensor is recognised by its type's module.
  A tensor that requires a gradient goes to :mod:`dustbench.torch_metrics` instead (the same
  definitions in torch, differentiable): the result is then a tensor, usable as a loss.
"""
from __future__ import annotations

import itertools
import math
from concurrent.futures import ThreadPoolExecutor

import cv2
import numpy as np

from dustbench.io import channel_max
from dustbench.metric_defs import _Y_COEFFS, _Y_OFFSET, _Y_RANGE, K1, K2, SIGMA, WINDOW, MetricInputError, dilation_px
from dustbench.portable_dot import dot_last
from dustbench.stats import bootstrap_ci, paired_comparison

__all__ = ["psnr", "ssim", "masked_metrics", "touch_metrics", "labelled_psnr", "bootstrap_ci", "paired_comparison",
           "MetricInputError", "DEFAULT_DATA_RANGE"]

_PAD = (WINDOW - 1) // 2
_STRIP_ROWS = 32  # SSIM map rows per strip (cache-sized working set)
_BLOCK_COLS = 1024  # SSIM map columns computed at once in a strip: bounded temporaries at any width (as fast as whole rows)
DEFAULT_DATA_RANGE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0,
                      np.dtype(np.float32): 1.0, np.dtype(np.float64): 1.0}


def _check_pair(reference, restored, data_range):
    """Validate an image pair; return (reference, restored, data_range as float)."""
    x, y = np.asarray(reference), np.asarray(restored)
    for name, img in (("reference", x), ("restored", y)):
        if img.dtype not in DEFAULT_DATA_RANGE:
            raise MetricInputError(f"{name} has unsupported dtype {img.dtype} (shape {img.shape}); "
                                   "use uint8, uint16, float32 or float64")
    if x.dtype != y.dtype:
        raise MetricInputError(f"dtype mismatch: reference is {x.dtype}, restored is {y.dtype}; "
                               "convert both to the same dtype (data_range follows the dtype)")
    if x.shape != y.shape:
        raise MetricInputError(f"shape mismatch: reference {x.shape} vs restored {y.shape}")
    if x.ndim not in (2, 3) or x.size == 0:
        raise MetricInputError(f"expected a non-empty H×W or H×W×C image, got shape {x.shape}")
    R = DEFAULT_DATA_RANGE[x.dtype] if data_range is None else float(data_range)
    if not (math.isfinite(R) and R > 0):
        raise MetricInputError(f"data_range must be a positive finite number, got {data_range!r}")
    if x.dtype.kind == "f":
        for name, img in (("reference", x), ("restored", y)):
            lo, hi = float(np.min(img)), float(np.max(img))
            if not (math.isfinite(lo) and math.isfinite(hi)):
                raise MetricInputError(f"{name} holds NaN or infinite values")
            if data_range is None and (lo < -1e-6 or hi > 1 + 1e-6):
                raise MetricInputError(f"{name} is a float image with values in [{lo:.4g}, {hi:.4g}]: float images "
                                       "are taken as [0, 1]; rescale them, or pass data_range= explicitly")
    return x, y, R


def _prepare(reference, restored, data_range, luminance_only, crop_border):
    """Validate, crop ``crop_border`` px per side, optionally convert RGB to BT.601 Y (0-255)."""
    x, y, R = _check_pair(reference, restored, data_range)
    c = int(crop_border)
    if c != crop_border or c < 0:
        raise MetricInputError(f"crop_border must be a non-negative integer, got {crop_border!r}")
    if c:
        if min(x.shape[:2]) <= 2 * c:
            raise MetricInputError(f"crop_border={c} leaves nothing of an image of shape {x.shape}")
        x, y = x[c:-c, c:-c], y[c:-c, c:-c]
    if luminance_only:
        if x.ndim != 3 or x.shape[2] != 3:
            raise MetricInputError(f"luminance_only needs an H×W×3 RGB image, got {x.shape}")
        coeffs = _Y_COEFFS / R
        x = dot_last(x.astype(np.float64), coeffs) + _Y_OFFSET  # not `@`: BLAS rounds by CPU class
        y = dot_last(y.astype(np.float64), coeffs) + _Y_OFFSET
        R = _Y_RANGE
    return x, y, R


def _psnr_from_mse(mse: float, R: float) -> float:
    return math.inf if mse == 0 else 10.0 * math.log10(R * R / mse)


def _is_torch(obj) -> bool:
    return type(obj).__module__.split(".")[0] == "torch"


def _torch_images(tensor, name: str) -> list[np.ndarray]:
    """A torch N×C×H×W (or C×H×W) tensor as a list of H×W×C numpy images (half/bfloat16 as float32)."""
    if tensor.ndim == 3:
        tensor = tensor[None]
    if tensor.ndim != 4:
        raise MetricInputError(f"{name}: expected a torch tensor N×C×H×W or C×H×W, got shape {tuple(tensor.shape)}")
    tensor = tensor.detach().cpu()
    if tensor.is_floating_point() and str(tensor.dtype) not in ("torch.float32", "torch.float64"):
        tensor = tensor.float()
    array = tensor.numpy()
    return [array[i].transpose(1, 2, 0) for i in range(array.shape[0])]


def _batched(score, differentiable: str, reference, restored, reduction: str, **kw):
    """``score`` of one pair, of each pair of a torch batch (their mean, or the list with reduction 'none');
    for tensors that require a gradient, :mod:`dustbench.torch_metrics`' function ``differentiable``."""
    if reduction not in ("mean", "none"):
        raise MetricInputError(f"reduction must be 'mean' or 'none', got {reduction!r}")
    if not (_is_torch(reference) or _is_torch(restored)):
        value = score(reference, restored, **kw)
        return value if reduction == "mean" else [value]
    if not (_is_torch(reference) and _is_torch(restored)):
        raise MetricInputError("reference and restored must both be torch tensors, or both numpy arrays")
    if reference.requires_grad or restored.requires_grad:  # a loss: the differentiable path, tensors out
        from . import torch_metrics  # deferred: imports torch, which this module never does itself

        return getattr(torch_metrics, differentiable)(reference, restored, reduction=reduction, **kw)
    if tuple(reference.shape) != tuple(restored.shape):
        raise MetricInputError(f"shape mismatch: reference {tuple(reference.shape)} vs restored {tuple(restored.shape)}")
    values = [score(x, y, **kw) for x, y in zip(_torch_images(reference, "reference"),
                                                  _torch_images(restored, "restored"))]
    return float(np.mean(values)) if reduction == "mean" else values


def psnr(reference, restored, data_range=None, *, luminance_only=False, crop_border=0, reduction="mean"):
    """Peak signal-to-noise ratio 10·log10(R²/MSE), MSE over all pixels and channels, in dB.

    Identical images give ``math.inf``. ``luminance_only``/``crop_border`` work as in :func:`ssim`.
    Torch N×C×H×W batches: the mean of the images' PSNRs (``reduction="none"``: the list of them).
    """
    return _batched(_psnr_one, "psnr", reference, restored, reduction, data_range=data_range,
                    luminance_only=luminance_only, crop_border=crop_border)


def _psnr_one(reference, restored, data_range=None, *, luminance_only=False, crop_border=0) -> float:
    x, y, R = _prepare(reference, restored, data_range, luminance_only, crop_border)
    return _psnr_from_mse(float(sum_squared_error(x, y)) / x.size, R)


_SSE_CHUNK = 1 << 20  # values per int64 chunk: 8 MiB of temporaries


def sum_squared_error(x: np.ndarray, y: np.ndarray):
    """Σ (x − y)² over all pixels and channels: an exact int for integer images (int64 sums over
    chunks of rows, so memory stays bounded), a float64 for float ones (cv2.norm in double).
    cv2.norm is not exact on integer images: on a 12 MP 8-bit pair it was 6e-5 off an integer."""
    if x.dtype.kind not in "ui":
        # the reshape keeps one channel: cv2.norm then sums all of them
        return cv2.norm(x.reshape(x.shape[0], -1), y.reshape(y.shape[0], -1), cv2.NORM_L2SQR)
    rows = max(1, _SSE_CHUNK // max(1, x[0].size))
    total = 0
    for r in range(0, x.shape[0], rows):
        d = x[r:r + rows].astype(np.int64).reshape(-1)
        d -= y[r:r + rows].reshape(-1)
        total += int(np.dot(d, d))
    return total


def ssim(reference, restored, data_range=None, *, luminance_only=False, crop_border=0, reduction="mean"):
    """Mean SSIM (Wang et al. 2004), computed per channel and averaged over channels.

    Torch N×C×H×W batches: the mean of the images' SSIMs (``reduction="none"``: the list of them).
    See :func:`_ssim_one` for the definition.
    """
    return _batched(_ssim_one, "ssim", reference, restored, reduction, data_range=data_range,
                    luminance_only=luminance_only, crop_border=crop_border)


def _ssim_one(reference, restored, data_range=None, *, luminance_only=False, crop_border=0) -> float:
    """Mean SSIM (Wang et al. 2004) of one pair, computed per channel and averaged over channels.

    11×11 Gaussian window with σ = 1.5 (skimage's ``truncate=3.5``), K1 = 0.01, K2 = 0.03,
    C1 = (K1·R)², C2 = (K2·R)², population (co)variances, all in float64. The mean is over the
    SSIM map without its 5-pixel border, i.e. over windows lying fully inside the image, exactly
    skimage's ``crop(S, (win_size - 1) // 2)`` (so skimage's 'reflect' padding never enters).

    ``crop_border`` first removes that many pixels on every side. ``luminance_only=True`` then
    converts RGB to BT.601 Y on the 0-255 scale (see module constants; R, G, B divided by
    ``data_range`` first) and uses data_range 255 — BasicSR's ``test_y_channel`` convention.
    """
    x, y, R = _prepare(reference, restored, data_range, luminance_only, crop_border)
    if min(x.shape[:2]) < WINDOW:
        raise MetricInputError(f"SSIM needs images of at least {WINDOW}×{WINDOW} pixels "
                               f"(after crop_border), got shape {x.shape}")
    if x.ndim == 3 and x.shape[2] == 1:  # OpenCV drops a singleton channel axis
        x, y = x[..., 0], y[..., 0]
    C1, C2 = (K1 * R) ** 2, (K2 * R) ** 2
    bands = ssim_strips(x.shape[0])

    def strip_sums(strips) -> list[float]:
        bufs = ssim_buffers(x.shape[1:])
        return [ssim_strip_sum(x[a:b], y[a:b], C1, C2, bufs) for a, b in strips]
    if len(bands) == 1:
        sums = [strip_sums(bands[0])]
    else:
        with ThreadPoolExecutor(len(bands)) as pool:
            sums = list(pool.map(strip_sums, bands))
    total = 0.0
    for s in itertools.chain.from_iterable(sums):  # strip by strip, in order: the same float for any thread count
        total += s
    return float(total / ssim_map_size(x.shape))


def ssim_strips(height: int) -> list[list[tuple[int, int]]]:
    """How the SSIM map of an image ``height`` rows high is computed: the input rows ``[a, b)`` of each
    strip of ``_STRIP_ROWS`` map rows from the top (``_PAD``-row halos), in bands of whole strips, one
    per OpenCV thread. The strips' sums are added in strip order, whatever the bands: the SSIM does
    not depend on the thread count, and a streaming scorer that adds them in the same order
    (:mod:`dustbench.evaluation.band_scores`) gives it to the last bit."""
    n_rows = height - 2 * _PAD  # rows of the cropped SSIM map
    strips = [(r0, min(r0 + _STRIP_ROWS, n_rows) + 2 * _PAD) for r0 in range(0, n_rows, _STRIP_ROWS)]
    workers = max(1, min(cv2.getNumThreads(), len(strips)))
    edges = np.linspace(0, len(strips), workers + 1).astype(int)  # bands of whole strips
    return [strips[s:e] for s, e in zip(edges, edges[1:])]


def ssim_map_size(shape: tuple) -> int:
    """Entries of the cropped SSIM map of an image of ``shape``, all channels (the mean's divisor):
    every channel has as many, so the global mean is the channel average."""
    channels = shape[2] if len(shape) == 3 else 1
    return (shape[0] - 2 * _PAD) * (shape[1] - 2 * _PAD) * channels


def ssim_buffers(row_shape: tuple) -> tuple[np.ndarray, np.ndarray]:
    """Scratch float64 buffers for :func:`ssim_strip_sum` on rows of ``row_shape`` (W or W×C): a
    strip's SSIM map at full width, and room for one block of columns' seven temporaries."""
    width, rest = row_shape[0], tuple(row_shape[1:])
    cols = min(width, _BLOCK_COLS + 2 * _PAD)
    rows = _STRIP_ROWS + 2 * _PAD
    return np.empty((rows,) + tuple(row_shape)), np.empty(7 * rows * cols * int(np.prod(rest, dtype=int)))


def _blur(src, dst):
    """11×11 Gaussian, σ = 1.5, float64 taps exp(-t²/2σ²)/Σ (t = -5..5, same as scipy's)."""
    return cv2.GaussianBlur(src, (WINDOW, WINDOW), SIGMA, dst=dst, sigmaY=SIGMA,
                            borderType=cv2.BORDER_REFLECT)  # = scipy 'reflect'


def ssim_strip_sum(x, y, C1, C2, bufs) -> float:
    """Sum of the SSIM map over one strip: the windows lying fully inside the rows ``x``/``y`` (at
    most ``_STRIP_ROWS + 2 * _PAD`` of them), so no border handling matters.

    The map is computed a block of ``_BLOCK_COLS`` columns at a time (with a ``_PAD``-column halo:
    each value is the one a full-width pass gives, the filters being local) into a full-width
    map, which is then summed as one array: the same floats added in the same order as summing a
    full-width pass, with temporaries of a block's size. The reused float64 ``bufs``
    (:func:`ssim_buffers`) keep them in cache and avoid large allocations (page faults)."""
    P, n, width = _PAD, x.shape[0], x.shape[1]
    full, scratch = bufs
    ssim_map = full[:n]
    for c0 in range(0, width - 2 * P, _BLOCK_COLS):
        c1 = min(c0 + _BLOCK_COLS, width - 2 * P) + 2 * P  # input columns c0..c1
        shape = (n, c1 - c0) + x.shape[2:]
        xf, yf, p, ux, uy, uxy, uss = scratch[:7 * int(np.prod(shape))].reshape((7,) + shape)
        np.copyto(xf, x[:, c0:c1])
        np.copyto(yf, y[:, c0:c1])
        _blur(xf, ux)
        _blur(yf, uy)
        _blur(np.multiply(xf, yf, out=p), uxy)
        np.multiply(xf, xf, out=p)
        p += np.multiply(yf, yf, out=xf)
        _blur(p, uss)  # blur(x²) + blur(y²) in one filter (linearity)
        crop = (slice(P, -P), slice(P, -P))
        ux, uy, uxy, uss, t1, t2, t3 = (a[crop] for a in (ux, uy, uxy, uss, xf, yf, p))
        np.multiply(ux, uy, out=t1)                 # ux·uy
        np.multiply(ux, ux, out=t2)
        t2 += np.multiply(uy, uy, out=t3)
        t2 += C1                                    # ux² + uy² + C1
        uxy -= t1
        uxy *= 2.0
        uxy += C2                                   # 2·cov_xy + C2
        t1 *= 2.0
        t1 += C1
        t1 *= uxy                                   # (2·ux·uy + C1)(2·cov_xy + C2)
        uss += C1 + C2
        uss -= t2
        uss *= t2                                   # (ux² + uy² + C1)(var_x + var_y + C2)
        t1 /= uss
        ssim_map[P:-P, c0 + P:c1 - P] = t1
    return float(ssim_map[P:-P, P:-P].sum())


def _region(mask, hw, dilate_px) -> np.ndarray:
    """bool H×W: ``mask > 0`` dilated by a (2·dilate_px+1)² square; checks the mask."""
    m = np.asarray(mask)
    if m.shape != tuple(hw):
        raise MetricInputError(f"mask shape {m.shape} does not match image H×W {tuple(hw)}")
    if np.issubdtype(m.dtype, np.floating):
        if not (np.isfinite(m).all() and m.min() >= 0 and m.max() <= 1):
            raise MetricInputError("float mask must be an alpha in [0, 1] (finite)")
    elif m.dtype not in (np.bool_, np.uint8, np.uint16):
        raise MetricInputError(f"unsupported mask dtype {m.dtype}; use bool, uint8/16 or float")
    d = dilation_px(dilate_px)
    region = (m > 0).astype(np.uint8)
    if d:
        region = cv2.dilate(region, np.ones((2 * d + 1, 2 * d + 1), np.uint8))
    return region.astype(bool)


def _changed(a: np.ndarray, b: np.ndarray, threshold: float) -> np.ndarray:
    """bool H×W: pixels where |a − b| exceeds ``threshold`` (strictly) in any channel."""
    diff = np.abs(a.astype(np.float64) - b.astype(np.float64))
    return (channel_max(diff) if diff.ndim == 3 else diff) > threshold


def masked_metrics(reference, restored, mask, data_range=None, *, dilate_px=3,
                   change_threshold=2 / 255, damaged=None) -> dict:
    """Metrics inside/outside the (dilated) ground-truth artifact region.

    The region is ``mask > 0`` dilated by a (2·dilate_px+1)² *square* (Chebyshev radius
    ``dilate_px``). Returns ``psnr_in`` / ``psnr_out`` (PSNR over the pixels inside / outside the
    region, all channels; NaN when that side is empty, inf when it is error-free),
    ``clean_change_rate`` (fraction of outside pixels where ``|restored - reference|`` exceeds
    ``change_threshold × data_range``, strictly, in any channel; NaN when nothing is outside) and
    ``region_fraction`` (region pixels / all pixels). Outside the region damaged == clean, so the
    restored image is compared with the *reference*; pass the ``damaged`` input to count what the
    method altered instead (the same on synthetic data; on real pairs, where noise or compression
    makes the two differ outside the damage, it keeps that noise out of the rate).
    """
    x, y, R = _check_pair(reference, restored, data_range)
    region = _region(mask, x.shape[:2], dilate_px)
    diff = x.astype(np.float64) - y.astype(np.float64)
    diff = diff.reshape(x.shape[0], x.shape[1], -1)
    sse_px = np.einsum("ijc,ijc->ij", diff, diff)  # per-pixel squared error summed over channels
    nc = diff.shape[2]
    n_in = int(region.sum())
    n_out = region.size - n_in

    def side_psnr(sel, n):
        return math.nan if n == 0 else _psnr_from_mse(float(sse_px[sel].sum()) / (n * nc), R)

    if damaged is None:
        changed = channel_max(np.abs(diff)) > change_threshold * R
    else:
        changed = _changed(y, _check_pair(reference, damaged, data_range)[1], change_threshold * R)
    return {
        "psnr_in": side_psnr(region, n_in),
        "psnr_out": side_psnr(~region, n_out),
        "clean_change_rate": math.nan if n_out == 0 else float(changed[~region].mean()),
        "region_fraction": n_in / region.size,
    }


def labelled_psnr(reference, restored, labels, names, data_range=None, *, dilate_px=3) -> dict:
    """PSNR inside each labelled region: ``{name: (psnr, pixels)}`` for the labels present.

    ``labels`` is an H×W integer map (0 = none); ``names[i]`` names label ``i + 1``. Label ``i + 1``'s
    region is ``labels == i + 1`` dilated like :func:`masked_metrics`' region (a square of side
    ``2·dilate_px + 1``), so it covers the soft fringe the labels leave out; regions of different
    labels may overlap. PSNR is over the region's pixels and all channels (inf when error-free).
    """
    x, y, R = _check_pair(reference, restored, data_range)
    lab = np.asarray(labels)
    if lab.shape != x.shape[:2] or lab.dtype.kind not in "ui":
        raise MetricInputError(f"labels must be an integer H×W map matching the image {x.shape[:2]}, "
                               f"got {lab.dtype} {lab.shape}")
    diff = (x.astype(np.float64) - y.astype(np.float64)).reshape(x.shape[0], x.shape[1], -1)
    sse_px = np.einsum("ijc,ijc->ij", diff, diff)
    present = np.flatnonzero(np.bincount(lab.reshape(-1), minlength=len(names) + 1)[1:len(names) + 1])
    out = {}
    for i in present:
        region = _region(lab == i + 1, lab.shape, dilate_px)
        n = int(region.sum())
        out[names[i]] = (_psnr_from_mse(float(sse_px[region].sum()) / (n * diff.shape[2]), R), n)
    return out


def touch_classes(reference, damaged, restored, mask, data_range=None, *, dilate_px=3,
                  change_threshold=2 / 255) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pixel sets behind :func:`touch_metrics`, each bool H×W: *touched* (``|restored − damaged|``
    above ``change_threshold × data_range`` in any channel), the damage *region* (``mask > 0``
    dilated by ``dilate_px``) and the *visibly damaged* pixels (``mask > 0`` and ``|damaged −
    reference|`` above the same tolerance)."""
    x, d, R = _check_pair(reference, damaged, data_range)
    _, y, _ = _check_pair(reference, restored, data_range)
    tol = change_threshold * R
    return (_changed(y, d, tol), _region(mask, x.shape[:2], dilate_px),
            _changed(d, x, tol) & _region(mask, x.shape[:2], 0))


def touch_metrics(reference, damaged, restored, mask, data_range=None, *, dilate_px=3,
                  change_threshold=2 / 255) -> dict:
    """What a method touched, against the damage: precision, recall and F1 of its changed pixels.

    A pixel is *touched* when ``|restored − damaged|`` exceeds ``change_threshold × data_range``
    (strictly, in any channel; the tolerance of :func:`masked_metrics`' ``clean_change_rate``).
    ``precision`` = touched pixels inside the damage region (``mask > 0`` dilated by ``dilate_px``,
    the region of ``psnr_in``) / touched pixels — NaN when nothing was touched. ``recall`` =
    touched pixels among the *visibly damaged* ones (``mask > 0`` and ``|damaged − reference|``
    above the same tolerance) / visibly damaged pixels — NaN when there are none. ``f1`` is their
    harmonic mean (0 when recall is 0, NaN when either is undefined otherwise).
    """
    touched, region, damaged_px = touch_classes(reference, damaged, restored, mask, data_range, dilate_px=dilate_px,
                                                change_threshold=change_threshold)
    n_touched = int(touched.sum())
    scores = touch_from_counts(n_touched, int((touched & region).sum()), int(damaged_px.sum()),
                               int((touched & damaged_px).sum()))
    return {**scores, "touched_fraction": n_touched / touched.size}


def touch_from_counts(touched: int, touched_in: int, damaged: int, touched_damaged: int) -> dict:
    """:func:`touch_metrics`' precision, recall and F1 from its pixel counts (touched, touched inside
    the region, visibly damaged, touched among those)."""
    precision = math.nan if touched == 0 else touched_in / touched
    recall = math.nan if damaged == 0 else touched_damaged / damaged
    if recall == 0:
        f1 = 0.0
    elif math.isnan(precision) or math.isnan(recall) or precision + recall == 0:
        f1 = math.nan
    else:
        f1 = 2 * precision * recall / (precision + recall)
    return {"touch_precision": precision, "touch_recall": recall, "touch_f1": f1}
