"""Evaluation data: (damaged, clean[, mask]) pairs from a folder, a synth run, a dataset, or `builtin`.

``open_data(spec, split)`` understands:

* ``"builtin-v2"`` — the standard suite (see ``builtin_sets.SUITE``): the built-in photographs at
  full resolution, each drawn as a crop of a 35 mm frame scanned at 2400 and at 4000 dpi, with the
  calibrated negative and slide mixes; split ``test`` from the right two thirds of each photo,
  ``validation`` from the left third (disjoint pixels).
* ``"builtin"`` — v1, the first published test set (see :data:`BUILTIN`): split ``test`` has 10
  crops of 192×192 px from the right half of each photo, split ``validation`` 5 crops from the
  left half (disjoint pixels), each damaged as a whole frame with one of the film-scan mixes
  (``*_scan_*``) drawn from ``SeedSequence([BUILTIN_SEED, split, i])``.
* a folder of pairs: ``damaged/`` and ``clean/`` with matching file names (any image suffix),
  optional ``mask/`` (nonzero = damaged; any channel counts) and ``labels/`` (family ids), and an
  optional ``manifest.jsonl`` — so the output of ``dustbench synth`` is such a folder. Files may
  sit in sub-folders; the image id is the path below ``damaged/`` without its suffix. A folder
  may instead hold one such folder per split (``test/``, ``validation/`` or ``val/``, ...).
* a dataset written by ``dustbench make-dataset`` (a folder with ``dataset_dict.json``), read
  through ``dustbench.data.iter_split``.

Samples are loaded one at a time, so memory holds one pair, whatever the size of the set.
"""
from __future__ import annotations

from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from .builtin_sets import SPECS as BUILTIN_SPECS
from .builtin_sets import BuiltinData
from .eval_base import EvalData, Sample
from .hf_data import HFData
from .pairs_folder import PairsFolder

__all__ = ["BuiltinData", "EvalData", "HFData", "PairsFolder", "Sample", "open_data"]


DATA_KINDS = ("use 'builtin-v2', 'builtin', a folder with damaged/ and clean/, or a dataset written by "
              "`dustbench make-dataset`")


def open_data(spec, split: str = "test") -> EvalData:
    """``builtin-v2``, ``builtin``, a pairs folder (optionally with split sub-folders) or a make-dataset folder."""
    if isinstance(spec, EvalData):
        return spec
    ds = parse_data_spec(spec)
    if ds.kind in BUILTIN_SPECS:
        return BuiltinData(split, BUILTIN_SPECS[ds.kind])
    if ds.is_dataset_dict:
        return HFData(ds.text, split, ds.path)
    if ds.kind in ("pairs", "split_pairs") and split in ds.splits():
        return PairsFolder(ds.text, split, ds.path / split, ds.path)
    if ds.kind == "pairs":
        if split != "test":
            raise DustbenchError(f"--data {ds.text}: a single folder of pairs (no split sub-folders) is one "
                                 f"test split; --split {split} needs {ds.path / split / 'damaged'}")
        return PairsFolder(ds.text, split, ds.path, ds.path)
    if ds.kind == "dataset" and ds.arg:
        raise DustbenchError(f"--data {ds.text}: name the split with --split {ds.arg} and the folder alone")
    if ds.kind in ("missing", "file") or ds.path is None:
        raise DustbenchError(f"--data {ds.text}: no such folder ({DATA_KINDS})")
    hint = f" (it has splits: {', '.join(ds.splits())})" if ds.splits() else ""
    raise DustbenchError(f"--data {ds.text}: expected damaged/ and clean/ folders, {split}/damaged/, or a "
                         f"dataset_dict.json{hint}")


def labelled_samples(data: str, split: str, limit: int | None = None):
    """The first ``limit`` (all: None) pairs of ``data``'s ``split``, each checked to carry a mask and
    family labels (synthetic pairs): a DustbenchError naming the first that does not."""
    for i, sample in enumerate(open_data(data, split)):
        if limit is not None and i >= limit:
            return
        if sample.mask is None or sample.labels is None:
            raise DustbenchError(f"{sample.source or sample.id}: needs a mask and family labels (synthetic pairs)")
        yield sample
