"""Every PNG/JPEG/TIFF below a folder of scans, as sources."""
from __future__ import annotations

import os
from pathlib import Path

from ..io import list_images
from .source import Source


def folder_sources(folder: str | os.PathLike) -> list[Source]:
    """Every PNG/JPEG/TIFF below `folder`; ids are paths relative to it."""
    folder = Path(folder)
    return [Source(p.relative_to(folder).as_posix(), str(p)) for p in list_images(folder)]
