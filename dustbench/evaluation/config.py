"""What one ``evaluate`` run is told, as one value: how the method is applied (the settings it shares
with ``restore``, :class:`~dustbench.methods.run_config.RunConfig`) and how it is scored and recorded.

    >>> EvalConfig(split="validation", limit=3).limit
    3
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import DustbenchError
from ..methods.run_config import RunConfig


@dataclass(frozen=True)
class EvalConfig(RunConfig):
    """``split``: which split of the data; ``save_images``: also write the restored images; ``seed`` and
    ``n_resamples``: the bootstrap CIs; ``train_data``: recorded for the leaderboard; ``limit``: only
    the first N images; ``overwrite``: replace another run's results in ``out``;
    ``allow_suite_drift``: evaluate a built-in suite that renders otherwise than it was published
    (recorded)."""

    split: str = "test"
    save_images: bool = False
    seed: int = 0
    n_resamples: int = 2000
    train_data: str | None = None
    limit: int | None = None
    overwrite: bool = False
    allow_suite_drift: bool = False

    def __post_init__(self):
        super().__post_init__()
        if self.limit is not None and (isinstance(self.limit, bool) or not isinstance(self.limit, int)
                                       or self.limit < 1):
            raise DustbenchError(f"limit must be a whole number of images >= 1 (or None for all), got {self.limit!r}")
