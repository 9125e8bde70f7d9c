"""A learned verifier of speck candidates: small multilayer perceptrons over
:data:`~dustbench.methods.speck_candidates.FEATURES`, averaged, that give each candidate the
probability that it is damage worth filling (it lies on the damage and its fill brings the picture
closer to the clean one).

It is stored as JSON (numbers, and words in ``info``: nothing in the file can run when it is read)
and run with numpy, so restoring with it needs no torch. :mod:`dustbench.train.verifier` learns one from
synthetic damage on the project's clean sources.

    >>> import numpy as np
    >>> from dustbench.methods.speck_candidates import FEATURES
    >>> n = len(FEATURES)
    >>> v = SpeckVerifier(mean=np.zeros(n), scale=np.ones(n), members=[[(np.ones((n, 1)), np.zeros(1))]],
    ...                   thresholds={"specks": 0.5, "lines": 0.5})
    >>> [round(float(p), 3) for p in v.probability(np.array([[0.0] * n, [1.0] * n]))]
    [0.5, 1.0]
"""
from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..errors import DustbenchError
from ..io import write_text_atomic
from ..portable_dot import dot_last
from .speck_candidates import FEATURES

FORMAT = "dustbench-speck-verifier/1"
USES = ("specks", "lines")  # the verifier alone, and beside line_detect's lines: a threshold for each
MAX_UNITS = 4096  # a layer wider than this is not a verifier this code wrote
MAX_MEMBERS = 64


@dataclass(eq=False)  # arrays inside: compare verifiers by their probabilities, not with ==
class SpeckVerifier:
    """Standardise (``mean``, ``scale``), then each member's layers of (weights in×out, bias), ReLU
    between them, a sigmoid at the end; the members' probabilities are averaged (an ensemble: one
    perceptron's choices move with its random start, see :mod:`dustbench.train.verifier`).
    ``thresholds``: the probability from which a candidate is filled, alone (``specks``) and beside
    ``line_detect``'s lines (``lines``), each chosen on validation."""

    mean: np.ndarray
    scale: np.ndarray
    members: list  # of lists of (weights, bias)
    thresholds: dict
    info: dict = field(default_factory=dict)  # how it was trained and chosen (recorded, not used)

    @property
    def param_count(self) -> int:
        return sum(w.size + b.size for layers in self.members for w, b in layers)

    def probability(self, features: np.ndarray) -> np.ndarray:
        """float64 N: P(damage worth filling) for N×len(FEATURES) rows."""
        x0 = (np.asarray(features, np.float64).reshape(-1, len(self.mean)) - self.mean) / self.scale
        total = np.zeros(len(x0))
        for layers in self.members:
            x = x0
            for k, (w, b) in enumerate(layers):
                x = dot_last(x, w) + b  # not `@`: BLAS's kernels round by CPU class
                if k < len(layers) - 1:
                    x = np.maximum(x, 0.0)
            total += 1.0 / (1.0 + np.exp(-np.clip(x[:, 0], -60, 60)))
        return total / len(self.members)

    def to_dict(self) -> dict:
        return {"format": FORMAT, "features": list(FEATURES),
                "thresholds": {k: float(v) for k, v in self.thresholds.items()},
                "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "members": [[{"weights": w.tolist(), "bias": b.tolist()} for w, b in layers] for layers in self.members],
                "info": self.info}

    def save(self, path) -> None:
        write_text_atomic(Path(path), json.dumps(self.to_dict(), indent=1) + "\n")


def _array(path, name, value, shape) -> np.ndarray:
    try:
        a = np.asarray(value)
        if a.dtype.kind not in "iuf":  # words, true/false, ragged lists: not numbers
            raise ValueError(a.dtype)
        a = a.astype(np.float64)
    except (TypeError, ValueError, OverflowError):
        raise DustbenchError(f"{path}: {name} is not an array of numbers") from None
    if a.shape != shape or not np.isfinite(a).all():
        raise DustbenchError(f"{path}: {name} must be {'×'.join(map(str, shape))} finite numbers, got shape "
                             f"{'×'.join(map(str, a.shape)) or 'scalar'}")
    return a


def _layers(path, name: str, raw, width: int) -> list:
    """One member's layers, checked: each (weights width×out, bias out), the last with one unit."""
    if not isinstance(raw, list) or not raw:
        raise DustbenchError(f"{path}: {name} must be a non-empty list of layers")
    layers = []
    for k, layer in enumerate(raw):
        if not isinstance(layer, dict):
            raise DustbenchError(f"{path}: {name} layer {k} must be an object with weights and bias")
        out = np.asarray(layer.get("bias", []), dtype=object).shape[:1] or (0,)
        if not 1 <= out[0] <= MAX_UNITS:
            raise DustbenchError(f"{path}: {name} layer {k} must have 1 to {MAX_UNITS} units")
        layers.append((_array(path, f"{name} layer {k} weights", layer.get("weights"), (width, out[0])),
                       _array(path, f"{name} layer {k} bias", layer.get("bias"), out)))
        width = out[0]
    if width != 1:
        raise DustbenchError(f"{path}: {name}'s last layer must have one unit (the logit), not {width}")
    return layers


def verifier_from_dict(d: dict, path="verifier") -> SpeckVerifier:
    """A :class:`SpeckVerifier` from :meth:`SpeckVerifier.to_dict`'s form; DustbenchError naming the problem."""
    if not isinstance(d, dict) or d.get("format") != FORMAT:
        raise DustbenchError(f"{path}: not a speck verifier (its format must be {FORMAT!r})")
    if d.get("features") != list(FEATURES):
        raise DustbenchError(f"{path}: made for the features {d.get('features')}, this dustbench computes "
                             f"{list(FEATURES)}: learn it again (dustbench train-verifier)")
    n = len(FEATURES)
    mean, scale = _array(path, "mean", d.get("mean"), (n,)), _array(path, "scale", d.get("scale"), (n,))
    if (scale <= 0).any():
        raise DustbenchError(f"{path}: scale must be positive")
    members = d.get("members")
    if not isinstance(members, list) or not 1 <= len(members) <= MAX_MEMBERS:
        raise DustbenchError(f"{path}: members must be a list of 1 to {MAX_MEMBERS} perceptrons")
    parsed = [_layers(path, f"member {m}", raw, n) for m, raw in enumerate(members)]
    thresholds = d.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(USES):
        raise DustbenchError(f"{path}: thresholds must give {' and '.join(USES)}, got {thresholds!r}")
    for use, t in thresholds.items():
        if isinstance(t, bool) or not isinstance(t, (int, float)) or not 0 <= t <= 1 or math.isnan(t):
            raise DustbenchError(f"{path}: the {use} threshold must be a number from 0 to 1, got {t!r}")
    info = d.get("info", {})
    if not isinstance(info, dict) or not isinstance(info.get("trained_on", ""), str):
        raise DustbenchError(f"{path}: info must be an object whose trained_on is words")
    return SpeckVerifier(mean, scale, parsed, {u: float(thresholds[u]) for u in USES}, info)


def read_verifier(path) -> tuple[SpeckVerifier, str]:
    """The verifier in a file (:meth:`SpeckVerifier.save`) and the sha256 of its bytes (what a resumed
    evaluation is keyed on); DustbenchError naming the file and the problem."""
    if isinstance(path, bool) or not isinstance(path, (str, os.PathLike)) or not str(path):
        raise DustbenchError(f"weights must be the path of a verifier file, got {path!r}")
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DustbenchError(f"{path}: no such verifier file (write one with dustbench train-verifier)") from None
    except OSError as exc:
        raise DustbenchError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise DustbenchError(f"{path}: not a text file (a speck verifier is JSON)") from None
    digest = hashlib.sha256(data).hexdigest()
    return _parsed(digest, text, str(path)), digest


def load_verifier(path) -> SpeckVerifier:
    """The verifier in a file; see :func:`read_verifier`."""
    return read_verifier(path)[0]


@lru_cache(maxsize=8)
def _parsed(digest: str, text: str, path: str) -> SpeckVerifier:  # keyed on the bytes: a rewritten file is read anew
    return verifier_from_text(text, path)


def verifier_from_text(text: str, path="verifier") -> SpeckVerifier:
    """A verifier from its file's text; DustbenchError naming ``path`` and the problem."""
    try:
        d = json.loads(text)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than any verifier's
        raise DustbenchError(f"{path}: not valid JSON ({type(exc).__name__}: {str(exc)[:80]})") from None
    try:
        return verifier_from_dict(d, path)
    except RecursionError:
        raise DustbenchError(f"{path}: nested too deep to be a verifier") from None
