"""What a restoration method is, and the one way every method is applied.

A *method* maps a float32 H×W×C image in [0, 1] to a restored image of the same shape and dtype.
Subclasses of :class:`Method` implement :meth:`Method.run`. :func:`apply_method` runs any method on
one image in overlapping tiles (bounded memory), checks every tile's output (shape, dtype,
NaN/Inf, range: :func:`check_output`), and hands ground truth only to oracles, each only what it
declares: the damage mask (``needs_mask``) or the whole synthesis layer (``needs_layer``, see
:func:`check_layer`); a method of the infrared track gets the scanner's infrared plane
(``needs_infrared``); ``method(image)`` is the same call on the whole image. ``dustbench
evaluate``, ``restore``, training validation and the library all go through it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ..errors import DustbenchError
from ..io import mask_opacity, to_float
from .tiling import tiled_rows

BAD_OUTPUT_POLICIES = ("error", "clip")
TILE, OVERLAP = 512, 32  # apply_method's tiling when neither the caller nor the method sets one
RANGE_TOLERANCE = 1e-6  # float rounding slack: far below half a 16-bit step (7.6e-6)


class BadOutputError(DustbenchError):
    """A method returned something that is not a valid restored image (names the image)."""


class _Unset:
    """The type of :data:`UNSET`: an argument left out (``None`` means something: no tiles)."""

    def __repr__(self) -> str:
        return "UNSET"


UNSET = _Unset()


class Method:
    """A restoration method. Subclasses set the class attributes and implement :meth:`run`.

    Attributes:
        name: the registry name (set by :func:`create_method`).
        options: JSON-serializable options it was built with (recorded in results).
        needs_mask: True only for oracle methods that receive the ground-truth damage mask.
        needs_layer: True only for oracles that receive the synthesis layer instead (opacity and
            premultiplied colour of all artifacts; see :func:`check_layer`). Implies needs_mask.
        is_oracle: True for upper references that use information a real method cannot have.
        param_count: learned parameters (0 for classical methods, None if unknown).
        trained_on: what a registered method's learned parameters were learned from (the
            leaderboard's *train data*); model files say it in their card.
        weights_sha256: the sha256 of the file a registered method read its learned parameters
            from (a resumed evaluation is keyed on it, as on a model file's bytes).
        multiple: the method pads its input to a multiple of this (a U-Net's 2^depth); tiles are
            laid out for that padding (:func:`dustbench.methods.tiling.tile_layout`).
        tile_batch: tiles handed to :meth:`run_batch` at once when applied in tiles (a network
            runs them as one batch: what keeps a GPU busy).
        tiling: the method's own ``tile``/``overlap`` (a model file's options): what
            :func:`apply_method` and ``method(image)`` tile with when the caller does not say
            (:func:`resolve_tiling`); empty for registered methods. :meth:`run` never tiles.
        source: what the user named, parsed once (a :class:`~dustbench.methods.spec.MethodSpec`,
            set by :func:`~dustbench.methods.load.load_method`; None for a Method built directly).
    """

    name: str = ""
    needs_mask: bool = False
    needs_layer: bool = False
    needs_infrared: bool = False  # the infrared track: it takes the scanner's infrared plane (not truth)
    is_oracle: bool = False
    param_count: int | None = None
    trained_on: str | None = None
    weights_sha256: str | None = None
    multiple: int = 1
    tile_batch: int = 1
    tiling: dict = {}  # replaced, never mutated: {"tile": px, "overlap": px}, either key optional
    source = None  # a MethodSpec once load_method has built it

    def __init__(self, name: str = "", options: dict | None = None):
        self.name = name or type(self).name or type(self).__name__
        self.options = dict(options or {})

    def run(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """Restore a checked float32 H×W×C image. ``mask`` is the plane the method declared: None,
        the float32 H×W opacity in [0, 1] (``needs_mask``), the H×W×(1+C) layer (``needs_layer``),
        or the float32 H×W infrared plane in [0, 1] (``needs_infrared``).
        ``image`` may be the caller's own array: a method must not write to it (tiles are copies)."""
        raise NotImplementedError

    def run_batch(self, images: np.ndarray, masks: np.ndarray | None) -> np.ndarray:
        """:meth:`run` on N equal-sized images stacked N×H×W×C (truth stacked likewise, or None);
        returns N×H×W×C. Methods that gain from batches (networks) override it."""
        masks = [None] * len(images) if masks is None else masks
        return np.stack([self.run(image, mask) for image, mask in zip(images, masks)])

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None, layer: np.ndarray | None = None,
                 infrared: np.ndarray | None = None) -> np.ndarray:
        """Restore ``image`` (float32 H×W×C or H×W in [0, 1]): :func:`apply_method`, whole unless
        the method has a tile size of its own (:attr:`tiling`), small overshoots clipped. ``mask``
        (H×W, nonzero = damaged) and ``layer`` reach oracles only, ``infrared`` (H×W) the infrared track."""
        return apply_method(self, image, mask, layer=layer, infrared=infrared, tile=self.tiling.get("tile"),
                            name=f"{self.name} input", on_bad_output="clip")

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<{type(self).__name__} {self.name}({opts})>"


class FunctionMethod(Method):
    """A plain function as a method: ``fn(image)`` with image float32 H×W×C in [0, 1] -> the same."""

    def __init__(self, fn):
        name = getattr(fn, "__name__", type(fn).__name__)
        super().__init__(name="lambda" if name == "<lambda>" else name,
                         options={"callable": f"{getattr(fn, '__module__', None) or '?'}."
                                             f"{getattr(fn, '__qualname__', name)}"})
        self.fn = fn

    def run(self, image, mask):
        return self.fn(image)


def check_float_image(image: np.ndarray, what: str = "image") -> np.ndarray:
    """Check that ``image`` is a float32 H×W or H×W×C array with values in [0, 1]; return it."""
    if not isinstance(image, np.ndarray):
        raise DustbenchError(f"{what}: expected a numpy array, got {type(image).__name__}")
    if image.dtype != np.float32:
        raise DustbenchError(f"{what}: expected float32 in [0, 1], got {image.dtype} "
                             "(convert with dustbench.io.to_float)")
    if image.ndim not in (2, 3) or image.shape[0] < 1 or image.shape[1] < 1 or (
            image.ndim == 3 and image.shape[2] < 1):
        raise DustbenchError(f"{what}: expected an H×W or H×W×C image, got shape {image.shape}")
    lo, hi = float(image.min()), float(image.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise DustbenchError(f"{what}: values must lie in [0, 1], got range [{lo}, {hi}]")
    return image


@dataclass
class OutputIssues:
    """What was wrong with a method's outputs and repaired under ``on_bad_output="clip"``."""

    nonfinite: int = 0
    out_of_range: int = 0
    cast_from: str | None = None

    def __bool__(self) -> bool:
        return bool(self.nonfinite or self.out_of_range or self.cast_from)

    def add(self, other: "OutputIssues") -> None:
        self.nonfinite += other.nonfinite
        self.out_of_range += other.out_of_range
        self.cast_from = self.cast_from or other.cast_from

    def describe(self) -> str:
        parts = [f"{self.nonfinite} NaN/Inf values" if self.nonfinite else "",
                 f"{self.out_of_range} values outside [0, 1]" if self.out_of_range else "",
                 f"dtype {self.cast_from} cast to float32" if self.cast_from else ""]
        return ", ".join(p for p in parts if p)


def check_output(out, expected: tuple, source: np.ndarray, where: str, policy: str,
                 issues: OutputIssues, fresh: bool = True) -> np.ndarray:
    """Validate one output (tile); repair it under policy "clip", counting into ``issues``.
    ``fresh=False``: the caller only reads the result before the method runs again (a tile being
    blended), so a valid output is passed through instead of copied."""
    if not isinstance(out, np.ndarray):
        raise BadOutputError(f"{where}: returned {type(out).__name__}, expected a float32 numpy array")
    if out.shape != expected:
        raise BadOutputError(f"{where}: returned shape {out.shape}, expected {expected}")
    if out.dtype != np.float32:
        if out.dtype.kind != "f" or policy == "error":
            raise BadOutputError(f"{where}: returned dtype {out.dtype}, expected float32 in [0, 1]"
                                 + (" (floats are cast under --on-bad-output clip)" if out.dtype.kind == "f" else ""))
        issues.cast_from = str(out.dtype)
        out = out.astype(np.float32)
    lo, hi = out.min(initial=0.0), out.max(initial=1.0)  # NaN propagates: fails the test below
    if lo >= 0.0 and hi <= 1.0:  # the usual case: two read-only passes and a copy, not five and a copy
        return out.copy(order="C") if fresh else out  # fresh as np.clip gives: never one the method keeps
    finite = np.isfinite(out)
    nonfinite = int(out.size - np.count_nonzero(finite))
    if nonfinite:
        if policy == "error":
            raise BadOutputError(f"{where}: output has {nonfinite} NaN/Inf values "
                                 "(use --on-bad-output clip to replace them and go on)")
        issues.nonfinite += nonfinite
        out = np.where(np.isnan(out), source, out)  # NaN -> the input pixel; +-Inf clip below
    bad = int(np.count_nonzero((out < -RANGE_TOLERANCE) | (out > 1 + RANGE_TOLERANCE))) - int(
        np.count_nonzero(np.isinf(out)))
    if bad > 0:
        lo, hi = float(np.nanmin(out)), float(np.nanmax(out))
        if policy == "error":
            raise BadOutputError(f"{where}: {bad} output values outside [0, 1] (range [{lo:.4g}, {hi:.4g}]; "
                                 "use --on-bad-output clip to clip them and go on)")
        issues.out_of_range += bad
    return np.clip(out, 0.0, 1.0)


def check_layer(layer, shape: tuple, what: str = "layer") -> np.ndarray:
    """Check a synthesis layer for an image of ``shape`` (H, W, C) and return it.

    A layer is float32 H×W×(1+C) in [0, 1]: channel 0 the artifacts' combined opacity A, channels
    1.. their premultiplied colour P (the layer composited over black), so that
    ``damaged = clean·(1−A) + P`` up to the damaged image's rounding. It tiles like the image.
    Build one with :func:`dustbench.data.truth.truth_layer`.
    """
    want = (shape[0], shape[1], 1 + shape[2])
    if not isinstance(layer, np.ndarray) or layer.dtype != np.float32 or layer.shape != want:
        got = f"{layer.dtype} {layer.shape}" if isinstance(layer, np.ndarray) else type(layer).__name__
        raise DustbenchError(f"{what}: expected a float32 {want[0]}×{want[1]}×{want[2]} layer (opacity, then "
                             f"premultiplied colour), got {got}")
    lo, hi = float(layer.min()), float(layer.max())
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise DustbenchError(f"{what}: values must lie in [0, 1], got range [{lo}, {hi}]")
    return layer


def _declared(method: Method, mask, layer, infrared, shape: tuple, name: str) -> np.ndarray | None:
    """The plane ``method`` declared it needs: ground truth for oracles, the infrared plane for the
    infrared track, None for every other method."""
    if method.needs_infrared:
        if infrared is None:
            raise DustbenchError(f"{name}: method {method.name!r} takes the scanner's infrared plane, which this "
                                 "image does not have: give RGBI scans, or pairs with an infrared/ folder "
                                 "(dustbench synth --infrared FILM)")
        if not isinstance(infrared, np.ndarray) or infrared.shape != shape[:2]:
            got = infrared.shape if isinstance(infrared, np.ndarray) else type(infrared).__name__
            raise DustbenchError(f"{name}: the infrared plane must be H×W {shape[:2]}, got {got}")
        return np.ascontiguousarray(to_float(infrared))
    if method.needs_layer:
        if layer is None:
            raise DustbenchError(f"{name}: method {method.name!r} is an oracle and needs the synthesis layer "
                                 "(opacity and colour of every artifact), which this image does not have: it "
                                 "exists for builtin data, `dustbench synth` folders (manifest.jsonl) and "
                                 "make-dataset outputs (params column)")
        return check_layer(layer, shape, f"{name} layer")
    if method.needs_mask:
        if mask is None:
            raise DustbenchError(f"{name}: method {method.name!r} is an oracle and needs the ground-truth "
                                 "damage mask, which this image does not have")
        return mask_opacity(mask, shape[:2], f"{name} mask")
    return None


def resolve_tiling(method: Method, tile=UNSET, overlap=UNSET) -> tuple:
    """(tile, overlap) that :func:`apply_method` uses: the arguments given, else the method's own
    (:attr:`Method.tiling`: a model file's ``tile``/``overlap`` options), else 512/32."""
    own = getattr(method, "tiling", None) or {}
    return (own.get("tile", TILE) if tile is UNSET else tile,
            own.get("overlap", OVERLAP) if overlap is UNSET else overlap)


def apply_method(method: Method, image: np.ndarray, mask: np.ndarray | None = None, *, layer: np.ndarray | None = None,
                 infrared: np.ndarray | None = None, tile=UNSET, overlap=UNSET, name: str = "image",
                 on_bad_output: str = "error", issues: OutputIssues | None = None,
                 tile_batch: int | None = None) -> np.ndarray:
    """Restore a float32 H×W(×C) image in [0, 1] with ``method``, in overlapping tiles.

    The one place where tiling is decided: ``tile``/``overlap`` default to the method's own
    (:func:`resolve_tiling`: a model file's options), else 512/32; ``tile=None`` or 0 runs the whole
    image at once. ``tile_batch`` (default: the method's) tiles go to :meth:`Method.run_batch` at
    once, else :meth:`Method.run` takes them one by one. Every tile's raw output is checked by
    :func:`check_output`; ``on_bad_output="error"`` raises :class:`BadOutputError` naming
    ``name``, ``"clip"`` casts floats to float32, replaces NaN by the input pixel, clips to
    [0, 1] and counts what it did in ``issues``. The mask (H×W) reaches ``needs_mask`` oracles
    only, the synthesis ``layer`` (:func:`check_layer`) ``needs_layer`` oracles only, the
    ``infrared`` plane (H×W, uint8/uint16 or float in [0, 1]) ``needs_infrared`` methods only.
    :func:`restored_rows` is the same, band by band (and takes uint8/uint16 images too).
    """
    out = None
    for y0, y1, rows in _rows(method, check_float_image(image, name), mask, layer, infrared, tile, overlap, name,
                              on_bad_output, issues, tile_batch):
        if y0 == 0 and y1 == image.shape[0]:
            return rows
        if out is None:
            out = np.empty(image.shape, np.float32)
        out[y0:y1] = rows
    return out


def restored_rows(method: Method, image: np.ndarray, mask: np.ndarray | None = None, *, layer: np.ndarray | None = None,
                  infrared: np.ndarray | None = None, tile=UNSET, overlap=UNSET, name: str = "image",
                  on_bad_output: str = "error", issues: OutputIssues | None = None, tile_batch: int | None = None
                  ) -> Iterator[tuple[int, int, np.ndarray]]:
    """:func:`apply_method` as it is computed: ``(y0, y1, rows)``, consecutive bands of restored
    float32 rows in [0, 1] (:func:`~dustbench.methods.tiling.tiled_rows`), so that a caller who
    consumes them (the harness scores each band) holds a band, not the restored image.

    ``image`` may also be uint8/uint16: each tile is converted with :func:`dustbench.io.to_float`
    as it is cut (the same values as converting the whole image first), so no float copy of the
    whole input is made either."""
    return _rows(method, _checked_input(image, name), mask, layer, infrared, tile, overlap, name, on_bad_output,
                 issues, tile_batch)


def _rows(method, work, mask, layer, infrared, tile, overlap, name, on_bad_output, issues, tile_batch):
    """The body of :func:`restored_rows`, on a checked image."""
    if on_bad_output not in BAD_OUTPUT_POLICIES:
        raise DustbenchError(f"on_bad_output must be one of {BAD_OUTPUT_POLICIES}, got {on_bad_output!r}")
    issues = OutputIssues() if issues is None else issues
    squeeze = work.ndim == 2
    if squeeze:
        work = work[:, :, None]
    m = _declared(method, mask, layer, infrared, work.shape, name)
    where = f"{name}: method {method.name!r}"
    tile, overlap = resolve_tiling(method, tile, overlap)
    tile_batch = method.tile_batch if tile_batch is None else tile_batch

    fresh = not tile or max(work.shape[:2]) <= int(tile)  # returned as it is, not only blended into a new one

    def fn(part: np.ndarray, part_mask: np.ndarray | None = None) -> np.ndarray:
        part = to_float(part)
        return check_output(method.run(part, part_mask), part.shape, part, where, on_bad_output, issues, fresh)

    def fn_batch(parts: np.ndarray, part_masks: np.ndarray | None = None) -> np.ndarray:
        parts = to_float(parts)
        return check_output(method.run_batch(parts, part_masks), parts.shape, parts, where, on_bad_output, issues,
                            fresh)

    if tile:
        batch = int(tile_batch) if tile_batch > 1 else None  # None: run() tile by tile
        bands = tiled_rows(fn if batch is None else fn_batch, work, tile=tile, overlap=overlap, mask=m,
                           multiple=method.multiple, batch=batch)
    else:
        bands = iter([(0, work.shape[0], fn(work, m))])  # checked: in [0, 1], and never the caller's array
    for y0, y1, rows in bands:
        if tile:
            np.clip(rows, 0.0, 1.0, out=rows)  # blending of in-range tiles stays in range but for rounding
        yield y0, y1, (rows[:, :, 0] if squeeze else rows)


def _checked_input(image, name: str) -> np.ndarray:
    """A float32 image in [0, 1] (:func:`check_float_image`), or a uint8/uint16 H×W(×C) one."""
    if isinstance(image, np.ndarray) and image.dtype in (np.uint8, np.uint16):
        if image.ndim not in (2, 3) or 0 in image.shape:
            raise DustbenchError(f"{name}: expected an H×W or H×W×C image, got shape {image.shape}")
        return image
    return check_float_image(image, name)
