"""The scores of one restored image, computed band by band as its rows are restored.

``dustbench evaluate`` never holds a restored image whole: :func:`dustbench.methods.restored_rows`
yields bands of rows top to bottom, the harness quantises each to the reference dtype and hands it
to :class:`BandScores`, which keeps running sums. What it computes is exactly what the whole-image
functions of :mod:`dustbench.metrics` compute (PSNR, SSIM, :func:`~dustbench.metrics.masked_metrics`,
:func:`~dustbench.metrics.touch_metrics`, :func:`~dustbench.metrics.labelled_psnr`), not an
approximation:

* squared errors of integer images are summed as integers (exact; the whole-image sums are exact
  too below 2**53, i.e. always short of a catastrophic 16-bit output on a huge image);
* SSIM follows :func:`dustbench.metrics.ssim_strips`: the same strips, their sums added in the
  same order, so the value is the same to the last bit (float images differ by float rounding
  only, for PSNR and the masked sums);
* dilated regions (the mask's, each family's) are dilated on the band plus a halo of the dilation
  radius, which gives the rows of the whole-image dilation;
* counts (changed, touched, damaged pixels) are integers.

Memory: the reference, the damaged input, mask and labels are the caller's; what this holds is
one band's float64 temporaries and SSIM's rows of halo.
"""
from __future__ import annotations

import math

import numpy as np

from ..metric_defs import K1, K2, WINDOW, MetricInputError, dilation_px
from ..metrics import (DEFAULT_DATA_RANGE, _changed, _check_pair, _psnr_from_mse, _region, ssim_buffers,
                       ssim_map_size, ssim_strip_sum, ssim_strips, touch_from_counts)

CHANGE_THRESHOLD = 2 / 255  # of the data range: masked_metrics' and touch_metrics' default tolerance
CHUNK = 1 << 18  # values scored at once: a few MiB of float64 temporaries


class BandScores:
    """Running scores of a restored image against ``reference``, fed its rows in order by :meth:`add`.

    ``mask`` (H×W) adds the masked metrics and, with ``damaged`` (the input, reference dtype), the
    touch metrics; ``labels`` (H×W integer map, ``names[i]`` = label ``i + 1``) adds PSNR per
    labelled family for the output and for ``damaged``. :meth:`scores` gives what
    :func:`dustbench.evaluation.rows.image_scores` and :func:`~dustbench.evaluation.rows.family_scores`
    give on the whole images.
    """

    def __init__(self, reference: np.ndarray, mask=None, damaged=None, labels=None, names=(), *, dilate_px: int = 3):
        self.ref = reference
        self.R = DEFAULT_DATA_RANGE.get(reference.dtype)
        if self.R is None:
            _check_pair(reference, reference, None)  # the unsupported-dtype error
        self.damaged = None if damaged is None else _check_pair(reference, damaged, None)[1]
        self.mask, self.dilate = mask, dilation_px(dilate_px)
        if mask is not None:
            if np.shape(mask) != reference.shape[:2]:
                raise MetricInputError(f"mask shape {np.shape(mask)} does not match image H×W {reference.shape[:2]}")
            _region(np.asarray(mask)[:1], (1, reference.shape[1]), 0)  # its dtype now; its values band by band
        self.labels, self.names = _label_plane(labels, reference.shape[:2]), tuple(names)
        self.present = [] if self.labels is None else np.flatnonzero(np.bincount(
            self.labels.reshape(-1), minlength=len(self.names) + 1)[1:len(self.names) + 1]).tolist()
        self.row = 0  # rows fed so far
        self.sums = {"sse": 0, "sse_input": 0, "sse_in": 0, "sse_out": 0, "n_in": 0, "changed_out": 0, "touched": 0,
                     "touched_in": 0, "damaged": 0, "touched_damaged": 0}
        self.family = {i: [0, 0, 0] for i in self.present}  # sse of output, sse of input, pixels
        self.ssim = None if min(reference.shape[:2]) < WINDOW else _SsimRows(reference, self.R)

    def add(self, rows: np.ndarray) -> None:
        """The next rows of the restored image (reference dtype and width), top to bottom."""
        y0, y1 = self.row, self.row + len(rows)
        if y1 > self.ref.shape[0]:
            raise MetricInputError(f"rows {y0}..{y1} fed to scores of an image {self.ref.shape[0]} rows high")
        _check_pair(self.ref[y0:y1], rows, None)
        step = max(1, CHUNK // max(1, self.ref[0].size))
        for r in range(0, len(rows), step):  # chunks of rows: bounded float64/int64 temporaries
            self._add(rows[r:r + step])

    def _add(self, rows: np.ndarray) -> None:
        y0, y1 = self.row, self.row + len(rows)
        ref = self.ref[y0:y1]
        self.row = y1
        sse_px = _sse(ref, rows)
        self.sums["sse"] += sse_px.sum()
        if self.ssim is not None:
            self.ssim.add(y0, rows)
        if self.mask is not None:
            self._masked(y0, y1, ref, rows, sse_px)
        input_sse = None if self.damaged is None else _sse(ref, self.damaged[y0:y1])
        if input_sse is not None:
            self.sums["sse_input"] += input_sse.sum()
        for i in self.present:
            region = self._dilated(self.labels, y0, y1, i + 1)
            f = self.family[i]
            f[0] += sse_px[region].sum()
            f[1] += input_sse[region].sum() if input_sse is not None else 0
            f[2] += int(region.sum())

    def _dilated(self, plane, y0: int, y1: int, value=None, radius=None) -> np.ndarray:
        """bool rows ``y0..y1`` of (``plane > 0``, or ``plane == value``) dilated as the metrics dilate."""
        d = self.dilate if radius is None else radius
        a, b = max(0, y0 - d), min(plane.shape[0], y1 + d)
        part = plane[a:b] if value is None else plane[a:b] == value
        return _region(part, part.shape[:2], d)[y0 - a:y1 - a]

    def _masked(self, y0: int, y1: int, ref: np.ndarray, rows: np.ndarray, sse_px: np.ndarray) -> None:
        s, tol = self.sums, CHANGE_THRESHOLD * self.R
        region = self._dilated(self.mask, y0, y1)
        s["sse_in"] += sse_px[region].sum()
        s["sse_out"] += sse_px[~region].sum()
        s["n_in"] += int(region.sum())
        if self.damaged is None:
            s["changed_out"] += int((_changed(ref, rows, tol) & ~region).sum())
            return
        damaged = self.damaged[y0:y1]
        touched = _changed(rows, damaged, tol)
        visible = _changed(damaged, ref, tol) & self._dilated(self.mask, y0, y1, radius=0)
        s["changed_out"] += int((touched & ~region).sum())
        s["touched"] += int(touched.sum())
        s["touched_in"] += int((touched & region).sum())
        s["damaged"] += int(visible.sum())
        s["touched_damaged"] += int((touched & visible).sum())

    def scores(self) -> dict:
        """``psnr``, ``ssim`` (NaN below the SSIM window), with ``damaged`` its ``psnr_input``, with a
        mask the masked metrics, with a mask and ``damaged`` the touch metrics, with labels ``family`` = {name: (psnr, psnr of
        the input, pixels)} for the labels present."""
        h, w = self.ref.shape[:2]
        if self.row != h:
            raise MetricInputError(f"scores asked after {self.row} of {h} rows")
        channels = self.ref.size // (h * w)
        s, R = self.sums, self.R
        out = {"psnr": _psnr_from_mse(float(s["sse"]) / self.ref.size, R),
               "ssim": math.nan if self.ssim is None else self.ssim.value()}
        if self.damaged is not None:
            out["psnr_input"] = _psnr_from_mse(float(s["sse_input"]) / self.ref.size, R)
        if self.mask is not None:
            n_out = h * w - s["n_in"]
            side = lambda sse, n: math.nan if n == 0 else _psnr_from_mse(float(sse) / (n * channels), R)  # noqa: E731
            out.update({"psnr_in": side(s["sse_in"], s["n_in"]), "psnr_out": side(s["sse_out"], n_out),
                        "clean_change_rate": math.nan if n_out == 0 else s["changed_out"] / n_out,
                        "region_fraction": s["n_in"] / (h * w)})
            if self.damaged is not None:
                out.update(touch_from_counts(s["touched"], s["touched_in"], s["damaged"], s["touched_damaged"]))
        if self.labels is not None:
            inp = (lambda d, n: _psnr_from_mse(float(d) / (n * channels), R)) if self.damaged is not None else (
                lambda d, n: math.nan)
            out["family"] = {self.names[i]: (_psnr_from_mse(float(o) / (n * channels), R), inp(d, n), n)
                             for i, (o, d, n) in self.family.items()}
        return out


def _label_plane(labels, shape) -> np.ndarray | None:
    """An integer H×W label map (a label image saved with channels repeats the ids: the first)."""
    if labels is None:
        return None
    lab = np.asarray(labels)
    lab = lab[..., 0] if lab.ndim == 3 else lab
    if lab.shape != tuple(shape) or lab.dtype.kind not in "ui":
        raise MetricInputError(f"labels must be an integer H×W map matching the image {tuple(shape)}, "
                               f"got {lab.dtype} {lab.shape}")
    return lab


def _sse(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-pixel squared error summed over channels: int64 for integer images (exact), else float64."""
    kind = np.int64 if a.dtype.kind in "ui" else np.float64
    diff = (a.astype(kind) - b.astype(kind)).reshape(a.shape[0], a.shape[1], -1)
    return np.einsum("ijc,ijc->ij", diff, diff)


class _SsimRows:
    """SSIM's strip sums (:func:`dustbench.metrics.ssim_strips`), each taken as soon as its rows
    have been fed; the restored rows a later strip still needs are kept."""

    def __init__(self, reference: np.ndarray, R: float):
        ref = reference[..., 0] if reference.ndim == 3 and reference.shape[2] == 1 else reference
        self.ref, self.C1, self.C2 = ref, (K1 * R) ** 2, (K2 * R) ** 2
        self.strips = [(a, b) for strips in ssim_strips(ref.shape[0]) for a, b in strips]
        self.total = 0.0  # the strips' sums added in strip order, as metrics.ssim adds them
        self.next = 0
        self.bufs = ssim_buffers(ref.shape[1:])
        self.kept, self.kept_from = ref[:0].copy(), 0  # restored rows kept_from.. not yet used up

    def add(self, y0: int, rows: np.ndarray) -> None:
        rows = rows.reshape((len(rows),) + self.ref.shape[1:])
        self.kept = np.concatenate([self.kept, rows]) if len(self.kept) else rows
        self.kept_from = y0 - (len(self.kept) - len(rows))
        end = y0 + len(rows)
        while self.next < len(self.strips) and self.strips[self.next][1] <= end:
            a, b = self.strips[self.next]
            mine = self.kept[a - self.kept_from:b - self.kept_from]
            self.total += ssim_strip_sum(self.ref[a:b], mine, self.C1, self.C2, self.bufs)
            self.next += 1
        start = self.strips[self.next][0] if self.next < len(self.strips) else end
        self.kept = self.kept[max(0, start - self.kept_from):].copy()  # own rows: the band's may be reused
        self.kept_from = max(start, self.kept_from)

    def value(self) -> float:
        return float(self.total / ssim_map_size(self.ref.shape))
