"""Uncompressed (and separate-plane) TIFF files decoded once, into the array they fill.

Scanners write large 16-bit TIFFs, often uncompressed. OpenCV reads an uncompressed TIFF into a
buffer of its own and then copies it: a 24 MP 16-bit RGB file peaked at twice its 137 MiB (peak
RSS over the image's bytes: 2.0×), which a large scan cannot afford; tifffile reads it into the
returned array (1.0×). Compressed files are left to OpenCV, which holds about one image for them
(LZW 1.15×, deflate 1.1× on a photograph; tifffile 1.25× on deflate). Only files whose pixels both
decoders read the same way take this path (integer samples of one page, grey or RGB(A), top-left
origin); any other TIFF, and anything tifffile refuses, goes to OpenCV
(:func:`dustbench.io.read_image`). Files with separate planes (RGB stored plane by plane) come here
compressed or not: OpenCV returned wrong pixels for 16-bit ones, different from call to call.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

_PLAIN = {"photometric": (1, 2),  # MINISBLACK, RGB (not MINISWHITE, palette, YCbCr, CMYK ...)
          "planarconfig": (1, 2),  # chunky (samples interleaved) or separate planes
          "compression": (1, 8, 32946),  # none, Adobe deflate, deflate: zlib, no codec library needed
          "samplesperpixel": (1, 3, 4),
          "bitspersample": (8, 16)}


def read_plain_tiff(path: Path) -> np.ndarray | None:
    """The first page of a plain TIFF (see the module docstring) as grey H×W or RGB H×W×3 (alpha
    dropped), uint8 or uint16; None when the file is not one (then OpenCV decodes it, with its own
    errors)."""
    import tifffile  # deferred: imports tifffile (only TIFF inputs need it)

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            if not _is_plain(page):
                return None
            image = page.asarray()
            if page.planarconfig == 2 and image.ndim == 3:  # planes first: S×H×W
                image = np.ascontiguousarray(np.moveaxis(image, 0, -1))
    except Exception:  # noqa: BLE001 - any refusal (a codec it lacks, a damaged file) goes to OpenCV
        return None
    if image.ndim == 3 and image.shape[2] == 4:
        image = np.ascontiguousarray(image[:, :, :3])
    return image if image.dtype in (np.uint8, np.uint16) else None


def _is_plain(page) -> bool:
    orientation = page.tags.get(274)
    compressed_chunky = int(page.compression) != 1 and int(page.planarconfig) == 1  # OpenCV reads those well
    return (not compressed_chunky and all(int(getattr(page, key)) in allowed for key, allowed in _PLAIN.items())
            and page.sampleformat == 1  # unsigned integers
            and (orientation is None or orientation.value == 1)  # top-left: no flip or rotation to apply
            and (page.samplesperpixel == 1) == (page.photometric == 1)
            # OpenCV reads 8-bit RGBA through libtiff's RGBA path, which multiplies unassociated alpha in
            and not (page.samplesperpixel == 4 and page.bitspersample == 8))


INFRARED_MODES = ("auto", "yes", "no")  # the fourth channel: infrared when the file says so / always / never


def read_rgbi(path: Path, infrared: str = "auto") -> tuple[np.ndarray, np.ndarray] | None:
    """(RGB H×W×3, infrared H×W) of a 4-sample TIFF whose fourth channel is infrared, in its own
    dtype (uint8/uint16); None for any other file. Scanners write RGBI as RGB plus one extra sample
    marked "unspecified" (TIFF ExtraSamples 0: VueScan's 64-bit RGBI, SilverFast HDRi, Nikon Scan);
    ``infrared="auto"`` takes such a sample as infrared and alpha (ExtraSamples 1 or 2) as alpha,
    ``"yes"`` takes any fourth sample as infrared, ``"no"`` never does."""
    if infrared not in INFRARED_MODES:
        raise ValueError(f"infrared must be one of {INFRARED_MODES}, got {infrared!r}")
    if infrared == "no":
        return None
    import tifffile  # deferred: imports tifffile (only TIFF inputs need it)

    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages.first
            extra = tuple(int(v) for v in (page.extrasamples or ()))
            if (page.samplesperpixel != 4 or int(page.photometric) != 2 or page.sampleformat != 1
                    or page.bitspersample not in (8, 16) or (infrared == "auto" and extra != (0,))):
                return None
            image = page.asarray()
    except Exception:  # noqa: BLE001 - not a TIFF tifffile reads: not RGBI for us
        return None
    if image.ndim != 3:
        return None
    if int(page.planarconfig) == 2:  # planes first: 4×H×W
        image = np.moveaxis(image, 0, -1)
    return np.ascontiguousarray(image[:, :, :3]), np.ascontiguousarray(image[:, :, 3])

