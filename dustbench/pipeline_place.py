"""Where an image sits in its pipeline's input, followed through albumentations' recorded transforms.

``A.Compose(..., save_applied_params=True)`` records each transform with the shape it received and
its parameters. Crops move the image's box; flips, transposes and 90° turns (HorizontalFlip,
VerticalFlip, Transpose, RandomRotate90, D4) turn it; resizes (Resize, RandomResizedCrop,
LongestMaxSize, SmallestMaxSize, RandomScale, ...) scale it. So a point of the current image is a
point of the input, ``p_input = A @ p + t`` in pixel-corner coordinates, with ``A`` a signed
permutation times per-axis scales (:class:`Place`). :class:`~dustbench.transforms.FilmDamage` draws
the frame's damage for the input box at the current image's resolution (presets are fractions of
the short side, so rendering at another size is scaling) and turns it as the image was turned. A
resize that changes the aspect ratio keeps each artifact's shape (a round speck stays round) while
its position follows. Rotate, Affine and the other transforms that record an affine ``matrix``
are followed too: the box's damage is drawn at the box's resolution and warped onto the image
(:func:`draw_warped`; :func:`warp_onto` for anything else drawn in the box). One that warps
without such a record (Perspective, ElasticTransform, GridDistortion, ...) cannot be followed: an
error naming it, never a silent guess.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .errors import DustbenchError
from .io import from_float, to_float

# Each turn in corner coordinates: p_old = T @ p_new + offset (a function of the old shape h, w).
_TURN = {"hflip": (np.array([[1, 0], [0, -1]]), lambda h, w: (0, w), False),
         "vflip": (np.array([[-1, 0], [0, 1]]), lambda h, w: (h, 0), False),
         "transpose": (np.array([[0, 1], [1, 0]]), lambda h, w: (0, 0), True),
         "rot90": (np.array([[0, 1], [-1, 0]]), lambda h, w: (0, w), True)}  # np.rot90 once: new[i,j] = old[j, w-1-i]
# albumentations' D4 elements as steps on the image (its geometric functional's d4 table)
_D4 = {"e": (), "r90": ("rot90",), "r180": ("rot90",) * 2, "r270": ("rot90",) * 3, "v": ("vflip",), "h": ("hflip",),
       "t": ("transpose",), "hvt": ("rot90", "rot90", "transpose")}
_TURNS = {"HorizontalFlip": ("hflip",), "VerticalFlip": ("vflip",), "Transpose": ("transpose",)}
# Transforms that only resize (and may crop, recording crop_coords): followed as a scale.
RESIZES = ("Resize", "RandomResizedCrop", "RandomSizedCrop", "LongestMaxSize", "SmallestMaxSize", "RandomScale",
           "CropAndResize")


@dataclass(frozen=True)
class Place:
    """The current image (``shape``) in the pipeline input (``source``): ``p_input = A @ p + t``."""

    source: tuple[int, int]
    shape: tuple[int, int]
    A: tuple = ((1.0, 0.0), (0.0, 1.0))
    t: tuple = (0.0, 0.0)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, h, w)`` of the input pixels the image shows."""
        h, w = self.shape
        corners = np.array(self.A) @ np.array([[0, 0, h, h], [0, w, 0, w]], float) + np.array(self.t)[:, None]
        (y0, x0), (y1, x1) = np.rint(corners.min(1)).astype(int), np.rint(corners.max(1)).astype(int)
        y0, x0 = max(0, y0), max(0, x0)  # a rotated image's corners reach past the input: what it holds
        y1, x1 = min(self.source[0], y1), min(self.source[1], x1)
        return int(y0), int(x0), max(1, int(y1 - y0)), max(1, int(x1 - x0))

    @property
    def matrix(self) -> list[list[int]]:
        """The turn alone: ``A``'s signed permutation."""
        a = np.array(self.A)
        return np.where(np.abs(a) < 1e-9, 0, np.sign(a)).astype(int).tolist()

    @property
    def turned(self) -> bool:
        return self.matrix != [[1, 0], [0, 1]]

    @property
    def exact(self) -> bool:
        """Whether the image is its box turned and scaled along the axes (drawn without resampling)."""
        zero = np.abs(np.array(self.A)) < 1e-9  # a diagonal or an anti-diagonal: two zeros, placed so
        return bool(zero.sum() == 2 and zero[0, 0] == zero[1, 1] and zero[0, 0] != zero[0, 1])

    def warp(self, box) -> list[list[float]]:
        """For ``cv2.warpAffine(..., WARP_INVERSE_MAP)``: the image's (x, y) pixel centres -> the box's."""
        a, t = np.array(self.A), np.array(self.t) - np.array(box[:2], float)
        offset = a @ np.array([0.5, 0.5]) + t - 0.5  # corners -> centres on both sides
        swap = np.array([[0, 1], [1, 0]])
        return np.hstack([swap @ a @ swap, (swap @ offset)[:, None]]).tolist()


def _affine(matrix):
    """A recorded 3×3 affine ``matrix`` (OpenCV's: input (x, y) pixel centres -> output) as the map from
    output to input in (row, col) corner coordinates ``(Mi, ti)``; None when absent or projective."""
    if matrix is None:
        return None
    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (3, 3) or not np.allclose(m[2], [0, 0, 1]):
        return None
    inv = np.linalg.inv(m)[:2]
    swap = np.array([[0, 1], [1, 0]])
    Mi, ti = swap @ inv[:, :2] @ swap, swap @ inv[:, 2]
    return Mi, ti + 0.5 - Mi @ np.array([0.5, 0.5])  # centres are corners + 0.5


def follow(applied, shape, pixel_only) -> Place | None:
    """The image's :class:`Place` from albumentations' ``applied_transforms`` (None: nothing recorded).
    ``pixel_only(name)`` says whether a transform leaves geometry alone."""
    if applied is None:
        return None
    A, t, current, source = np.eye(2), np.zeros(2), None, None

    def rescale(to) -> None:  # the image went from `current` to `to` px: corners stay corners
        nonlocal A, current
        A, current = A @ np.diag([current[0] / to[0], current[1] / to[1]]), tuple(to)

    for name, params in applied:
        before = tuple(int(v) for v in params.get("shape", shape)[:2])
        source, current = source or before, current or before
        if before != current:  # a resize recorded only by the next transform's shape
            rescale(before)
        if "crop_coords" in params and not params.get("pad_params"):
            x0, y0, x1, y1 = (int(v) for v in params["crop_coords"][:4])
            t, current = A @ np.array([y0, x0], float) + t, (y1 - y0, x1 - x0)
        elif name in _TURNS or name in ("RandomRotate90", "D4", "SquareSymmetry"):
            steps = _TURNS.get(name) or (("rot90",) * (int(params["factor"]) % 4) if name == "RandomRotate90"
                                         else _D4[str(params["group_element"])])
            for op in steps:
                T, offset, swaps = _TURN[op]
                t, A = A @ np.array(offset(*current), float) + t, A @ T
                current = current[::-1] if swaps else current
        elif _affine(params.get("matrix")) is not None and name not in RESIZES:  # Rotate, Affine, ...
            Mi, ti = _affine(params["matrix"])  # output -> input of this transform, corner (row, col) coords
            t, A = A @ ti + t, A @ Mi
        elif name not in RESIZES and not pixel_only(name):
            raise DustbenchError(f"FilmDamage cannot follow {name} before it (it warps the image without an "
                                 "affine matrix in its record, so the damage would not be the frame's): put "
                                 "FilmDamage before it, or use crops, resizes, flips, turns and affine transforms")
    h, w = int(shape[0]), int(shape[1])
    if current is not None and tuple(current) != (h, w):
        rescale((h, w))
    return Place(source or (h, w), (h, w), tuple(map(tuple, A.tolist())), tuple(float(v) for v in t))


def _turn(array: np.ndarray, M) -> np.ndarray:
    """``out[p] = array[M @ p + o]`` for ``M`` a signed permutation, ``o`` keeping indices in range."""
    M = np.asarray(M)
    out = array if M[0, 1] == 0 else array.swapaxes(0, 1)  # rows from columns when M swaps them
    rows, cols = (M[0, 0], M[1, 1]) if M[0, 1] == 0 else (M[1, 0], M[0, 1])
    return np.ascontiguousarray(out[::rows, ::cols])


def to_box(image: np.ndarray, matrix) -> np.ndarray:
    """The image turned back into its box's orientation (``matrix``: :attr:`Place.matrix`)."""
    return _turn(image, np.asarray(matrix).T)


def from_box(array: np.ndarray, matrix) -> np.ndarray:
    """An array drawn in the box's orientation, turned as the image was."""
    return _turn(array, matrix)


def warp_onto(array: np.ndarray, warp, shape, nearest: bool = False, border: float = 0.0) -> np.ndarray:
    """``array``, drawn in the box, warped onto an image of ``shape`` (H, W[, ...]) by the affine
    ``warp`` (:meth:`Place.warp`); pixels the box does not reach get ``border``."""
    flags = (cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR) | cv2.WARP_INVERSE_MAP
    out = cv2.warpAffine(array, np.asarray(warp, np.float64), (shape[1], shape[0]), flags=flags,
                         borderMode=cv2.BORDER_CONSTANT, borderValue=border)
    return out.reshape(tuple(shape[:2]) + array.shape[2:])


def draw_warped(image: np.ndarray, params: dict, warp, render_like) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any]:
    """(damaged, mask, labels) of ``image``, whose pixels are its box's under the affine ``warp``, and
    the box's damage layer (for what else is drawn from it: the infrared plane): the box's damage is
    drawn once over black and once over white (over-compositing is linear in the clean image:
    damaged = clean · (1 − coverage) + premultiplied colour), both are warped onto the image, then
    blended; pixels no artifact reaches keep their bytes. ``render_like(clean, params)`` draws a
    sample (``regenerate``)."""
    h_b, w_b = params["image_shape"]
    channels = image.shape[2:] if image.ndim == 3 else ()
    black = render_like(np.zeros((h_b, w_b) + channels, np.float32), params)
    white = render_like(np.ones((h_b, w_b) + channels, np.float32), params)

    def onto(array: np.ndarray, nearest: bool = False) -> np.ndarray:
        return warp_onto(array, warp, image.shape[:2], nearest)

    colour = onto(black.damaged)
    keep = onto(white.damaged - black.damaged)  # 1 - coverage inside the box; 0 outside it (masked below)
    mask, labels = onto(black.mask), onto(black.labels, nearest=True)
    reached = mask > 0
    blended = to_float(image).copy()
    k = keep if keep.ndim == blended.ndim else keep[..., None]
    c = colour if colour.ndim == blended.ndim else colour[..., None]
    blended[reached] = (blended * k + c)[reached]
    damaged = image.copy()
    damaged[reached] = from_float(blended[reached], image.dtype)
    return damaged, mask, labels, black.layer
