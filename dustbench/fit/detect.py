"""Detection: where a scan departs from its reference, with a threshold set by the scan's own noise.

The reference is the clean (hand-retouched) partner of a damaged scan, or, for a scan of blank
film, a smooth background estimated from the scan itself. Damage is sparse (0.5–0.7 % of the
pixels of real 35 mm scans), so the median absolute deviation of the difference measures the
noise — film grain, sensor noise, JPEG error — and not the damage. The threshold follows that
noise locally (per block), because JPEG error concentrates at edges, and uses hysteresis: a
component must reach ``k_high`` noise sigmas somewhere and extends over pixels above ``k_low``.
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass

import cv2
import numpy as np
from scipy import ndimage

from ..errors import DustbenchError
from ..io import check_image, to_float
from ..portable_dot import luma as bt601_luma
from .settings import THRESHOLD_FLOOR, DetectionSettings  # noqa: F401 (defined there, light, for the CLI)

MAD_TO_SIGMA = 1.4826  # MAD of a normal distribution × this = its standard deviation
NOISE_BLOCK = 8  # px: the noise estimate follows the image in blocks of this size (JPEG's)
LOCAL_FLOOR = 0.75  # local noise sigma is at least this fraction of the whole image's
MIN_DENOMINATOR = 0.05  # opacity against black/white is undefined on black/white backgrounds
_K3 = np.ones((3, 3), np.uint8)
_BAND_VALUES = 1 << 21  # pixels per band of a noise map's blocks: a few MiB of temporaries


@dataclass
class Detection:
    """One scan's damage. Images are float32 in [0, 1], H×W×C (C = 1 or 3)."""

    damaged: np.ndarray
    reference: np.ndarray  # the clean partner, or the estimated background of a blank scan
    signed: np.ndarray  # H×W luma difference damaged − reference
    alpha: np.ndarray  # H×W opacity of the departure against black (darker) or white (brighter)
    labels: np.ndarray  # int32 H×W connected components of the damage, 0 = none
    count: int
    sigma: float  # the median noise sigma over the blocks
    low: float  # the median low threshold (absolute, [0, 1] units)

    @property
    def mask(self) -> np.ndarray:
        return self.labels > 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.labels.shape

    @property
    def damaged_fraction(self) -> float:
        return float(np.count_nonzero(self.labels)) / self.labels.size


def as_channels(image: np.ndarray) -> np.ndarray:
    """float32 H×W×C view of any supported image."""
    f = to_float(check_image(image))
    return f[:, :, None] if f.ndim == 2 else f


def luma(image: np.ndarray) -> np.ndarray:
    return image[:, :, 0] if image.shape[2] == 1 else bt601_luma(image)


def robust_sigma(values: np.ndarray) -> float:
    """Noise sigma from the median absolute deviation: blind to a minority of outliers."""
    v = np.asarray(values, np.float32).ravel()
    return float(MAD_TO_SIGMA * np.median(np.abs(v - np.median(v))))


def noise_map(diff: np.ndarray, block: int = NOISE_BLOCK, overall: float | None = None) -> np.ndarray:
    """Per-pixel noise sigma: robust sigma of each block, 70th percentile over its 3×3 neighbours.

    A block that an artifact fills uniformly keeps a small MAD (MAD ignores an offset shared by
    most of its pixels). Over the neighbours, a percentile above the median keeps the raised noise
    of thin structures (JPEG rings along an edge cross 3 of 9 blocks) while an artifact must fill
    most of a 24-px neighbourhood to raise its own threshold (false components on JPEG pairs, with
    this and with the median of 32-px blocks: docs/fitting.md).

    Blocks are estimated a band of block rows at a time (each block's value is its own pixels'),
    so temporaries stay a band's size on a large scan.
    """
    h, w = diff.shape
    by, bx = -(-h // block), -(-w // block)
    # Pixels far outside the whole image's noise (surely damage, and a little around them) are left
    # out of their block's estimate, so a hair crossing a block does not raise its own threshold.
    overall = robust_sigma(diff) if overall is None else overall
    sure_above = max(6 * overall, THRESHOLD_FLOOR)
    pad_mode = "reflect" if min(h, w) > 1 else "edge"
    step = max(2, _BAND_VALUES // (block * block * bx))  # block rows per band; the last one takes >= 2
    starts = list(range(0, by, step))
    if len(starts) > 1 and by - starts[-1] < 2:  # a lone partial block row could not reflect its padding
        starts.pop()
    sigma = np.empty((by, bx), np.float32)
    for b0, b1 in zip(starts, starts[1:] + [by]):
        y0, y1 = b0 * block, min(h, b1 * block)
        a, z = max(0, y0 - 1), min(h, y1 + 1)  # a row of halo for the 3×3 dilation
        sure = cv2.dilate((np.abs(diff[a:z]) > sure_above).astype(np.uint8), _K3)[y0 - a:y1 - a]
        values = np.where(sure > 0, np.nan, diff[y0:y1]).astype(np.float32)
        padded = np.pad(values, ((0, (b1 - b0) * block - (y1 - y0)), (0, bx * block - w)), mode=pad_mode)
        tiles = padded.reshape(b1 - b0, block, bx, block).transpose(0, 2, 1, 3).reshape(b1 - b0, bx, -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-damage blocks: NaN, filled below
            med = np.nanmedian(tiles, axis=2, keepdims=True)
            sigma[b0:b1] = MAD_TO_SIGMA * np.nanmedian(np.abs(tiles - med), axis=2)
    sigma = np.where(np.isfinite(sigma), sigma, overall)
    sigma = ndimage.percentile_filter(sigma, 70, size=3, mode="nearest")
    out = np.empty((h, w), np.float32)
    for b0 in range(0, by, step):
        rows = np.repeat(np.repeat(sigma[b0:b0 + step], block, axis=0), block, axis=1)
        out[b0 * block:(b0 + step) * block] = rows[:h - b0 * block, :w]
    return out


def edge_noise(diff: np.ndarray, reference_luma: np.ndarray, bins: int = 16) -> np.ndarray:
    """Per-pixel noise sigma as a function of the reference's local contrast.

    Compression, resampling and demosaicking errors grow with the local contrast of the picture
    (JPEG rings along edges); grain does not. The robust sigma of the difference within each
    contrast quantile, made non-decreasing, models both — damage is sparse in every quantile.
    """
    contrast = cv2.dilate(reference_luma, _K3)
    contrast -= cv2.erode(reference_luma, _K3)
    edges = np.unique(np.quantile(contrast, np.linspace(0, 1, bins + 1)))
    if edges.size < 2:
        return np.full(diff.shape, robust_sigma(diff), np.float32)
    which = np.empty(contrast.shape, np.min_scalar_type(edges.size))  # bin of each pixel, in chunks of rows
    step = max(1, _BAND_VALUES // max(1, contrast.shape[1]))
    for r in range(0, len(contrast), step):
        which[r:r + step] = np.clip(np.searchsorted(edges, contrast[r:r + step], side="right") - 1, 0, edges.size - 2)
    sigma = np.array([robust_sigma(diff[which == b]) if np.any(which == b) else 0.0 for b in range(edges.size - 1)])
    return np.maximum.accumulate(sigma).astype(np.float32)[which]


def opacity_against_extremes(signed: np.ndarray, reference_luma: np.ndarray) -> np.ndarray:
    """How opaque a black (darker) or white (brighter) artifact must be to explain the difference."""
    dark = signed < 0
    denom = np.where(dark, reference_luma, 1.0 - reference_luma)
    alpha = np.abs(signed) / np.maximum(denom, MIN_DENOMINATOR)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def local_sigma(signed: np.ndarray, reference_luma: np.ndarray) -> np.ndarray:
    """Per-pixel noise sigma of a difference image: the larger of the block and contrast models."""
    # Blocks follow noise that varies across the frame; the contrast model follows edges; the
    # floor keeps clipped (saturated) regions, whose MAD is too small, from lowering the bar.
    overall = robust_sigma(signed)
    return np.maximum(np.maximum(noise_map(signed, overall=overall), edge_noise(signed, reference_luma)),
                      LOCAL_FLOOR * overall)


def _threshold(signed: np.ndarray, reference_luma: np.ndarray, settings: DetectionSettings, local: bool
               ) -> tuple[np.ndarray, float, float]:
    if settings.sigma is not None or not local:
        value = settings.sigma if settings.sigma is not None else robust_sigma(signed)
        sigma = np.full(signed.shape, value, np.float32)
    else:
        sigma = local_sigma(signed, reference_luma)
    low = np.maximum(settings.k_low * sigma, settings.floor)
    high = np.maximum(settings.k_high * sigma, settings.floor * settings.k_high / settings.k_low)
    magnitude = np.abs(signed)
    mask = hysteresis(magnitude >= low, magnitude >= high)
    return mask, float(np.median(sigma)), float(np.median(low))


def hysteresis(weak: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Weak pixels connected (8-neighbours) to at least one strong pixel."""
    n, labels = cv2.connectedComponents(weak.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[strong & weak])] = True
    keep[0] = False
    return keep[labels]


def pair_channels(damaged: np.ndarray, reference: np.ndarray, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Both images as H×W×C, refused in one line unless their sizes and channels match."""
    d, r = as_channels(damaged), as_channels(reference)
    if d.shape != r.shape:
        raise DustbenchError(f"{where}: damaged image is {d.shape[0]}×{d.shape[1]}×{d.shape[2]} but its "
                             f"reference is {r.shape[0]}×{r.shape[1]}×{r.shape[2]}: sizes and channels must match")
    return d, r


def detect(damaged: np.ndarray, reference: np.ndarray, settings: DetectionSettings = DetectionSettings(),
           where: str = "image", local: bool = True) -> Detection:
    """Damage of `damaged` against `reference` (same shape; any supported dtypes).

    `local`: let the noise estimate follow the picture (blocks, edges); blank film has no picture,
    so its scans use one sigma for the frame, which is also what exposes a scan that is not blank.
    """
    d, r = pair_channels(damaged, reference, where)
    ref_luma = luma(r)
    signed = luma(d) - ref_luma
    mask, sigma, low = _threshold(signed, ref_luma, settings, local)
    count, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    return Detection(d, r, signed, opacity_against_extremes(signed, ref_luma), labels, count - 1, sigma, low)


def background(scan: np.ndarray, size: float = DetectionSettings.background_size) -> np.ndarray:
    """Smooth background of a blank-film scan: a median over `size` × short side, computed small.

    Artifacts narrower than half the window vanish from the median; larger ones (big stains)
    become part of the background and are not detected — a known limit of blank-scan fitting.
    """
    f = as_channels(scan)
    h, w = f.shape[:2]
    factor = max(1.0, min(h, w) / 400.0)  # the median runs on a ~400 px copy: fast at any size
    small = cv2.resize(f, (max(1, round(w / factor)), max(1, round(h / factor))), interpolation=cv2.INTER_AREA)
    small = small[:, :, None] if small.ndim == 2 else small
    k = max(3, int(round(size * min(small.shape[:2]))) | 1)
    smooth = np.stack([ndimage.median_filter(small[:, :, c], size=k, mode="reflect")
                       for c in range(small.shape[2])], axis=2)
    big = cv2.resize(smooth, (w, h), interpolation=cv2.INTER_LINEAR)
    return (big[:, :, None] if big.ndim == 2 else big).astype(np.float32)


def detect_blank(scan: np.ndarray, settings: DetectionSettings = DetectionSettings(), where: str = "scan"
                 ) -> Detection:
    """Damage on a scan of clear film: whatever departs from its smooth background, both polarities.

    Raises DustbenchError when too much departs for the scan to be blank (e.g. a photograph).
    """
    det = detect(scan, background(scan, settings.background_size), settings, where, local=False)
    if det.damaged_fraction > settings.max_damage_fraction:
        raise NotBlankError(
            f"{where}: does not look like a scan of blank film: {100 * det.damaged_fraction:.1f} % of its pixels "
            f"depart from a smooth background (limit {100 * settings.max_damage_fraction:.1f} %; real damage "
            f"covers well under 1 %). Use --pairs for scans with picture content, or raise --max-damage-fraction.")
    return det


class NotBlankError(DustbenchError):
    """A scan given as blank film has too much structure."""
