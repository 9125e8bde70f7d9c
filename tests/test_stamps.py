"""Stamps: the folder format, stamp presets, sampling, rendering of real sprites, and that the
procedural presets still draw exactly what they drew before stamps existed."""
from __future__ import annotations

import hashlib
import json
import math

import cv2
import numpy as np
import pytest

from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.io import read_image, write_image
from dustbench.lockfile import drift_note
from dustbench.synth import (FAMILIES, Layer, PresetError, Sprite, Stamp, StampError, composite, count_by_family,
                             expected_count, library, load_preset_file, load_stamps, regenerate, render,
                             resolve_presets, sample_params, synthesize, write_stamps)
from dustbench.synth.job import read_records
from dustbench.synth.stamps import INDEX_NAME

DTYPES = [np.uint8, np.uint16, np.float32]
HI = {np.uint8: 255, np.uint16: 65535, np.float32: 1.0}


def blob(h: int, w: int, color, seed: int = 0) -> np.ndarray:
    """A soft-edged RGBA blob with a little per-pixel colour texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    r = np.hypot((yy - (h - 1) / 2) / (h / 2), (xx - (w - 1) / 2) / (w / 2))
    rgba = np.zeros((h, w, 4), np.float32)
    rgba[..., :3] = np.clip(np.asarray(color) + rng.uniform(-0.05, 0.05, (h, w, 3)), 0, 1)
    rgba[..., 3] = np.clip(1.2 - r, 0, 1)
    return rgba


def make_stamps(n_dust: int = 3, n_hair: int = 2) -> list[Stamp]:
    out = [Stamp(blob(7 + i, 9 + i, (0.1, 0.1, 0.1), i), "dust",
                 {"short_side": 400, "size": 0.02 + 0.005 * i, "source": f"scan{i}.tif", "x": i, "dark": True})
           for i in range(n_dust)]
    out += [Stamp(blob(5, 25 + 3 * i, (0.9, 0.85, 0.7), 10 + i), "hair",
                  {"short_side": 800, "size": 0.03 + 0.01 * i, "width": 0.004})
            for i in range(n_hair)]
    return out


def stamp_preset_file(folder, body: str = "", density=(60.0, 60.0), name: str = "real.toml"):
    """A preset file `folder/name` whose stamp preset 'real' reads the folder `folder/stamps`."""
    path = folder / name
    path.write_text(f'[real]\nfamily = "stamp"\ndescription = "real sprites"\ndensity = {list(density)}\n'
                    f'stamps = "stamps"\n{body}', encoding="utf-8")
    return path


@pytest.fixture
def stamp_dir(tmp_path):
    write_stamps(tmp_path / "stamps", make_stamps())
    return tmp_path


# --- the folder format ------------------------------------------------------------------------

def test_write_then_load_round_trips(tmp_path):
    """Guards the folder contract: <family>/<row>.png 16-bit RGBA + index.csv (file, family, sorted
    meta keys, blanks where missing); loading gives back families, sizes, short sides, meta values
    with their types, RGBA within 16-bit quantisation, and the index's sha256 as digest."""
    stamps = make_stamps()
    folder = write_stamps(tmp_path / "s", stamps)
    lines = (folder / INDEX_NAME).read_text().splitlines()
    assert lines[0] == "file,family,dark,short_side,size,source,width,x"
    assert lines[1].startswith("dust/0000.png,dust,true,400,0.02,scan0.tif,,0")
    assert lines[4].startswith("hair/0003.png,hair,,800,")
    png = cv2.imread(str(folder / "hair/0003.png"), cv2.IMREAD_UNCHANGED)
    assert png.dtype == np.uint16 and png.shape[2] == 4
    s = load_stamps(folder)
    assert len(s) == 5 and s.families == ("dust",) * 3 + ("hair",) * 2
    np.testing.assert_array_equal(s.sizes, [st.meta["size"] for st in stamps])
    np.testing.assert_array_equal(s.short_sides, [400] * 3 + [800] * 2)
    assert s.digest == hashlib.sha256((folder / INDEX_NAME).read_bytes()).hexdigest()
    assert s.metas[0] == stamps[0].meta and s.metas[4] == stamps[4].meta
    for i, st in enumerate(stamps):
        got = s.stamp(i)
        assert got.family == st.family and got.rgba.dtype == np.float32
        np.testing.assert_allclose(got.rgba, st.rgba, atol=0.5 / 65535 + 1e-7)
    assert list(s.rows(["hair"])) == [3, 4] and list(s.rows()) == [0, 1, 2, 3, 4]
    assert load_stamps(folder) is s  # cached per folder and index digest


def test_write_refuses_an_existing_set_unless_overwrite(tmp_path):
    """Guards against clobbering: a folder holding an index is refused (naming it); overwrite=True
    replaces it, removes PNGs only the old index listed, and loading sees the new set."""
    folder = write_stamps(tmp_path / "s", make_stamps())
    (folder / "notes.txt").write_text("mine")
    with pytest.raises(StampError, match=str(folder)):
        write_stamps(folder, make_stamps(1, 0))
    old = load_stamps(folder)
    write_stamps(folder, make_stamps(1, 0), overwrite=True)
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.png")) == ["dust/0000.png"]
    assert (folder / "notes.txt").exists()
    new = load_stamps(folder)
    assert len(new) == 1 and new.digest != old.digest


@pytest.mark.parametrize("meta,words", [({"size": 0.1}, "'short_side'"), ({"short_side": 10, "size": 0}, "'size'"),
                                        ({"short_side": 10, "size": 0.1, "file": "x"}, "'file'"),
                                        ({"short_side": 10, "size": 0.1, "bad": [1]}, "'bad'")])
def test_write_rejects_bad_meta(tmp_path, meta, words):
    """Guards the writer's checks: short_side and size must be positive numbers, meta values scalars."""
    with pytest.raises(StampError, match=words):
        write_stamps(tmp_path / "s", [Stamp(blob(3, 3, (0, 0, 0)), "dust", meta)])
    with pytest.raises(StampError, match="'grime'"):
        write_stamps(tmp_path / "t", [Stamp(blob(3, 3, (0, 0, 0)), "grime", {"short_side": 1, "size": 1})])


def _break(folder, case):
    """Damage a good stamp folder in one way; returns the path the error must name."""
    index = folder / INDEX_NAME
    text = index.read_text()
    if case == "missing_folder":
        return folder.parent / "nowhere"
    if case == "missing_index":
        index.unlink()
    elif case == "garbled_header":
        index.write_text("name;kind\n" + text)
    elif case == "not_utf8":
        index.write_bytes(b"\xff\xfe" + text.encode())
    elif case == "short_row":
        index.write_text(text + "dust/0000.png,dust\n")
    elif case == "unknown_family":
        index.write_text(text.replace("hair/0004.png,hair", "hair/0004.png,fluff"))
    elif case == "missing_size":
        index.write_text(text.replace(",0.02,", ",,"))
    elif case == "no_size_column":
        lines = [",".join(c for j, c in enumerate(line.split(",")) if j != 4) for line in text.splitlines()]
        index.write_text("\n".join(lines) + "\n")
    elif case == "unsafe_path":
        index.write_text(text.replace("dust/0001.png", "../0001.png"))
    elif case == "missing_png":
        (folder / "dust/0001.png").unlink()
        return folder / "dust/0001.png"
    elif case == "png_without_alpha":
        cv2.imwrite(str(folder / "dust/0001.png"), np.zeros((4, 4, 3), np.uint16))
        return folder / "dust/0001.png"
    elif case == "not_a_png":
        (folder / "dust/0001.png").write_bytes(b"GIF89a....................")
        return folder / "dust/0001.png"
    return index if case != "missing_index" else folder


BAD_FOLDERS = ["missing_folder", "missing_index", "garbled_header", "not_utf8", "short_row", "unknown_family",
               "missing_size", "no_size_column", "unsafe_path", "missing_png", "png_without_alpha", "not_a_png"]


@pytest.mark.parametrize("case", BAD_FOLDERS)
def test_bad_stamp_folder_names_the_file(tmp_path, case):
    """Guards load_stamps' errors: each broken folder is a StampError (a DustbenchError) naming the
    folder, the index or the PNG at fault."""
    folder = write_stamps(tmp_path / "s", make_stamps())
    named = _break(folder, case)
    with pytest.raises(StampError) as info:
        load_stamps(named if case == "missing_folder" else folder)
    assert str(named.resolve()) in str(info.value) and isinstance(info.value, DustbenchError), str(info.value)


# --- stamp presets ----------------------------------------------------------------------------

def test_stamp_preset_resolves_its_folder_against_the_file(stamp_dir, tmp_path, monkeypatch):
    """Guards the `stamps` key: relative to the preset file (not the working directory), stored
    absolute; defaults filled in; to_dict is JSON-able; resolve_presets takes the .toml path."""
    monkeypatch.chdir(tmp_path.parent)
    path = stamp_preset_file(stamp_dir)
    preset = load_preset_file(path)["real"]
    assert preset.family == "stamp" and preset["stamps"] == str((stamp_dir / "stamps").resolve())
    assert preset["scale"] == [0.8, 1.25] and preset["opacity"] == [1.0, 1.0]
    assert preset["rotate"] is True and preset["flip"] is True and preset["families"] == []
    json.dumps(preset.to_dict())
    assert [p.name for p in resolve_presets(str(path))] == ["real"]
    assert not [p for p in library().values() if p.family == "stamp"]  # the library ships none


@pytest.mark.parametrize("body,key,words", [
    ('polarity = "dark"\n', "polarity", "unknown key"),
    ('families = ["fluff"]\n', "families", "non-empty list of families"),
    ("families = []\n", "families", "non-empty list"),
    ("opacity = [0.5, 1.5]\n", "opacity", "[0, 1]"),
    ("scale = [2.0, 1.0]\n", "scale", "empty"),
    ('rotate = "yes"\n', "rotate", "true or false"),
])
def test_bad_stamp_preset_names_file_preset_and_key(stamp_dir, body, key, words):
    """Guards stamp preset validation: the PresetError names the file, the preset and the key."""
    path = stamp_preset_file(stamp_dir, body)
    with pytest.raises(PresetError) as info:
        resolve_presets(str(path))
    msg = str(info.value)
    assert str(path) in msg and "'real'" in msg and f"'{key}'" in msg and words in msg, msg


def test_missing_stamps_key_and_missing_folder(tmp_path):
    """Guards required keys and sampling: no `stamps` key is a PresetError; a folder that does not
    exist is found when sampling, with the file, preset, key and folder named."""
    path = tmp_path / "p.toml"
    path.write_text('[real]\nfamily = "stamp"\ndescription = "d"\ndensity = [1, 2]\n')
    with pytest.raises(PresetError, match="'real'.*missing required key 'stamps'"):
        load_preset_file(path)
    preset = load_preset_file(stamp_preset_file(tmp_path))["real"]
    with pytest.raises(PresetError) as info:
        sample_params(preset, (50, 60), np.random.default_rng(0))
    msg = str(info.value)
    assert str(tmp_path / "real.toml") in msg and "'stamps'" in msg and str(tmp_path / "stamps") in msg


# --- synthesis with stamps --------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("layout", [(), (3,), (1,)], ids=["grey", "rgb", "hw1"])
def test_synthesize_draws_real_stamps(stamp_dir, dtype, layout):
    """Guards stamp synthesis on every dtype and layout: only pixels under the mask change, labels
    carry the stamps' real families (only under the mask), counts follow the families drawn, the
    same seed gives the same bytes and regenerate() rebuilds the sample exactly."""
    preset = resolve_presets(str(stamp_preset_file(stamp_dir)))
    rng = np.random.default_rng(7)
    clean = rng.uniform(0.3, 0.7, (60, 90, *layout))
    clean = clean.astype(np.float32) if dtype == np.float32 else np.rint(clean * HI[dtype]).astype(dtype)
    s = synthesize(clean, preset, np.random.default_rng(3))
    (g,) = s.params["groups"]
    assert g["family"] == "stamp" and g["n"] > 0 and len(g["families"]) == g["n"]
    json.dumps(s.params)
    changed = (s.damaged != clean) if clean.ndim == 2 else (s.damaged != clean).any(axis=2)
    assert changed.sum() > 50 and not np.any(changed & (s.mask == 0))
    assert not np.any((s.labels > 0) & (s.mask == 0))
    assert set(np.unique(s.labels)) == {0, FAMILIES.index("dust") + 1, FAMILIES.index("hair") + 1}
    counts = count_by_family(s.params)
    assert counts == {f: g["families"].count(f) for f in ("dust", "hair")} and sum(counts.values()) == g["n"]
    again = synthesize(clean, preset, np.random.default_rng(3))
    assert again.params == s.params and again.damaged.tobytes() == s.damaged.tobytes()
    redo = regenerate(clean, json.loads(json.dumps(s.params)))
    assert redo.damaged.tobytes() == s.damaged.tobytes() and redo.labels.tobytes() == s.labels.tobytes()
    np.testing.assert_array_equal(redo.mask, s.mask)


def test_counts_are_poisson_around_the_density(stamp_dir):
    """Guards density: over 40 seeds the mean count is within 4 standard errors of
    expected_count(density, shape), and the stamps drawn are spread over the whole set."""
    preset = resolve_presets(str(stamp_preset_file(stamp_dir, density=(5.0, 5.0))))
    shape = (100, 150)
    mean = expected_count(5.0, shape)
    groups = [sample_params(preset, shape, np.random.default_rng(seed))["groups"][0] for seed in range(40)]
    counts = np.array([g["n"] for g in groups])
    assert abs(counts.mean() - mean) < 4 * math.sqrt(mean / len(counts)), (counts.mean(), mean)
    assert set(sum((g["stamp"] for g in groups), [])) == set(range(5))


def _red_set(tmp_path, extra: str = ""):
    rgba = np.zeros((5, 5, 4), np.float32)
    rgba[..., 0] = rgba[..., 3] = 1.0
    write_stamps(tmp_path / "stamps", [Stamp(rgba, "dirt", {"short_side": 20, "size": 0.25})])
    body = 'scale = [1.0, 1.0]\nrotate = false\nflip = false\n' + extra
    return resolve_presets(str(stamp_preset_file(tmp_path, body, density=(200.0, 200.0))))


def test_closed_form_one_red_stamp(tmp_path):
    """Guards the geometry: one opaque 5×5 red stamp from a 20-px-short-side scan, drawn at scale 1
    unturned on a 20×30 black float image with its centre on pixel (row 8, col 12), gives exactly
    those 25 pixels pure red, mask 1 and the dirt label there, and nothing anywhere else."""
    preset = _red_set(tmp_path)
    params = sample_params(preset, (20, 30), np.random.default_rng(0))
    g = params["groups"][0]
    assert g["size"][0] == 0.25 and g["angle"][0] == 0.0 and g["flip"][0] is False and g["opacity"][0] == 1.0
    params["groups"][0] = {**g, "n": 1, **{k: g[k][:1] for k in ("stamp", "families", "angle", "flip",
                                                                    "size", "opacity")},
                           "x": [12 / 30], "y": [8 / 20]}
    black = np.zeros((20, 30, 3), np.float32)
    s = regenerate(black, params)
    expected = np.zeros_like(black)
    expected[6:11, 10:15, 0] = 1.0
    np.testing.assert_array_equal(s.damaged, expected)
    np.testing.assert_array_equal(s.mask, expected[..., 0])
    np.testing.assert_array_equal(s.labels, (expected[..., 0] * (FAMILIES.index("dirt") + 1)).astype(np.uint8))


def test_flip_and_quarter_turn_move_pixels_as_expected(tmp_path):
    """Guards flip and rotation: an L-shaped stamp drawn flipped is mirrored left-right; turned by
    π/2 it is rotated a quarter turn clockwise on screen (y points down)."""
    alpha = np.zeros((5, 5), np.float32)
    alpha[:, 0] = 1.0
    alpha[4, :3] = 1.0
    rgba = np.dstack([np.ones((5, 5, 3), np.float32), alpha])
    write_stamps(tmp_path / "stamps", [Stamp(rgba, "dust", {"short_side": 20, "size": 0.25})])
    preset = resolve_presets(str(stamp_preset_file(tmp_path)))
    params = sample_params(preset, (20, 20), np.random.default_rng(0))
    base = params["groups"][0]

    def drawn(angle, flip):
        g = {**base, "n": 1, "stamp": [0], "families": ["dust"], "x": [0.5], "y": [0.5], "angle": [angle],
             "flip": [flip], "size": [0.25], "opacity": [1.0]}
        return regenerate(np.zeros((20, 20), np.float32), {**params, "groups": [g]}).mask[8:13, 8:13]

    np.testing.assert_array_equal(drawn(0.0, False), alpha)
    np.testing.assert_array_equal(drawn(0.0, True), alpha[:, ::-1])
    np.testing.assert_allclose(drawn(math.pi / 2, False), np.rot90(alpha, k=-1), atol=1e-6)


def test_scale_is_clipped_to_the_family_size_percentiles(tmp_path):
    """Guards "scaled within the fitted sizes": the drawn relative size is the stamp's size × scale,
    clipped to the [5th, 95th] percentile of its family's sizes; `families` restricts the draw."""
    stamps = [Stamp(blob(5, 5, (0, 0, 0)), "dust", {"short_side": 100, "size": 0.01 * (i + 1)}) for i in range(10)]
    stamps += [Stamp(blob(5, 9, (1, 1, 1)), "hair", {"short_side": 100, "size": s}) for s in (0.2, 0.4)]
    write_stamps(tmp_path / "stamps", stamps)
    lo, hi = np.percentile([0.01 * (i + 1) for i in range(10)], [5, 95])
    for scale in (3.0, 0.1, 1.0):
        preset = resolve_presets(str(stamp_preset_file(
            tmp_path, f'families = ["dust"]\nscale = [{scale}, {scale}]\n', name=f"s{scale}.toml")))
        g = sample_params(preset, (100, 100), np.random.default_rng(1))["groups"][0]
        assert g["n"] > 20 and set(g["families"]) == {"dust"} and max(g["stamp"]) < 10
        sizes = np.array(g["size"])
        np.testing.assert_allclose(sizes, [min(max(stamps[r].meta["size"] * scale, lo), hi) for r in g["stamp"]])
        if scale == 0.1:
            assert (sizes == lo).all()
        if scale == 3.0:
            assert (sizes == hi).mean() > 0.5
    hair = resolve_presets(str(stamp_preset_file(tmp_path, 'families = ["hair"]\nscale = [0.5, 4.0]\n',
                                                 name="hair.toml")))
    g = sample_params(hair, (100, 100), np.random.default_rng(1))["groups"][0]
    assert set(g["families"]) == {"hair"} and min(g["size"]) >= 0.21 - 1e-12 and max(g["size"]) <= 0.39 + 1e-12


def test_rotate_and_flip_can_be_switched_off(stamp_dir):
    """Guards rotate/flip: off means every angle 0 and no flip; on means angles over [0, 2π) and both
    flips; switching them changes nothing else in the record."""
    on = resolve_presets(str(stamp_preset_file(stamp_dir)))
    off = resolve_presets(str(stamp_preset_file(stamp_dir, "rotate = false\nflip = false\n", name="off.toml")))
    a = sample_params(on, (100, 150), np.random.default_rng(2))["groups"][0]
    b = sample_params(off, (100, 150), np.random.default_rng(2))["groups"][0]
    assert set(b["angle"]) == {0.0} and set(b["flip"]) == {False}
    assert max(a["angle"]) > 4.0 and min(a["angle"]) >= 0.0 and set(a["flip"]) == {True, False}
    assert {k: v for k, v in a.items() if k not in ("angle", "flip")} == \
        {k: v for k, v in b.items() if k not in ("angle", "flip")}


def test_render_refuses_a_changed_or_missing_folder(stamp_dir):
    """Guards reproducibility: a record drawn from a stamp folder whose index has since changed, or
    that is gone, raises a DustbenchError naming that folder instead of drawing other pixels."""
    preset = resolve_presets(str(stamp_preset_file(stamp_dir)))
    params = sample_params(preset, (40, 60), np.random.default_rng(0))
    folder = stamp_dir / "stamps"
    write_stamps(folder, make_stamps(2, 2), overwrite=True)
    with pytest.raises(DustbenchError, match=f"{folder}.*changed"):
        render(params, (40, 60))
    for p in sorted(folder.rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    folder.rmdir()
    with pytest.raises(DustbenchError, match=f"{folder}.*not found"):
        render(params, (40, 60))


def test_mix_with_a_stamp_component(stamp_dir):
    """Guards mixes: a mix may combine a stamp preset with library presets; labels and counts carry
    both the stamps' real families and the procedural ones."""
    path = stamp_preset_file(stamp_dir, '\n[real_mix]\nfamily = "mix"\ndescription = "m"\n'
                                        'components = ["real", "scratch_base_heavy"]\n')
    presets = resolve_presets(f"{path}")
    s = synthesize(np.full((80, 120), 128, np.uint8), presets[1], np.random.default_rng(0))
    assert [g["family"] for g in s.params["groups"]] == ["stamp", "scratch"]
    assert {"dust", "hair", "scratch"} <= set(count_by_family(s.params))


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_composite_per_pixel_colour(dtype):
    """Guards per-pixel sprite colour: RGB images take each pixel's colour, grey and H×W×1 images its
    BT.601 grey; blending and rounding as for flat colours."""
    color = np.zeros((2, 2, 3), np.float32)
    color[0, 0], color[0, 1], color[1, 0], color[1, 1] = (1, 0, 0), (0, 1, 0), (0, 0, 1), (1, 1, 1)
    layer = Layer((3, 4), [Sprite(1, 1, np.full((2, 2), 0.5, np.float32), color, 1)])
    hi = HI[dtype]
    grey = np.array([0.299, 0.587, 0.114, 1.0]).reshape(2, 2) * hi * 0.5
    if dtype != np.float32:
        grey = np.floor(grey.astype(np.float32) + 0.5)
    for clean in (np.zeros((3, 4), dtype), np.zeros((3, 4, 1), dtype), np.zeros((3, 4, 3), dtype)):
        out = composite(clean, layer)
        got = out[1:3, 1:3]
        if clean.ndim == 3 and clean.shape[2] == 3:
            np.testing.assert_allclose(got, np.rint(color * hi * 0.5) if dtype != np.float32 else color * 0.5)
        else:
            np.testing.assert_allclose(got.reshape(2, 2), grey, rtol=1e-6)
        assert out.sum() == got.sum()  # nothing outside the sprite


def test_cli_synth_with_a_stamp_preset_file(stamp_dir, capsys):
    """Guards `dustbench synth --presets file.toml` with a stamp preset: samples, labels and the
    manifest's per-family counts come out, and each record regenerates its damaged image."""
    clean_dir = stamp_dir / "clean"
    clean_dir.mkdir()
    rng = np.random.default_rng(0)
    write_image(clean_dir / "a.png", rng.integers(60, 200, (48, 72, 3)).astype(np.uint8))
    write_image(clean_dir / "b.png", rng.integers(60, 200, (50, 50)).astype(np.uint8))
    out = stamp_dir / "out"
    code = main(["synth", "--clean", str(clean_dir), "--out", str(out), "--n", "3", "--presets",
                 str(stamp_preset_file(stamp_dir)), "--quiet", "--no-contact-sheet"])
    assert code == 0, capsys.readouterr().err
    records = read_records(out)
    assert len(records) == 3 and all(r["presets"] == ["real"] for r in records)
    assert sum(sum(r["families"].values()) for r in records) > 0
    assert set().union(*(r["families"] for r in records)) <= {"dust", "hair"}
    for r in records:
        clean = read_image(r["source_path"])
        np.testing.assert_array_equal(regenerate(clean, r["params"]).damaged, read_image(out / r["damaged"]))


# --- procedural presets are unchanged ---------------------------------------------------------

# sha256 of params JSON + damaged + mask + labels, recorded before stamps were added; negative_scan_heavy
# re-recorded when it was calibrated to real 35 mm damage (artifacts_library/calibrated.toml).
OLD_OUTPUT = {
    ("slide_medium", 3): "258625e557554024151ae1d187a06f0ac4269729161fbb5f96526f244c806ade",
    ("negative_scan_heavy", 11): "a4cb1b5c8f682e4933d80a67d43d03ec403a4c84597b3370ee1e22cee7cbd368",
    ("kitchen_sink", 5): "d9337718ffa2c31bf8ef895f4a74950f6e26160c00c563d13433ae1e57c31f89",
}


@pytest.mark.parametrize("name,seed", sorted(OLD_OUTPUT))
def test_procedural_presets_draw_what_they_drew_before(name, seed):
    """Guards the committed leaderboard's data: procedural presets keep the exact same records and
    bytes (stamp sampling draws nothing for them and runs only for stamp presets)."""
    clean = (np.arange(120 * 180 * 3) % 251).astype(np.uint8).reshape(120, 180, 3)
    s = synthesize(clean, name, np.random.default_rng(seed))
    h = hashlib.sha256(json.dumps(s.params, sort_keys=True).encode())
    for a in (s.damaged, s.mask, s.labels):
        h.update(a.tobytes())
    assert h.hexdigest() == OLD_OUTPUT[(name, seed)], drift_note()
