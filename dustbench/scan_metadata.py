"""What a scanning workflow keeps beside the pixels, carried from a scan to its restored copy:
resolution (a 4000-dpi scan stays 4000 dpi), the ICC profile (the colours mean what they meant) and
the description, software, date, artist and copyright fields.

:func:`encode_like` encodes a restored image in the format of its output file and, when the input
was the same format, copies those fields across: TIFF through tifffile (deflate-compressed, which
OpenCV, tifffile and imageio all read), PNG by carrying the source's ``pHYs``, ``iCCP``, ``sRGB``,
``gAMA``, ``cHRM`` and text chunks into the encoded file. Anything else is encoded as before.
"""
from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np

from .errors import DustbenchError
from .io import encode_image

# TIFF tags kept (code: name): resolution, description, provenance, colour profile.
TIFF_TAGS = {282: "XResolution", 283: "YResolution", 296: "ResolutionUnit", 270: "ImageDescription",
             305: "Software", 306: "DateTime", 315: "Artist", 33432: "Copyright", 34675: "InterColorProfile"}
PNG_CHUNKS = (b"pHYs", b"iCCP", b"sRGB", b"gAMA", b"cHRM", b"tEXt", b"zTXt", b"iTXt")
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIFF_SUFFIXES, PNG_SUFFIXES = (".tif", ".tiff"), (".png",)


def encode_like(source: Path, image: np.ndarray, suffix: str, infrared: bool = False) -> bytes:
    """``image`` encoded for a file ending in ``suffix``, with ``source``'s scan metadata when both
    are TIFF or both PNG (a source that cannot be read for metadata just gives the plain encoding).
    ``infrared``: ``image`` is RGBI, its fourth channel an infrared plane (written as a TIFF extra
    sample marked "unspecified", as scanners write it, never as alpha)."""
    suffix, src = suffix.lower(), Path(source).suffix.lower()
    if infrared:
        if suffix not in TIFF_SUFFIXES:
            raise DustbenchError(f"{source}: an RGBI scan keeps its infrared plane only in a TIFF, not {suffix}")
        return _tiff_bytes(image, tiff_metadata(source) if src in TIFF_SUFFIXES else {}, infrared=True)
    if suffix in TIFF_SUFFIXES and src in TIFF_SUFFIXES:
        tags = tiff_metadata(source)
        if tags:
            return _tiff_bytes(image, tags)
    encoded = encode_image(image, suffix or ".png")
    if suffix in PNG_SUFFIXES and src in PNG_SUFFIXES:
        return _with_chunks(encoded, png_metadata_chunks(source))
    return encoded


def tiff_metadata(path: Path) -> dict[int, object]:
    """The kept tags of a TIFF's first page, ``{code: value}`` (empty when it has none or is unreadable)."""
    import tifffile  # deferred: only restoring TIFF scans needs it

    try:
        with tifffile.TiffFile(path) as tif:
            tags = tif.pages[0].tags
            return {code: tags[code].value for code in TIFF_TAGS if code in tags}
    except (OSError, ValueError, tifffile.TiffFileError):
        return {}


def _tiff_bytes(image: np.ndarray, tags: dict[int, object], infrared: bool = False) -> bytes:
    import tifffile  # deferred: only restoring TIFF scans needs it

    kw: dict = {"compression": "zlib", "metadata": None}  # no tifffile JSON in place of the description
    if image.ndim == 3:
        kw["photometric"] = "rgb" if image.shape[2] in (3, 4) else "minisblack"
    if infrared:
        kw["extrasamples"] = ["unspecified"]
    if 282 in tags and 283 in tags:
        kw["resolution"] = (tags[282], tags[283])
        kw["resolutionunit"] = int(tags.get(296, 2))
    if isinstance(tags.get(270), str):
        kw["description"] = tags[270]
    for code, key in ((305, "software"), (306, "datetime")):  # tifffile writes these itself
        kw[key] = tags[code] if isinstance(tags.get(code), str) else None
    extra = [(code, "s", 0, tags[code], True) for code in (315, 33432) if isinstance(tags.get(code), str)]
    if tags.get(34675) is not None:
        profile = bytes(tags[34675])
        extra.append((34675, "B", len(profile), profile, True))
    buf = io.BytesIO()
    tifffile.imwrite(buf, image, extratags=extra, **kw)
    return buf.getvalue()


def _chunks(data: bytes):
    """(type, whole chunk bytes) of a PNG stream, in order."""
    if not data.startswith(_PNG_SIGNATURE):
        return
    at = len(_PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[at:at + 8])
        end = at + 12 + length
        if end > len(data):
            return
        yield kind, data[at:end]
        at = end


def png_metadata_chunks(path: Path) -> list[bytes]:
    """The kept chunks of a PNG file (CRC-checked; a damaged one is left behind)."""
    try:
        data = Path(path).read_bytes()
    except OSError:
        return []
    kept = []
    for kind, chunk in _chunks(data):
        if kind in PNG_CHUNKS and struct.unpack(">I", chunk[-4:])[0] == zlib.crc32(chunk[4:-4]):
            kept.append(chunk)
    return kept


def _with_chunks(encoded: bytes, chunks: list[bytes]) -> bytes:
    """``encoded`` PNG with ``chunks`` after its IHDR (where PNG wants colour and resolution chunks),
    replacing any of the same types the encoder wrote."""
    if not chunks:
        return encoded
    kinds = {c[4:8] for c in chunks}
    parts = [_PNG_SIGNATURE]
    for kind, chunk in _chunks(encoded):
        if kind in kinds:
            continue
        parts.append(chunk)
        if kind == b"IHDR":
            parts.extend(chunks)
    return b"".join(parts)
