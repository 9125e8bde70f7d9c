"""Where an image sits in its pipeline's input, followed through albumentations' recorded transforms.

``A.Compose(..., save_applied_params=True)`` records each transform with the shape it received and
its parameters. Crops move the image's box, and flips, transposes and 90° rotations (HorizontalFlip,
VerticalFlip, Transpose, RandomRotate90, D4) turn it, so every pixel of the current image is still a
pixel of the input: ``p_input = M @ p + t`` with ``M`` a signed permutation (:class:`Place`).
:class:`~dustbench.transforms.FilmDamage` draws the damage for the input-oriented box and turns it
as the image was turned. A transform that resizes, rotates by other angles or warps (Resize,
RandomResizedCrop, Rotate, Affine, ...) cannot be followed: that is an error naming it, never a
silent guess.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .errors import DustbenchError

_FLIP_H, _FLIP_V = np.array([[1, 0], [0, -1]]), np.array([[-1, 0], [0, 1]])
_SWAP, _ROT90 = np.array([[0, 1], [1, 0]]), np.array([[0, 1], [-1, 0]])
# albumentations' D4 elements as steps on the image (its geometric functional's d4 table)
_D4 = {"e": (), "r90": (("rot90", 1),), "r180": (("rot90", 2),), "r270": (("rot90", 3),), "v": (("vflip", 0),),
       "h": (("hflip", 0),), "t": (("transpose", 0),), "hvt": (("rot90", 2), ("transpose", 0))}
_TURNS = {"HorizontalFlip": (("hflip", 0),), "VerticalFlip": (("vflip", 0),), "Transpose": (("transpose", 0),)}


@dataclass(frozen=True)
class Place:
    """The current image (``shape``) in the pipeline input (``source``): ``p_input = M @ p + t``."""

    source: tuple[int, int]
    shape: tuple[int, int]
    M: tuple = ((1, 0), (0, 1))
    t: tuple = (0, 0)

    @property
    def box(self) -> tuple[int, int, int, int]:
        """``(y0, x0, h, w)`` of the input pixels the image shows (its own size, turned)."""
        corners = np.array(self.M) @ np.array([[0, 0, self.shape[0] - 1, self.shape[0] - 1],
                                               [0, self.shape[1] - 1, 0, self.shape[1] - 1]]) + np.array(self.t)[:, None]
        (y0, x0), (y1, x1) = corners.min(1), corners.max(1)
        return int(y0), int(x0), int(y1 - y0 + 1), int(x1 - x0 + 1)

    @property
    def turned(self) -> bool:
        return tuple(map(tuple, self.M)) != ((1, 0), (0, 1))

    def view(self) -> dict:
        """For the damage record: how the box's pixels map onto the image's."""
        return {"matrix": [list(r) for r in self.M], "offset": [int(v) for v in self.t]}


def _step(M: np.ndarray, t: np.ndarray, shape: tuple[int, int], op: str, k: int):
    """Compose one turn of an image of ``shape``: new (M, t, shape)."""
    h, w = shape
    if op == "hflip":
        return M @ _FLIP_H, M @ np.array([0, w - 1]) + t, shape
    if op == "vflip":
        return M @ _FLIP_V, M @ np.array([h - 1, 0]) + t, shape
    if op == "transpose":
        return M @ _SWAP, t, (w, h)
    for _ in range(k % 4):  # np.rot90 once: new[i, j] = old[j, w - 1 - i]
        M, t, (h, w) = M @ _ROT90, M @ np.array([0, w - 1]) + t, (w, h)
    return M, t, (h, w)


def follow(applied, shape, pixel_only) -> Place | None:
    """The image's :class:`Place` from albumentations' ``applied_transforms`` (None: nothing recorded).
    ``pixel_only(name)`` says whether a transform leaves geometry alone."""
    if applied is None:
        return None
    M, t, current, source = np.eye(2, dtype=int), np.zeros(2, dtype=int), None, None
    for name, params in applied:
        before = tuple(int(v) for v in params.get("shape", shape)[:2])
        if current is not None and before != tuple(current):
            raise DustbenchError(f"FilmDamage: {name} received a {before[0]}×{before[1]} image where the recorded "
                                 f"transforms before it end at {current[0]}×{current[1]}: a transform resized it")
        source, current = source or before, current or before
        if "crop_coords" in params and not params.get("pad_params") and name not in ("RandomResizedCrop",):
            x0, y0, x1, y1 = (int(v) for v in params["crop_coords"][:4])
            M, t, current = M, M @ np.array([y0, x0]) + t, (y1 - y0, x1 - x0)
        elif name in _TURNS or name in ("RandomRotate90", "D4", "SquareSymmetry"):
            steps = _TURNS.get(name) or ((("rot90", int(params["factor"])),) if name == "RandomRotate90"
                                         else _D4[str(params["group_element"])])
            for op, k in steps:
                M, t, current = _step(M, t, current, op, k)
        elif not pixel_only(name):
            raise DustbenchError(f"FilmDamage cannot follow {name} before it (it resizes, rotates by an arbitrary "
                                 "angle or warps the image, so the damage would not be the frame's): put "
                                 "FilmDamage before it, or use crops, flips and 90° turns only")
    h, w = int(shape[0]), int(shape[1])
    if current is not None and tuple(current) != (h, w):
        raise DustbenchError(f"FilmDamage: the recorded transforms end at {tuple(current)} px, the image is "
                             f"{h}×{w}: a transform without a record changed its size")
    return Place(source or (h, w), (h, w), tuple(map(tuple, M.tolist())), tuple(int(v) for v in t))


def gather(src: np.ndarray, M, t, shape) -> np.ndarray:
    """``out[p] = src[M @ p + t]`` for ``p`` over ``shape`` (``M`` a signed permutation): the box's
    array turned as the image was, or (with the inverse) the image turned back into the box."""
    M, t = np.asarray(M), np.asarray(t)
    rows, cols = np.arange(shape[0]), np.arange(shape[1])
    if M[0, 1] == 0:  # rows stay rows
        return np.ascontiguousarray(src[np.ix_(M[0, 0] * rows + t[0], M[1, 1] * cols + t[1])])
    return np.ascontiguousarray(src[np.ix_(M[0, 1] * cols + t[0], M[1, 0] * rows + t[1])].swapaxes(0, 1))


def to_box(image: np.ndarray, view: dict, box_shape) -> np.ndarray:
    """The image turned back into its box's orientation (``view`` from :meth:`Place.view`, offset relative to the box)."""
    M, o = np.array(view["matrix"]), np.array(view["offset"])
    return gather(image, M.T, -(M.T @ o), box_shape)


def from_box(array: np.ndarray, view: dict, shape) -> np.ndarray:
    """An array drawn in the box's orientation, turned as the image was."""
    return gather(array, view["matrix"], view["offset"], shape)
