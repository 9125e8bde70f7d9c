"""Where the headroom is, per damage family, and how much of it a method takes.

On a synthetic pair each damaged pixel carries its family (``Sample.labels``: 0 clean, k the k-th
of :data:`dustbench.synth.FAMILIES`) and its opacity (``Sample.mask``). For one family's *visible*
pixels V (that family, opacity >= ``min_opacity``, the cut ``oracle_inpaint`` uses):

* **oracle gain**: PSNR of the damaged image with V alone Telea-filled (``oracle_inpaint``'s fill,
  told the truth about that family only), minus the damaged image's PSNR: what finding that family
  is worth;
* **a method's gain**: PSNR of the damaged image with the method's output pasted into V only,
  minus the damaged image's: what it took of that family's headroom (it may exceed the oracle's, a
  better fill; it may be negative, a worse one);
* **recall**: the share of V the method changed at all;
* and, once per image, the **cost off the damage**: the method's output pasted everywhere *outside*
  the damage (opacity 0), what its false alarms cost.

Gains are per image, in dB, averaged over images as the board averages PSNR. The pieces of one
image add up only roughly (PSNR is a log of the summed error), so read each against its oracle.

    >>> import numpy as np
    >>> clean = np.full((4, 4), 100, np.uint8); damaged = clean.copy(); damaged[0, 0] = 200
    >>> labels = np.zeros((4, 4), np.uint8); labels[0, 0] = 1          # one dust pixel
    >>> opacity = labels * np.float32(1.0)
    >>> regions = family_regions(labels, opacity)
    >>> list(regions)
    ['dust']
    >>> half = damaged.copy(); half[0, 0] = 150                         # a method that halved the error
    >>> round(pasted_gain(clean, damaged, half, regions["dust"]), 2)     # 20·log10(2) dB
    6.02
"""
from __future__ import annotations

import math

import numpy as np

from ..errors import DustbenchError
from ..io import from_float, mask_opacity
from ..metric_defs import PSNR_CAP
from ..methods.classical import OracleInpaint, as_float_hwc, telea_inpaint
from ..metrics import psnr
from ..synth import FAMILIES

MIN_OPACITY = OracleInpaint().options["min_opacity"]  # its cut: fainter fringes are left alone


def _psnr(clean: np.ndarray, image: np.ndarray) -> float:
    return min(float(psnr(clean, image)), PSNR_CAP)


def family_regions(labels: np.ndarray, opacity: np.ndarray, min_opacity: float = MIN_OPACITY) -> dict:
    """``{family: bool H×W}``: each family's visible pixels (families absent from the image left out)."""
    visible = opacity >= min_opacity
    out = {}
    for k, name in enumerate(FAMILIES, 1):
        region = (labels == k) & visible
        if region.any():
            out[name] = region
    return out


def pasted_gain(clean: np.ndarray, damaged: np.ndarray, restored: np.ndarray, region: np.ndarray) -> float:
    """PSNR gain (dB) of ``damaged`` with ``restored`` pasted into ``region`` only (same dtype)."""
    composite = damaged.copy()
    composite[region] = restored[region]
    return _psnr(clean, composite) - _psnr(clean, damaged)


def oracle_gain(clean: np.ndarray, damaged: np.ndarray, region: np.ndarray, radius: float = 3.0) -> float:
    """PSNR gain (dB) of Telea-filling ``region`` of ``damaged`` (``oracle_inpaint`` told that region only)."""
    filled = telea_inpaint(as_float_hwc(damaged), region, 0, radius)
    filled = from_float(filled.reshape(damaged.shape), damaged.dtype)
    return _psnr(clean, filled) - _psnr(clean, damaged)


def image_headroom(sample, restored: dict) -> dict:
    """One synthetic pair: ``{family: {"pixels", "oracle", "<row>": gain, "<row> recall": share}}`` and
    ``"off damage": {"<row>": gain}``, for ``restored`` = ``{row: restored image}`` of the damaged
    image's shape and dtype (pasting another dtype would wrap or round silently: refused)."""
    for row, image in restored.items():
        if image.shape != sample.damaged.shape or image.dtype != sample.damaged.dtype:
            raise DustbenchError(f"{sample.source or sample.id}: row {row} gave a {image.dtype} image of shape "
                                 f"{image.shape}; the damaged image is {sample.damaged.dtype} {sample.damaged.shape}")
    opacity = mask_opacity(sample.mask, sample.damaged.shape[:2])
    out = {}
    for family, region in family_regions(sample.labels, opacity).items():
        cell = {"pixels": int(region.sum()), "oracle": oracle_gain(sample.clean, sample.damaged, region)}
        for row, image in restored.items():
            changed = (image != sample.damaged) if image.ndim == 2 else (image != sample.damaged).any(axis=-1)
            cell[row] = pasted_gain(sample.clean, sample.damaged, image, region)
            cell[f"{row} recall"] = float(changed[region].mean())
        out[family] = cell
    outside = opacity == 0
    out["off damage"] = {row: pasted_gain(sample.clean, sample.damaged, image, outside)
                         for row, image in restored.items()}
    return out


def summarise(per_image: list[dict]) -> list[dict]:
    """Per family (in :data:`FAMILIES` order, then ``off damage``): images holding it, the mean of
    each figure over those images, and ``share``: the family's share of all visible damaged pixels."""
    total = sum(cell["pixels"] for img in per_image for f, cell in img.items() if f != "off damage") or 1
    out = []
    for family in (*FAMILIES, "off damage"):
        cells = [img[family] for img in per_image if family in img]
        if not cells:
            continue
        line = {"family": family, "images": len(cells)}
        for k in cells[0]:
            values = [c[k] for c in cells]
            if k == "pixels":
                line["share"] = sum(values) / total
            else:
                line[k] = float(np.mean(values))
        out.append(line)
    return out


def table_lines(summary: list[dict], rows: list[str]) -> list[str]:
    """The summary as aligned text: a column per row with its gain and (recall)."""
    head = f"{'family':<11}{'images':>7}{'share':>8}{'oracle':>9}" + "".join(f"{r[:24]:>26}" for r in rows)
    lines = [head]
    for s in summary:
        share = f"{100 * s['share']:.0f} %" if "share" in s else "–"
        oracle = f"{s['oracle']:+.2f}" if "oracle" in s else "–"
        cells = []
        for r in rows:
            recall = s.get(f"{r} recall")
            rec = "" if recall is None or math.isnan(recall) else f" ({100 * recall:.0f} %)"
            cells.append(f"{s[r]:+.2f}{rec}".rjust(26))
        lines.append(f"{s['family']:<11}{s['images']:>7}{share:>8}{oracle:>9}" + "".join(cells))
    return lines
