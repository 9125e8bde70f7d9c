"""Artifact presets: small records of data, loaded and validated from TOML files.

A preset file holds one table per preset::

    [dust_fine_dark]
    family = "dust"
    description = "Fine sharp dark specks, as on a slide"
    density = [40.0, 80.0]      # expected count per reference megapixel (see REFERENCE_SHORT_SIDE)
    size = [0.0006, 0.003]      # diameter, as a fraction of the image's short side
    ...

Every size, width, length and blur is a fraction of the image's short side, and densities are
counts per megapixel of a reference frame whose short side is REFERENCE_SHORT_SIDE pixels (a 6 MP
3:2 scan), so one preset looks the same on a 1 MP and a 24 MP scan of the same frame.

A preset with ``family = "mix"`` names other presets in ``components``; synthesis draws all of
them. A preset with ``family = "stamp"`` draws real artifact sprites from the folder ``stamps``
(see synth/stamps.py), relative to its preset file. The schema below (each family's own keys come
from its entry in synth/families.py) is the single source of truth for keys, types and defaults.
"""
from __future__ import annotations

import fnmatch
import math
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from ..errors import DustbenchError, UnknownNameError
from .families import FAMILIES, TABLE

REFERENCE_SHORT_SIDE = 2000  # px: the short side of the 6 MP (3000×2000) reference frame
POLARITIES = ("dark", "bright", "mixed", "color")
DEFAULT_PRESETS = "*_scan_*"  # the film-type mixes: realistic combinations, light to extreme


def families_present(labels) -> list[str]:
    """Names of the families that label at least one pixel of a label map (ids 1.., FAMILIES order)."""
    ids = np.flatnonzero(np.bincount(np.asarray(labels).ravel(), minlength=len(FAMILIES) + 1)[1:len(FAMILIES) + 1])
    return [FAMILIES[i] for i in ids]


class PresetError(DustbenchError):
    """A preset file or record is invalid; the message names the file, preset and key."""


# key -> (kind, default[, allowed values]). Kinds: "range" = [lo, hi] of non-negative numbers with
# lo <= hi; "fraction" = the same within [0, 1] (opacities, grey levels, and every size, width
# and blur: fractions of the short side); "irange" = a range of whole numbers; "str";
# "choice" = one of the allowed values; "bool"; "colors" = list of [r, g, b] in [0, 1]; "names" =
# list of preset names; "number" = a non-negative number; "unit" = a number in [0, 1];
# "families" = list of FAMILIES names. Default None = required.
_COMMON = {
    "family": ("str", None),
    "description": ("str", None),
    "density": ("range", None),
    "opacity": ("fraction", [0.8, 1.0]),
    "blur": ("fraction", [0.0, 0.0]),
    "polarity": ("choice", "dark", POLARITIES),
    "level": ("fraction", None),  # grey level of the artifact; default depends on polarity
    "colors": ("colors", []),
    "bright_fraction": ("unit", 0.5),
}
# Each family adds its own keys (synth/families.py: its shape kind's and its own).
SCHEMA: dict[str, dict[str, tuple]] = {
    **{f.name: {**_COMMON, **f.keys} for f in TABLE},
    "mix": {"family": ("str", None), "description": ("str", None), "components": ("names", None),
            "density_scale": ("number", 1.0)},
    # Real sprites; colour comes from the stamps, so no polarity/level/colour keys.
    "stamp": {
        "family": ("str", None),
        "description": ("str", None),
        "density": ("range", None),
        "stamps": ("str", None),  # the stamp folder; relative to the preset file
        "families": ("families", []),  # draw only stamps of these families; [] = all
        "scale": ("range", [0.8, 1.25]),  # × the stamp's size, kept within its family's 5th-95th percentile
        "opacity": ("fraction", [1.0, 1.0]),  # × the stamp's own alpha
        "rotate": ("bool", True),  # any angle
        "flip": ("bool", True),  # mirrored with probability ½
    },
}
_DEFAULT_LEVEL = {"dark": [0.0, 0.12], "bright": [0.88, 1.0], "mixed": [0.0, 0.12], "color": [0.0, 0.0]}


@dataclass(frozen=True)
class Preset:
    """One validated preset. ``values`` holds every schema key, defaults filled in."""

    name: str
    family: str
    description: str
    values: dict[str, Any] = field(repr=False)
    source: str = ""

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **{k: v for k, v in self.values.items() if not k.startswith("_")}}


# Upper bounds that keep one sample within a machine's memory (the library's largest density is
# ~300 per reference megapixel): a typo such as 1e7 is refused here, not after 18 GB of artifacts.
MAXIMA = {"density": 10_000.0, "density_scale": 100.0}


def _check_value(kind: str, value: Any, where: str, key: str, allowed: tuple = ()) -> Any:
    checked = _check_kind(kind, value, where, key, allowed)
    top = MAXIMA.get(key)
    if top is not None and max(checked if isinstance(checked, list) else [checked]) > top:
        raise PresetError(f"{where}: key {key!r}: {value!r} is over the limit of {top:g} (one sample would "
                          "need more memory than a machine has)")
    return checked


def _check_kind(kind: str, value: Any, where: str, key: str, allowed: tuple = ()) -> Any:
    def fail(msg: str):
        raise PresetError(f"{where}: key {key!r}: {msg}")

    def is_num(x):
        return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)

    if kind == "str":
        if not isinstance(value, str) or not value:
            fail(f"expected a non-empty string, got {value!r}")
        return value
    if kind == "choice":
        if value not in allowed:
            fail(f"{value!r} is not one of {', '.join(allowed)}")
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            fail(f"expected true or false, got {value!r}")
        return value
    if kind in ("number", "unit"):
        if not is_num(value) or value < 0 or (kind == "unit" and value > 1):
            fail(f"expected a number {'in [0, 1]' if kind == 'unit' else '>= 0'}, got {value!r}")
        return float(value)
    if kind in ("range", "irange", "fraction"):
        if not isinstance(value, list) or len(value) != 2 or not all(is_num(v) for v in value):
            fail(f"expected a range [low, high] of two numbers, got {value!r}")
        if kind == "irange" and not all(float(v).is_integer() for v in value):
            fail(f"expected a range of whole numbers, got {value!r}")
        lo, hi = value
        if lo < 0:
            fail(f"range {value!r} has a negative low end")
        if lo > hi:
            fail(f"range {value!r} is empty (low > high)")
        if kind == "fraction" and hi > 1:
            fail(f"range {value!r} must lie in [0, 1] (a fraction of the short side, an opacity or a level)")
        return [int(lo), int(hi)] if kind == "irange" else [float(lo), float(hi)]
    if kind == "colors":
        if not isinstance(value, list) or not all(
            isinstance(c, list) and len(c) == 3 and all(is_num(v) and 0 <= v <= 1 for v in c) for c in value
        ):
            fail(f"expected a list of [r, g, b] colours with values in [0, 1], got {value!r}")
        return [[float(v) for v in c] for c in value]
    if kind == "families":
        if not isinstance(value, list) or not value or not all(v in FAMILIES for v in value):
            fail(f"expected a non-empty list of families from {', '.join(FAMILIES)}, got {value!r}")
        return list(dict.fromkeys(value))
    if kind == "names":
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            fail(f"expected a non-empty list of preset names, got {value!r}")
        return list(value)
    raise AssertionError(kind)


def validate_preset(name: str, record: Any, source: str = "<memory>", base_dir: str | Path | None = None) -> Preset:
    """Check one raw record against SCHEMA and return a Preset with defaults filled in.

    A relative ``stamps`` folder is made absolute against `base_dir` (default: the working directory).
    """
    where = f"{source}: preset {name!r}"
    if not isinstance(record, dict):
        raise PresetError(f"{where}: expected a table of keys, got {type(record).__name__}")
    family = record.get("family")
    if family not in SCHEMA:
        raise PresetError(f"{where}: key 'family': {family!r} is not one of {', '.join(SCHEMA)}")
    schema = SCHEMA[family]
    unknown = sorted(set(record) - set(schema))
    if unknown:
        raise PresetError(f"{where}: unknown key {unknown[0]!r} for family {family!r} "
                          f"(valid keys: {', '.join(sorted(schema))})")
    values: dict[str, Any] = {}
    for key, (kind, default, *allowed) in schema.items():
        if key in record:
            values[key] = _check_value(kind, record[key], where, key, tuple(*allowed))
        elif key == "level" and family != "mix":
            values[key] = list(_DEFAULT_LEVEL.get(values.get("polarity", "dark"), [0.0, 0.12]))
        elif default is None:
            raise PresetError(f"{where}: missing required key {key!r}")
        else:
            values[key] = default
    if family == "stamp":
        folder = Path(values["stamps"]).expanduser()
        values["stamps"] = str((Path(base_dir or ".") / folder).resolve())
    elif family != "mix" and values["polarity"] == "color" and not values["colors"]:
        raise PresetError(f"{where}: key 'colors': polarity 'color' needs at least one colour")
    return Preset(name=name, family=family, description=values["description"], values=values, source=source)


def load_preset_file(path: str | Path) -> dict[str, Preset]:
    """Load and validate every preset in one TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise PresetError(f"{path}: cannot read preset file ({exc.strerror or exc})") from exc
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PresetError(f"{path}: not valid TOML: {exc}") from exc
    if not raw:
        raise PresetError(f"{path}: no presets in file")
    return {name: validate_preset(name, record, str(path), path.parent) for name, record in raw.items()}


def library_files() -> list[Path]:
    """The TOML files of the built-in library (inside the wheel, or the repository's folder)."""
    candidates = [resources.files("dustbench").joinpath("artifacts_library"),
                  Path(__file__).resolve().parents[2] / "artifacts_library"]
    for folder in candidates:
        if folder.is_dir():
            return sorted(Path(str(p)) for p in folder.iterdir() if p.name.endswith(".toml"))
    raise PresetError("the artifact preset library was not found (is dustbench installed correctly?)")


def load_presets(paths: Iterable[str | Path] | None = None) -> dict[str, Preset]:
    """Load presets from `paths` (default: the built-in library), checking names and mix components."""
    presets: dict[str, Preset] = {}
    for path in (library_files() if paths is None else paths):
        for name, preset in load_preset_file(path).items():
            if name in presets:
                raise PresetError(f"{path}: preset {name!r} is already defined in {presets[name].source}")
            presets[name] = preset
    for preset in presets.values():
        if preset.family == "mix":
            for comp in preset["components"]:
                if comp not in presets:
                    raise PresetError(f"{preset.source}: preset {preset.name!r}: key 'components': "
                                      f"{str(UnknownNameError('preset', comp, presets))}")
                if presets[comp].family == "mix":
                    raise PresetError(f"{preset.source}: preset {preset.name!r}: key 'components': "
                                      f"{comp!r} is itself a mix; mixes cannot nest")
    return presets


_LIBRARY: dict[str, Preset] | None = None


def library() -> dict[str, Preset]:
    """The built-in presets, loaded once."""
    global _LIBRARY
    if _LIBRARY is None:
        _LIBRARY = load_presets()
    return _LIBRARY


def resolve_presets(spec: str | Iterable[str] | Preset | None, presets: dict[str, Preset] | None = None) -> list[Preset]:
    """Turn names, globs (``dust_*``), comma lists and TOML paths into a list of Presets.

    A path ending in ``.toml`` loads that file (its mixes may name library presets) and selects all
    of its presets; ``FILE.toml:NAME`` (NAME may be a glob) selects only those named. Unknown
    names and globs matching nothing raise UnknownNameError with close matches.
    """
    if isinstance(spec, Preset):
        return [spec]
    known = dict(presets if presets is not None else library())
    if spec is None:
        return list(known.values())
    items = [s.strip() for s in spec.split(",")] if isinstance(spec, str) else list(spec)
    out: list[Preset] = []
    for item in items:
        if isinstance(item, Preset):
            out.append(item)
        elif item.endswith(".toml") or ".toml:" in item:
            path, pick = (item.rsplit(":", 1) if not item.endswith(".toml") else (item, None))
            extra = load_preset_file(path)
            for p in extra.values():
                for comp in (p["components"] if p.family == "mix" else []):
                    if comp not in extra and comp not in known:
                        raise PresetError(f"{item}: preset {p.name!r}: key 'components': "
                                          f"{UnknownNameError('preset', comp, {**known, **extra})}")
                    if extra.get(comp, known.get(comp)).family == "mix":
                        raise PresetError(f"{item}: preset {p.name!r}: key 'components': "
                                          f"{comp!r} is itself a mix; mixes cannot nest")
            known.update(extra)
            if pick is None:
                out.extend(extra.values())
                continue
            picked = [extra[n] for n in extra if fnmatch.fnmatchcase(n, pick)]
            if not picked:
                raise PresetError(f"{path}: {UnknownNameError('preset', pick, extra)}")
            out.extend(picked)
        elif any(ch in item for ch in "*?["):
            matched = [known[n] for n in sorted(known) if fnmatch.fnmatchcase(n, item)]
            if not matched:
                raise UnknownNameError("preset", item, known)
            out.extend(matched)
        elif item in known:
            out.append(known[item])
        else:
            raise UnknownNameError("preset", item, known)
    if not out:
        raise PresetError("no presets selected")
    return _attach(out, known)


def _attach(selected: list[Preset], known: dict[str, Preset]) -> list[Preset]:
    # Mixes refer to components by name; keep the lookup table with each selected mix (a mix that
    # already carries its components, e.g. one resolved from a .toml file, keeps them).
    return [p if p.family != "mix" or "_components" in p.values else Preset(p.name, p.family, p.description,
                                               {**p.values, "_components": [known[c] for c in p["components"]]},
                                               p.source) for p in selected]


def expand(preset: Preset) -> list[tuple[Preset, float]]:
    """The single-family presets a preset stands for, each with its density scale."""
    if preset.family != "mix":
        return [(preset, 1.0)]
    comps = preset.values.get("_components")
    if comps is None:
        comps = [library()[c] for c in preset["components"]]
    return [(c, preset["density_scale"]) for c in comps]
