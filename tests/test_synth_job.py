"""`dustbench synth` as a job: determinism over workers and shards, resume, manifest, errors.

Every test works on a few tiny clean images written into tmp_path, so a whole job takes well
under a second (except the two-worker run, which pays for starting processes).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from dustbench.errors import DustbenchError
from dustbench.io import read_image, write_image
from dustbench.synth import FAMILIES, count_by_family, regenerate
from dustbench.io import mask_to_image
from dustbench.synth.job import RECORDS, SynthConfig, parse_shard, read_records, run_synth, sample_rng
from dustbench.sources import folder_sources

# Cheap presets from every single-object family (a few dozen artifacts each on any frame).
PRESETS = ("dirt_negative_light,hair_long_negative_heavy,scratch_base_heavy,stain_dark_heavy,"
           "dust_slide_light_sharp,lint_negative_heavy,water_marks_heavy")


def _texture(shape, dtype, seed):
    """A smooth gradient plus noise: every value differs from an artifact's flat colour somewhere."""
    rng = np.random.default_rng(seed)
    h, w = shape[:2]
    base = np.linspace(0.2, 0.8, w)[None, :] * np.linspace(0.7, 1.0, h)[:, None]
    if len(shape) == 3:
        base = base[:, :, None] * np.array([1.0, 0.9, 0.8])
    f = np.clip(base + rng.normal(0, 0.03, shape), 0, 1)
    hi = 255 if dtype == np.uint8 else 65535
    return np.rint(f * hi).astype(dtype)


def make_clean(folder: Path, dtype=np.uint8) -> Path:
    """Three tiny scans (RGB, grey, and RGB TIFF in a subfolder)."""
    folder.mkdir(parents=True, exist_ok=True)
    write_image(folder / "a.png", _texture((48, 72, 3), dtype, 1))
    write_image(folder / "b.png", _texture((60, 60), dtype, 2))
    write_image(folder / "sub" / "c.tif", _texture((40, 64, 3), dtype, 3))
    return folder


def config(clean, out, **kw) -> SynthConfig:
    kw.setdefault("presets", PRESETS)
    kw.setdefault("contact_sheet", False)
    return SynthConfig(clean=str(clean), out=str(out), **kw)


def tree_bytes(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (hidden ones included) -> its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def sample_files(out: Path, sid: str) -> list[Path]:
    return [p for p in out.rglob(f"{sid}.*") if p.is_file()]


@pytest.fixture(scope="module")
def clean8(tmp_path_factory) -> Path:
    return make_clean(tmp_path_factory.mktemp("clean8"))


@pytest.fixture(scope="module")
def reference_run(clean8, tmp_path_factory) -> Path:
    """One uninterrupted single-worker run, n=6, with the contact sheet: the bytes to match."""
    out = tmp_path_factory.mktemp("ref") / "out"
    report = run_synth(config(clean8, out, n=6, seed=7, contact_sheet=True), progress=False)
    assert sorted(report.written) == list(range(6)) and not report.skipped and not report.resumed
    return out


def test_same_seed_same_bytes_with_one_or_two_workers(clean8, reference_run, tmp_path):
    """Guards determinism: the bytes of every file (manifest included) do not depend on the worker count."""
    out = tmp_path / "w2"
    report = run_synth(config(clean8, out, n=6, seed=7, workers=2, contact_sheet=True), progress=False)
    assert sorted(report.written) == list(range(6))
    ref = tree_bytes(reference_run)
    assert "manifest.jsonl" in ref and "contact_sheet.png" in ref and "synth.json" in ref and len(ref) == 6 * 5 + 3
    assert tree_bytes(out) == ref


def test_two_shards_into_one_folder_equal_a_single_run(clean8, reference_run, tmp_path):
    """Guards sharding: shards 0/2 and 1/2 written into one folder give exactly the single run's files."""
    out = tmp_path / "sharded"
    r0 = run_synth(config(clean8, out, n=6, seed=7, shard=(0, 2), contact_sheet=True), progress=False)
    assert sorted(r0.written) == [0, 2, 4]
    r1 = run_synth(config(clean8, out, n=6, seed=7, shard=(1, 2), contact_sheet=True), progress=False)
    assert sorted(r1.written) == [1, 3, 5] and not r1.resumed
    assert tree_bytes(out) == tree_bytes(reference_run)


def test_different_seed_gives_different_samples(clean8, reference_run, tmp_path):
    """Guards that --seed is used: another master seed changes the damage."""
    out = tmp_path / "other"
    run_synth(config(clean8, out, n=6, seed=8), progress=False)
    ref, other = read_records(reference_run), read_records(out)
    assert [r["params"] for r in ref] != [r["params"] for r in other]


def _snapshot(out: Path) -> dict[str, tuple[int, int]]:
    return {p.relative_to(out).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
            for p in out.rglob("*") if p.is_file()}


@pytest.mark.parametrize("lose", ["record_and_files", "record_only"])
def test_resume_rewrites_only_the_missing_sample(clean8, reference_run, tmp_path, lose):
    """Guards resume: after losing one sample (all its files, or only its record as when a run dies
    between writing the images and the record), a re-run rewrites that sample only, leaves every
    other sample file untouched (same inode and mtime) and ends byte-identical to an uninterrupted run."""
    out = tmp_path / "out"
    run_synth(config(clean8, out, n=6, seed=7, contact_sheet=True), progress=False)
    (out / RECORDS / "000002.json").unlink()
    if lose == "record_and_files":
        for p in sample_files(out, "000002"):
            p.unlink()
    before = _snapshot(out)
    report = run_synth(config(clean8, out, n=6, seed=7, contact_sheet=True), progress=False)
    assert report.written == [2]
    assert sorted(report.resumed) == [0, 1, 3, 4, 5]
    after = _snapshot(out)
    for name, stamp in before.items():
        if "000002" in name or name in ("manifest.jsonl", "contact_sheet.png"):
            continue  # rewritten by design
        assert after[name] == stamp, f"{name} was rewritten"
    assert tree_bytes(out) == tree_bytes(reference_run)


def test_resume_of_a_complete_run_writes_nothing(clean8, reference_run, tmp_path):
    """Guards resume: re-running a finished job touches no sample file."""
    out = tmp_path / "out"
    run_synth(config(clean8, out, n=3, seed=7), progress=False)
    before = _snapshot(out)
    report = run_synth(config(clean8, out, n=3, seed=7), progress=False)
    assert report.written == [] and sorted(report.resumed) == [0, 1, 2]
    after = _snapshot(out)
    assert {k: v for k, v in after.items() if k != "manifest.jsonl"} == \
           {k: v for k, v in before.items() if k != "manifest.jsonl"}


def test_manifest_lines_describe_their_samples(clean8, reference_run):
    """Guards the manifest: one sorted line per sample, with its files, source, seed and family counts."""
    records = read_records(reference_run)
    assert [r["index"] for r in records] == list(range(6))
    sources = {s.id: s.path for s in folder_sources(clean8)}
    for r in records:
        assert r["id"] == f"{r['index']:06d}"
        assert r["sample_seed"] == [7, r["index"]] and r["seed"] == 7
        assert r["source"] in sources and r["source_path"] == sources[r["source"]]
        assert r["families"] == count_by_family(r["params"])
        assert set(r["families"]) <= set(FAMILIES)
        for key in ("damaged", "clean", "mask", "labels"):
            assert (reference_run / r[key]).is_file()
        clean = read_image(reference_run / r["clean"])
        assert list(clean.shape) == r["shape"] and str(clean.dtype) == r["dtype"]
        np.testing.assert_array_equal(clean, read_image(r["source_path"]))


def test_manifest_params_regenerate_the_damaged_image_exactly(reference_run):
    """Guards regeneration: a manifest line's params + the clean image rebuild damaged, mask and labels."""
    for r in read_records(reference_run):
        clean = read_image(r["source_path"])
        s = regenerate(clean, r["params"])
        np.testing.assert_array_equal(s.damaged, read_image(reference_run / r["damaged"]))
        np.testing.assert_array_equal(mask_to_image(s.mask, clean.dtype), read_image(reference_run / r["mask"]))
        np.testing.assert_array_equal(s.labels, read_image(reference_run / r["labels"]))


def _check_saved_triplets(out: Path, dtype, suffix: str) -> None:
    """Saved files: right dtype and suffix; saved mask > 0 wherever saved damaged != saved clean;
    labels non-zero only under the mask and within 1..len(FAMILIES)."""
    records = read_records(out)
    changed_total = 0
    for r in records:
        assert r["damaged"].endswith(suffix) and r["clean"].endswith(suffix) and r["mask"].endswith(suffix)
        damaged, clean = read_image(out / r["damaged"]), read_image(out / r["clean"])
        mask, labels = read_image(out / r["mask"]), read_image(out / r["labels"])
        assert damaged.dtype == clean.dtype == mask.dtype == dtype and labels.dtype == np.uint8
        assert damaged.shape == clean.shape and mask.shape == labels.shape == clean.shape[:2]
        changed = (damaged != clean) if damaged.ndim == 2 else (damaged != clean).any(axis=2)
        changed_total += int(changed.sum())
        assert np.all(mask[changed] > 0), f"{r['id']}: pixels changed outside the saved mask"
        assert np.all(mask[labels > 0] > 0)
        assert labels.max() <= len(FAMILIES)
    assert changed_total > 0, "the job wrote no visible damage at all"


def test_saved_8bit_triplets_are_consistent(reference_run):
    """Guards the saved 8-bit files: PNG, uint8, mask covers every changed pixel."""
    _check_saved_triplets(reference_run, np.uint8, ".png")


@pytest.mark.parametrize("format16,suffix", [("png", ".png"), ("tif", ".tif")])
def test_16bit_sources_give_16bit_files(tmp_path, format16, suffix):
    """Guards bit depth: uint16 scans give 16-bit PNG (or TIFF with format16='tif') that read back as
    uint16, with a 16-bit mask; the saved clean equals the source exactly."""
    clean = make_clean(tmp_path / "clean16", np.uint16)
    out = tmp_path / "out"
    run_synth(config(clean, out, n=4, seed=3, format16=format16, contact_sheet=True), progress=False)
    _check_saved_triplets(out, np.uint16, suffix)
    for r in read_records(out):
        assert r["dtype"] == "uint16"
        np.testing.assert_array_equal(read_image(out / r["clean"]), read_image(r["source_path"]))
        s = regenerate(read_image(r["source_path"]), r["params"])
        np.testing.assert_array_equal(s.damaged, read_image(out / r["damaged"]))
    assert read_image(out / "contact_sheet.png").dtype == np.uint8


def test_mask_to_image_rounds_up():
    """Guards mask quantisation: any opacity > 0 stays > 0; 0 stays 0; 1 is full scale."""
    m = np.array([[0.0, 1e-6, 0.5, 1.0]], np.float32)
    np.testing.assert_array_equal(mask_to_image(m, np.uint8), [[0, 1, 128, 255]])
    np.testing.assert_array_equal(mask_to_image(m, np.uint16), [[0, 1, 32768, 65535]])
    assert mask_to_image(m, np.float32).dtype == np.uint16


# --- bad inputs -------------------------------------------------------------------------------

def _bad_folder(tmp_path: Path, kind: str = "truncated") -> tuple[Path, Path]:
    """Two good scans and one bad file; returns (folder, bad file)."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    write_image(folder / "a.png", _texture((48, 72, 3), np.uint8, 1))
    write_image(folder / "c.png", _texture((60, 60), np.uint8, 2))
    bad = folder / "b.png"
    if kind == "truncated":
        data = (folder / "a.png").read_bytes()
        bad.write_bytes(data[: len(data) // 2])
    elif kind == "text":
        bad.write_text("this is not an image\n")
    else:
        bad.write_bytes(b"")
    return folder, bad


def _uses_bad(folder: Path, bad: Path, seed: int, n: int) -> list[int]:
    """Indices whose source is `bad` (each sample draws its source first from SeedSequence([seed, i]))."""
    sources = folder_sources(folder)
    return [i for i in range(n) if sources[int(sample_rng(seed, i).integers(len(sources)))].path == str(bad)]


def _seed_with_bad_sample(folder, bad, n=6) -> tuple[int, int]:
    for seed in range(100):
        hits = _uses_bad(folder, bad, seed, n)
        if hits and hits[0] >= 2:
            return seed, hits[0]
    raise AssertionError("no suitable seed")


@pytest.mark.parametrize("kind", ["truncated", "text", "empty"])
def test_on_error_stop_names_the_file_and_keeps_finished_samples(tmp_path, kind):
    """Guards --on-error stop: a DustbenchError naming the bad file; samples finished before it stay
    on disk and in the manifest."""
    folder, bad = _bad_folder(tmp_path, kind)
    seed, first_bad = _seed_with_bad_sample(folder, bad)
    out = tmp_path / "out"
    with pytest.raises(DustbenchError) as info:
        run_synth(config(folder, out, n=6, seed=seed, on_error="stop"), progress=False)
    assert str(bad) in str(info.value)
    assert f"sample {first_bad}" in str(info.value)
    assert [r["index"] for r in read_records(out)] == list(range(first_bad))
    for r in read_records(out):
        assert read_image(out / r["damaged"]).shape == read_image(r["source_path"]).shape


def test_on_error_skip_goes_on_and_reports(tmp_path, capsys):
    """Guards --on-error skip: every sample drawing the bad file is skipped and reported (with the
    file's name); all others are written."""
    folder, bad = _bad_folder(tmp_path, "text")
    seed, _ = _seed_with_bad_sample(folder, bad)
    expected = _uses_bad(folder, bad, seed, 6)
    out = tmp_path / "out"
    report = run_synth(config(folder, out, n=6, seed=seed, on_error="skip"), progress=False)
    assert [i for i, _ in report.skipped] == expected
    assert all(str(bad) in msg for _, msg in report.skipped)
    assert sorted(report.written) == [i for i in range(6) if i not in expected]
    assert [r["index"] for r in read_records(out)] == sorted(report.written)
    err = capsys.readouterr().err
    assert all(f"skipped sample {i}" in err for i in expected)


@pytest.mark.parametrize("what", ["missing", "empty", "file", "only_text_files"])
def test_bad_clean_folder_fails_before_any_work(tmp_path, what):
    """Guards --clean checks: a missing or empty folder (or a file) is a clear DustbenchError raised
    before the output folder is even created."""
    clean = tmp_path / "clean"
    if what == "empty":
        clean.mkdir()
    elif what == "file":
        clean.write_text("x")
    elif what == "only_text_files":
        clean.mkdir()
        (clean / "notes.txt").write_text("no images here")
    out = tmp_path / "out"
    with pytest.raises(DustbenchError, match="--clean") as info:
        run_synth(config(clean, out, n=2), progress=False)
    assert str(clean) in str(info.value)
    assert not out.exists()


def test_bad_settings_fail_before_any_work(clean8, tmp_path):
    """Guards argument checks: n < 1, unknown --on-error and unknown presets fail before writing."""
    out = tmp_path / "out"
    for kw in ({"n": 0}, {"n": 2, "on_error": "ignore"}, {"n": 2, "presets": "dust_nope"}):
        with pytest.raises(DustbenchError):
            run_synth(config(clean8, out, **kw), progress=False)
    assert not out.exists()


@pytest.mark.parametrize("text,expected", [("0/1", (0, 1)), ("3/4", (3, 4))])
def test_parse_shard_accepts_i_of_n(text, expected):
    """Guards --shard parsing of valid values."""
    assert parse_shard(text) == expected


@pytest.mark.parametrize("text", ["4/4", "-1/2", "1/0", "1", "a/b", "1/2/3"])
def test_parse_shard_rejects_nonsense(text):
    """Guards --shard parsing: out-of-range or malformed values are DustbenchErrors naming the value."""
    with pytest.raises(DustbenchError, match="--shard"):
        parse_shard(text)


def test_job_accepts_a_toml_preset_file(clean8, tmp_path):
    """Guards --presets with a .toml path: its presets (and a mix naming library presets) are used."""
    toml = tmp_path / "mine.toml"
    toml.write_text('[my_big_dust]\nfamily = "dust"\ndescription = "big"\ndensity = [300.0, 300.0]\n'
                    'size = [0.02, 0.05]\n\n'
                    '[my_mix]\nfamily = "mix"\ndescription = "mine and a hair"\n'
                    'components = ["my_big_dust", "hair_long_negative_heavy"]\n')
    out = tmp_path / "out"
    run_synth(config(clean8, out, n=4, seed=1, presets=str(toml)), progress=False)
    records = read_records(out)
    assert {r["presets"][0] for r in records} <= {"my_big_dust", "my_mix"}
    assert all(r["families"].get("dust", 0) > 0 for r in records)
    assert os.listdir(out / RECORDS) and json.loads((out / RECORDS / "000000.json").read_text())["index"] == 0
