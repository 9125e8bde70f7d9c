"""Film damage as an albumentations-style transform that knows where the image sits in the frame.

    >>> import numpy as np
    >>> import albumentations as A
    >>> from dustbench.transforms import FilmDamage
    >>> frame = np.random.default_rng(0).integers(0, 256, (384, 576, 3), dtype=np.uint8)   # a whole frame
    >>> aug = A.Compose([A.RandomCrop(256, 256), FilmDamage("*_scan_*")], save_applied_params=True, seed=0)
    >>> out = aug(image=frame)        # image (damaged), clean, mask, labels, damage_params
    >>> out["image"].shape, out["image"].dtype, out["mask"].shape, out["labels"].dtype
    ((256, 256, 3), dtype('uint8'), (256, 256), dtype('uint8'))

Preset sizes are fractions of the *frame's* short side and densities are counts per frame, so
damaging a 256-px crop as if it were the frame draws specks fifteen times too large, four times too
dense. :class:`FilmDamage` draws the damage for the frame and cuts it at the image's place
(:func:`dustbench.synth.crop.crop_params`), so a crop gets exactly what the frame would show there:

* the frame is the image given to the pipeline (default); with ``scan_scale=S`` (px, a range
  ``(lo, hi)``, or ``"35mm@4000dpi"``) that image is itself a crop of a 3:2 frame of short side S,
  and with ``frame_shape=(H, W)`` of a frame of that shape, placed at random (seeded);
* where the transformed image sits in the pipeline's input comes from the transforms before it,
  which albumentations records with ``A.Compose(..., save_applied_params=True)``: crops (any
  transform that records ``crop_coords``: RandomCrop, CenterCrop, Crop, ...) move its box, and
  flips, transposes and 90° turns (HorizontalFlip, VerticalFlip, Transpose, RandomRotate90, D4) turn
  it, resizes (Resize, RandomResizedCrop, LongestMaxSize, ...) scale it: the damage is the frame's
  damage in that box, drawn at the image's resolution and turned the same way
  (:mod:`dustbench.pipeline_place`); Rotate and Affine (whose matrix albumentations records) warp
  it, and the damage is warped with it. Pixel-level transforms are fine; one that warps without a
  matrix (Perspective, ElasticTransform) before FilmDamage is an error naming it, not a silent guess.

Outputs: ``image`` (damaged, same dtype and layout as the input: uint8/uint16/float32, grey or RGB),
``clean`` (the input), ``mask`` (float32 H×W opacity), ``labels`` (uint8 H×W family ids, see
``dustbench.FAMILIES``) and ``damage_params`` (a dict; ``params_as="json"`` for text a DataLoader's
default collate batches): the seed, the frame, the box and the synthesis record, which
:func:`replay` turns back into the same sample. With ``infrared=FILM`` also ``infrared``: the
scanner's infrared plane of the output image (uint16 H×W, :mod:`dustbench.synth.infrared`): its
field, the film's picture (silver, Kodachrome) and the damage, placed, turned or warped as the
damage is; its parameters are recorded under ``damage_params["infrared"]``. Transforms after
it see ``mask`` as a mask; declare ``additional_targets={"clean": "image", "labels": "mask"}`` in
``A.Compose`` so they transform ``clean`` and ``labels`` too (and ``"infrared": "mask"`` with
``infrared=``: a flip or crop after it would otherwise leave the plane where it was).

Randomness: with ``seed`` the transform draws from its own generator (so ``FilmDamage(seed=0)`` gives
the same sequence in any pipeline); without, from albumentations' (``A.Compose(seed=...)``). A
``damage_seed`` in the data (an int or a sequence, e.g. ``(epoch, index)`` in a torch ``Dataset``)
draws that sample from ``default_rng(damage_seed)`` alone: the same damage whatever the worker.
Grain and the infrared plane draw from their own generators keyed by the sample's seed, so the
damage has the same bytes with or without them.
Without albumentations installed the transform still works as a plain callable
(``FilmDamage(...)(image=img)``).
"""
from __future__ import annotations

import json
import math

import numpy as np

from .errors import DustbenchError
from .io import check_image
from .pipeline_place import draw_warped, follow, from_box, to_box, warp_onto
from .synth import regenerate
from .synth.crop import crop_params
from .synth.grain import apply_grain, grain_px_per_mm, grain_rng, parse_grain, sample_grain
from .synth.infrared import damage_transmission, infrared_plane, infrared_rng, parse_film, sample_infrared
from .synth.params import sample_params
from .synth.scale import ScanScale, draw_scaled_params, scale_label

try:  # albumentations is optional: the transform is a DualTransform when it is installed
    import albumentations as A
    from albumentations.core.transforms_interface import DualTransform as _Base
except ImportError:  # pragma: no cover - exercised where albumentations is missing
    A = _Base = None

__all__ = ["FilmDamage", "replay"]


class _Plain:
    """The albumentations calling convention, for when albumentations is not installed."""

    def __init__(self, p: float = 1.0):
        self.p = p
        self.random_generator = np.random.default_rng()
        self.params: dict = {}

    def __call__(self, *args, force_apply: bool = False, **data):
        if args:
            raise KeyError("pass data by name, e.g. transform(image=image)")
        self.params = self.get_params_dependent_on_data({"shape": np.shape(data["image"])}, data)
        return self.apply_with_params(self.params, **data)


def _pixel_only(name: str) -> bool:
    """Whether the albumentations transform ``name`` leaves geometry alone (an ImageOnlyTransform)."""
    cls = getattr(A, name, None)  # only reached when albumentations (A) recorded the pipeline
    return cls is not None and issubclass(cls, A.ImageOnlyTransform)


def _number(name: str, value, low: float, high: float, low_open: bool = False) -> float:
    """A finite number in [low, high] (a NaN scale used to damage half the image without an error)."""
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool) and \
        math.isfinite(value) and (low < value if low_open else low <= value) and value <= high
    if not ok:
        raise DustbenchError(f"FilmDamage: {name} must be a finite number in {'(' if low_open else '['}{low:g}, "
                             f"{high:g}], got {value!r}")
    return float(value)


def _frame_shape(shape) -> tuple[int, int]:
    try:
        if isinstance(shape, (str, bytes)):
            raise TypeError
        h, w = (int(v) for v in tuple(shape)[:2])
        if float(shape[0]) != h or float(shape[1]) != w:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise DustbenchError(f"FilmDamage: frame_shape must be (height, width) in whole pixels, got {shape!r}") from None
    if not (1 <= h <= 10**6 and 1 <= w <= 10**6):
        raise DustbenchError(f"FilmDamage: frame_shape {shape!r} must be between 1 and 1,000,000 px per side")
    return h, w


class FilmDamage(_Base or _Plain):
    """Film damage drawn for the whole frame and cut at the image's place in it (see the module doc).

    ``presets``: names, globs or Preset objects (all are applied, mixes expanded, as in
    ``synthesize``); ``scan_scale`` / ``frame_shape``: the frame the pipeline's input is a crop of
    (at most one; neither = the input is the frame); ``size_scale`` / ``opacity_scale``: the
    augmentation factors of :func:`~dustbench.synth.crop.crop_params`; ``p``: probability of damage
    (an undamaged sample still gets ``clean``, an empty ``mask`` and ``labels``); ``seed``: see the
    module doc; ``params_as``: ``damage_params`` as a ``"dict"`` (default, as albumentations records
    its own) or as ``"json"`` text, which a torch DataLoader's default collate can batch;
    ``grain``: a film stock (``"portra400"``, ``"bw_coarse@2400dpi"``, see :mod:`dustbench.synth.grain`)
    whose grain is added to the image before the damage (``clean`` then holds it; recorded under
    ``damage_params["grain"]``, drawn at the sample's scan scale, else 4000 dpi), default none;
    ``infrared``: a film type (``"colour_negative"``, ``"slide"``, ``"kodachrome"``, ``"silver_bw"``,
    see :mod:`dustbench.synth.infrared`) to also output ``infrared``, the scanner's infrared plane of
    the output image (uint16 H×W; undamaged samples get the field, noise and the film's picture),
    its parameters under ``damage_params["infrared"]``, default none.
    """

    def __init__(self, presets="*_scan_*", scan_scale=None, frame_shape=None, size_scale: float = 1.0,
                 opacity_scale: float = 1.0, p: float = 1.0, seed=None, params_as: str = "dict", grain=None,
                 infrared=None):
        super().__init__(p=1.0)  # the probability is drawn here, from the sample's own generator
        if scan_scale is not None and frame_shape is not None:
            raise DustbenchError("FilmDamage: give scan_scale or frame_shape, not both")
        p = _number("p", p, 0.0, 1.0)
        size_scale = _number("size_scale", size_scale, 1e-3, 100.0, low_open=True)
        opacity_scale = _number("opacity_scale", opacity_scale, 0.0, 10.0)
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0):
            raise DustbenchError(f"FilmDamage: seed must be a whole number >= 0 or None, got {seed!r}")
        self.presets, self.scan_scale = presets, ScanScale.parse(scan_scale)
        self.frame_shape = None if frame_shape is None else _frame_shape(frame_shape)
        self.size_scale, self.opacity_scale, self.damage_p, self.seed = size_scale, opacity_scale, p, seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        if params_as not in ("dict", "json"):
            raise DustbenchError(f"FilmDamage: params_as must be 'dict' or 'json', got {params_as!r}")
        self.params_as, self.grain = params_as, parse_grain(grain)
        self.infrared = None if infrared is None else parse_film(infrared)

    def get_base_init_args(self) -> dict:
        return {"p": self.damage_p}

    def get_transform_init_args_names(self):
        return ("presets", "scan_scale", "frame_shape", "size_scale", "opacity_scale", "seed", "params_as", "grain",
                "infrared")

    def get_transform_init_args(self) -> dict:  # the scale in its JSON form: A.to_dict / A.save write these
        return {**super().get_transform_init_args(), "scan_scale": scale_label(self.scan_scale)}

    @property
    def targets_as_params(self):
        return ["image"]

    def _sample_rng(self, data: dict) -> tuple[np.random.Generator, object]:
        """The generator of this sample and the seed that recreates it (with p < 1 its first draw decides
        whether to damage; the damage is drawn from it next, as ``synthesize`` would)."""
        if data.get("damage_seed") is not None:
            seed = data["damage_seed"]
            seed = [int(v) for v in seed] if np.ndim(seed) else int(seed)
        else:
            seed = int((self._rng or self.random_generator).integers(2**63))
        return np.random.default_rng(seed), seed

    def get_params_dependent_on_data(self, params: dict, data: dict) -> dict:
        image = data["image"]
        check_image(np.asarray(image), "FilmDamage image")
        rng, seed = self._sample_rng(data)
        record = {"seed": seed, "applied": self.damage_p >= 1 or bool(rng.random() < self.damage_p)}
        if record["applied"]:
            place = follow(data.get("applied_transforms"), image.shape, _pixel_only)
            h, w = image.shape[:2]
            source, box = ((h, w), (0, 0, h, w)) if place is None else (place.source, place.box)
            record.update(self._damage(rng, source, box), place="whole" if place is None else "recorded")
            record["shape"] = [int(h), int(w)]  # the image it was drawn for (a resized box differs from it)
            if place is not None and not place.exact:  # rotated or sheared: drawn in the box, warped onto it
                record["view"] = {"warp": place.warp(box)}
            elif place is not None and place.turned:  # flipped or turned: drawn in the box, turned after
                record["view"] = {"matrix": place.matrix}
        if self.grain is not None:  # part of the clean image, damaged or not; from its own generator
            grng = grain_rng(seed)
            scale = record.get("scan_scale")  # the damage's frame; else one drawn for the grain alone
            if "scan_scale" not in record and self.scan_scale is not None:
                scale = self.scan_scale.draw(grng)
            record["grain"] = sample_grain(self.grain, grain_px_per_mm(self.grain, scale), grng)
        if self.infrared is not None:  # damaged or not, the scanner sees the plane; from its own generator
            record["infrared"] = sample_infrared(self.infrared, infrared_rng(seed))
        return {"damage": record}

    def _damage(self, rng: np.random.Generator, source, box) -> dict:
        """The synthesis record of ``box`` in a pipeline input of shape ``source`` (see the module doc)."""
        if self.frame_shape is None:
            short, params = draw_scaled_params(self.presets, source, rng, self.scan_scale, box, self.size_scale,
                                               self.opacity_scale)
            return {"scan_scale": short, "params": params}
        fh, fw = self.frame_shape
        if fh < source[0] or fw < source[1]:
            raise DustbenchError(f"FilmDamage: frame_shape {self.frame_shape} is smaller than the image "
                                 f"{tuple(source)} it should contain")
        fy, fx = int(rng.integers(0, fh - source[0] + 1)), int(rng.integers(0, fw - source[1] + 1))
        frame = sample_params(self.presets, (fh, fw), rng)
        params = crop_params(frame, (fh, fw), (fy + box[0], fx + box[1], box[2], box[3]), self.size_scale,
                             self.opacity_scale)
        return {"frame_shape": [fh, fw], "params": params}

    def apply_with_params(self, params: dict, *args, **data) -> dict:
        image = np.asarray(data["image"])
        record = params["damage"]
        if record.get("grain"):
            image = apply_grain(image, record["grain"])
        drawn, passed = _draw(image, record)
        out = {**data, **drawn, "clean": image}
        if record.get("infrared"):  # composed with the output's own picture, the damage where it was drawn
            out["infrared"] = infrared_plane(image, passed, record["infrared"])
        out["damage_params"] = json.dumps(record) if self.params_as == "json" else record
        return out


def _draw(image: np.ndarray, record: dict) -> tuple[dict, np.ndarray | None]:
    """The damaged ``image``, ``mask`` and ``labels`` of a record, and (when it has infrared
    parameters) its damage's infrared transmission mapped onto the image as the mask is."""
    ir, shape = record.get("infrared"), image.shape[:2]
    if not record["applied"]:  # the image as it came in, with its grain if any: it is the clean image
        zeros = np.zeros(shape, np.float32)
        return {"image": image, "mask": zeros, "labels": zeros.astype(np.uint8)}, np.ones(shape, np.float32)
    params, view = record["params"], record.get("view") or {}
    if "warp" in view:
        damaged, mask, labels, layer = draw_warped(image, params, view["warp"], regenerate)
        # outside the box the warp reaches nothing: transmission 1, the plane's field alone
        passed = None if ir is None else warp_onto(damage_transmission(layer, params, ir), view["warp"], shape,
                                                   border=1.0)
    elif view:  # drawn in the box's orientation, turned as the image was
        s = regenerate(to_box(image, view["matrix"]), params)
        damaged, mask, labels = (from_box(a, view["matrix"]) for a in (s.damaged, s.mask, s.labels))
        passed = None if ir is None else from_box(damage_transmission(s.layer, params, ir), view["matrix"])
    else:
        s = regenerate(image, params)
        damaged, mask, labels = s.damaged, s.mask, s.labels
        passed = None if ir is None else damage_transmission(s.layer, params, ir)
    return {"image": damaged, "mask": mask, "labels": labels}, passed


def replay(image: np.ndarray, damage_params) -> dict:
    """The sample :class:`FilmDamage` made from ``image`` with this record (dict or its JSON text)."""
    try:
        record = json.loads(damage_params) if isinstance(damage_params, str) else damage_params
    except ValueError as exc:
        raise DustbenchError(f"replay: damage_params is not JSON ({exc})") from None
    if not isinstance(record, dict) or not isinstance(record.get("applied"), bool) or \
            (record["applied"] and not isinstance(record.get("params"), dict)):
        raise DustbenchError("replay: damage_params is not a FilmDamage record (expected the 'damage_params' "
                             "a FilmDamage call returned)")
    image = check_image(np.asarray(image), "replay: image")
    made_for = record.get("shape") or record["params"].get("image_shape") if record["applied"] else \
        list(image.shape[:2])
    if not (isinstance(made_for, list) and len(made_for) == 2 and isinstance(record["params"].get("groups", []), list)) \
            if record["applied"] else False:
        raise DustbenchError("replay: damage_params has no image_shape [height, width] or groups list")
    view = record.get("view") if record["applied"] else None
    if view and "shape" not in record and view["matrix"][0][1] != 0:  # turned by 90°: the box is the transpose
        made_for = list(made_for)[::-1]
    if list(made_for) != list(image.shape[:2]):
        raise DustbenchError(f"replay: the record was made for a {made_for[0]}×{made_for[1]} image, not "
                             f"{image.shape[0]}×{image.shape[1]}")
    try:
        return FilmDamage().apply_with_params({"damage": record}, image=image)
    except (KeyError, TypeError, ValueError, IndexError) as exc:  # a record edited by hand: one line, not a traceback
        raise DustbenchError(f"replay: damage_params is not a complete FilmDamage record ({type(exc).__name__}: "
                             f"{exc})") from None
