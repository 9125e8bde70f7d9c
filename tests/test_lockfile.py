"""The lock file: exact pins for every dependency, used by make/CI, compared with what is installed."""
from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from dustbench import lockfile, provenance

ROOT = Path(__file__).resolve().parent.parent


def test_the_lock_pins_every_dependency_exactly_and_make_installs_through_it():
    """Guards "a new release never turns CI red": every runtime and dev requirement of pyproject.toml
    (and the build backend) has an exact pin, and the Makefile installs the lock, then dustbench
    without resolving anything again."""
    text = (ROOT / "requirements.lock").read_text()
    pins = lockfile.parse_lock(text)
    body = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    assert len(pins) == len(body), "every line of the lock is an exact name==version pin"
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+, as the lock itself
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = project["dependencies"] + [r for extra in project["optional-dependencies"].values() for r in extra]
    missing = {lockfile._canonical(Requirement(r).name) for r in wanted} - set(pins)
    assert not missing and {"hatchling", "editables"} <= set(pins) and pins["torch"] == "2.13.0"
    make = (ROOT / "Makefile").read_text()
    assert "-r $(LOCK)" in make and "--no-deps --no-build-isolation -e ." in make


def test_drift_names_the_packages_that_differ(monkeypatch, tmp_path):
    lock = tmp_path / "requirements.lock"
    lock.write_text("# comment\nnumpy==0.0.1\nnot-installed-pkg==1.0\ntorch==999+cpu\n")
    monkeypatch.setattr(lockfile, "lock_path", lambda: lock)
    lockfile.drift.cache_clear()
    try:
        names = {name for name, _, _ in lockfile.drift()}
        assert names == {"numpy", "not-installed-pkg", "torch"}
        note = lockfile.drift_note()
        assert "numpy" in note and "(lock 0.0.1)" in note and "not-installed-pkg missing" in note
        record = provenance.collect()["lock"]
        assert record["sha256"] == hashlib.sha256(lock.read_bytes()).hexdigest()
        assert record["drift"]["numpy"]["lock"] == "0.0.1"
    finally:
        lockfile.drift.cache_clear()


def test_local_labels_are_not_drift(monkeypatch, tmp_path):
    from importlib import metadata
    lock = tmp_path / "requirements.lock"
    lock.write_text(f"numpy=={metadata.version('numpy')}+local\n")
    monkeypatch.setattr(lockfile, "lock_path", lambda: lock)
    lockfile.drift.cache_clear()
    try:
        assert lockfile.drift() == () and "match" in lockfile.drift_note()
    finally:
        lockfile.drift.cache_clear()
