"""Batches for one rank of the trainer from a map-style training source, resumable mid-epoch.

The epoch's order is a permutation drawn from ``SeedSequence([seed, epoch])``; ranks take
interleaved slices of it (``perm[rank::world]``), so a resumed run sees exactly the samples it would
have seen, on any number of workers, without replaying the skipped ones. A stream source decides
its own order. Batches are dicts of float32 N×C×H×W tensors in [0, 1]: ``damaged``, ``clean``,
``mask`` (N×1×H×W, artifact opacity).
"""
from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch

from ..data.train_sources import PatchSource, StreamSource
from ..errors import DustbenchError


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

    def __getitems__(self, indices: list[int]) -> list:  # a DataLoader worker's whole batch in one call
        return self.source.samples(self.epoch, indices)


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
                yield collate(self.source.samples(epoch, chunk))

    def describe(self) -> dict:
        return {**self.source.describe(), "batch_size": self.batch_size, "world_size": self.world,
                "steps_per_epoch": self.steps_per_epoch}
