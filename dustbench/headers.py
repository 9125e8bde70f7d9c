"""An image's size and pixel type from its first bytes (PNG, JPEG, TIFF), before anything is decoded.

Used to refuse decompression bombs (a header that claims 100000×100000 px) before the decoder
allocates them (:func:`check_pixel_limit`), and to plan work from shapes without decoding. Only
the header is parsed; a format this module does not know, or a header it cannot read, gives
``None`` and the decoder decides.
"""
from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass

from .errors import DustbenchError, ImageReadError

# Decoding refuses images whose header claims more pixels (a 100000×100000 header is a bomb; a
# 4x5" sheet at 4000 dpi is ~290 MP). $DUSTBENCH_MAX_PIXELS (or `dustbench --max-pixels`) changes it.
DEFAULT_MAX_PIXELS = 300_000_000
MAX_PIXELS_ENV = "DUSTBENCH_MAX_PIXELS"


@dataclass(frozen=True)
class Header:
    height: int
    width: int
    channels: int  # after dustbench's conversions: alpha dropped, palette/grey+alpha as read
    bits: int  # per sample: 8, 16, 32 (float), or another depth the decoder may refuse
    is_float: bool = False

    @property
    def pixels(self) -> int:
        return self.height * self.width

    @property
    def dtype(self) -> str | None:
        """The numpy dtype the decoder gives (``dustbench.io.decode_bytes``), or None when not sure."""
        if self.is_float:
            return "float32" if self.bits == 32 else None
        return "uint8" if self.bits in (1, 2, 4, 8) else "uint16" if self.bits == 16 else None

    @property
    def shape(self) -> list[int]:
        return [self.height, self.width] if self.channels == 1 else [self.height, self.width, 3]


def read_header(data) -> Header | None:
    """The header of PNG/JPEG/TIFF bytes (any buffer; the first few KB suffice for PNG and TIFF)."""
    data = bytes(memoryview(data)[:1 << 20])
    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n":
            return _png(data)
        if data[:2] == b"\xff\xd8":
            return _jpeg(data)
        if data[:4] in (b"II*\x00", b"MM\x00*"):
            return _tiff(data)
    except (struct.error, IndexError, ValueError):
        return None
    return None


_PNG_CHANNELS = {0: 1, 2: 3, 3: 3, 4: 3, 6: 3}  # colour type -> channels decoded (grey+alpha comes as RGB)


def _png(data: bytes) -> Header | None:
    if data[12:16] != b"IHDR":
        return None
    width, height, bits, colour = struct.unpack(">IIBB", data[16:26])
    return Header(height, width, _PNG_CHANNELS.get(colour, 3), bits)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def _jpeg(data: bytes) -> Header | None:
    i = 2
    while i + 4 <= len(data):
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker in (0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            i += 2
            continue
        (length,) = struct.unpack(">H", data[i + 2:i + 4])
        if marker in _SOF:
            bits, height, width, components = struct.unpack(">BHHB", data[i + 4:i + 10])
            return Header(height, width, 1 if components == 1 else 3, bits if bits == 8 else 0)
        i += 2 + length
    return None


_TIFF_TYPES = {3: ("H", 2), 4: ("I", 4)}  # SHORT, LONG


def _tiff(data: bytes) -> Header | None:
    order = "<" if data[:2] == b"II" else ">"
    (offset,) = struct.unpack(order + "I", data[4:8])
    (count,) = struct.unpack(order + "H", data[offset:offset + 2])
    tags: dict[int, int] = {}
    for k in range(count):
        entry = data[offset + 2 + 12 * k: offset + 14 + 12 * k]
        tag, kind, n = struct.unpack(order + "HHI", entry[:8])
        if kind in _TIFF_TYPES:
            code, size = _TIFF_TYPES[kind]
            if n * size <= 4:  # the (first) value sits in the entry itself
                tags[tag] = struct.unpack(order + code, entry[8:8 + size])[0]
            else:  # several values (e.g. BitsPerSample per channel): read the first one
                (where,) = struct.unpack(order + "I", entry[8:12])
                tags[tag] = struct.unpack(order + code, data[where:where + size])[0]
    if 256 not in tags or 257 not in tags:
        return None
    samples = tags.get(277, 1)
    return Header(tags[257], tags[256], 1 if samples == 1 else 3, tags.get(258, 1), tags.get(339, 1) == 3)


def max_pixels() -> int:
    """The pixel limit for decoding: ``$DUSTBENCH_MAX_PIXELS`` (0 = none), else :data:`DEFAULT_MAX_PIXELS`."""
    text = os.environ.get(MAX_PIXELS_ENV, "").strip()
    if not text:
        return DEFAULT_MAX_PIXELS
    return pixel_limit(text, f"${MAX_PIXELS_ENV}")


def pixel_limit(text, what: str) -> int:
    """A pixel limit as typed (``300e6``, ``0`` = none): a finite number ≥ 0, else a clear error
    (a negative or NaN limit must not quietly turn the check off)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise DustbenchError(f"{what}={text!r}: expected a number of pixels >= 0 (0 = no limit)")
    return int(value)


def check_pixel_limit(data, where: str) -> None:
    """ImageReadError when the header of encoded ``data`` claims more pixels than :func:`max_pixels`."""
    limit = max_pixels()
    header = read_header(data) if limit else None
    if header is not None and header.pixels > limit:
        raise ImageReadError(
            f"{where}: {header.width}×{header.height} px ({header.pixels / 1e6:,.0f} MP) is over the pixel limit "
            f"of {limit / 1e6:,.0f} MP (a decompression bomb, or a very large scan: raise the limit with "
            f"--max-pixels N or ${MAX_PIXELS_ENV}=N)")
