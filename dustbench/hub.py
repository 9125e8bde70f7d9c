"""Publishing to the Hugging Face Hub: stage the exact folder, then push it with one call.

:func:`stage` builds the folder that would be uploaded (hard links where possible, so staging a
large dataset costs no space) and returns it: ``--push-to-hub REPO --dry-run`` stops there, so
what is pushed can be inspected, and tests check it offline. :func:`push` is the thin call:
``HfApi.create_repo(exist_ok=True)`` then ``HfApi.upload_folder`` of the staged folder. It uses the
usual Hugging Face credentials (``hf auth login`` or ``$HF_TOKEN``).
"""
from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from .errors import DustbenchError

REPO_TYPES = ("dataset", "model")


def stage(files: dict[str, Path], staging=None) -> Path:
    """A folder holding ``files`` (path in the repository -> local file); a new temporary one by default."""
    folder = Path(staging) if staging is not None else Path(tempfile.mkdtemp(prefix="dustbench-hub-"))
    if folder.exists() and any(folder.iterdir()):
        raise DustbenchError(f"{folder}: staging folder is not empty")
    for name, source in sorted(files.items()):
        source = Path(source)
        if not source.is_file():
            raise DustbenchError(f"{source}: missing, cannot stage it as {name}")
        dest = folder / name
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(source, dest)
        except OSError:  # another file system, or links not allowed: copy
            shutil.copy2(source, dest)
    return folder


def staged_files(folder) -> list[str]:
    """The repository paths of a staged folder, sorted (what :func:`push` uploads)."""
    folder = Path(folder)
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def push(folder, repo: str, repo_type: str, *, private: bool | None = None, token: str | None = None,
         message: str | None = None) -> str:
    """Create ``repo`` (if needed) and upload the staged ``folder`` to it; returns the repository URL."""
    if repo_type not in REPO_TYPES:
        raise ValueError(f"repo_type must be one of {REPO_TYPES}, got {repo_type!r}")
    from huggingface_hub import HfApi

    api = HfApi(token=token)
    try:
        url = api.create_repo(repo, repo_type=repo_type, private=private, exist_ok=True)
        api.upload_folder(repo_id=repo, folder_path=str(folder), repo_type=repo_type,
                          commit_message=message or f"Upload {repo_type} with dustbench")
    except Exception as exc:  # network, authentication, permissions: one line, not a traceback
        brief = " ".join(str(exc).split())[:300] or type(exc).__name__
        raise DustbenchError(f"push to the Hugging Face Hub {repo_type} {repo!r} failed: {brief} (offline? "
                             "log in with `hf auth login` or set $HF_TOKEN)") from None
    return str(url)
