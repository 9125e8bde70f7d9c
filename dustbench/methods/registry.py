"""The method registry: ``@register_method("name")`` on a Method subclass or factory (timm-style).

A *method* maps a float32 H×W×C image in [0, 1] to a restored image of the same shape and dtype.
Subclasses of :class:`Method` implement :meth:`Method.run`; :meth:`Method.__call__` checks the
input, hands the ground-truth mask only to oracle methods that declare ``needs_mask``, and checks
and clips the output, so every method obeys the same contract.
"""
from __future__ import annotations

import inspect
import json
from typing import Any, Callable

import numpy as np

from ..errors import DustbenchError
from ..registry import Registry, option_params

_METHODS = Registry("method")


class Method:
    """A restoration method. Subclasses set the class attributes and implement :meth:`run`.

    Attributes:
        name: the registry name (set by :func:`create_method`).
        options: JSON-serializable options it was built with (recorded in results).
        needs_mask: True only for oracle methods that receive the ground-truth damage mask.
        is_oracle: True for upper references that use information a real method cannot have.
        param_count: learned parameters (0 for classical methods, None if unknown).
    """

    name: str = ""
    needs_mask: bool = False
    is_oracle: bool = False
    param_count: int | None = None

    def __init__(self, name: str = "", options: dict | None = None):
        self.name = name or type(self).name or type(self).__name__
        self.options = dict(options or {})

    def run(self, image: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
        """Restore a checked float32 H×W×C image; ``mask`` is a float32 H×W opacity in [0, 1] or None."""
        raise NotImplementedError

    def __call__(self, image: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
        """Restore ``image`` (float32 H×W×C or H×W in [0, 1]); the result has the same shape and dtype.

        ``mask`` (H×W, nonzero = damaged) is passed on only when ``needs_mask`` is True, so a
        non-oracle method can never peek at the ground truth.
        """
        work = check_float_image(image, f"{self.name} input")
        squeeze = work.ndim == 2
        if squeeze:
            work = work[:, :, None]
        if self.needs_mask:
            if mask is None:
                raise DustbenchError(f"method {self.name!r} is an oracle: it needs the ground-truth mask")
            mask = as_opacity_mask(mask, work.shape[:2])
        out = self.run(work, mask if self.needs_mask else None)
        if not isinstance(out, np.ndarray) or out.shape != work.shape:
            got = getattr(out, "shape", type(out).__name__)
            raise DustbenchError(f"method {self.name!r} returned {got}, expected shape {work.shape}")
        out = out.astype(np.float32, copy=False)
        np.clip(out, 0.0, 1.0, out=out)  # small overshoots (e.g. from models) would break metrics
        return out[:, :, 0] if squeeze else out

    def __repr__(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"<{type(self).__name__} {self.name}({opts})>"


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


def as_opacity_mask(mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """A damage mask as float32 H×W opacity in [0, 1] (0 = clean).

    Accepts bool (True = 1), uint8/uint16 (scaled by 255/65535, so a synthesis mask keeps its
    opacity and a binary 0/255 mask becomes 0/1) or float masks; H×W×C takes the max over channels.
    """
    mask = np.asarray(mask)
    if mask.dtype == bool:
        mask = mask.astype(np.float32)
    elif mask.dtype in (np.uint8, np.uint16):
        mask = mask.astype(np.float32) / np.float32(255.0 if mask.dtype == np.uint8 else 65535.0)
    else:
        mask = np.clip(np.nan_to_num(mask.astype(np.float32, copy=False)), 0.0, 1.0)
    if mask.ndim == 3:
        mask = mask.max(axis=2)
    if mask.shape != tuple(shape):
        raise DustbenchError(f"mask shape {mask.shape} does not match image size {tuple(shape)}")
    return mask


def register_method(name: str) -> Callable[[Callable[..., Method]], Callable[..., Method]]:
    """Decorator registering a Method subclass (or a factory returning a Method) under ``name``."""
    return _METHODS.register(name)


def list_methods() -> list[str]:
    """Names of all registered methods, sorted."""
    return _METHODS.names()


def get_method_factory(name: str) -> Callable[..., Method]:
    """The registered factory for ``name`` (raises UnknownNameError with a did-you-mean)."""
    return _METHODS.get(name)


def method_options(name: str) -> dict[str, Any]:
    """The options method ``name`` accepts, with their defaults (``None`` = required or unset)."""
    params = option_params(get_method_factory(name))
    return {p.name: (None if p.default is p.empty else p.default) for p in params}


def method_info(name: str) -> dict[str, Any]:
    """Name, one-line summary, options with defaults and oracle flags, for listings."""
    factory = get_method_factory(name)
    doc = inspect.getdoc(factory) or ""
    return {"name": name, "summary": doc.splitlines()[0] if doc else "",
            "options": method_options(name),
            "needs_mask": bool(getattr(factory, "needs_mask", False)),
            "is_oracle": bool(getattr(factory, "is_oracle", False))}


def create_method(name: str, **options: Any) -> Method:
    """Build method ``name``; unknown options raise DustbenchError listing the valid ones."""
    factory = get_method_factory(name)
    params = option_params(factory)
    _METHODS.check_options(name, options)
    method = factory(**options)
    if not isinstance(method, Method):
        raise TypeError(f"factory for method {name!r} returned {type(method).__name__}, not a Method")
    method.name = name
    if not method.options:  # a plain factory: record what it was called with, defaults included
        method.options = {p.name: options.get(p.name, None if p.default is p.empty else p.default)
                          for p in params}
    try:
        json.dumps(method.options)
    except TypeError as exc:
        raise DustbenchError(f"method {name!r}: options must be JSON-serializable ({exc})") from None
    return method
