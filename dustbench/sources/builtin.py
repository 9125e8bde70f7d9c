"""Photographs that ship inside installed packages (scikit-image, matplotlib): no download needed."""
from __future__ import annotations

import os
from pathlib import Path

from .source import Source

# The colour photographs (id, package, file inside the package's data folder, licence). The
# ``builtin`` evaluation sets are drawn from them.
BUILTIN = (
    ("astronaut", "skimage", "astronaut.png", "public domain (NASA, Eileen Collins)"),
    ("chelsea", "skimage", "chelsea.png", "CC0 (Stefan van der Walt)"),
    ("coffee", "skimage", "coffee.png", "CC0 (Rachel Michetti)"),
    ("rocket", "skimage", "rocket.jpg", "public domain (SpaceX, DSCOVR launch)"),
    ("grace_hopper", "matplotlib", "grace_hopper.jpg", "public domain (US Navy)"),
)
# Built-in images (scikit-image) that the `builtin` evaluation sets do not use. Only 8: results
# trained on them over-fit to a handful of scenes, and 6 of them are grey (repeated to RGB).
BUILTIN_TRAIN = ("motorcycle_left", "motorcycle_right", "camera", "brick", "grass", "gravel", "moon", "coins")


def package_data_dir(package: str) -> Path:
    """The folder where ``package`` keeps its sample images."""
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
        path = package_data_dir(package) / filename
        if path.is_file():
            out.append(Source(f"builtin:{sid}", str(path), licence))
    return out


def builtin_train_sources() -> list[Source]:
    """The :data:`BUILTIN_TRAIN` images present in scikit-image's data folder."""
    folder = package_data_dir("skimage")
    return [Source(f"skimage:{name}", str(folder / f"{name}.png")) for name in BUILTIN_TRAIN
            if (folder / f"{name}.png").is_file()]
