"""``median_tuned`` without fixed values: its radius and threshold tuned on validation pairs, never on the test split."""
from __future__ import annotations

import json
from pathlib import Path

from ..data.eval_data import BuiltinData, EvalData, PairsFolder, open_data
from ..errors import DustbenchError
from ..io import write_json_atomic
from .classical import tune_median



def _open_tuning_data(spec, data: EvalData | None) -> EvalData:
    """The data ``--tune-on`` names: its validation split, or a plain folder of pairs as a whole; never
    ``data`` (the test data, when there is one)."""
    if str(spec) == "builtin":
        tdata = BuiltinData("validation")
    else:
        path = Path(spec).expanduser().resolve()
        if (path / "damaged").is_dir():
            tdata = PairsFolder(str(spec), "tune", path, path)
        else:
            tdata = open_data(spec, "validation")
    same = data is not None and (
        (tdata.kind == data.kind and tdata.path == data.path and tdata.split == data.split)
        or (isinstance(tdata, PairsFolder) and isinstance(data, PairsFolder) and tdata.path == data.path))
    if same or tdata.split == "test":
        raise DustbenchError(f"--tune-on {spec}: refusing to tune on the test data ({data.name}); "
                             "give a separate folder of validation pairs")
    return tdata


def tune_if_needed(spec, options: dict, data: EvalData | None, tune_on=None, out: Path | None = None) -> dict:
    """For ``median_tuned`` without radius/threshold: grid-search them on validation pairs.

    Uses ``tune_on`` if given, else the data's own validation split (``data`` is None for scans
    without references, as ``restore`` has); never the test split. The choice and the whole grid
    are recorded (``tuning.json`` in ``out``, reused on resume).
    """
    if spec != "median_tuned" or ("radius" in options and "threshold" in options):
        return options
    tdata = _open_tuning_data(tune_on, data) if tune_on is not None else data and data.validation()
    if tdata is None:
        where = f"{data.name} has no validation split to tune on (it is never tuned on the test split)" if data \
            else "it needs tuned values"
        raise DustbenchError(f"median_tuned: {where}: pass --tune-on DIR (a folder of validation pairs, or "
                             "'builtin'), or fix the values with -o radius=R -o threshold=T")
    cache = out / "tuning.json" if out else None
    desc = {**tdata.describe(), "precision": options.get("precision", "exact")}
    if cache and cache.is_file():
        saved = json.loads(cache.read_text(encoding="utf-8"))
        if saved.get("tuned_on") == desc:
            return {**options, **saved["chosen"]}
    result = tune_median(((s.damaged, s.clean) for s in tdata), precision=desc["precision"])
    chosen = {"radius": result["radius"], "threshold": result["threshold"], "tuned_on": tdata.name,
              "score": result["score"]}
    if cache:
        write_json_atomic(cache, {"tuned_on": desc, "chosen": chosen, "metric": result["metric"],
                                  "grid": result["grid"]})
    return {**options, **chosen}
