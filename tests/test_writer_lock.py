"""One writer per output folder: a second evaluate/restore into a folder another live run writes is
refused with a message naming that run; the first run's results stay intact; a killed run's lock
does not block the next one (the kernel drops it with the process)."""
from __future__ import annotations

import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from dustbench import evaluate
from dustbench.cli import main
from dustbench.errors import DustbenchError
from dustbench.io import write_image
from dustbench.writer_lock import LOCK_NAME, one_writer

HOLD = """
import sys, time
from dustbench.writer_lock import one_writer
with one_writer(sys.argv[1], "evaluate identity"):
    print("held", flush=True)
    time.sleep(60)
"""


@pytest.fixture
def pairs(tmp_path):
    rng = np.random.default_rng(0)
    for name in ("a", "b"):
        clean = rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)
        damaged = clean.copy()
        damaged[10:14, 10:14] = 255
        write_image(tmp_path / "pairs" / "clean" / f"{name}.png", clean)
        write_image(tmp_path / "pairs" / "damaged" / f"{name}.png", damaged)
    return tmp_path / "pairs"


def _holder(folder):
    child = subprocess.Popen([sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "held"
    return child


def test_a_second_run_into_a_held_folder_is_refused_and_the_first_kept(pairs, tmp_path, capsys):
    out = tmp_path / "out"
    first = evaluate("identity", pairs, out, progress=False)
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != LOCK_NAME}
    child = _holder(out)
    try:
        with pytest.raises(DustbenchError, match=r"`dustbench evaluate identity` \(pid \d+ on .*\) is writing there"):
            evaluate("median", pairs, out, progress=False, overwrite=True)
        assert main(["evaluate", "median", "--data", str(pairs), "--out", str(out), "--overwrite", "--quiet"]) != 0
        assert "is writing there" in capsys.readouterr().err
        assert main(["restore", "median", str(pairs / "damaged" / "a.png"), "--out", str(out), "--quiet"]) != 0
        assert "is writing there" in capsys.readouterr().err
        assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file() and p.name != LOCK_NAME} == before
    finally:
        child.send_signal(signal.SIGKILL)  # a killed run: its lock goes with it
        child.wait()
    again = evaluate("identity", pairs, out, progress=False)
    assert again.summary["metrics"]["psnr"] == first.summary["metrics"]["psnr"] and again.summary["resumed_images"] == 2


def test_nested_use_in_one_process_is_allowed(tmp_path):
    with one_writer(tmp_path, "outer"):
        with one_writer(tmp_path, "inner"):
            pass
    with one_writer(tmp_path, "again"):  # released after the block
        pass
    assert (tmp_path / LOCK_NAME).is_file()


def test_a_make_dataset_run_with_other_settings_cannot_join_a_claimed_folder(tmp_path):
    """Two overlapping make-dataset runs with seeds 0 and 1 used to mix: the second wrote its config
    over the first's and made its rows with the first's splits. The config is now claimed
    exclusively before any work, so the run that comes second (here: started while the other had
    claimed the folder but made no row yet) is refused, and the claim is left as it was."""
    from dustbench.data.make_dataset import WORK, DatasetConfig, make_dataset
    out = tmp_path / "ds"
    first = DatasetConfig(clean="builtin", out=str(out), seed=0, train_patches=4, patch=64, val_images=1,
                          test_images=1)
    (out / WORK).mkdir(parents=True)
    (out / WORK / "config.json").write_text(json.dumps(first.identity()))
    with pytest.raises(DustbenchError, match="claimed by another run"):
        make_dataset(DatasetConfig(**{**first.__dict__, "seed": 1}), progress=False)
    assert json.loads((out / WORK / "config.json").read_text()) == json.loads(json.dumps(first.identity()))


def test_train_and_leaderboard_build_are_refused_too(pairs, tmp_path, capsys):
    results = tmp_path / "results"
    evaluate("identity", pairs, results / "identity", progress=False)
    held = tmp_path / "held"
    child = _holder(held)
    try:
        assert main(["leaderboard", "build", str(results), "--out", str(held), "--no-plots"]) == 2
        assert "is writing there" in capsys.readouterr().err
        assert main(["train", "dust_gan", "--out", str(held), "--max-steps", "1", "--quiet"]) == 2
        assert "is writing there" in capsys.readouterr().err
        assert sorted(p.name for p in held.iterdir()) == [LOCK_NAME]  # nothing written by the refused runs
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


FIT_HOLD = """
import sys, time
from dustbench.writer_lock import one_writer
with one_writer(sys.argv[1], "fit-preset", name=sys.argv[2]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_fit_preset_holds_its_preset_file_not_the_whole_folder(pairs, tmp_path, capsys):
    """Two fit-preset runs may write different presets into one folder, never the same file."""
    presets = tmp_path / "presets"
    child = subprocess.Popen([sys.executable, "-c", FIT_HOLD, str(presets), ".mine.toml.lock"], stdout=subprocess.PIPE,
                             text=True)
    assert child.stdout.readline().strip() == "held"
    try:
        assert main(["fit-preset", "--pairs", str(pairs), "--name", "mine", "--out", str(presets / "mine.toml"),
                     "--no-check"]) == 2
        assert "is writing there" in capsys.readouterr().err and not (presets / "mine.toml").exists()
        assert main(["fit-preset", "--pairs", str(pairs), "--name", "other", "--out", str(presets / "other.toml"),
                     "--no-check"]) == 0
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()


_WORKER = """
import os, signal, sys, time
from dustbench import threads
threads.PARENT_GRACE_S = {grace}
threads.pool_worker_setup()
print("set up", flush=True)
{action}
print("carried on", flush=True)
"""


def _wait_for(log, marker: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and marker not in (log.read_text() if log.is_file() else ""):
        time.sleep(0.05)


def _kill_once_logged(parent_code: str, log, marker: str) -> None:
    """Run ``parent_code`` (which starts a worker that writes ``log``) and kill -9 it once ``marker`` is logged."""
    middle = subprocess.Popen([sys.executable, "-c", parent_code])
    _wait_for(log, marker)
    middle.kill()
    middle.wait(timeout=60)


def _late_worker(log: str) -> None:
    """A pool worker that starts slowly: its parent is killed before it runs its initialiser."""
    with open(log, "a") as f:
        f.write("started\n")
    time.sleep(2.0)
    with open(log, "a") as f:
        f.write("setting up\n")
    from dustbench.threads import pool_worker_setup
    pool_worker_setup()
    with open(log, "a") as f:
        f.write("carried on\n")


def test_a_worker_set_up_after_its_parent_died_ends_quietly(tmp_path):
    """Under load a spawned worker can reach its initialiser after a ``kill -9`` of its parent, when
    asking the kernel to end it with its parent is too late: it must end there, not go on to hand
    results to a closed pipe (the traceback test_killing_synth_leaves_its_workers_quiet saw)."""
    log = tmp_path / "worker.log"
    parent = ("import multiprocessing as mp, sys, time; from tests.test_writer_lock import _late_worker; "
              f"p = mp.get_context('spawn').Process(target=_late_worker, args=({str(log)!r},)); p.start(); "
              "time.sleep(120)")
    _kill_once_logged(parent, log, "started")
    _wait_for(log, "setting up")
    time.sleep(3.0)  # well past the set-up
    text = log.read_text()
    assert "setting up" in text and "carried on" not in text, text


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX signals")
def test_a_worker_whose_pipe_breaks_as_its_parent_dies_ends_quietly(tmp_path):
    """The kernel closes a dying parent's pipes before it signals the children that asked to die
    with it: a worker's write in between (SIGPIPE) must end it quietly, not print a BrokenPipeError
    traceback. Here the worker's pipe breaks first, and its parent is killed while it waits."""
    log = tmp_path / "worker.log"
    worker = _WORKER.format(grace=60, action="os.kill(os.getpid(), signal.SIGPIPE)")
    parent = ("import subprocess, sys, time; "
              f"subprocess.Popen([sys.executable, '-c', {worker!r}], stdout=open({str(log)!r}, 'w'), "
              "stderr=subprocess.STDOUT); time.sleep(120)")
    _kill_once_logged(parent, log, "set up")
    time.sleep(2.0)  # the worker has seen its parent die
    text = log.read_text()
    assert "set up" in text and "carried on" not in text and "Traceback" not in text, text


@pytest.mark.skipif(not hasattr(signal, "SIGPIPE"), reason="POSIX signals")
def test_a_worker_whose_parent_lives_raises_on_a_broken_pipe_as_before():
    """A pipe closed while the parent lives (a ``| head``): after the grace the write raises, so a
    pool sees the error instead of a vanished worker."""
    action = ("r, w = os.pipe(); os.close(r)\ntry:\n    os.write(w, b'x')\nexcept BrokenPipeError:\n"
              "    print('raised', flush=True)")
    done = subprocess.run([sys.executable, "-c", _WORKER.format(grace=0.5, action=action)], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0 and "raised" in done.stdout and "carried on" in done.stdout, done.stderr[-2000:]


def test_killing_synth_leaves_its_workers_quiet(tmp_path):
    """kill -9 of a synth parent used to make each worker print a BrokenPipeError traceback (the
    workers now die with their parent), and the folder resumes as before."""
    out = tmp_path / "s"
    argv = [sys.executable, "-m", "dustbench", "synth", "--clean", "builtin", "--out", str(out), "--n", "200",
            "--workers", "2", "--quiet", "--no-contact-sheet"]
    parent = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (out / "synth.json").is_file():
        time.sleep(0.2)
    time.sleep(2.0)  # workers busy
    parent.send_signal(signal.SIGKILL)
    _, err = parent.communicate(timeout=60)
    time.sleep(1.0)  # what the orphaned workers would have printed
    assert "Traceback" not in err, err[-2000:]
    assert main(["synth", "--clean", "builtin", "--out", str(out), "--n", "3", "--quiet", "--no-contact-sheet"]) == 0
