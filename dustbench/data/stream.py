"""An endless supply of fresh training patches: ``DamageStream``, a torch ``IterableDataset``.

Every epoch is ``samples_per_epoch`` samples with global indices ``g = 0 .. N-1``. Sample ``g``
draws everything (preset, augmentation, crop position, damage) from
``SeedSequence([seed, STREAM_KEY, epoch, g])``, so a sample's pixels depend only on
(seed, epoch, g): not on the number of workers or ranks, nor on the order they run in.

Samples come in *blocks* of ``patches_per_visit`` consecutive indices that share one source image
(so a 24 MP scan is decoded once per block, not once per patch); block ``b`` uses source
``perm_epoch[b % n]`` of a per-epoch permutation (a source smaller than the patch passes its turn
to the next). Blocks are dealt round-robin to ranks (``torch.distributed`` or explicit
``rank``/``world_size``; every rank gets the same number, the remainder is dropped: no sample is
seen twice) and then to the DataLoader workers of each rank. A worker visits ``interleave`` blocks
at a time, alternating between them, so consecutive samples come from several sources.

Damage is drawn as on the full source frame and rendered only on the region around the patch
(``dustbench.synth.crop``), then image and damage are rotated/resized together (``augment.py``).
Only the artifacts that reach the pixels the warp reads (the turned patch plus its interpolation
margin, ``augment.footprint``) are rendered: the patch gets the same bytes as if the whole region
had been damaged (``tests/test_stream_fast.py``).
With ``scan_scale`` (S, or a ``(lo, hi)`` range drawn log-uniformly per sample) the region is drawn
instead as a crop of a 3:2 film frame of short side S px, whatever the source's own size
(``dustbench.synth.scale``): specks get the pixel sizes of real scans at that resolution.
Call ``set_epoch(e)`` before each epoch (as with ``DistributedSampler``); with
``persistent_workers=True`` the workers would keep the old epoch, so leave it off.

Workers: ``stream.loader(batch_size, num_workers)`` builds a DataLoader whose workers are
*spawned*. With the default *fork* start method a worker can hang for ever if the parent process
had run multi-threaded OpenCV code (resize, blur, warp: e.g. ``stream.sample`` or an epoch with
``num_workers=0``) just before: the child inherits a locked OpenCV thread pool. This was seen once
here; spawned workers cannot hit it.
"""
from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from typing import Any

import numpy as np
import torch
from torch.utils.data import IterableDataset, get_worker_info

from ..errors import DustbenchError
from ..io import atomic_path, check_image, to_float, with_channels
from ..sources import ArraySource, Source, open_sources, source_from_record
from ..synth import DEFAULT_PRESETS, artifact_mask, composite, family_labels, library, render_many, resolve_presets
from ..synth.grain import grain_clean, parse_grain
from ..synth.infrared import infrared_rng, parse_film, render_infrared, sample_infrared
from ..synth.params import count_by_family
from ..synth.scale import ScanScale, draw_scaled_params, scaled_params
from .augment import IDENTITY, Augment, draw, footprint, region_side, warp
from .codec import read_dataset_manifest

STREAM_KEY = 0x5D57  # keeps stream seeds apart from make-dataset's SeedSequence([seed, split, i])
REDRAWS = 16  # damage_share: draws of the damage tried before a sample keeps what it drew


def _as_sources(sources, clean_column: str | None) -> list:
    if isinstance(sources, (str, os.PathLike)):
        return open_sources(sources, clean_column)
    if isinstance(sources, np.ndarray):
        sources = [sources]
    out = []
    for i, s in enumerate(sources):
        if isinstance(s, np.ndarray):
            check_image(s, f"image {i}")
            out.append(ArraySource(f"array:{i}", s, f"<array {i}>"))
        elif isinstance(s, Source) or hasattr(s, "load"):
            out.append(s)
        elif isinstance(s, dict):
            out.append(source_from_record(s))
        else:
            raise DustbenchError(f"source {i}: expected a Source, an image array or a path spec, got "
                                 f"{type(s).__name__}")
    if not out:
        raise DustbenchError("DamageStream: no sources given")
    return out


class DamageStream(IterableDataset):
    """Fresh damaged/clean/mask patches every epoch (see the module docstring).

    Yields dicts: ``damaged``, ``clean`` (float32 C×H×W in [0, 1]), ``mask`` (float32 1×H×W
    artifact opacity), ``labels`` (uint8 H×W family ids), ``index`` (g) and ``source`` (id).

    ``sources``: 'builtin', a folder, a Hugging Face spec (see ``dustbench.sources``), or a list of
    ``Source`` objects / image arrays. ``augment``: True (default ranges), False, or an
    ``Augment``. ``cache_size``: decoded sources kept per worker. ``cache_dir``: decode each source
    once into an ``.npy`` file there and memory-map it (fast patches from 24 MP scans; costs disk:
    H×W×C×2 bytes per 16-bit scan). ``channels``: 3 (grey sources are repeated), 1, or None.
    ``scan_scale``: None (each source is a whole frame), S or ``(lo, hi)`` (see the module docstring);
    samples then also carry ``scan_scale`` (the S drawn). ``grain``: a film stock (``STOCK[@DPI]``, see
    ``dustbench.synth.grain``) whose grain is added to each region before its damage, drawn at the
    sample's scan scale (from ``SeedSequence([seed, STREAM_KEY, epoch, g])`` spawned apart from the
    damage); samples then also carry ``grain``, its parameter record as JSON text.
    ``damage_share``: balanced sampling. None (default): damage as drawn (at scan scale most patches
    then hold some). A fraction p: with probability p a sample's damage is redrawn on the same frame,
    up to :data:`REDRAWS` times, until an artifact reaches the region the warp reads (a little more
    than the patch, so such a patch mostly but not always shows damage: docs/datasets.md); otherwise
    it is left clean, the clean source alone: the hard negatives a detector must not flag.
    ``draw_together``: a worker renders the damage of this many consecutive samples in one go
    (``dustbench.synth.render_many``; the same bytes as one by one, a few times faster per patch).
    ``infrared``: a film type (``dustbench.synth.infrared.FILMS``): samples also carry ``infrared``
    (float32 1×H×W in [0, 1]), the plane a film scanner records, warped with the patch, and
    ``infrared_params`` (its record as JSON text); drawn apart from the damage (same bytes without it).
    """

    def __init__(self, sources: Any = "builtin", presets: Any = DEFAULT_PRESETS, patch: int = 128, seed: int = 0,
                 epoch: int = 0, augment: bool | Augment = True, rank: int | None = None,
                 world_size: int | None = None, samples_per_epoch: int | None = None,
                 patches_per_visit: int = 16, cache_size: int = 4, interleave: int = 4, channels: int | None = 3,
                 clean_column: str | None = None, cache_dir: str | os.PathLike | None = None,
                 scan_scale: Any = None, grain: str | None = None, damage_share: float | None = None,
                 draw_together: int = 16, infrared: str | None = None):
        super().__init__()
        self.draw_together = max(1, int(draw_together))
        self.infrared = None if infrared is None else parse_film(infrared)
        self.grain = parse_grain(grain)
        if damage_share is not None and (isinstance(damage_share, bool) or not isinstance(damage_share, (int, float))
                                         or not 0.0 <= damage_share <= 1.0):
            raise DustbenchError(f"damage_share {damage_share}: must be a fraction in [0, 1] (or None: as drawn)")
        self.damage_share = None if damage_share is None else float(damage_share)
        self.cache_dir = None if cache_dir is None else os.fspath(cache_dir)
        self.sources = _as_sources(sources, clean_column)
        self.presets = resolve_presets(presets, library())
        if patch < 8:
            raise DustbenchError(f"patch {patch}: must be at least 8 px")
        if channels not in (None, 1, 3):
            raise DustbenchError("channels must be 1, 3 or None (keep each source's own)")
        self.patch, self.seed, self.epoch = int(patch), int(seed), int(epoch)
        self.scan_scale = ScanScale.parse(scan_scale)
        if self.scan_scale is not None and not self.scan_scale.fits((2 * self.patch, 2 * self.patch)):
            raise DustbenchError(f"scan_scale {self.scan_scale}: the frame's short side must be at least twice the "
                                 f"{self.patch}-px patch (the augmented region around a patch is up to ~2× larger)")
        self.augment = Augment() if augment is True else (augment or None)
        self.rank, self.world_size = rank, world_size
        self.patches_per_visit = max(1, int(patches_per_visit))
        self.samples_per_epoch = int(samples_per_epoch or 256 * len(self.sources))
        self.cache_size, self.channels = max(1, cache_size), channels
        self.interleave = max(1, min(interleave, self.cache_size))  # more would evict and re-decode sources
        _, world = self._rank_world()
        if self.samples_per_epoch < self.patches_per_visit * world:
            raise DustbenchError(f"samples_per_epoch {self.samples_per_epoch} is too small: each of the {world} "
                                 f"rank(s) needs at least one block of patches_per_visit={self.patches_per_visit}")
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()
        self._too_small: set[str] = set()
        self._perm: tuple[tuple[int, int], np.ndarray] | None = None

    def __getstate__(self) -> dict[str, Any]:  # workers start with an empty cache
        state = dict(self.__dict__)
        state.update(_cache=OrderedDict(), _too_small=set(), _perm=None)
        return state

    @classmethod
    def from_dataset(cls, path, split: str = "train", **kwargs) -> "DamageStream":
        """A stream over the source images of one split of a ``make-dataset`` output (same presets,
        patch size and clean files), e.g. to train on the fly and test on its ``test`` split."""
        manifest = read_dataset_manifest(path)
        records = manifest["plan"]["splits"][split]
        if not records:
            raise DustbenchError(f"{path}: split {split!r} has no source images")
        kwargs.setdefault("presets", manifest["config"]["presets"])
        kwargs.setdefault("patch", manifest["config"]["patch"])
        kwargs.setdefault("seed", manifest["config"]["seed"])
        kwargs.setdefault("scan_scale", manifest.get("scan_scale"))
        kwargs.setdefault("grain", manifest["config"].get("grain"))
        return cls([source_from_record(r) for r in records], **kwargs)

    def loader(self, batch_size: int = 32, num_workers: int = 2, **kwargs):
        """A ``DataLoader`` over this stream; workers are *spawned* (see the module docstring)."""
        from torch.utils.data import DataLoader
        if num_workers > 0:
            kwargs.setdefault("multiprocessing_context", "spawn")
            kwargs.setdefault("persistent_workers", False)
        return DataLoader(self, batch_size=batch_size, num_workers=num_workers, **kwargs)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def _rank_world(self) -> tuple[int, int]:
        rank, world = self.rank, self.world_size
        if rank is None or world is None:
            dist = torch.distributed
            if dist.is_available() and dist.is_initialized():
                rank = dist.get_rank() if rank is None else rank
                world = dist.get_world_size() if world is None else world
        rank, world = int(rank or 0), int(world or 1)
        if not 0 <= rank < world:
            raise DustbenchError(f"rank {rank} is not in [0, world_size={world})")
        return rank, world

    def _blocks_per_rank(self, world: int) -> int:
        return (self.samples_per_epoch // self.patches_per_visit) // world

    def __len__(self) -> int:
        """Samples per epoch on this rank (all its workers together)."""
        _, world = self._rank_world()
        return self._blocks_per_rank(world) * self.patches_per_visit

    def _groups(self, worker: int, num_workers: int, rank: int, world_size: int) -> list[list[int]]:
        """The blocks one worker of one rank visits, `interleave` at a time, in order."""
        blocks = [rank + world_size * t for t in range(self._blocks_per_rank(world_size))][worker::num_workers]
        return [blocks[i:i + self.interleave] for i in range(0, len(blocks), self.interleave)]

    def indices(self, worker: int = 0, num_workers: int = 1, rank: int | None = None,
                world_size: int | None = None) -> list[int]:
        """The global sample indices that one worker of one rank yields, in yield order."""
        if rank is None or world_size is None:
            rank, world_size = self._rank_world()
        return [g for group in self._groups(worker, num_workers, rank, world_size) for g in self._visit(group)]

    def _visit(self, group: list[int]) -> list[int]:
        """The samples of a group of blocks in yield order: alternating between the blocks."""
        b = self.patches_per_visit
        return [blk * b + j for j in range(b) for blk in group]

    def __iter__(self):
        info = get_worker_info()
        if info is not None:
            import cv2
            cv2.setNumThreads(1)
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        for group in self._groups(worker, workers, *self._rank_world()):
            self._keep_cached(group)
            visit = self._visit(group)
            for i in range(0, len(visit), self.draw_together):
                yield from self.samples(visit[i:i + self.draw_together])

    # -- sources -----------------------------------------------------------------------------------
    def _keep_cached(self, blocks: list[int]) -> None:
        """Mark the sources these blocks use as the most recent, so that a new one evicts a source
        the group does not need (plain LRU would evict one it is about to revisit, again and again)."""
        perm = self._permutation()
        for blk in blocks:
            sid = self.sources[perm[blk % len(self.sources)]].id
            if sid in self._cache:
                self._cache.move_to_end(sid)

    def _image(self, source) -> np.ndarray:
        image = self._cache.get(source.id)
        if image is not None:
            self._cache.move_to_end(source.id)
            return image
        while len(self._cache) >= self.cache_size:
            self._cache.popitem(last=False)
        image = self._load(source)
        self._cache[source.id] = image
        return image

    def _load(self, source) -> np.ndarray:
        if self.cache_dir is None or isinstance(source, ArraySource):
            return source.load()
        key = hashlib.sha1(f"{source.id}|{source.path}".encode()).hexdigest()[:20]
        path = os.path.join(self.cache_dir, f"{key}.npy")
        if not os.path.isfile(path):
            with atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    np.save(f, source.load())
        return np.load(path, mmap_mode="r")

    def _permutation(self) -> np.ndarray:
        if self._perm is None or self._perm[0] != (self.seed, self.epoch):
            ss = np.random.SeedSequence([self.seed, STREAM_KEY + 1, self.epoch])
            self._perm = ((self.seed, self.epoch), np.random.default_rng(ss).permutation(len(self.sources)))
        return self._perm[1]

    def _block_source(self, block: int):
        n, perm = len(self.sources), self._permutation()
        for step in range(n):
            source = self.sources[perm[(block + step) % n]]
            if source.id in self._too_small:
                continue
            image = self._image(source)
            if min(image.shape[:2]) >= self.patch:
                return source, image
            self._too_small.add(source.id)
            self._cache.pop(source.id, None)
        raise DustbenchError(f"every source image is smaller than the {self.patch}-px patch")

    # -- samples ----------------------------------------------------------------------------------
    def sample(self, g: int) -> dict[str, Any]:
        """Sample ``g`` of the current epoch (the same whichever worker or rank makes it)."""
        return self.samples([g])[0]

    def samples(self, gs) -> list[dict[str, Any]]:
        """Samples ``gs`` of the current epoch, each the same as ``sample(g)``: drawn one by one,
        their damage rendered together (``render_many``: several times cheaper per patch)."""
        drawn = [self._draw(g) for g in gs]
        layers = render_many([d[3] for d in drawn], [d[2].shape for d in drawn])
        return [self._finish(*d, layer) for d, layer in zip(drawn, layers)]

    def _draw(self, g: int) -> tuple:
        """Everything of sample g but its rendering: (g, source, region with grain, damage record,
        augmentation, its scale, scan scale drawn, grain record)."""
        source, image = self._block_source(g // self.patches_per_visit)
        rng = np.random.default_rng(np.random.SeedSequence([self.seed, STREAM_KEY, self.epoch, g]))
        preset = self.presets[int(rng.integers(len(self.presets)))]
        d = draw(rng, self.augment) if self.augment is not None else IDENTITY
        h, w = image.shape[:2]
        side, scale = region_side(self.patch, d, min(h, w))
        y0, x0 = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
        window = footprint(self.patch, d, scale, side)  # only what the warp reads gets drawn
        # Without a scale the source is the whole frame and the region a box in it; with one, the
        # region itself is a crop of a frame of the short side drawn, whatever the source's own size.
        shape, box = (image.shape, (y0, x0, side, side)) if self.scan_scale is None else ((side, side), None)
        frame, cp = draw_scaled_params(preset, shape, rng, self.scan_scale, box, d.artifact_scale, d.intensity,
                                       window)
        if self.damage_share is not None:  # no draw at all when off: the same bytes as ever
            if rng.random() >= self.damage_share:
                cp = {**cp, "groups": []}
            else:
                for _ in range(REDRAWS):
                    if any(count_by_family(cp).values()):
                        break
                    cp = scaled_params(preset, shape, rng, frame, box, d.artifact_scale, d.intensity, window)
        region = with_channels(to_float(image[y0:y0 + side, x0:x0 + side]), self.channels)
        region, grain = grain_clean(np.ascontiguousarray(region), self.grain, frame,
                                    [self.seed, STREAM_KEY, self.epoch, g])  # part of the clean image
        return g, source, region, cp, d, scale, frame, grain

    def _finish(self, g, source, region, cp, d, scale, frame, grain, layer) -> dict[str, Any]:
        ir = None
        if self.infrared is not None:  # the scanner's plane of this region, from its own generator
            ir_params = sample_infrared(self.infrared, infrared_rng([self.seed, STREAM_KEY, self.epoch, g]))
            ir = to_float(render_infrared(region, layer, cp, ir_params))
        damaged, clean, mask, labels, *plane = _damage(region, layer, d, scale, self.patch, ir)
        out = {"damaged": torch.from_numpy(damaged), "clean": torch.from_numpy(clean), "mask": torch.from_numpy(mask),
               "labels": torch.from_numpy(labels), "index": g, "source": source.id}
        if plane:
            out.update(infrared=torch.from_numpy(plane[0]), infrared_params=json.dumps(ir_params, sort_keys=True))
        if grain is not None:
            out["grain"] = json.dumps(grain, sort_keys=True)
        return out if frame is None else {**out, "scan_scale": frame}


def _damage(region: np.ndarray, layer, d, scale: float, patch: int, ir: np.ndarray | None = None
            ) -> tuple[np.ndarray, ...]:
    """Damaged, clean, mask (C×H×W float32) and labels of one patch, and its infrared plane (1×H×W)
    when ``ir`` (the region's) is given: the region's damage `layer` composited, then warped."""
    extra = [] if ir is None else [ir]
    if not layer.sprites:  # nothing drawn: damaged is clean, mask and labels 0 (what warping zeros gives)
        (clean, *plane), _ = warp([region, *extra], None, d, scale, patch, chw=True)
        return (clean, clean.copy(), np.zeros((1, patch, patch), np.float32), np.zeros((patch, patch), np.uint8),
                *plane)
    images = [composite(region, layer), region, artifact_mask(layer), *extra]
    (damaged, clean, mask, *plane), labels = warp(images, family_labels(layer), d, scale, patch, chw=True)
    return (damaged, clean, mask, labels, *plane)
