"""Speck candidates and what each looks like: the components of a loose top-hat residual threshold,
with a row of shape, contrast and context features per component, for a learned verifier
(:mod:`.verified_detect`) to decide which are damage.

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> image = (0.5 + 0.01 * rng.standard_normal((64, 64, 3))).astype(np.float32)
    >>> image[30:33, 40:43] = 0.9                          # one bright speck on grain
    >>> found = speck_candidates(image)
    >>> len(found.features), found.features.shape[1] == len(FEATURES)
    (1, True)
    >>> mask = found.mask(np.array([True]))
    >>> int(mask.sum()), bool(mask[31, 41])
    (9, True)

A rule-based speck detector (:mod:`.morph_detect`) keeps only components that pass a few hand-set
thresholds, and on ``builtin-v2:validation`` the best of 144 settings gains +0.04 dB. Its loose
candidates hold most of the damage that can be filled: Telea-filling only the candidates that lie
on damage (an oracle choice) together with ``line_detect``'s lines gains +2.3 dB there. What is
missing is the choice, which is what :data:`FEATURES` describe.

Per polarity (bright, dark): the top-hat residual of the luma with a disc of ``radius`` px, its
local noise sigma (:func:`dustbench.fit.detect.noise_map`), and the components of residual ≥ half
of ``max(contrast, k_noise·sigma)`` that reach the full level somewhere and hold ≤ ``max_area`` px.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..fit.detect import noise_map
from .residual import luma32, tophat

# Candidate settings: loose on purpose (the verifier decides); radius 6 reaches dirt and wide hairs.
CANDIDATES = {"radius": 6, "contrast": 20.0, "k_noise": 3.0, "max_area": 4096}
NOISE_FLOOR = 1.0 / 255.0  # the smallest sigma a residual is divided by
RING = 3  # px around a component searched for the opposite polarity (texture alternates; damage does not)
CONTEXT = 31  # px box over which the clutter of residual around a component is measured
FEATURES = ("log_area", "peak_z", "mean_z", "peak_level", "log_sigma", "opposite", "log_elongation", "fill",
            "log_extent", "clutter", "activity", "luma", "chroma", "polarity")


@dataclass
class Candidates:
    """Components of both polarities: ``features`` N×len(FEATURES) float32 rows, and where each is."""

    features: np.ndarray
    labels: dict  # polarity -> int32 H×W component map (0 = none)
    ids: np.ndarray  # N×2 (polarity, component id) of each row

    def mask(self, keep: np.ndarray) -> np.ndarray:
        """Bool H×W: the pixels of the candidates with ``keep`` True."""
        shape = next(iter(self.labels.values())).shape
        out = np.zeros(shape, bool)
        for p, labels in self.labels.items():
            chosen = np.zeros(int(labels.max()) + 1, bool)
            rows = self.ids[:, 0] == p
            chosen[self.ids[rows, 1][keep[rows]]] = True
            chosen[0] = False
            out |= chosen[labels]
        return out

    def per_candidate(self, values: np.ndarray, mean: bool = False) -> np.ndarray:
        """float64 N: the sum (or mean) of an H×W array over each candidate's pixels, in the rows' order."""
        out = []
        for p, labels in self.labels.items():
            n = int(labels.max()) + 1
            total = np.bincount(labels.ravel(), values.ravel().astype(np.float64), minlength=n)
            if mean:
                total /= np.maximum(np.bincount(labels.ravel(), minlength=n), 1)
            out.append(total[self.ids[self.ids[:, 0] == p, 1]])
        return np.concatenate(out) if out else np.zeros(0)


def _per_component(labels: np.ndarray, count: int, values: np.ndarray, how: str) -> np.ndarray:
    flat = labels.ravel()
    if how == "sum":
        return np.bincount(flat, values.ravel().astype(np.float64), minlength=count)
    out = np.full(count, -np.inf)
    np.maximum.at(out, flat, values.ravel().astype(np.float64))
    return out


def _shape(labels: np.ndarray, count: int, stats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Elongation (ratio of the principal axes' spreads) and fill (area over bounding box) per component."""
    ys, xs = np.indices(labels.shape, dtype=np.float64)
    area = np.maximum(stats[:, cv2.CC_STAT_AREA].astype(np.float64), 1)
    m = {k: _per_component(labels, count, v, "sum") / area
         for k, v in (("x", xs), ("y", ys), ("xx", xs * xs), ("yy", ys * ys), ("xy", xs * ys))}
    vxx, vyy, vxy = m["xx"] - m["x"] ** 2 + 1 / 12, m["yy"] - m["y"] ** 2 + 1 / 12, m["xy"] - m["x"] * m["y"]
    root = np.sqrt(np.maximum((vxx - vyy) ** 2 / 4 + vxy ** 2, 0))
    major, minor = (vxx + vyy) / 2 + root, np.maximum((vxx + vyy) / 2 - root, 1 / 12)
    box = stats[:, cv2.CC_STAT_WIDTH].astype(np.float64) * stats[:, cv2.CC_STAT_HEIGHT]
    return np.sqrt(major / minor), area / np.maximum(box, 1)


def _chroma(image: np.ndarray) -> np.ndarray:
    """H×W: how unequal the channels' departures from their local mean are (0 for grey damage)."""
    if image.ndim == 2 or image.shape[2] == 1:
        return np.zeros(image.shape[:2], np.float32)
    detail = image - cv2.blur(image, (11, 11), borderType=cv2.BORDER_REPLICATE)
    return (detail.max(2) - detail.min(2)) / (np.abs(detail.mean(2)) + np.float32(2 / 255))


def speck_candidates(image: np.ndarray, radius: int = CANDIDATES["radius"], contrast: float = CANDIDATES["contrast"],
                     k_noise: float = CANDIDATES["k_noise"], max_area: int = CANDIDATES["max_area"]) -> Candidates:
    """The speck candidates of a float32 H×W(×C) image in [0, 1] and their :data:`FEATURES` (see the module doc)."""
    image = np.asarray(image, np.float32)
    if image.ndim == 2:
        image = image[:, :, None]
    luma = luma32(image)
    ring = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * RING + 1, 2 * RING + 1))
    residuals = {p: tophat(luma, radius, p) for p in (1, -1)}
    chroma = _chroma(image)
    # both polarities' residual around a candidate: one map, whichever polarity it is
    activity = cv2.blur(residuals[1] + residuals[-1], (CONTEXT, CONTEXT), borderType=cv2.BORDER_REPLICATE)
    rows, ids, maps = [], [], {}
    for p in (1, -1):
        res = residuals[p]
        sigma = np.maximum(noise_map(res), np.float32(NOISE_FLOOR))
        bar = np.maximum(np.float32(contrast / 255.0), np.float32(k_noise) * sigma)
        loose = (res >= 0.5 * bar).astype(np.uint8)
        count, labels, stats, _ = cv2.connectedComponentsWithStats(loose, connectivity=8, ltype=cv2.CV_32S)
        reach = _per_component(labels, count, res - bar, "max")
        keep = (reach >= 0) & (stats[:, cv2.CC_STAT_AREA] <= max_area)
        keep[0] = False
        labels = np.where(keep[labels], labels, 0).astype(np.int32)
        maps[p] = labels
        j = np.flatnonzero(keep)
        if not j.size:
            continue
        area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
        z = res / sigma
        peak = _per_component(labels, count, res, "max")
        elongation, fill = _shape(labels, count, stats)
        clutter = cv2.blur(loose.astype(np.float32), (CONTEXT, CONTEXT), borderType=cv2.BORDER_REPLICATE)
        mean = {name: _per_component(labels, count, v, "sum") / np.maximum(area, 1)
                for name, v in (("z", z), ("sigma", sigma), ("activity", activity), ("clutter", clutter),
                                ("luma", luma), ("chroma", chroma))}
        opposite = _per_component(labels, count, cv2.dilate(residuals[-p], ring), "max")
        extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]).astype(np.float64)
        table = np.stack([np.log(area), _per_component(labels, count, z, "max"), mean["z"], 255 * peak,
                          np.log(np.maximum(mean["sigma"], NOISE_FLOOR)), opposite / np.maximum(peak, 1e-6),
                          np.log(elongation), fill, np.log(extent), mean["clutter"],
                          mean["activity"] / np.maximum(peak, 1e-6), mean["luma"], mean["chroma"],
                          np.full(count, float(p))], 1)
        rows.append(table[j])
        ids.append(np.stack([np.full(j.size, p), j], 1))
    features = np.concatenate(rows).astype(np.float32) if rows else np.zeros((0, len(FEATURES)), np.float32)
    where = np.concatenate(ids) if ids else np.zeros((0, 2), np.int64)
    return Candidates(features, maps, where)
