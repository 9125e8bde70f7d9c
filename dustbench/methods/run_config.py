"""How a method is applied to many images: the settings ``evaluate`` and ``restore`` share, as one
value (as ``synth``, ``make-dataset`` and ``train`` take theirs), validated when it is made.

    >>> from dustbench.methods.run_config import RunConfig, with_settings
    >>> with_settings(RunConfig, None, {"device": "cpu", "threads": 1}).threads
    1
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

from ..errors import DustbenchError, check_on_error
from ..registry import check_keys
from .base import BAD_OUTPUT_POLICIES, UNSET


@dataclass(frozen=True)
class RunConfig:
    """``options``: the method's own (``-o k=v``); ``device``: where a model file runs; ``tile``/``overlap``
    (None or 0: whole images; left out: the method's own, else 512/32, see
    :func:`~dustbench.methods.base.resolve_tiling`); ``on_bad_output``: a NaN/Inf or out-of-range output
    stops ("error") or is repaired and counted ("clip"); ``on_error``: a bad input stops the run ("stop")
    or is reported and left out ("skip"); ``threads``: OpenCV's and torch's thread counts while the
    method runs (0 or None: as they are); ``tune_on``: validation pairs for a method that is tuned
    (``median_tuned``)."""

    options: dict | None = None
    device: str = "cpu"
    tile: Any = UNSET
    overlap: Any = UNSET
    on_bad_output: str = "error"
    on_error: str = "stop"
    threads: int | None = None
    tune_on: Any = None
    progress: bool = True

    def __post_init__(self):
        check_on_error(self.on_error)
        if self.on_bad_output not in BAD_OUTPUT_POLICIES:
            raise DustbenchError(f"on_bad_output must be one of {BAD_OUTPUT_POLICIES}, got {self.on_bad_output!r}")
        if self.threads is not None and (isinstance(self.threads, bool) or not isinstance(self.threads, int)
                                         or self.threads < 0):
            raise DustbenchError(f"threads must be a whole number (0 or None: as they are), got {self.threads!r}")
        if self.options is not None and not isinstance(self.options, dict):
            raise DustbenchError(f"options must be a dict of option name -> value, got {type(self.options).__name__}")


def with_settings(cls, config, settings: dict):
    """``config`` (an instance of ``cls``, or None for its defaults) with ``settings`` (keyword
    arguments named like its fields) applied; an unknown name is refused with a did-you-mean."""
    if config is not None and not isinstance(config, cls):
        raise DustbenchError(f"config: expected {cls.__name__}, got {type(config).__name__}")
    check_keys(cls.__name__, settings, [f.name for f in fields(cls)], word="setting")
    return replace(config, **settings) if config is not None else cls(**settings)
