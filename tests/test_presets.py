"""Artifact presets: the built-in library, the TOML loader's promised errors, name resolution."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dustbench.errors import DustbenchError, UnknownNameError
from dustbench.synth import (FAMILIES, Preset, PresetError, count_by_family, expected_count, library,
                             load_preset_file, load_presets, resolve_presets, sample_params, synthesize)
from dustbench.synth.presets import SCHEMA, expand, library_files

LIBRARY_NAMES = sorted(library())


# --- the built-in library ---------------------------------------------------------------------

def test_library_is_large_and_covers_every_family():
    """Guards the library's scope: >= 100 presets, every family has presets, and mixes exist."""
    presets = library()
    assert len(presets) >= 100
    families = {p.family for p in presets.values()}
    assert set(FAMILIES) <= families and "mix" in families
    for name, p in presets.items():
        assert p.name == name and p.description and p.family in SCHEMA
        assert Path(p.source).suffix == ".toml"


def test_dust_comes_in_both_polarities():
    """Guards negatives vs slides: dark and bright dust presets both exist (and dark/bright levels)."""
    dust = [p for p in library().values() if p.family == "dust"]
    polarities = {p["polarity"] for p in dust}
    assert {"dark", "bright"} <= polarities
    for p in dust:
        if p["polarity"] == "dark":
            assert p["level"][1] <= 0.5
        if p["polarity"] == "bright":
            assert p["level"][0] >= 0.5


def test_every_mix_component_is_a_single_family_preset():
    """Guards mixes: components exist in the library and are not mixes themselves."""
    presets = library()
    for p in presets.values():
        if p.family == "mix":
            for comp, scale in expand(p):
                assert comp.family in FAMILIES and comp.name in presets and scale > 0


def _expected(preset: Preset, shape) -> float:
    """Mean artifact count of a preset (mixes summed over their components) on a frame of `shape`."""
    return sum(expected_count(0.5 * sum(c["density"]) * scale, shape) for c, scale in expand(preset))


@pytest.mark.parametrize("name", LIBRARY_NAMES)
def test_every_preset_renders_and_damages(name):
    """Guards every library preset: it samples, renders and composites on a small grey frame, and a
    preset expecting at least one artifact on a 3:2 frame visibly damages it within a few seeds.
    (Counts depend on the aspect only, so 200×300 expects what 300×450 does.)"""
    preset = library()[name]
    clean = np.full((200, 300), 128, np.uint8)
    expected = _expected(preset, clean.shape)
    assert expected == pytest.approx(_expected(preset, (300, 450)))
    damaged_once = False
    for seed in range(5):
        s = synthesize(clean, name, np.random.default_rng(seed))
        assert s.damaged.shape == clean.shape and s.damaged.dtype == np.uint8
        if np.any(s.damaged != clean):
            damaged_once = True
            break
    if expected >= 1.0:
        assert damaged_once, f"{name}: expected {expected:.1f} artifacts, drew no visible damage in 5 seeds"


# --- bad preset files -------------------------------------------------------------------------

GOOD_DUST = 'family = "dust"\ndescription = "test"\ndensity = [1.0, 2.0]\nsize = [0.001, 0.002]\n'
GOOD_DUST_FILE = f"[my_dust]\n{GOOD_DUST}\n"

BAD_RECORDS = {
    # case: (body of preset "broken", key the message must name, extra words it must contain)
    "unknown_key": (GOOD_DUST + "sizee = [0.1, 0.2]\n", "sizee", "unknown key"),
    "wrong_type": (GOOD_DUST.replace("density = [1.0, 2.0]", 'density = "lots"'), "density", "range"),
    "empty_range": (GOOD_DUST.replace("size = [0.001, 0.002]", "size = [2, 1]"), "size", "empty"),
    "negative_range": (GOOD_DUST.replace("density = [1.0, 2.0]", "density = [-1.0, 2.0]"), "density", "negative"),
    "three_numbers": (GOOD_DUST.replace("size = [0.001, 0.002]", "size = [0.1, 0.2, 0.3]"), "size", "range"),
    "missing_required": (GOOD_DUST.replace("size = [0.001, 0.002]\n", ""), "size", "missing"),
    "unknown_family": (GOOD_DUST.replace('"dust"', '"dusst"'), "family", "dusst"),
    "missing_family": (GOOD_DUST.replace('family = "dust"\n', ""), "family", "None"),
    "bad_polarity": (GOOD_DUST + 'polarity = "purple"\n', "polarity", "purple"),
    "colour_without_colours": (GOOD_DUST + 'polarity = "color"\n', "colors", "colour"),
    "colour_out_of_range": (GOOD_DUST + "colors = [[1.0, 2.0, 0.0]]\n", "colors", "[0, 1]"),
    "opacity_above_one": (GOOD_DUST + "opacity = [0.5, 1.5]\n", "opacity", "[0, 1]"),
    "level_above_one": (GOOD_DUST + "level = [0.9, 1.2]\n", "level", "[0, 1]"),
    "size_above_one": (GOOD_DUST.replace("size = [0.001, 0.002]", "size = [0.5, 2.0]"), "size", "short side"),
    "width_above_one": ('family = "hair"\ndescription = "t"\ndensity = [1, 2]\nwidth = [0.001, 1.5]\n'
                        'length = [0.1, 0.2]\n', "width", "short side"),
    "bright_fraction_above_one": (GOOD_DUST + "bright_fraction = 1.5\n", "bright_fraction", "[0, 1]"),
    "string_not_bool": ('family = "scratch"\ndescription = "t"\ndensity = [1, 2]\nwidth = [0.001, 0.002]\n'
                        'length = [0.1, 0.2]\nfull_height = "yes"\n', "full_height", "true or false"),
    "bad_orientation": ('family = "scratch"\ndescription = "t"\ndensity = [1, 2]\nwidth = [0.001, 0.002]\n'
                        'length = [0.1, 0.2]\norientation = "diagonal"\n', "orientation", "diagonal"),
    "fractional_count": ('family = "lint"\ndescription = "t"\ndensity = [1, 2]\nwidth = [0.001, 0.002]\n'
                         'length = [0.1, 0.2]\nfibres = [2.5, 4]\n', "fibres", "whole"),
    "key_of_another_family": (GOOD_DUST + "width = [0.1, 0.2]\n", "width", "unknown key"),
    "empty_description": (GOOD_DUST.replace('"test"', '""'), "description", "non-empty"),
    "mix_without_components": ('family = "mix"\ndescription = "m"\ncomponents = []\n', "components", "non-empty"),
}


def _write(tmp_path: Path, text: str, name: str = "bad.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(BAD_RECORDS))
def test_bad_preset_record_names_file_preset_and_key(tmp_path, case):
    """Guards validation messages: each invalid record raises PresetError naming the file, the
    preset and the offending key, whether loaded directly, through load_presets or resolve_presets."""
    body, key, words = BAD_RECORDS[case]
    path = _write(tmp_path, f'[fine]\n{GOOD_DUST}\n[broken]\n{body}')
    for load in (load_preset_file, lambda p: load_presets([p]), lambda p: resolve_presets(str(p))):
        with pytest.raises(PresetError) as info:
            load(path)
        msg = str(info.value)
        assert str(path) in msg and "'broken'" in msg and f"'{key}'" in msg and words in msg, msg
        assert isinstance(info.value, DustbenchError)


def test_mix_naming_an_unknown_component_names_file_mix_and_key(tmp_path):
    """Guards mix checks: an unknown component is a PresetError naming the file, the mix, the key
    'components' and the unknown name, with a close match when there is one (library and file)."""
    path = _write(tmp_path, GOOD_DUST_FILE + '[my_mix]\nfamily = "mix"\ndescription = "m"\n'
                            'components = ["my_dust", "dust_negativ_light_sharp"]\n')
    for load in (lambda p: load_presets([p]), lambda p: load_presets([*library_files(), p]),
                 lambda p: resolve_presets(str(p))):
        with pytest.raises(PresetError) as info:
            load(path)
        msg = str(info.value)
        assert str(path) in msg and "'my_mix'" in msg and "'components'" in msg, msg
        assert "'dust_negativ_light_sharp'" in msg
    assert "did you mean 'dust_negative_light_sharp'" in msg  # resolve_presets knows the library


def test_mixes_cannot_nest(tmp_path):
    """Guards mix expansion: a mix naming a mix is a PresetError (in a file and against the library)."""
    path = _write(tmp_path, GOOD_DUST_FILE + '[inner]\nfamily = "mix"\ndescription = "i"\ncomponents = ["my_dust"]\n'
                            '[outer]\nfamily = "mix"\ndescription = "o"\ncomponents = ["inner"]\n')
    with pytest.raises(PresetError, match="'outer'.*'components'.*'inner'.*nest"):
        load_presets([path])
    lib_nest = _write(tmp_path, '[outer]\nfamily = "mix"\ndescription = "o"\ncomponents = ["negative_scan_light"]\n',
                      "nest.toml")
    with pytest.raises(PresetError, match="'outer'.*'components'.*'negative_scan_light'.*nest"):
        resolve_presets(str(lib_nest))


@pytest.mark.parametrize("text,where", [
    ('[a]\nfamily = "dust"\ndescription = \n', "line 3"),
    ('[a]\nfamily = "dust"\nfamily = "dirt"\n', "line 3"),
    ('[a\nfamily = "dust"\n', "line 1"),
])
def test_invalid_toml_names_the_file_and_line(tmp_path, text, where):
    """Guards TOML syntax errors: a PresetError naming the file and the line (no preset can be named)."""
    path = _write(tmp_path, text)
    with pytest.raises(PresetError) as info:
        load_preset_file(path)
    assert str(path) in str(info.value) and "TOML" in str(info.value) and where in str(info.value)


def test_unreadable_empty_and_non_table_files(tmp_path):
    """Guards other file problems: missing file, empty file and a non-table entry are PresetErrors."""
    missing = tmp_path / "nope.toml"
    with pytest.raises(PresetError, match="nope.toml"):
        load_preset_file(missing)
    with pytest.raises(PresetError, match="no presets"):
        load_preset_file(_write(tmp_path, "# only a comment\n", "empty.toml"))
    with pytest.raises(PresetError, match="'loose'.*table"):
        load_preset_file(_write(tmp_path, "loose = 3\n", "loose.toml"))


def test_duplicate_preset_names_across_files(tmp_path):
    """Guards uniqueness: the same name in two files is a PresetError naming both files."""
    a, b = _write(tmp_path, GOOD_DUST_FILE, "a.toml"), _write(tmp_path, GOOD_DUST_FILE, "b.toml")
    with pytest.raises(PresetError) as info:
        load_presets([a, b])
    assert str(a) in str(info.value) and str(b) in str(info.value) and "'my_dust'" in str(info.value)


def test_defaults_are_filled_in(tmp_path):
    """Guards the schema's defaults: optional keys get their documented values; level follows polarity."""
    presets = load_preset_file(_write(tmp_path, GOOD_DUST_FILE + f'[bright]\n{GOOD_DUST}polarity = "bright"\n'))
    dark, bright = presets["my_dust"], presets["bright"]
    assert dark["opacity"] == [0.8, 1.0] and dark["blur"] == [0.0, 0.0] and dark["polarity"] == "dark"
    assert dark["level"] == [0.0, 0.12] and bright["level"] == [0.88, 1.0]
    assert set(dark.values) == set(SCHEMA["dust"])
    assert dark.to_dict()["name"] == "my_dust"


# --- names, globs, files ----------------------------------------------------------------------

def test_unknown_name_suggests_close_matches():
    """Guards typos: an unknown preset is an UnknownNameError (a DustbenchError and KeyError) with
    'did you mean'."""
    with pytest.raises(UnknownNameError) as info:
        resolve_presets("dust_negativ_light_sharp")
    assert "did you mean 'dust_negative_light_sharp'" in str(info.value)
    assert isinstance(info.value, DustbenchError) and isinstance(info.value, KeyError)
    with pytest.raises(UnknownNameError, match="dustt_"):
        resolve_presets("dustt_*_nothing")


def test_names_globs_and_comma_lists():
    """Guards resolution: globs expand in sorted order, comma lists keep their order, Presets pass."""
    names = [p.name for p in resolve_presets("dust_slide_light_*, hair_curly_slide")]
    assert names == ["dust_slide_light_sharp", "dust_slide_light_soft", "hair_curly_slide"]
    dust = [p.name for p in resolve_presets("dust_*")]
    assert dust == sorted(n for n, p in library().items() if n.startswith("dust_"))
    one = library()["stain_yellowed"]
    assert resolve_presets(one) == [one]
    assert [p.name for p in resolve_presets(None)] == list(library())


def test_resolve_presets_accepts_a_toml_path(tmp_path):
    """Guards .toml paths: the file's presets are selected; its mix may name both its own presets
    and library ones; the resolved list (mix included) samples and renders."""
    path = _write(tmp_path, '[my_big_dust]\nfamily = "dust"\ndescription = "big"\ndensity = [50.0, 50.0]\n'
                            'size = [0.02, 0.04]\n\n'
                            '[my_mix]\nfamily = "mix"\ndescription = "m"\n'
                            'components = ["my_big_dust", "hair_long_negative_heavy"]\n', "mine.toml")
    presets = resolve_presets(str(path))
    assert [p.name for p in presets] == ["my_big_dust", "my_mix"]
    params = sample_params(presets, (60, 90), np.random.default_rng(0))
    assert [g["preset"] for g in params["groups"]] == ["my_big_dust", "my_big_dust", "hair_long_negative_heavy"]
    counts = count_by_family(params)
    assert counts["dust"] > 0 and counts["hair"] > 0
    s = synthesize(np.full((60, 90), 128, np.uint8), presets[1], np.random.default_rng(0))
    assert np.any(s.damaged != 128)
    mixed = resolve_presets(f"{path},stain_yellowed")
    assert [p.name for p in mixed] == ["my_big_dust", "my_mix", "stain_yellowed"]
