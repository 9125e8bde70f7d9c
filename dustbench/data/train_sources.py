"""Training data for the shared trainer: one adapter over every source, resumable and shardable.

``open_train_data(spec, ...)`` understands

* ``stream`` (or ``stream:SOURCES``): :class:`dustbench.data.stream.DamageStream`, damage drawn
  on the fly on crops of the built-in photographs (or SOURCES, e.g. a make-dataset folder's
  training sources). Note that ``builtin`` are the same five photographs the ``builtin``
  validation/test crops come from (other pixels, other damage): not a held-out scene set.
* ``builtin-train``: damage synthesized on crops of the built-in images that are *not* in the
  ``builtin`` evaluation sets (see :data:`dustbench.sources.BUILTIN_TRAIN`), so validation and
  test stay held out.
* a folder written by ``dustbench make-dataset`` (its ``train`` split), or a folder of pairs
  (``damaged/`` + ``clean/`` [+ ``mask/``], or ``train/damaged/`` ...), loaded into memory.
* an in-memory list of ``(damaged, clean, mask)`` arrays (:class:`MemoryPairs`; tests).

Map-style sources are deterministic per (seed, epoch, index): the epoch's order is a permutation
drawn from ``SeedSequence([seed, epoch])`` and every crop/augmentation from
``SeedSequence([seed, epoch, index])``, (the stream: its own ``SeedSequence`` per sample), so a resumed run sees exactly the samples it
would have seen, on any number of workers, without replaying the skipped ones. Ranks take interleaved
slices of that permutation (``perm[rank::world]``; see :mod:`dustbench.train.batches`). Samples
are dicts of float32 C×H×W arrays in [0, 1]: ``damaged``, ``clean``, ``mask`` (1×H×W, opacity).
"""
from __future__ import annotations

import math

import numpy as np

from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from ..io import mask_opacity, to_chw, with_channels
from ..sources import BUILTIN_TRAIN, builtin_train_sources
from ..synth import DEFAULT_PRESETS, library, regenerate, resolve_presets
from ..synth.grain import grain_clean, parse_grain
from ..synth.scale import ScanScale, draw_scaled_params, scale_label
from .codec import decode_row, load_split
from .eval_data import open_data
from .stream import DamageStream


def _rgb_chw(image) -> np.ndarray:
    """Any image as float32 3×H×W in [0, 1] (grey repeated): every training source is RGB."""
    return to_chw(with_channels(np.asarray(image), 3))


def _opacity_chw(mask) -> np.ndarray:
    return np.ascontiguousarray(mask_opacity(mask)[None])


def random_patch(arrays: list[np.ndarray], rng: np.random.Generator, patch: int, flips: bool = True) -> list[np.ndarray]:
    """The same random patch×patch crop (and dihedral flip/rotation) of C×H×W arrays."""
    h, w = arrays[0].shape[-2:]
    if h < patch or w < patch:
        raise DustbenchError(f"training image of {h}×{w} px is smaller than the {patch}-px patch; "
                             "use a smaller --patch")
    y, x = int(rng.integers(0, h - patch + 1)), int(rng.integers(0, w - patch + 1))
    out = [a[..., y:y + patch, x:x + patch] for a in arrays]
    if flips:
        k, flip = int(rng.integers(4)), bool(rng.integers(2))
        out = [np.rot90(a, k, axes=(-2, -1)) for a in out]
        if flip:
            out = [a[..., ::-1] for a in out]
    return [np.ascontiguousarray(a) for a in out]


class PatchSource:
    """A map-style training source: :meth:`sample` is a pure function of (epoch, index)."""

    patch: int = 128
    seed: int = 0

    def __len__(self) -> int:  # samples per epoch
        raise NotImplementedError

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def samples(self, epoch: int, indices: list[int]) -> list[dict]:
        """``[sample(epoch, i) for i in indices]``; a source that makes a batch faster together overrides it."""
        return [self.sample(epoch, int(i)) for i in indices]

    def describe(self) -> dict:
        return {"kind": type(self).__name__, "samples_per_epoch": len(self), "patch": self.patch}

    def rng(self, epoch: int, index: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, epoch, index]))


class MemoryPairs(PatchSource):
    """In-memory ``(damaged, clean, mask)`` arrays (H×W[×C], any dtype; mask may be None).

    Each epoch yields ``samples_per_epoch`` random patches (default: one per pair per
    ``ceil(area / patch²)``), cropped and flipped identically in all three arrays.
    """

    def __init__(self, pairs, patch: int = 128, seed: int = 0, samples_per_epoch: int | None = None,
                 flips: bool = True, name: str = "memory"):
        self.pairs = []
        for damaged, clean, mask in pairs:
            d, c = _rgb_chw(damaged), _rgb_chw(clean)
            if d.shape != c.shape:
                raise DustbenchError(f"{name}: damaged {d.shape} and clean {c.shape} differ in shape")
            m = np.zeros((1, *d.shape[1:]), np.float32) if mask is None else _opacity_chw(mask)
            self.pairs.append((d, c, m))
        if not self.pairs:
            raise DustbenchError(f"{name}: no training pairs")
        self.patch, self.seed, self.flips, self.name = int(patch), int(seed), flips, name
        area = sum(math.ceil(p[0].shape[1] * p[0].shape[2] / self.patch ** 2) for p in self.pairs)
        self.n = int(samples_per_epoch or area)

    def __len__(self) -> int:
        return self.n

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        rng = self.rng(epoch, index)
        d, c, m = self.pairs[int(rng.integers(len(self.pairs)))]
        d, c, m = random_patch([d, c, m], rng, self.patch, self.flips)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "pairs": len(self.pairs)}


class SynthPatches(PatchSource):
    """Damage synthesized on random ``context``×``context`` crops of clean images, then a random
    ``patch`` crop of that (so artifacts have the scale of the 192-px ``builtin`` evaluation crops;
    with ``scan_scale`` the crop is drawn as a crop of a film frame of that short side instead, see
    ``dustbench.synth.scale``: the scale of ``builtin-v2``).

    Synthesis per crop would dominate a CPU training step (docs/performance.md), so a pool of
    ``pool`` damaged crops is drawn once (lazily, entry j from ``SeedSequence([seed, -1, j])``)
    and every sample is a random patch of a random pool entry with a random flip/rotation.
    """

    def __init__(self, images, presets=DEFAULT_PRESETS, patch: int = 128, seed: int = 0, pool: int = 256,
                 context: int = 192, samples_per_epoch: int = 1024, name: str = "synth", scan_scale=None,
                 grain: str | None = None):
        self.images = [(sid, with_channels(np.asarray(img), 3)) for sid, img in images]
        if not self.images:
            raise DustbenchError(f"{name}: no clean images")
        self.presets = resolve_presets(presets, library()) if isinstance(presets, str) else list(presets)
        self.preset_spec = presets if isinstance(presets, str) else ",".join(p.name for p in self.presets)
        self.patch, self.seed, self.pool_size, self.name = int(patch), int(seed), int(pool), name
        self.context, self.n = max(int(context), self.patch), int(samples_per_epoch)
        self._pool: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
        self.scan_scale, self.grain = ScanScale.parse(scan_scale), parse_grain(grain)

    def __len__(self) -> int:
        return self.n

    def pool_entry(self, j: int):
        if j not in self._pool:
            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2 ** 31, j]))
            _, image = self.images[int(rng.integers(len(self.images)))]
            h, w = image.shape[:2]
            c = min(self.context, h, w)
            y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            clean = np.ascontiguousarray(image[y:y + c, x:x + c])
            preset = self.presets[int(rng.integers(len(self.presets)))]
            frame, params = draw_scaled_params(preset, clean.shape, rng, self.scan_scale)
            clean, _ = grain_clean(clean, self.grain, frame, [self.seed, 2 ** 31, j])  # at the frame's size
            s = regenerate(clean, params)
            self._pool[j] = (to_chw(s.damaged), to_chw(clean), _opacity_chw(s.mask))
        return self._pool[j]

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        rng = self.rng(epoch, index)
        d, c, m = random_patch(list(self.pool_entry(int(rng.integers(self.pool_size)))), rng, self.patch)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "images": [sid for sid, _ in self.images],
                "presets": self.preset_spec, "pool": self.pool_size, "context": self.context,
                "scan_scale": scale_label(self.scan_scale), **({"grain": self.grain} if self.grain else {})}


def builtin_train_images() -> list[tuple[str, np.ndarray]]:
    """The built-in training images (:data:`dustbench.sources.BUILTIN_TRAIN`), decoded."""
    out = [(src.id, src.load()) for src in builtin_train_sources()]
    if not out:
        raise DustbenchError(f"none of the built-in training images ({', '.join(BUILTIN_TRAIN)}) were found "
                             "in scikit-image's data folder")
    return out


class HFPairs(PatchSource):
    """The ``train`` split of a ``dustbench make-dataset`` folder, decoded on access."""

    def __init__(self, path, patch: int = 128, seed: int = 0, split: str = "train"):
        self.path, self.split = str(path), split
        self.ds = load_split(path, split)
        self.patch, self.seed = int(patch), int(seed)

    def __len__(self) -> int:
        return len(self.ds)

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        row = decode_row(self.ds[int(index)])
        mask = row.get("mask")
        d, c = _rgb_chw(row["damaged"]), _rgb_chw(row["clean"])
        m = _opacity_chw(mask) if mask is not None else np.zeros((1, *d.shape[1:]), np.float32)
        d, c, m = random_patch([d, c, m], self.rng(epoch, index), self.patch)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "path": self.path, "split": self.split}


class StreamSource(PatchSource):
    """:class:`dustbench.data.stream.DamageStream` used map-style through its ``sample(g)``.

    The stream decides which global indices each rank sees (``indices(rank=, world_size=)``, its
    own block order); we batch them in that order, so resuming at batch b needs no replay.
    ``stream:PATH`` with a make-dataset folder streams that dataset's training sources.
    """

    def __init__(self, sources: str, presets: str, patch: int, seed: int, samples_per_epoch: int | None = None,
                 scan_scale=None, grain: str | None = None, damage_share: float | None = None):
        kwargs = {"patch": patch, "seed": seed, "samples_per_epoch": samples_per_epoch, "damage_share": damage_share}
        if scan_scale is not None:  # else a dataset's own scale (from_dataset) or whole frames
            kwargs["scan_scale"] = scan_scale
        if grain is not None:  # else a dataset's own grain (from_dataset) or none
            kwargs["grain"] = grain
        if parse_data_spec(sources).is_dataset_dict:
            self.stream = DamageStream.from_dataset(sources, "train", **kwargs)
        else:
            self.stream = DamageStream(sources, presets, **kwargs)
        self.patch, self.seed = int(patch), int(seed)
        self.spec = {"kind": "DamageStream", "sources": str(sources), "presets": presets, "patch": patch,
                     "samples_per_epoch": self.stream.samples_per_epoch,
                     "scan_scale": scale_label(self.stream.scan_scale),
                     **({"grain": self.stream.grain} if self.stream.grain else {}),
                     **({"damage_share": damage_share} if damage_share is not None else {})}

    def __len__(self) -> int:
        return int(self.stream.samples_per_epoch)

    def order(self, epoch: int, rank: int, world: int) -> np.ndarray:
        return np.asarray(self.stream.indices(0, 1, rank=rank, world_size=world), dtype=np.int64)

    def sample(self, epoch: int, index: int) -> dict:
        return self.samples(epoch, [index])[0]

    def samples(self, epoch: int, indices: list[int]) -> list[dict]:
        """The stream's samples, their damage rendered together (``DamageStream.samples``)."""
        self.stream.set_epoch(epoch)
        return [{k: s[k] for k in ("damaged", "clean", "mask")} for s in self.stream.samples([int(i) for i in indices])]

    def describe(self) -> dict:
        return dict(self.spec)


def open_train_data(spec, patch: int = 128, seed: int = 0, rank: int = 0, world: int = 1,
                    presets: str = DEFAULT_PRESETS, batch_size: int = 32, steps_per_epoch: int | None = None,
                    pool: int = 256, scan_scale=None, grain: str | None = None,
                    damage_share: float | None = None):
    """A source for ``spec`` (see the module docstring); PatchSource objects pass through.

    ``scan_scale`` (None, S or ``(lo, hi)``; see ``dustbench.synth.scale``) applies where damage is
    synthesized (``stream``, ``builtin-train``); pairs already damaged ignore it, and so does ``grain``
    (a film stock, ``dustbench.synth.grain``: grain added to the clean images before their damage).
    ``damage_share`` (the stream only): the share of patches that hold damage, the rest left clean
    (see :class:`~dustbench.data.stream.DamageStream`); None: as drawn."""
    if isinstance(spec, PatchSource):
        return spec
    ds = parse_data_spec(spec)
    per_epoch = steps_per_epoch * batch_size * world if steps_per_epoch else None
    if ds.kind == "stream":
        return StreamSource(ds.arg or "builtin", presets, patch, seed, per_epoch, scan_scale, grain, damage_share)
    if damage_share is not None:
        raise DustbenchError(f"--data {ds.text}: damage_share applies to 'stream' data only (damage drawn per patch)")
    if ds.kind == "builtin-train":
        return SynthPatches(builtin_train_images(), presets, patch, seed, pool=pool,
                            samples_per_epoch=per_epoch or 1024, name="builtin-train", scan_scale=scan_scale,
                            grain=grain)
    if ds.is_dataset_dict:
        return HFPairs(ds.path, patch, seed)
    if ds.kind not in ("pairs", "split_pairs"):
        raise DustbenchError(f"--data {ds.text}: expected 'stream', 'builtin-train', a dataset folder written by "
                             "`dustbench make-dataset`, or a folder of pairs (damaged/ + clean/)")
    path = ds.path
    split = "train" if "train" in ds.splits() else "test"  # a bare folder is one split
    pairs = [(s.damaged, s.clean, s.mask) for s in open_data(ds, split)]
    return MemoryPairs(pairs, patch, seed, name=str(path))


