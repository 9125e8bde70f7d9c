"""The built-in evaluation sets, versioned: damage synthesized on the built-in photographs.

* ``builtin`` (v1, the first published leaderboard): 192-px crops, each drawn as a *whole* film
  frame, so a median speck is half a pixel; kept byte for byte as it was published.
* ``builtin-v2`` (the standard suite): each photograph at full resolution, drawn as a crop of a
  35 mm frame scanned on a flatbed (2400 dpi, 2,268-px short side) and on a film scanner (4000 dpi,
  3,780 px), with the calibrated negative and slide mixes (see :data:`SUITE`).
* ``builtin-v2-ir`` and ``builtin-v2-ir-silver`` (the infrared track): ``builtin-v2``'s samples,
  byte for byte, each with the infrared plane a film scanner records (``dustbench.synth.infrared``):
  of colour-negative or slide film as its mix says, or of silver black-and-white film for every
  sample (where infrared cleaning fails). Fingerprinted with their planes.
"""
from __future__ import annotations

import hashlib
from dataclasses import replace
from functools import lru_cache

import numpy as np

from ..errors import DustbenchError
from ..io import mask_to_image
from ..lockfile import drift, drift_note
from ..sources import builtin_sources, open_sources
from ..synth import (DEFAULT_PRESETS, families_present, infrared_rng, library, render, render_infrared,
                     resolve_presets, sample_infrared, short_side_px, synthesize)
from ..synth.infrared import INFRARED_VERSION
from .eval_base import EvalData, Sample, fingerprint_line, hash_arrays

BUILTIN_SEED = 1234
BUILTIN_CROP = 192
BUILTIN_PRESETS = DEFAULT_PRESETS
BUILTIN = {"test": (10, "right"), "validation": (5, "left")}  # split -> (samples, half of each photo)
# v1 keeps the damage it was published with: the heavy mixes as they were before their calibration
# (the same draws, component by component).
V1_FROZEN = {
    "negative_scan_heavy": ("dust_negative_heavy_sharp", "dirt_negative_heavy", "hair_short_negative_heavy",
                            "hair_long_negative_heavy", "scratch_emulsion_light"),
    "slide_scan_heavy": ("dust_slide_heavy_sharp", "dirt_slide_heavy", "hair_short_slide_heavy",
                         "hair_long_slide_heavy", "scratch_base_light"),
}

# builtin-v2: every (photograph, scanner, mix), `draws` times per split; test = the right two thirds
# of each photograph, validation = the left third (no shared pixel). With 4 draws (80 test samples)
# the 95 % intervals of identity and oracle_inpaint are 1.5 dB apart (docs/evaluation.md).
SUITE = {
    "seed": 2025,
    "scales": {"flatbed": ("35mm", 2400), "film_scanner": ("35mm", 4000)},
    "presets": ("negative_scan_heavy", "slide_scan_heavy"),
    "draws": {"test": 4, "validation": 1},  # damage drawn anew on the same crop: narrower intervals
    "regions": {"test": (1 / 3, 1.0), "validation": (0.0, 1 / 3)},  # fractions of the width
}
SPECS = {"builtin": "v1", "builtin-v2": "v2", "builtin-v2-ir": "v2-ir", "builtin-v2-ir-silver": "v2-ir-silver"}
# infrared versions of v2 -> the film every sample is on (None: colour negative or slide, as its mix says)
INFRARED_SUITES = {"v2-ir": None, "v2-ir-silver": "silver_bw"}
# The fingerprints the published results were computed on (evaluate's data fingerprint): a suite
# rendered otherwise (another NumPy/OpenCV release, a changed preset) is another test set.
PUBLISHED = {
    ("v2", "test"): "7a6fcaedbc0fa55a781d52a17f809ab056395f5fb8b084d8ea7e58b21a88a8c7",
    ("v2", "validation"): "632d82cb3b8b7c9032b07d17ad884f44cbd7c35ef2e124988e26f4eca5f8a330",
    ("v1", "test"): "f511b83c3a01c4e3bc8e7922bef36bf4b8697d50f9c144cb12b7fd784b7c4755",
    ("v1", "validation"): "4a7132c3d12253e6cca740d1f7d98301a31eb3638b1320472705e57d5f25af2f",
    ("v2-ir", "test"): "d05676428b955f020ab3ec077f7c5b63426cc31ffde97efbab31adc2d4290b34",
    ("v2-ir", "validation"): "a10119924b787819a087dff3cc3e9807dee942bc3781f7aadfccdac5636f0437",
    ("v2-ir-silver", "test"): "28aa926040f7625ca915f8a3eb25f25e72d7a134221908f8ac09808cf85b3575",
    ("v2-ir-silver", "validation"): "89a241c0bf6135ec7bf0c6aa6b1d18c9e620da0bbe9c9c6a48dd047422eb238a",
}
SPLIT_CODES = {"test": 0, "validation": 1}
MAX_REDRAWS = 20  # a crop of a frame can be clean; a test sample must hold damage


def builtin_splits(infrared: bool = False) -> list[tuple[str, str]]:
    """Every built-in evaluation set as ``(spec, split)`` for :func:`dustbench.data.open_data`; the
    infrared versions of builtin-v2 (the same damaged images) only with ``infrared``."""
    return [(spec, split) for spec, version in SPECS.items() if infrared or version not in INFRARED_SUITES
            for split in SPLIT_CODES]


class BuiltinData(EvalData):
    kind = "builtin"

    def __init__(self, split: str = "test", version: str = "v1"):
        if split not in SPLIT_CODES:
            raise DustbenchError(f"builtin data has splits {', '.join(SPLIT_CODES)}, not {split!r}")
        if version not in SPECS.values():
            raise DustbenchError(f"builtin data has versions {', '.join(SPECS.values())}, not {version!r}")
        self.version = version
        super().__init__(next(k for k, v in SPECS.items() if v == version), split, None)

    def _samples(self) -> tuple[Sample, ...]:
        if self.version in INFRARED_SUITES:
            return _v2_infrared_samples(self.version, self.split)
        return _v1_samples(self.split) if self.version == "v1" else _v2_samples(self.split)

    def ids(self) -> list[str]:
        return [s.id for s in self._samples()]

    def __iter__(self):
        return iter(self._samples())

    def get(self, sample_id: str) -> Sample:
        found = {s.id: s for s in self._samples()}.get(sample_id)
        if found is None:
            raise self._missing(sample_id)
        return found

    def validation(self):
        return BuiltinData("validation", self.version) if self.split != "validation" else None

    def fingerprint(self) -> str:
        """The whole split's data fingerprint, as ``evaluate`` computes it over the samples it scores."""
        h = hashlib.sha256()
        for sample in self._samples():
            h.update(fingerprint_line(sample))
        return h.hexdigest()

    def check_published(self, allow_drift: bool = False) -> dict:
        """Compare the rendered suite with the one its results were published on.

        A mismatch (another NumPy/OpenCV than the lock's, a changed preset) raises a clear error
        naming the drifted versions, unless ``allow_drift``; the returned record goes into the
        results either way, so a score on a drifted suite says so."""
        published, rendered = PUBLISHED[(self.version, self.split)], self.fingerprint()
        record = {"published": published, "rendered": rendered, "matches": published == rendered}
        if record["matches"]:
            return record
        if not allow_drift:
            advice = "install the locked versions (make test / requirements.lock)" if drift() else \
                "the versions match the lock, so the presets or synthesis code changed: republish the board"
            raise DustbenchError(
                f"{self.name}: the rendered suite (fingerprint {rendered[:12]}) is not the one the leaderboard "
                f"was published on ({published[:12]}), so its scores would not be comparable; {drift_note()}; "
                f"{advice}, or pass --allow-suite-drift to evaluate anyway (recorded in the results)")
        return {**record, "allowed_drift": True, "note": drift_note()}

    def describe(self) -> dict:
        if self.version == "v1":
            n, half = BUILTIN[self.split]
            return {**super().describe(), "version": "v1", "seed": BUILTIN_SEED, "crop": BUILTIN_CROP,
                    "presets": BUILTIN_PRESETS, "scan_scale": None, "region": f"{half} half of each built-in photograph"}
        lo, hi = SUITE["regions"][self.split]
        infrared = {} if self.version not in INFRARED_SUITES else {"infrared": {
            "film": INFRARED_SUITES[self.version] or "colour_negative (negative mixes), slide (slide mixes)",
            "model": f"dustbench.synth.infrared v{INFRARED_VERSION}"}}
        return {**super().describe(), "version": self.version, "seed": SUITE["seed"], "presets": list(SUITE["presets"]),
                "draws": SUITE["draws"][self.split],
                "scan_scale": {k: {"film": f, "dpi": d, "short_side_px": short_side_px(f, d)}
                               for k, (f, d) in SUITE["scales"].items()},
                "region": f"columns {lo:.3g}-{hi:.3g} of the width of each built-in photograph, full resolution",
                **infrared}


def _sources():
    return builtin_sources() or open_sources("builtin")  # the latter raises the clear error


def _sample(sid: str, s, clean: np.ndarray, preset: str, where: str) -> Sample:
    mask = mask_to_image(s.mask, clean.dtype)
    return Sample(sid, s.damaged, clean, mask, s.labels, families_present(s.labels), [preset],
                  hash_arrays(sid, s.damaged, clean, mask), f"{where}/{sid}", params=s.params)


@lru_cache(maxsize=2)
def _v1_samples(split: str) -> tuple[Sample, ...]:
    sources = _sources()
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
        s = synthesize(clean, V1_FROZEN.get(preset.name, preset), rng)
        out.append(_sample(f"{i:02d}_{source.id.split(':')[-1]}", s, clean, preset.name, f"builtin:{split}"))
    return tuple(out)


def suite_plan(split: str) -> list[tuple[int, str, str, int]]:
    """builtin-v2's samples in order: (photograph index, preset, scanner, frame short side in px)."""
    return [(p, preset, scanner, short_side_px(*SUITE["scales"][scanner]))
            for p in range(len(_sources())) for _ in range(SUITE["draws"][split]) for scanner in SUITE["scales"]
            for preset in SUITE["presets"]]


@lru_cache(maxsize=2)
def _v2_samples(split: str) -> tuple[Sample, ...]:
    sources = _sources()
    lo, hi = SUITE["regions"][split]
    out = []
    for i, (p, preset, scanner, short) in enumerate(suite_plan(split)):
        photo = sources[p].load()
        w = photo.shape[1]
        clean = np.ascontiguousarray(photo[:, round(lo * w):round(hi * w)])
        rng = np.random.default_rng(np.random.SeedSequence([SUITE["seed"], SPLIT_CODES[split], i]))
        for _ in range(MAX_REDRAWS):  # the next draws of the same generator: still a pure function of i
            s = synthesize(clean, preset, rng, scan_scale=short)
            if s.mask.any():
                break
        side = "negative" if preset.startswith("negative") else "slide"
        out.append(_sample(f"{i:02d}_{sources[p].id.split(':')[-1]}_{side}_{short}", s, clean, preset,
                           f"builtin-v2:{split}"))
    return tuple(out)


@lru_cache(maxsize=2)
def _v2_infrared_samples(version: str, split: str) -> tuple[Sample, ...]:
    """builtin-v2's samples with their infrared planes, drawn from ``[SUITE seed, split, i]`` apart
    from the damage (see :data:`INFRARED_SUITES`)."""
    spec = next(k for k, v in SPECS.items() if v == version)
    out = []
    for i, s in enumerate(_v2_samples(split)):
        film = INFRARED_SUITES[version] or ("colour_negative" if s.presets[0].startswith("negative") else "slide")
        ir_params = sample_infrared(film, infrared_rng([SUITE["seed"], SPLIT_CODES[split], i]))
        params = {**s.params, "infrared": ir_params}
        plane = render_infrared(s.clean, render(s.params, s.clean.shape), s.params, ir_params)
        out.append(replace(s, params=params, infrared=plane, source=f"{spec}:{split}/{s.id}",
                           digest=hash_arrays(s.id, s.damaged, s.clean, s.mask, plane)))
    return tuple(out)

