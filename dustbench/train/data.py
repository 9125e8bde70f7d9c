"""Training data for the shared trainer: one adapter over every source, resumable and shardable.

``open_train_data(spec, ...)`` understands

* ``stream`` (or ``stream:SOURCES``): :class:`dustbench.data.stream.DamageStream`, damage drawn
  on the fly on crops of the built-in photographs (or SOURCES, e.g. a make-dataset folder's
  training sources). Note that ``builtin`` are the same five photographs the ``builtin``
  validation/test crops come from (other pixels, other damage): not a held-out scene set.
* ``builtin-train``: damage synthesized on crops of the built-in images that are *not* in the
  ``builtin`` evaluation sets (see :data:`BUILTIN_TRAIN`), so validation and test stay held out.
* a folder written by ``dustbench make-dataset`` (its ``train`` split), or a folder of pairs
  (``damaged/`` + ``clean/`` [+ ``mask/``], or ``train/damaged/`` ...), loaded into memory.
* an in-memory list of ``(damaged, clean, mask)`` arrays (:class:`MemoryPairs`; tests).

Map-style sources are deterministic per (seed, epoch, index): the epoch's order is a permutation
drawn from ``SeedSequence([seed, epoch])`` and every crop/augmentation from
``SeedSequence([seed, epoch, index])``, (the stream: its own ``SeedSequence`` per sample), so a resumed run sees exactly the samples it
would have seen, on any number of workers, without replaying the skipped ones. Ranks take interleaved
slices of that permutation (``perm[rank::world]``). Batches are dicts of float32 N×C×H×W
tensors in [0, 1]: ``damaged``, ``clean``, ``mask`` (N×1×H×W, artifact opacity).
"""
from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Iterator

import numpy as np
import torch

from ..errors import DustbenchError
from ..io import dtype_max

# Built-in images (scikit-image) that the `builtin` evaluation sets do not use. Only 8: results
# trained on them over-fit to a handful of scenes, and 6 of them are grey (repeated to RGB).
BUILTIN_TRAIN = ("motorcycle_left", "motorcycle_right", "camera", "brick", "grass", "gravel", "moon", "coins")
DEFAULT_PRESETS = "*_scan_*"  # the film-scan mixes the builtin evaluation sets use


def _chw(image: np.ndarray) -> np.ndarray:
    """H×W[×C] of any supported dtype -> float32 C×H×W in [0, 1] (grey kept as 1 channel)."""
    f = image.astype(np.float32) / np.float32(dtype_max(image.dtype)) if image.dtype != np.float32 else image
    f = f[None] if f.ndim == 2 else f.transpose(2, 0, 1)
    return np.ascontiguousarray(f)


def _rgb(image: np.ndarray) -> np.ndarray:
    """Grey H×W (or H×W×1) repeated to H×W×3; RGB passed through."""
    if image.ndim == 2:
        return np.repeat(image[:, :, None], 3, axis=2)
    return np.repeat(image, 3, axis=2) if image.shape[2] == 1 else image


def augment(arrays: list[np.ndarray], rng: np.random.Generator, patch: int, flips: bool = True) -> list[np.ndarray]:
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
            d, c = _chw(_rgb(np.asarray(damaged))), _chw(_rgb(np.asarray(clean)))
            if d.shape != c.shape:
                raise DustbenchError(f"{name}: damaged {d.shape} and clean {c.shape} differ in shape")
            m = np.zeros((1, *d.shape[1:]), np.float32) if mask is None else _mask(mask)
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
        d, c, m = augment([d, c, m], rng, self.patch, self.flips)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "pairs": len(self.pairs)}


def _mask(mask) -> np.ndarray:
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m.max(axis=2)
    f = m.astype(np.float32) / np.float32(dtype_max(m.dtype)) if m.dtype not in (np.float32, bool) else m
    return np.ascontiguousarray(f.astype(np.float32)[None])


class SynthPatches(PatchSource):
    """Damage synthesized on random ``context``×``context`` crops of clean images, then a random
    ``patch`` crop of that (so artifacts have the scale of the 192-px ``builtin`` evaluation crops).

    Synthesis costs ~0.15 s per 192² crop, which would dominate a CPU training step, so a pool of
    ``pool`` damaged crops is drawn once (lazily, entry j from ``SeedSequence([seed, -1, j])``)
    and every sample is a random patch of a random pool entry with a random flip/rotation.
    """

    def __init__(self, images, presets=DEFAULT_PRESETS, patch: int = 128, seed: int = 0, pool: int = 256,
                 context: int = 192, samples_per_epoch: int = 1024, name: str = "synth"):
        from ..synth.presets import library, resolve_presets

        self.images = [(sid, _rgb(np.asarray(img))) for sid, img in images]
        if not self.images:
            raise DustbenchError(f"{name}: no clean images")
        self.presets = resolve_presets(presets, library()) if isinstance(presets, str) else list(presets)
        self.preset_spec = presets if isinstance(presets, str) else ",".join(p.name for p in self.presets)
        self.patch, self.seed, self.pool_size, self.name = int(patch), int(seed), int(pool), name
        self.context, self.n = max(int(context), self.patch), int(samples_per_epoch)
        self._pool: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def pool_entry(self, j: int):
        if j not in self._pool:
            from ..synth import synthesize

            rng = np.random.default_rng(np.random.SeedSequence([self.seed, 2 ** 31, j]))
            _, image = self.images[int(rng.integers(len(self.images)))]
            h, w = image.shape[:2]
            c = min(self.context, h, w)
            y, x = int(rng.integers(0, h - c + 1)), int(rng.integers(0, w - c + 1))
            clean = np.ascontiguousarray(image[y:y + c, x:x + c])
            s = synthesize(clean, self.presets[int(rng.integers(len(self.presets)))], rng)
            self._pool[j] = (_chw(s.damaged), _chw(clean), _mask(s.mask))
        return self._pool[j]

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        rng = self.rng(epoch, index)
        d, c, m = augment(list(self.pool_entry(int(rng.integers(self.pool_size)))), rng, self.patch)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "name": self.name, "images": [sid for sid, _ in self.images],
                "presets": self.preset_spec, "pool": self.pool_size, "context": self.context}


def builtin_train_images() -> list[tuple[str, np.ndarray]]:
    """The :data:`BUILTIN_TRAIN` images (read from scikit-image's data folder, no download)."""
    from ..io import read_image
    import skimage.data

    folder = Path(os.path.dirname(skimage.data.__file__))
    out = []
    for name in BUILTIN_TRAIN:
        path = folder / f"{name}.png"
        if path.is_file():
            out.append((f"skimage:{name}", read_image(path)))
    if not out:
        raise DustbenchError(f"none of the built-in training images ({', '.join(BUILTIN_TRAIN)}) were found "
                             "in scikit-image's data folder")
    return out


class HFPairs(PatchSource):
    """The ``train`` split of a ``dustbench make-dataset`` folder, decoded on access."""

    def __init__(self, path, patch: int = 128, seed: int = 0, split: str = "train"):
        from ..data import load_split

        self.path, self.split = str(path), split
        self.ds = load_split(path, split)
        self.patch, self.seed = int(patch), int(seed)

    def __len__(self) -> int:
        return len(self.ds)

    def sample(self, epoch: int, index: int) -> dict[str, np.ndarray]:
        from ..data import decode_row

        row = decode_row(self.ds[int(index)])
        mask = row.get("mask")
        d, c = _chw(_rgb(row["damaged"])), _chw(_rgb(row["clean"]))
        m = _mask(mask) if mask is not None else np.zeros((1, *d.shape[1:]), np.float32)
        d, c, m = augment([d, c, m], self.rng(epoch, index), self.patch)
        return {"damaged": d, "clean": c, "mask": m}

    def describe(self) -> dict:
        return {**super().describe(), "path": self.path, "split": self.split}


class StreamSource(PatchSource):
    """:class:`dustbench.data.stream.DamageStream` used map-style through its ``sample(g)``.

    The stream decides which global indices each rank sees (``indices(rank=, world_size=)``, its
    own block order); we batch them in that order, so resuming at batch b needs no replay.
    ``stream:PATH`` with a make-dataset folder streams that dataset's training sources.
    """

    def __init__(self, sources: str, presets: str, patch: int, seed: int, samples_per_epoch: int | None = None):
        try:
            from ..data.stream import DamageStream
        except ImportError as exc:
            raise DustbenchError(f"--data stream needs dustbench.data.stream.DamageStream ({exc}); "
                                 "use --data builtin-train or a dataset folder") from None
        kwargs = {"patch": patch, "seed": seed, "samples_per_epoch": samples_per_epoch}
        if (Path(sources).expanduser() / "dataset_dict.json").is_file():
            self.stream = DamageStream.from_dataset(sources, "train", **kwargs)
        else:
            self.stream = DamageStream(sources, presets, **kwargs)
        self.patch, self.seed = int(patch), int(seed)
        self.spec = {"kind": "DamageStream", "sources": str(sources), "presets": presets, "patch": patch,
                     "samples_per_epoch": self.stream.samples_per_epoch}

    def __len__(self) -> int:
        return int(self.stream.samples_per_epoch)

    def order(self, epoch: int, rank: int, world: int) -> np.ndarray:
        return np.asarray(self.stream.indices(0, 1, rank=rank, world_size=world), dtype=np.int64)

    def sample(self, epoch: int, index: int) -> dict:
        self.stream.set_epoch(epoch)
        s = self.stream.sample(int(index))
        return {k: s[k] for k in ("damaged", "clean", "mask")}

    def describe(self) -> dict:
        return dict(self.spec)


def collate(items: list[dict]) -> dict[str, torch.Tensor]:
    """Stack samples (numpy or torch C×H×W) into N×C×H×W float32 tensors."""
    out = {}
    for key in ("damaged", "clean", "mask"):
        if key in items[0]:
            out[key] = torch.stack([torch.as_tensor(np.ascontiguousarray(it[key])) if isinstance(it[key], np.ndarray)
                                    else it[key] for it in items]).float()
    if "mask" not in out:
        out["mask"] = torch.zeros_like(out["clean"][:, :1])
    return out


class _EpochView(torch.utils.data.Dataset):
    """Flat index -> sample of one epoch, so a DataLoader's workers can build batches in parallel."""

    def __init__(self, source: PatchSource, epoch: int):
        self.source, self.epoch = source, epoch

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int):
        return self.source.sample(self.epoch, index)


class TrainData:
    """Batches of a source for one rank: ``batches(epoch, start)`` yields the epoch's batches from
    batch ``start`` on; ``steps_per_epoch`` is the same on every rank (last partial batch dropped)."""

    def __init__(self, source, batch_size: int, seed: int = 0, rank: int = 0, world: int = 1,
                 workers: int = 0, steps_per_epoch: int | None = None):
        self.source, self.batch_size, self.seed = source, int(batch_size), int(seed)
        self.rank, self.world, self.workers = rank, world, int(workers)
        per_rank = len(source.order(0, rank, world)) if isinstance(source, StreamSource) else len(source) // world
        natural = per_rank // self.batch_size
        if natural < 1 and not steps_per_epoch:
            raise DustbenchError(f"{len(source)} samples per epoch cannot fill one batch of {batch_size} "
                                 f"on each of {world} process(es); lower --batch-size")
        self.steps_per_epoch = int(steps_per_epoch or natural)
        if isinstance(source, StreamSource) and self.steps_per_epoch > natural:
            raise DustbenchError(f"the stream has {per_rank} samples per epoch on this rank, fewer than "
                                 f"{self.steps_per_epoch} steps × batch {batch_size}")

    def order(self, epoch: int) -> np.ndarray:
        """This rank's sample indices for ``epoch`` (the global permutation, interleaved by rank)."""
        if isinstance(self.source, StreamSource):
            return self.source.order(epoch, self.rank, self.world)[:self.steps_per_epoch * self.batch_size]
        n = len(self.source)
        need = self.steps_per_epoch * self.batch_size * self.world
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, epoch]))
        reps = max(1, math.ceil(need / n))  # an epoch longer than the source wraps around
        perm = np.concatenate([rng.permutation(n) for _ in range(reps)])[:need]
        return perm[self.rank::self.world]

    def batches(self, epoch: int, start: int = 0) -> Iterator[dict[str, torch.Tensor]]:
        order = self.order(epoch)
        chunks = [order[b * self.batch_size:(b + 1) * self.batch_size].tolist()
                  for b in range(start, self.steps_per_epoch)]
        if self.workers > 0:
            loader = torch.utils.data.DataLoader(_EpochView(self.source, epoch), batch_sampler=chunks,
                                                 num_workers=self.workers, collate_fn=collate)
            yield from loader
        else:
            for chunk in chunks:
                yield collate([self.source.sample(epoch, i) for i in chunk])

    def describe(self) -> dict:
        return {**self.source.describe(), "batch_size": self.batch_size, "world_size": self.world,
                "steps_per_epoch": self.steps_per_epoch}


def open_train_data(spec, patch: int = 128, seed: int = 0, rank: int = 0, world: int = 1,
                    presets: str = DEFAULT_PRESETS, batch_size: int = 32, steps_per_epoch: int | None = None,
                    pool: int = 256):
    """A source for ``spec`` (see the module docstring); PatchSource objects pass through."""
    if isinstance(spec, PatchSource):
        return spec
    text = str(spec)
    if text == "stream" or text.startswith("stream:"):
        sources = text.split(":", 1)[1] if ":" in text else "builtin"
        spe = steps_per_epoch * batch_size * world if steps_per_epoch else None
        return StreamSource(sources, presets, patch, seed, spe)
    if text == "builtin-train":
        return SynthPatches(builtin_train_images(), presets, patch, seed, pool=pool,
                            samples_per_epoch=steps_per_epoch * batch_size * world if steps_per_epoch else 1024,
                            name="builtin-train")
    path = Path(text).expanduser()
    if not path.is_dir():
        raise DustbenchError(f"--data {spec}: expected 'stream', 'builtin-train', a dataset folder written by "
                             "`dustbench make-dataset`, or a folder of pairs (damaged/ + clean/)")
    if (path / "dataset_dict.json").is_file():
        return HFPairs(path, patch, seed)
    from ..pairs import open_data

    split = "train" if (path / "train" / "damaged").is_dir() else "test"  # a bare folder is one split
    pairs = [(s.damaged, s.clean, s.mask) for s in open_data(str(path), split)]
    return MemoryPairs(pairs, patch, seed, name=str(path))


# -- validation ------------------------------------------------------------------------------------
PSNR_CAP = 100.0  # dB, stands in for inf (a pixel-identical output) in means, as dustbench.evaluate does


def load_validation(spec, limit: int | None = None) -> list | None:
    """Validation pairs: ``builtin`` (5 held-out 192² crops), ``none``, a folder's validation split,
    or a list of :class:`dustbench.pairs.Sample` (tests). Loaded once, kept in memory."""
    if spec is None or (isinstance(spec, str) and spec.lower() == "none"):
        return None
    if isinstance(spec, (list, tuple)):
        samples = list(spec)
    else:
        from ..pairs import open_data

        data = open_data(str(spec), "validation")
        samples = [s for _, s in zip(range(limit or 10 ** 9), data)]
    return samples[:limit] if limit else samples


def validate(restore, samples) -> dict[str, float]:
    """Mean PSNR/SSIM (and masked PSNR in/out, clean-pixel change rate) of ``restore`` on ``samples``,
    with the damaged input's scores as ``*_identity``. Outputs are quantised to the reference's
    dtype first, as ``dustbench evaluate`` does, so the numbers are comparable with its tables.

    ``restore`` maps a float32 1×C×H×W tensor in [0, 1] to the same.
    """
    from ..io import from_float, to_float
    from ..metrics import masked_metrics, psnr, ssim

    sums: dict[str, float] = {}
    counts: dict[str, int] = {}

    def add(key, value):
        if value is None or not math.isfinite(value) and value != math.inf:
            return
        sums[key] = sums.get(key, 0.0) + min(float(value), PSNR_CAP)
        counts[key] = counts.get(key, 0) + 1

    for s in samples:
        damaged = to_float(s.damaged)
        x = torch.from_numpy(np.ascontiguousarray(_chw(_rgb(damaged))))[None]
        y = restore(x)[0].detach().float().cpu().numpy().transpose(1, 2, 0)
        if damaged.ndim == 2:
            y = y.mean(axis=2)
        restored = from_float(np.clip(y, 0.0, 1.0), s.clean.dtype)
        for suffix, img in (("", restored), ("_identity", s.damaged)):
            add(f"val_psnr{suffix}", psnr(s.clean, img))
            if min(s.clean.shape[:2]) >= 11:
                add(f"val_ssim{suffix}", ssim(s.clean, img))
            if s.mask is not None:
                m = masked_metrics(s.clean, img, s.mask)
                add(f"val_psnr_in{suffix}", m["psnr_in"])
                add(f"val_psnr_out{suffix}", m["psnr_out"])
                add(f"val_clean_change_rate{suffix}", m["clean_change_rate"])
    return {k: sums[k] / counts[k] for k in sorted(sums)}
