"""One writer per output folder: a run holds an exclusive lock on ``OUT/.dustbench.lock`` while it
writes, so two runs started into the same ``--out`` cannot mix their results (``evaluate``,
``restore``, ``train``, ``leaderboard build``; ``synth`` and ``make-dataset`` claim their settings
with :func:`dustbench.io.claim_json` instead, because shards of one run share a folder by design).

The lock is an ``fcntl.flock`` on a file that names its holder (command, process id, host, start
time): the kernel releases it when the process ends however it ends, so a run killed with
``kill -9`` leaves no stale lock behind, and the next run takes over (and resumes) as before. A
second run while the first is alive is refused with a message naming the first. On systems
without ``fcntl`` (Windows) the lock is skipped.
"""
from __future__ import annotations

import errno
import json
import os
import socket
import warnings
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from .errors import DustbenchError
from .io import output_dir

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_NAME = ".dustbench.lock"
_HELD: dict[Path, int] = {}  # locks this process already holds (nested calls, e.g. tuning inside evaluate)


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
        return f"`dustbench {info['command']}` (pid {info['pid']} on {info['host']}, since {info['started']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another dustbench run"


@contextmanager
def one_writer(folder, command: str, name: str = LOCK_NAME):
    """Hold ``folder``'s lock for the ``with`` block; refuse if another live run holds it.
    ``name``: another lock file in the folder, for an output that is one file of a shared folder."""
    if folder is None or fcntl is None:
        yield
        return
    folder = output_dir(folder).resolve()  # a file in its place or an unwritable folder: one clear line
    path = folder / name
    if path in _HELD:
        yield
        return
    try:  # no symlink followed: a planted link must not get its target truncated
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    except OSError as exc:
        raise DustbenchError(f"{path}: cannot open the folder's lock file ({exc.strerror or exc})") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        os.close(fd)
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            raise DustbenchError(f"{folder}: {_holder(path)} is writing there; wait for it to finish or "
                                 "choose another output folder") from None
        # a file system without locks (some NFS/Lustre mounts): go on unlocked rather than refuse forever
        warnings.warn(f"{folder}: the file system cannot lock files ({exc.strerror}); a second run into this "
                      "folder would not be refused", stacklevel=3)
        yield
        return
    try:
        record = {"command": command, "pid": os.getpid(), "host": socket.gethostname(),
                  "started": datetime.now(timezone.utc).isoformat(timespec="seconds")}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode(), 0)
    except OSError:  # a full disk: the lock still holds, only its label is missing
        pass
    _HELD[path] = fd
    try:
        yield
    finally:
        del _HELD[path]
        os.close(fd)  # releases the lock; the file stays (removing it would race with a waiting run)
