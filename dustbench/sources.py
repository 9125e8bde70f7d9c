"""Clean-image sources: the built-in photographs, or a user's folder of scans.

A source is only a name and a path; pixels are read when a sample needs them, so a folder of
thousands of 24 MP scans costs nothing until used.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DustbenchError
from .io import list_images, read_image

# The colour photographs that ship inside the installed packages (no download needed).
# (id, package, file inside the package's data folder, licence)
BUILTIN = (
    ("astronaut", "skimage", "astronaut.png", "public domain (NASA, Eileen Collins)"),
    ("chelsea", "skimage", "chelsea.png", "CC0 (Stefan van der Walt)"),
    ("coffee", "skimage", "coffee.png", "CC0 (Rachel Michetti)"),
    ("rocket", "skimage", "rocket.jpg", "public domain (SpaceX, DSCOVR launch)"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg", "public domain (US Navy)"),
)


@dataclass(frozen=True)
class Source:
    """One clean image: a stable id (used in manifests and splits) and where to read it."""

    id: str
    path: str
    licence: str = ""

    def load(self) -> np.ndarray:
        return read_image(self.path)


def _package_data_dir(package: str) -> Path:
    if package == "skimage":
        import skimage.data
        return Path(os.path.dirname(skimage.data.__file__))
    if package == "matplotlib":
        import matplotlib
        return Path(matplotlib.get_data_path()) / "sample_data"
    raise ValueError(package)


def builtin_sources() -> list[Source]:
    """The built-in photographs that are present in this installation."""
    out = []
    for sid, package, filename, licence in BUILTIN:
        path = _package_data_dir(package) / filename
        if path.is_file():
            out.append(Source(f"builtin:{sid}", str(path), licence))
    return out


def folder_sources(folder: str | os.PathLike) -> list[Source]:
    """Every PNG/JPEG/TIFF below `folder`; ids are paths relative to it."""
    folder = Path(folder)
    return [Source(p.relative_to(folder).as_posix(), str(p)) for p in list_images(folder)]


def open_sources(spec: str | os.PathLike) -> list[Source]:
    """`builtin` or a folder path -> its sources. An empty source is an error, not an empty list."""
    spec = str(spec)
    if spec == "builtin":
        sources = builtin_sources()
        if not sources:
            raise DustbenchError("no built-in photographs found (are scikit-image and matplotlib installed?)")
        return sources
    path = Path(spec)
    if not path.exists():
        raise DustbenchError(f"--clean {spec}: no such folder (use 'builtin' or a folder of PNG/JPEG/TIFF scans)")
    if not path.is_dir():
        raise DustbenchError(f"--clean {spec}: not a folder (use 'builtin' or a folder of PNG/JPEG/TIFF scans)")
    sources = folder_sources(path)
    if not sources:
        raise DustbenchError(f"--clean {spec}: no PNG, JPEG or TIFF images found in this folder")
    return sources
