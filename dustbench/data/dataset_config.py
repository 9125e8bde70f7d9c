"""The settings of `dustbench make-dataset` (:class:`DatasetConfig`): what decides a dataset's bytes
(:meth:`DatasetConfig.identity`, the resume check) and the equivalent command line."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any

from ..synth import DEFAULT_PRESETS
from ..synth.grain import parse_grain
from ..synth.infrared import parse_film
from ..synth.scale import ScanScale


@dataclass
class DatasetConfig:
    clean: str
    out: str
    seed: int = 0
    train_patches: int = 1000
    patch: int = 128
    val_images: int = 1
    test_images: int = 1
    presets: str = DEFAULT_PRESETS
    num_proc: int = 1
    shard: tuple[int, int] = (0, 1)
    on_error: str = "stop"  # stop | skip
    clean_column: str | None = None
    channels: str = "3"  # 3: grey sources repeated to RGB; 1: RGB to grey (BT.601); keep: as each source is
    keep_work: bool = False
    command: str | None = None  # recorded in the card; default: the equivalent CLI command
    scan_scale: ScanScale | None = None  # None: every source is a whole frame; else a crop of one (synth/scale.py)
    grain: str | None = None  # a film stock: grain added to each clean image before the damage (synth/grain.py)
    infrared: str | None = None  # a film type: each row also gets the scanner's infrared plane (synth/infrared.py)

    def __post_init__(self):  # S, (lo, hi) or text: read once, here; an unknown film fails before any work
        self.scan_scale = ScanScale.parse(self.scan_scale)
        if self.infrared is not None:
            self.infrared = parse_film(self.infrared)

    def identity(self) -> dict[str, Any]:
        """The settings that decide the output (not --num-proc, --shard, paths)."""
        keys = ("seed", "train_patches", "patch", "val_images", "test_images", "presets", "on_error", "clean_column",
                "channels")
        out = {k: getattr(self, k) for k in keys}
        if self.scan_scale is not None:  # absent when unset, so datasets made before scales still resume
            out["scan_scale"] = self.scan_scale.label()
        out.update({"grain": parse_grain(self.grain)} if self.grain else {})  # absent when unset, as scales
        return {**out, **({"infrared": self.infrared} if self.infrared else {})}  # likewise

    def cli(self) -> str:
        args = ["dustbench", "make-dataset", "--clean", self.clean, "--out", self.out, "--seed", self.seed,
                "--train-patches", self.train_patches, "--patch", self.patch, "--val-images", self.val_images,
                "--test-images", self.test_images, "--presets", self.presets, "--on-error", self.on_error,
                "--channels", self.channels]
        if self.clean_column:
            args += ["--clean-column", self.clean_column]
        args += ["--scan-scale", str(self.scan_scale)] if self.scan_scale is not None else []
        args += ["--grain", parse_grain(self.grain)] if self.grain else []
        args += ["--infrared", self.infrared] if self.infrared else []
        return " ".join(shlex.quote(str(a)) for a in args)


__all__ = ["DatasetConfig"]
