"""Methods whose few settings are chosen on validation pairs, never on the test split.

``median_tuned`` has no defaults and is always tuned (radius, threshold); ``morph_detect``'s defaults
were chosen by the same search on ``builtin-v2:validation`` and it is re-tuned when ``--tune-on``
is given. Each tunable method is one row of :data:`TUNERS`: the settings it searches and how.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..data.eval_data import EvalData, PairsFolder, open_data
from ..data_spec import parse_data_spec
from ..errors import DustbenchError
from ..io import write_json_atomic
from .base import Method
from .classical import tune_median
from .load import load_method
from .morph_detect import GRID as MORPH_GRID
from .morph_detect import tune_morph
from .spec import parse_method_spec

# method -> (the settings the search chooses, tuner(pairs, options) -> dict with those, score, metric, grid)
TUNERS = {
    "median_tuned": (("radius", "threshold"),
                     lambda pairs, options: tune_median(pairs, precision=options.get("precision", "exact"))),
    "morph_detect": (tuple(MORPH_GRID), lambda pairs, options: tune_morph(pairs, fixed=options)),
}


def _open_tuning_data(spec, data: EvalData | None) -> EvalData:
    """The data ``--tune-on`` names: its validation split, or a plain folder of pairs as a whole; never
    ``data`` (the test data, when there is one)."""
    ds = parse_data_spec(spec)
    if ds.kind == "pairs":  # a plain folder of pairs is tuned on as a whole
        tdata = PairsFolder(ds.text, "tune", ds.path, ds.path)
    else:
        tdata = open_data(ds, "validation")
    same = data is not None and (
        (tdata.kind == data.kind and tdata.path == data.path and tdata.split == data.split)
        or (isinstance(tdata, PairsFolder) and isinstance(data, PairsFolder) and tdata.path == data.path))
    if same or tdata.split == "test":
        raise DustbenchError(f"--tune-on {spec}: refusing to tune on the test data ({data.name}); "
                             "give a separate folder of validation pairs")
    return tdata


def _needs_tuning(spec, options: dict, tune_on) -> bool:
    if spec not in TUNERS or all(k in options for k in TUNERS[spec][0]):
        return False
    return spec == "median_tuned" or tune_on is not None  # morph_detect: its defaults, unless asked


def tune_if_needed(spec, options: dict, data: EvalData | None, tune_on=None, out: Path | None = None) -> dict:
    """For a method of :data:`TUNERS` whose searched settings are not all given: search them.

    ``median_tuned`` always (it has no defaults), ``morph_detect`` when ``tune_on`` is given. Uses
    ``tune_on`` if given, else the data's own validation split (``data`` is None for scans without
    references, as ``restore`` has); never the test split. The choice and the whole grid are
    recorded (``tuning.json`` in ``out``, reused on resume).
    """
    if not _needs_tuning(spec, options, tune_on):
        return options
    searched, tuner = TUNERS[spec]
    tdata = _open_tuning_data(tune_on, data) if tune_on is not None else data and data.validation()
    if tdata is None:
        where = f"{data.name} has no validation split to tune on (it is never tuned on the test split)" if data \
            else "it needs tuned values"
        fixes = " ".join(f"-o {k}=..." for k in searched)
        raise DustbenchError(f"{spec}: {where}: pass --tune-on DIR (a folder of validation pairs, or "
                             f"'builtin'), or fix the values with {fixes}")
    cache = out / "tuning.json" if out else None
    desc = {**tdata.describe(), "method": spec, "fixed": {k: v for k, v in sorted(options.items()) if k not in searched}}
    if cache and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("tuned_on") == desc:
            return {**options, **saved["chosen"]}
    result = tuner(((s.damaged, s.clean) for s in tdata), options)
    chosen = {**{k: result[k] for k in searched}, "tuned_on": tdata.name, "score": result["score"]}
    if cache:
        write_json_atomic(cache, {"tuned_on": desc, "chosen": chosen, "metric": result["metric"],
                                  "grid": result["grid"]})
    return {**options, **chosen}


def load_tuned_method(method, options: dict | None, device: str, data: EvalData | None, tune_on=None,
                      out: Path | None = None) -> Method:
    """:func:`~dustbench.methods.load.load_method` for ``evaluate`` and ``restore``: the string parsed
    once, and a registered name of :data:`TUNERS` tuned first (:func:`tune_if_needed`)."""
    source = parse_method_spec(method)
    if source.kind == "name":
        options = tune_if_needed(source.value, dict(options or {}), data, tune_on, out)
    return load_method(method if source.kind == "object" else source, options, device)
