"""Detect-then-inpaint: run an artifact *detector* model, then inpaint the pixels it flags.

    >>> import numpy as np
    >>> from dustbench.methods import load_model_file
    >>> image = np.full((64, 64, 3), 0.4, np.float32)
    >>> image[30:33, 40:43] = 0.95                 # a bright speck on flat grey
    >>> method = load_model_file("leaderboard/models/segnet.pt", threshold=0.7)   # path from the repository root
    >>> type(method).__name__
    'DetectInpaint'
    >>> restored = method(image)                 # float32 H×W×C in [0, 1] -> same
    >>> restored.shape, restored.dtype
    ((64, 64, 3), dtype('float32'))
    >>> flagged = method.detect(image)           # bool H×W: P(artifact) >= threshold
    >>> flagged.shape, bool(flagged[31, 41])
    ((64, 64), True)

A detector is a model file whose output is P(artifact) (H×W, repeated on every channel; e.g. the
``segnet`` family). :func:`dustbench.methods.load_model_file` returns a :class:`DetectInpaint` by
itself when the file says it is one (TorchScript ``dustbench-model.json`` extra file, or a checkpoint
whose family's task has such ``file_info``), with the threshold and fill recorded at export, so
``dustbench evaluate segnet.pt --data builtin`` scores the restored images, not the probabilities;
``-o threshold=0.7`` (``dilate``, ``radius``, ``fill``) overrides them. ``-o lines=1`` fills, with
what the detector flags, the long lines the training-free ``line_detect`` finds (its published
rules, undilated): a speck detector and a scratch detector, one fill (the registered
``fastdet_lines`` is the published ``fastdet`` so). Under tiling the lines are sought per tile.
``-o flips=1`` averages P(artifact) over the image and its three mirror images before it is
thresholded (:func:`mirrored_mean`; four detector passes; the registered ``fastdet_tta``).

Training validation of the detector families runs this class too
(:func:`dustbench.train.validate.task_method`). The fill (:mod:`dustbench.fill`) is OpenCV Telea
inpainting (:func:`dustbench.fill.telea_inpaint`, the same code as ``oracle_inpaint``: the only
difference between the two is where the mask comes from) or, with ``fill="median"``, the
(2·radius+1)² median of the flagged pixels' neighbourhood. Only flagged (and dilated) pixels change.
:func:`detection_scores` gives precision/recall/IoU of a predicted mask against the ground truth.

No torch import here: the detector is run through the loaded model's own code.
"""
from __future__ import annotations

import numpy as np

from ..errors import DustbenchError
from ..fill import (DEFAULTS, FILLS, check_inference_options, detection_scores, dilate_mask,  # noqa: F401
                    fill_mask, flag, scores_from_counts)  # (the scores: defined in dustbench.fill, imported from here)
from ..io import channel_max
from .base import UNSET, Method, OutputIssues, apply_method, check_output
from .line_scratches import detect_lines
from .registry import MODEL_OPTIONS


def mirrored_mean(probability, image: np.ndarray, axes=(0, 1)) -> np.ndarray:
    """The mean of ``probability`` over ``image`` and its three mirror images (upside down, left to
    right, both; ``axes``: the image's row and column axes), each map mirrored back: test-time
    augmentation with flips. A false alarm that one orientation of a small network's windows raises,
    the others often do not; damage looks like damage every way round. Four network passes, each
    given a contiguous array (``np.flip`` of no axes is the image itself)."""
    total = None
    for rows in (False, True):
        for cols in (False, True):
            flipped = tuple(a for a, on in zip(axes, (rows, cols)) if on)
            p = np.flip(probability(np.ascontiguousarray(np.flip(image, flipped))), flipped)
            total = p.astype(np.float32) if total is None else total + p
    return (total / np.float32(4)).astype(np.float32)


class DetectInpaint(Method):
    """A detector model (a loaded model file) followed by inpainting of what it flags."""

    name = "detect_inpaint"

    def __init__(self, detector: Method, threshold: float = DEFAULTS["threshold"], dilate: int = DEFAULTS["dilate"],
                 radius: float = DEFAULTS["radius"], fill: str = DEFAULTS["fill"], grow: float = DEFAULTS["grow"],
                 lines: bool = DEFAULTS["lines"], flips: bool = DEFAULTS["flips"], metadata: dict | None = None):
        check_inference_options(threshold, dilate, radius, fill, grow, lines, flips)
        # what the detector was trained to flag (recorded for detection scores), if the file says
        metadata = metadata or {}
        trained = {k: float(metadata[k]) for k in ("label_threshold", "label_contrast") if k in metadata}
        if "calibrated" in metadata:  # how the file's threshold was chosen, e.g. "psnr on builtin-v2:validation"
            trained["calibrated"] = str(metadata["calibrated"])
        # grow, lines and flips only when used: a file without them describes (and scores) itself exactly as before
        used = {**({"grow": float(grow)} if grow else {}), **({"lines": True} if lines else {}),
                **({"flips": True} if flips else {})}
        super().__init__(name=detector.name, options={
            **detector.options, "kind": "detector", "threshold": float(threshold), "dilate": int(dilate),
            "radius": float(radius), "fill": fill, **used, **trained})
        self.detector = detector
        self.module = getattr(detector, "module", None)  # the torch module, for export checks
        self.param_count = detector.param_count
        # tiled as its detector would be: apply_method tiles detection and fill together
        self.multiple, self.tile_batch, self.tiling = detector.multiple, detector.tile_batch, detector.tiling

    @classmethod
    def from_loaded(cls, detector: Method, metadata: dict, **overrides) -> "DetectInpaint":
        """Wrap a loaded detector with the settings its file recorded, then ``overrides`` (None = keep)."""
        unknown = sorted(set(overrides) - set(DEFAULTS))
        if unknown:
            raise DustbenchError(f"detector option(s) {', '.join(unknown)} unknown; valid: "
                                 f"{', '.join((*DEFAULTS, *MODEL_OPTIONS))}")
        settings = {k: metadata.get(k, v) for k, v in DEFAULTS.items()}
        settings.update({k: v for k, v in overrides.items() if v is not None})
        return cls(detector, metadata=metadata, **settings)

    def probability(self, image: np.ndarray, tile=UNSET) -> np.ndarray:
        """P(artifact) as float32 H×W for a float32 H×W×C image (any channel's detection counts): the
        detector through :func:`~dustbench.methods.base.apply_method` (its checks, grey/RGB handling,
        bad values clipped), in tiles of ``tile`` (default: the detector's own tile size, else whole)."""
        tile = self.tiling.get("tile") if tile is UNSET else tile

        def once(view: np.ndarray) -> np.ndarray:
            prob = apply_method(self.detector, view, tile=tile, name=f"{self.detector.name} input", on_bad_output="clip")
            return channel_max(prob) if prob.ndim == 3 else prob

        if not self.options.get("flips"):
            return once(image)
        return mirrored_mean(once, image)

    def detect(self, image: np.ndarray, tile=UNSET) -> np.ndarray:
        """Bool H×W: the pixels the detector flags (before dilation; with ``grow``, hysteresis from
        the sure ones: :func:`dustbench.fill.flag`); ``tile`` as for :meth:`probability`. Under
        ``apply_method``'s tiling, growth reaches as far as each tile and its overlap. The detector's
        flags only: with ``lines`` the fill also covers ``line_detect``'s lines, which are not here."""
        return self._flag(self.probability(image, tile))

    def _flag(self, prob: np.ndarray) -> np.ndarray:
        return flag(prob, self.options["threshold"], self.options.get("grow", 0.0))

    def run(self, image, mask):
        return self._fill(image, self.detect(image, tile=None))  # what it is given, whole: apply_method tiles

    def run_batch(self, images, masks):
        """The detector on all the images at once (one network batch), then each one's fill; its
        output checked as :meth:`probability` checks it (``method(image)``: bad values clipped)."""
        def once(batch: np.ndarray) -> np.ndarray:
            return channel_max(check_output(self.detector.run_batch(batch, None), batch.shape, batch,
                                            f"detector {self.name!r}", "clip", OutputIssues()))

        prob = mirrored_mean(once, images, axes=(1, 2)) if self.options.get("flips") else once(images)
        return np.stack([self._fill(image, self._flag(p)) for image, p in zip(images, prob)])

    def _fill(self, image: np.ndarray, flagged: np.ndarray) -> np.ndarray:
        o = self.options
        if not o.get("lines"):
            return fill_mask(image, flagged, o["fill"], o["dilate"], o["radius"])
        both = (dilate_mask(flagged, o["dilate"]) > 0) | detect_lines(image)  # line_detect fills its lines undilated
        return fill_mask(image, both, o["fill"], 0, o["radius"])
