"""Images in and out: reading and writing files (8/16-bit, grey/RGB, atomic writes, clear errors),
and the conversions between the library's layouts (float, channel-first, grey/RGB, masks).

Inside dustbench an image is a numpy array, H×W (grey) or H×W×3 (RGB, in RGB order), of dtype
uint8, uint16 or float32. Files keep their bit depth: 16-bit PNG/TIFF in gives uint16 out.
Methods and models see float32 in [0, 1] (:func:`to_float`); training batches are float32
C×H×W (:func:`to_chw`); damage masks are opacities in [0, 1] (:func:`mask_opacity`).
"""
from __future__ import annotations

import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import cv2
import numpy as np

from .errors import DustbenchError, ImageFormatError, ImageReadError  # noqa: F401  (re-exported)
from .headers import MAX_PIXELS_ENV, check_pixel_limit  # noqa: F401  (re-exported)
from .portable_dot import luma as bt601_luma
from .tiff import read_plain_tiff, read_rgbi

# OpenCV's own decoder warnings ("PNG input buffer is incomplete") would precede dustbench's one-line
# error naming the file; errors stay on.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)

_UMASK = os.umask(0)
os.umask(_UMASK)  # read once: the process umask, applied to atomically written files

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff")
FLOAT_TOLERANCE = 1e-6  # float files written by other tools may overshoot [0, 1] by rounding
TIFF_DEFLATE = 8  # TIFF compression tag value of Adobe Deflate
SUPPORTED_DTYPES = (np.uint8, np.uint16, np.float32)


def dtype_max(dtype) -> float:
    """The value that stands for full white: 255, 65535, or 1.0 for floats."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == "f":
        return 1.0
    raise ImageFormatError(f"unsupported image dtype {dtype}; use uint8, uint16 or float32")


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an image array and return it unchanged (raises ImageFormatError)."""
    if not isinstance(image, np.ndarray):
        raise ImageFormatError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.dtype not in SUPPORTED_DTYPES:
        raise ImageFormatError(f"{name}: dtype {image.dtype} is not supported; use uint8, uint16 or float32")
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ImageFormatError(f"{name}: shape {image.shape} is not H×W or H×W×3")
    if image.shape[0] < 1 or image.shape[1] < 1:
        raise ImageFormatError(f"{name}: empty image of shape {image.shape}")
    if image.dtype == np.float32 and (problem := float_range_problem(image)):
        raise ImageFormatError(f"{name}: {problem}")
    return image


def float_range_problem(image: np.ndarray) -> str | None:
    """Why a float image is not intensities in [0, 1] (NaN/Inf, or values outside), or None."""
    lo, hi = float(np.min(image)), float(np.max(image))
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "a float image with NaN or infinite values"
    if lo < -FLOAT_TOLERANCE or hi > 1 + FLOAT_TOLERANCE:
        return (f"a float image with values in [{lo:.4g}, {hi:.4g}]; dustbench takes float images as intensities "
                "in [0, 1]: rescale it, or use 8- or 16-bit")
    return None


def to_float(image: np.ndarray) -> np.ndarray:
    """Any supported image as float32 in [0, 1] (floats are passed through as float32)."""
    return (image.astype(np.float32) / np.float32(dtype_max(image.dtype))) if image.dtype != np.float32 else image


def from_float(image: np.ndarray, dtype) -> np.ndarray:
    """Float image in [0, 1] back to `dtype`, rounding and clipping."""
    dtype = np.dtype(dtype)
    if dtype.kind == "f":
        return image.astype(dtype, copy=False)
    scaled = np.clip(image, 0.0, 1.0) * np.float32(dtype_max(dtype))
    return np.rint(scaled).astype(dtype)


def to_chw(image: np.ndarray) -> np.ndarray:
    """Any supported image as contiguous float32 C×H×W in [0, 1] (grey becomes one channel)."""
    f = to_float(image)
    return np.ascontiguousarray(f[None] if f.ndim == 2 else f.transpose(2, 0, 1))


def with_channels(image: np.ndarray, channels: int | None) -> np.ndarray:
    """H×W[×C] with ``channels`` channels: grey repeated to RGB (3), RGB to BT.601 grey H×W (1), None keeps.

    Works on any dtype for repetition; the grey conversion is for float images.
    """
    if channels is None:
        return image
    c = 1 if image.ndim == 2 else image.shape[2]
    if channels == 3 and c == 1:
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    if channels == 1 and c == 3:
        return bt601_luma(image)
    if channels == c or (channels == 1 and c == 1):
        return image
    raise ImageFormatError(f"cannot convert a {c}-channel image to {channels} channel(s)")


def channel_max(image: np.ndarray) -> np.ndarray:
    """The max over the last axis of an H×W×C array (same values and NaNs as ``image.max(axis=-1)``).

    numpy reduces a short last axis one pixel at a time, far slower than these C-1 whole-plane
    maxima: slow enough to show beside a detector network's own time (docs/performance.md)."""
    out = image[..., 0].copy()
    for c in range(1, image.shape[-1]):
        np.maximum(out, image[..., c], out=out)
    return out


def mask_plane(mask, shape=None, what: str = "mask") -> np.ndarray:
    """A damage mask as H×W (the max over channels of H×W×C), dtype kept; its size checked against ``shape``."""
    mask = np.asarray(mask)
    if mask.ndim == 3:
        mask = channel_max(mask)
    if shape is not None and mask.shape != tuple(shape[:2]):
        raise DustbenchError(f"{what}: mask is {mask.shape[0]}×{mask.shape[1]}, image is {shape[0]}×{shape[1]}")
    return mask


def mask_opacity(mask, shape=None, what: str = "mask") -> np.ndarray:
    """A damage mask as float32 H×W opacity in [0, 1] (0 = clean).

    Bool is 0/1; uint8/uint16 are scaled by 255/65535 (a synthesis mask keeps its opacity, a
    binary 0/255 mask becomes 0/1); floats are clipped (NaN -> 0); channels take the max.
    """
    mask = mask_plane(mask, shape, what)
    if mask.dtype == bool:
        return mask.astype(np.float32)
    if mask.dtype in (np.uint8, np.uint16):
        return mask.astype(np.float32) / np.float32(dtype_max(mask.dtype))
    return np.clip(np.nan_to_num(mask.astype(np.float32, copy=False)), 0.0, 1.0)


def storable_dtype(dtype) -> np.dtype:
    """The dtype files hold for images of ``dtype``: float (intensities in [0, 1]) becomes uint16."""
    return np.dtype(np.uint16) if np.dtype(dtype) == np.float32 else np.dtype(dtype)


def storable(image: np.ndarray) -> np.ndarray:
    """An image as files hold it: float images become 16-bit, others are kept."""
    return from_float(image, np.uint16) if image.dtype == np.float32 else image


def mask_to_image(mask: np.ndarray, dtype) -> np.ndarray:
    """Quantise an opacity mask to the image's bit depth, rounding up: any drawn pixel stays > 0."""
    hi = dtype_max(dtype) if np.dtype(dtype) != np.float32 else 65535.0
    out_dtype = np.uint8 if hi == 255.0 else np.uint16
    return np.ceil(mask * np.float32(hi)).astype(out_dtype)


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read a PNG/JPEG/TIFF file keeping its bit depth; grey stays H×W, colour becomes RGB H×W×3.

    Alpha channels are dropped. Raises ImageReadError naming the file on any failure. The file
    is decoded once, into the array returned: plain TIFFs by tifffile (:mod:`dustbench.tiff`),
    the rest by OpenCV into an array it allocates through numpy (an empty ``dst``). Decoding bytes
    in memory (:func:`decode_bytes`) or a plain ``cv2.imread`` hands the image over as a copy: a
    24 MP 16-bit PNG peaked at twice its 137 MiB, which a large scan cannot afford.
    """
    path = Path(path)
    head = read_file(path, limit=1 << 20)
    check_pixel_limit(head, str(path))
    if bytes(head[:4]) in (b"II*\x00", b"MM\x00*") and (image := read_plain_tiff(path)) is not None:
        return image  # a scanner's TIFF, decoded by tifffile straight into its array (dustbench.tiff)
    try:
        # with an empty dst a failure comes back as None or that empty array; with a preallocated
        # one it would come back as the untouched array (measured on a corrupt PNG): never pass one
        image = cv2.imread(str(path), np.empty(0, np.uint8), _IMREAD_FLAGS)
    except (cv2.error, TypeError):  # OpenCV before 4.11 has no imread(path, dst, flags)
        image = None
    if image is not None and image.size:
        return _as_rgb(image, str(path))
    return decode_bytes(read_file(path), str(path))  # the decoder's own errors, and paths OpenCV cannot open


def read_scan(path: str | os.PathLike, infrared: str = "auto") -> tuple[np.ndarray, np.ndarray | None]:
    """(image, infrared plane or None): :func:`read_image`, but a 4-channel RGBI TIFF's fourth channel
    is kept as the infrared plane (``infrared``: "auto" when the file marks it as not alpha, "yes"
    always, "no" never; :func:`dustbench.tiff.read_rgbi`)."""
    path = Path(path)
    magic = read_file(path, limit=4)  # a missing or empty file: its own one-line error
    if bytes(magic) in (b"II*\x00", b"MM\x00*"):  # a TIFF: only its head, before the whole of it
        check_pixel_limit(read_file(path, limit=1 << 20), str(path))
        if (rgbi := read_rgbi(path, infrared)) is not None:
            return rgbi
    return read_image(path), None


def read_file(path: str | os.PathLike, limit: int = -1) -> np.ndarray:
    """A file's bytes (the first ``limit`` of them, -1: all) as a uint8 array; ImageReadError
    naming the file when missing, unreadable or empty."""
    path = Path(path)
    if not path.is_file():
        raise ImageReadError(f"{path}: no such file")
    try:
        data = np.fromfile(path, dtype=np.uint8, count=limit)
    except OSError as exc:
        raise ImageReadError(f"{path}: cannot read file ({exc.strerror or exc})") from exc
    if data.size == 0:
        raise ImageReadError(f"{path}: file is empty")
    return data


def decode_bytes(data, where: str = "image bytes") -> np.ndarray:
    """Decode PNG/JPEG/TIFF bytes keeping bit depth; grey H×W, colour RGB H×W×3, alpha dropped.

    `where` names the source (a file, a dataset cell) in the ImageReadError raised on failure.
    """
    buf = data if isinstance(data, np.ndarray) else np.frombuffer(data, np.uint8)
    check_pixel_limit(buf, where)
    try:
        image = cv2.imdecode(buf, _IMREAD_FLAGS)
    except cv2.error as exc:  # e.g. OpenCV's own size limit
        raise ImageReadError(f"{where}: OpenCV cannot decode it ({' '.join(str(exc).split())[-160:]})") from None
    if image is None:
        raise ImageReadError(f"{where}: not a readable image (corrupt, truncated or unsupported format)")
    return _as_rgb(image, where)


def _swap_red_blue(image: np.ndarray) -> None:
    """BGR to RGB in place, a chunk of rows at a time (cv2.cvtColor with dst=src copies the whole
    image first: measured, 2× a 24 MP scan's bytes at the peak)."""
    step = max(1, (1 << 20) // max(1, image[0].size))
    for r in range(0, len(image), step):
        block = image[r:r + step]
        blue = block[..., 0].copy()
        block[..., 0] = block[..., 2]
        block[..., 2] = blue


_IMREAD_FLAGS = cv2.IMREAD_UNCHANGED | cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR


def _as_rgb(image: np.ndarray, where: str) -> np.ndarray:
    """A decoded image checked (pixel type, float range) and as dustbench holds it: grey H×W or RGB."""
    if image.dtype not in (np.uint8, np.uint16, np.float32):
        raise ImageReadError(f"{where}: unsupported pixel type {image.dtype}; use 8- or 16-bit images")
    if image.dtype == np.float32 and (problem := float_range_problem(image)):
        raise ImageReadError(f"{where}: {problem}")
    if image.ndim == 3:
        if image.shape[2] == 4:
            image = image[:, :, :3]
        if image.shape[2] == 1:
            image = image[:, :, 0]
        elif image.flags.c_contiguous:
            _swap_red_blue(image)  # in place: no second copy of a big scan
        else:
            image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return np.ascontiguousarray(image)


def decode_image(data: Any) -> np.ndarray:
    """PNG/TIFF bytes (or a ``{"bytes", "path"}`` dict, a PIL image, an array) -> numpy image.

    Keeps the stored bit depth: uint8 or uint16, H×W (grey) or H×W×3 (RGB order).
    """
    if isinstance(data, np.ndarray):
        return data
    if isinstance(data, dict):
        if data.get("bytes") is not None:
            data = data["bytes"]
        elif data.get("path"):
            data = Path(data["path"]).read_bytes()
        else:
            raise ImageReadError("image cell holds neither bytes nor a path")
    if hasattr(data, "mode") and hasattr(data, "size"):  # a PIL image (8-bit or 16-bit grey only)
        return np.asarray(data)
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise ImageReadError(f"cannot decode an image from {type(data).__name__}")
    return decode_bytes(data, "dataset image cell")


def output_dir(path: str | os.PathLike, what: str = "--out") -> Path:
    """Create output folder ``path`` (and its parents) now and prove it writable, so that a bad
    location fails in one line before any work is done."""
    path = Path(path).expanduser()
    if path.exists() and not path.is_dir():
        raise DustbenchError(f"{what} {path}: exists and is not a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test.", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise DustbenchError(f"{what} {path}: cannot write there ({exc.strerror or exc})") from None
    return path


def output_file(path: str | os.PathLike, what: str = "-o") -> Path:
    """Check that file ``path`` can be written (its folder is created); a folder in its place is an error."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise DustbenchError(f"{what} {path}: is a folder; give a file name")
    output_dir(path.parent, what)
    return path


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=path.suffix + ".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the file normal permissions
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_bytes_atomic(path: str | os.PathLike, data) -> None:
    """Write bytes (or any buffer) to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: str | os.PathLike, obj) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def claim_json(path: str | os.PathLike, obj) -> dict | None:
    """Write ``obj`` to ``path`` only if no file is there, atomically and exclusively (a hard link:
    of two runs starting at once, exactly one creates it). None when ``path`` then holds ``obj``
    (this run's claim, or a shard's of the same run); else the record another run claimed it with,
    for the caller's refusal."""
    path = Path(path)
    text = json.dumps(obj, sort_keys=True, indent=2) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.link(tmp, path)  # complete or absent, and it fails if the file exists
    except FileExistsError:
        pass
    except OSError:  # no hard links here (FAT, some network mounts): an exclusive create instead
        try:
            with open(path, "x", encoding="utf-8") as f:
                f.write(text)
        except FileExistsError:
            pass
    finally:
        os.unlink(tmp)
    try:
        held = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DustbenchError(f"{path}: unreadable run record ({exc}); delete it if no run is writing there") from None
    if not isinstance(held, dict):
        raise DustbenchError(f"{path}: not a dustbench run record; delete it if no run is writing there")
    return None if held == json.loads(text) else held


def encode_image(image: np.ndarray, suffix: str = ".png") -> bytes:
    """Encode an RGB/grey uint8 or uint16 array to PNG or TIFF bytes (deterministic)."""
    return _encode(image, suffix).tobytes()


def _encode(image: np.ndarray, suffix: str) -> np.ndarray:
    check_image(image)
    if image.dtype == np.float32:
        raise ImageFormatError("float32 images must be converted (dustbench.io.from_float) before encoding")
    if suffix.lower() in (".jpg", ".jpeg") and image.dtype != np.uint8:
        raise ImageFormatError("JPEG holds 8-bit images only; write 16-bit images as .png or .tif")
    bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR) if image.ndim == 3 and image.shape[2] == 3 else image
    # TIFF: Adobe Deflate, which tifffile, skimage.io and imageio read with zlib alone (OpenCV's
    # default LZW needs the optional imagecodecs package there).
    params = [cv2.IMWRITE_TIFF_COMPRESSION, TIFF_DEFLATE] if suffix.lower() in (".tif", ".tiff") else []
    ok, buf = cv2.imencode(suffix, bgr, params)
    if not ok:
        raise ImageFormatError(f"OpenCV could not encode a {image.dtype} {image.shape} image as {suffix}")
    return buf


def write_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image atomically (temp file + rename), keeping 8/16-bit depth; format from suffix."""
    path = Path(path)
    # The encoder's own buffer is written as is: a 24 MP 16-bit frame encodes to ~100 MB.
    write_bytes_atomic(path, _encode(image, path.suffix or ".png"))


def list_images(folder: str | os.PathLike) -> list[Path]:
    """All image files below `folder`, recursively, in sorted order."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a folder")
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES
                  and not p.name.startswith("."))
