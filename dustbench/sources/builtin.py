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
# Every image scikit-image ships offline that the `builtin` evaluation sets do not use (file names in
# its data folder): photographs (7 of them grey), document and microscope scans, a telescope image,
# a fundus photo. Still few scenes: results trained on them alone over-fit to them.
BUILTIN_TRAIN = ("motorcycle_left.png", "motorcycle_right.png", "camera.png", "brick.png", "grass.png", "gravel.png",
                 "moon.png", "coins.png", "cell.png", "clock_motion.png", "page.png", "text.png", "color.png",
                 "hubble_deep_field.jpg", "ihc.png", "retina.jpg")


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
    return [Source(f"skimage:{name.rsplit('.', 1)[0]}", str(folder / name)) for name in BUILTIN_TRAIN
            if (folder / name).is_file()]
