"""The ``builtin`` evaluation sets: damage synthesized on crops of the built-in photographs."""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from ..errors import DustbenchError
from ..io import mask_to_image
from ..sources import builtin_sources, open_sources
from ..synth import DEFAULT_PRESETS, families_present, library, resolve_presets, synthesize
from .eval_base import EvalData, Sample, hash_arrays

BUILTIN_SEED = 1234
BUILTIN_CROP = 192
BUILTIN_PRESETS = DEFAULT_PRESETS
BUILTIN = {"test": (10, "right"), "validation": (5, "left")}  # split -> (samples, half of each photo)


def builtin_splits() -> list[tuple[str, str]]:
    """Every built-in evaluation set as ``(spec, split)`` for :func:`dustbench.data.open_data`."""
    return [("builtin", split) for split in BUILTIN]


class BuiltinData(EvalData):
    kind = "builtin"

    def __init__(self, split: str = "test"):
        if split not in BUILTIN:
            raise DustbenchError(f"builtin data has splits {', '.join(BUILTIN)}, not {split!r}")
        super().__init__("builtin", split, None)

    def ids(self) -> list[str]:
        return [s.id for s in _builtin_samples(self.split)]

    def __iter__(self):
        return iter(_builtin_samples(self.split))

    def get(self, sample_id: str) -> Sample:
        found = {s.id: s for s in _builtin_samples(self.split)}.get(sample_id)
        if found is None:
            raise self._missing(sample_id)
        return found

    def validation(self):
        return BuiltinData("validation") if self.split != "validation" else None

    def describe(self) -> dict:
        n, half = BUILTIN[self.split]
        return {**super().describe(), "seed": BUILTIN_SEED, "crop": BUILTIN_CROP, "presets": BUILTIN_PRESETS,
                "region": f"{half} half of each built-in photograph"}


@lru_cache(maxsize=2)
def _builtin_samples(split: str) -> tuple[Sample, ...]:
    sources = builtin_sources() or open_sources("builtin")  # the latter raises the clear error
    presets = resolve_presets(BUILTIN_PRESETS, library())
    n, half = BUILTIN[split]
    c = BUILTIN_CROP
    out = []
    for i in range(n):
        rng = np.random.default_rng(np.random.SeedSequence([BUILTIN_SEED, list(BUILTIN).index(split), i]))
        source = sources[i % len(sources)]
        photo = source.load()
        h, w = photo.shape[:2]
        lo, hi = (0, w // 2 - c) if half == "left" else (w // 2, w - c)  # halves never share pixels
        y0, x0 = int(rng.integers(0, h - c + 1)), int(rng.integers(lo, hi + 1))
        clean = np.ascontiguousarray(photo[y0:y0 + c, x0:x0 + c])
        preset = presets[int(rng.integers(len(presets)))]
        s = synthesize(clean, preset, rng)
        sid = f"{i:02d}_{source.id.split(':')[-1]}"
        mask = mask_to_image(s.mask, clean.dtype)
        out.append(Sample(sid, s.damaged, clean, mask, s.labels, families_present(s.labels),
                          [preset.name], hash_arrays(sid, s.damaged, clean, mask), f"builtin:{split}/{sid}",
                          params=s.params))
    return tuple(out)


