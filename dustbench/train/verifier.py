"""Learning a speck verifier (:class:`dustbench.methods.speck_verifier.SpeckVerifier`) on CPU in minutes.

1. **Examples**: damage synthesized on crops of the built-in training photographs (not the test
   photographs) and on procedural clean images (text, line art, catchlights, foliage: the hard
   negatives), drawn at scan scale with the ``*_scan_*`` mixes, each pair from
   ``SeedSequence([seed, k])`` (the same table in any order and with any number of workers).
2. **Labels**: a candidate is a positive when at least 80 % of its pixels lie on the damage (within
   2 px) *and*, with every candidate of the pair Telea-filled (as a row that kept them all would),
   its pixels' squared error against the clean image at least halves.
   Either alone was worse on ``builtin-v2:validation``: a candidate half on texture touches damage
   but is filled badly, and a fill can also improve a patch of picture that no damage touched.
3. **Fit**: ``members`` perceptrons (2×``hidden`` ReLU units), binary cross-entropy, Adam, each from
   its own seed; their probabilities are averaged. One perceptron's validation gain moved between
   +0.3 and +1.4 dB with its random start alone; the average of four gained more than any of them.
4. **Thresholds**: one for the verifier alone, one beside ``line_detect``'s lines, each chosen by mean
   PSNR on validation pairs (``builtin-v2:validation``), never on test; ties go to the higher threshold.

    >>> table = candidate_table(2, seed=0, progress=False)      # tiny: the published verifier used 2,000
    >>> table["features"].shape[1] == len(FEATURES), len(table["features"]) == len(table["positive"])
    (True, True)
"""
from __future__ import annotations

import multiprocessing as mp
import time
from functools import lru_cache, partial

import cv2
import numpy as np
import torch
from tqdm.auto import tqdm

from ..data.train_sources import builtin_train_images
from ..errors import DustbenchError
from ..fill import telea_inpaint
from ..io import to_float, with_channels
from ..methods.line_scratches import detect_lines
from ..methods.speck_candidates import FEATURES, Candidates, speck_candidates
from ..methods.speck_verifier import USES, SpeckVerifier
from ..metrics import psnr
from ..provenance import package_versions
from ..sources.procedural import KINDS, procedural_image
from ..synth import library, resolve_presets, synthesize
from ..threads import fixed_threads, pool_worker_setup

RECIPE = {"samples": 2000, "seed": 7, "presets": "*_scan_*", "scan_scale": (2000, 4200), "procedural": 0.3,
          "height": (200, 600), "width": (150, 600), "on_damage": 0.8, "helps": 0.5, "members": 8, "hidden": 32,
          "epochs": 30, "batch": 1024, "lr": 3e-3}
THRESHOLDS = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


def fill_ratio(damaged: np.ndarray, clean: np.ndarray, found: Candidates) -> np.ndarray:
    """Per candidate: its pixels' squared error after Telea-filling every candidate, over before."""
    if not len(found.features):
        return np.zeros(0)
    filled = telea_inpaint(damaged, found.mask(np.ones(len(found.features), bool)), 0)
    before, after = ((damaged - clean) ** 2).sum(2), ((filled - clean) ** 2).sum(2)
    return found.per_candidate(after) / np.maximum(found.per_candidate(before), 1e-12)


def training_pair(k: int, seed: int, photos: list, presets: list, recipe: dict = RECIPE):
    """Pair ``k``: (damaged, clean) float32 H×W×3 and the bool damage mask, from ``SeedSequence([seed, k])``."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, k]))
    h, w = int(rng.integers(recipe["height"][0], recipe["height"][1] + 1)), \
        int(rng.integers(recipe["width"][0], recipe["width"][1] + 1))
    if rng.random() < recipe["procedural"]:
        clean = procedural_image(KINDS[int(rng.integers(len(KINDS)))], (h, w), rng)
    else:
        photo = photos[int(rng.integers(len(photos)))]
        h, w = min(h, photo.shape[0]), min(w, photo.shape[1])
        y, x = int(rng.integers(0, photo.shape[0] - h + 1)), int(rng.integers(0, photo.shape[1] - w + 1))
        clean = np.ascontiguousarray(photo[y:y + h, x:x + w])
    s = synthesize(clean, presets[int(rng.integers(len(presets)))], rng, scan_scale=tuple(recipe["scan_scale"]))
    return to_float(s.damaged), to_float(clean), s.labels > 0


def pair_rows(k: int, seed: int, recipe: dict = RECIPE) -> tuple[np.ndarray, np.ndarray]:
    """Pair ``k``'s candidates: their features and whether each is a positive (see the module doc)."""
    photos, presets = _inputs(recipe["presets"])
    damaged, clean, damage = training_pair(k, seed, photos, presets, recipe)
    found = speck_candidates(damaged)
    near = cv2.dilate(damage.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    on_damage = found.per_candidate(near, mean=True)
    return found.features, (on_damage >= recipe["on_damage"]) & (fill_ratio(damaged, clean, found) < recipe["helps"])


@lru_cache(maxsize=1)
def _inputs(presets: str) -> tuple[list, list]:
    photos = [with_channels(np.asarray(img), 3) for _, img in builtin_train_images()]
    return photos, [p.name for p in resolve_presets(presets, library())]


def candidate_table(samples: int, seed: int = RECIPE["seed"], recipe: dict = RECIPE, workers: int = 1,
                    progress: bool = True) -> dict:
    """Every candidate of ``samples`` training pairs: ``features`` N×F float32, ``positive`` N bool,
    ``pair`` N (the pair it came from); the same table with any number of ``workers`` (processes)."""
    if samples < 1:
        raise DustbenchError(f"train-verifier: --samples must be at least 1, got {samples}")
    job = partial(pair_rows, seed=seed, recipe=recipe)
    results = []
    with tqdm(total=samples, desc="candidates", unit="pair", disable=not progress) as bar:
        if workers > 1:
            chunk = max(1, min(8, samples // (4 * workers)))  # a few chunks per worker: all of them busy
            with mp.get_context("spawn").Pool(workers, initializer=pool_worker_setup) as pool:
                for rows in pool.imap(job, range(samples), chunksize=chunk):
                    results.append(rows)
                    bar.update(1)
        else:
            for k in range(samples):
                results.append(job(k))
                bar.update(1)
    return {"features": np.concatenate([f for f, _ in results]), "positive": np.concatenate([y for _, y in results]),
            "pair": np.concatenate([np.full(len(f), k) for k, (f, _) in enumerate(results)])}


def _perceptron(x: torch.Tensor, y: torch.Tensor, seed: int, hidden: int, epochs: int, batch: int, lr: float):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = torch.nn.Sequential(torch.nn.Linear(x.shape[1], hidden), torch.nn.ReLU(),
                                  torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(net.parameters(), lr)
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch):
            i = order[start:start + batch]
            loss = torch.nn.functional.binary_cross_entropy_with_logits(net(x[i])[:, 0], y[i])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return [(m.weight.detach().double().numpy().T.copy(), m.bias.detach().double().numpy().copy())
            for m in net if isinstance(m, torch.nn.Linear)]


def fit_verifier(features: np.ndarray, positive: np.ndarray, seed: int = 0, members: int = RECIPE["members"],
                 hidden: int = RECIPE["hidden"], epochs: int = RECIPE["epochs"], batch: int = RECIPE["batch"],
                 lr: float = RECIPE["lr"], progress: bool = True) -> SpeckVerifier:
    """``members`` perceptrons fitted to (features, bool positive), each from a seed of
    ``SeedSequence([seed, m])``; thresholds 0.5 until chosen."""
    positive = np.asarray(positive, bool)
    if len(features) == 0 or not positive.any() or positive.all():
        raise DustbenchError("train-verifier: the examples need both positives and negatives; draw more samples")
    mean, scale = features.mean(0).astype(np.float64), features.std(0).astype(np.float64) + 1e-6
    x = torch.from_numpy(((features - mean) / scale).astype(np.float32))
    y = torch.from_numpy(positive.astype(np.float32))
    seeds = [int(np.random.SeedSequence([seed, m]).generate_state(1)[0]) for m in range(members)]
    fitted = [_perceptron(x, y, s, hidden, epochs, batch, lr)
              for s in tqdm(seeds, desc="fit", unit="perceptron", disable=not progress)]
    return SpeckVerifier(mean, scale, fitted, {use: 0.5 for use in USES})


def choose_thresholds(verifier: SpeckVerifier, pairs, grid=THRESHOLDS, progress: bool = True) -> dict:
    """For each use (:data:`~dustbench.methods.speck_verifier.USES`: alone, and beside ``line_detect``'s
    lines), the threshold of ``grid`` with the best mean PSNR over (damaged, clean) float32 pairs, and
    every threshold's mean gain over the input; ties go to the higher threshold (fewer pixels changed)."""
    pairs = list(pairs)
    if not pairs:
        raise DustbenchError("train-verifier: no validation pairs to choose the thresholds on")
    gains = {use: np.zeros(len(grid)) for use in USES}
    for damaged, clean in tqdm(pairs, desc="thresholds", unit="pair", disable=not progress):
        found = speck_candidates(damaged)
        p = verifier.probability(found.features)
        lines = detect_lines(damaged)
        before = min(float(psnr(clean, damaged, data_range=1.0)), 100.0)
        for use in USES:
            for i, t in enumerate(grid):
                mask = found.mask(p >= t) | (lines if use == "lines" else False)
                after = telea_inpaint(damaged, mask, 0) if mask.any() else damaged
                gains[use][i] += min(float(psnr(clean, after, data_range=1.0)), 100.0) - before
    out = {}
    for use, g in gains.items():
        g /= len(pairs)
        best = max(range(len(grid)), key=lambda i: (round(g[i], 9), grid[i]))
        out[use] = {"threshold": float(grid[best]), "gains_db": {f"{t:g}": round(float(v), 4) for t, v in zip(grid, g)}}
    return out


def train_verifier(samples: int = RECIPE["samples"], seed: int = RECIPE["seed"], validation=None, validation_name="",
                   workers: int = 1, threads: int | None = 1, progress: bool = True) -> SpeckVerifier:
    """The whole recipe (see the module doc): examples, fit, thresholds on ``validation`` pairs."""
    start = time.monotonic()
    with fixed_threads(threads):
        table = candidate_table(samples, seed, RECIPE, workers, progress)
        verifier = fit_verifier(table["features"], table["positive"], seed, progress=progress)
        chosen = choose_thresholds(verifier, validation or [], progress=progress)
    verifier.thresholds = {use: c["threshold"] for use, c in chosen.items()}
    verifier.info = {
        "trained_on": f"builtin-train+procedural, {samples} pairs at scan scale "
                      f"{list(RECIPE['scan_scale'])} ({RECIPE['presets']}), seed {seed}",
        "thresholds_chosen_on": validation_name, "threshold_gains_db": {u: c["gains_db"] for u, c in chosen.items()},
        "examples": int(len(table["features"])), "positives": int(table["positive"].sum()),
        "recipe": {k: list(v) if isinstance(v, tuple) else v for k, v in RECIPE.items()},
        "wall_time_s": round(time.monotonic() - start, 1), "workers": workers, "threads": threads,
        "versions": package_versions()}
    return verifier
