"""Reading images and matrices, writing PNGs and matrices, atomic file writes.

This is the only module that imports Pillow. Every input problem becomes an
:class:`~cnnpipe.errors.InputError` with a short reason (the caller prefixes
the path); every output problem becomes an :class:`~cnnpipe.errors.OutputError`.

Policies (also in the README, "Security and limits"):

- Only PNG, JPEG, BMP, TIFF, GIF and WebP are ever parsed: the format is sniffed
  from the first bytes and Pillow is asked to open that one format only, so
  EPS, PSD, ICO and Pillow's other plugins never see the data.
- A file whose extension does not match its contents is decoded by its real
  format if that format is allowed; ``info["conversion"]`` says so.
- Images larger than ``max_pixels`` are refused right after the header is read,
  before any pixel is decoded.
- Truncated or corrupt files are refused (a full decode is forced, PNG chunk
  checksums are verified), never half-loaded.
- Multi-frame files (GIF, TIFF, WebP): the first frame is used.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import secrets
import stat
import struct
import threading
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, PngImagePlugin

from cnnpipe.errors import InputError, OutputError, ParameterError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MATRIX_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "ALLOWED_FORMATS",
    "LUMA_WEIGHTS",
    "MAPPING_TEXT_KEY",
    "Loaded",
    "load_image",
    "load_matrix",
    "save_matrix",
    "encode_png",
    "read_png_text",
    "decode_png_values",
    "atomic_write",
]

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"})
MATRIX_EXTENSIONS = frozenset({".npy", ".csv", ".txt"})

#: 64 megapixels: a 12 MP phone photo and a 50 MP camera file pass; a crafted
#: 30000 x 30000 PNG (900 MP, 3.6 GB as float32) does not. Below Pillow's own
#: bomb warning (~89.5 MP), so cnnpipe's limit is the one users meet.
DEFAULT_MAX_PIXELS = 64_000_000

#: Pillow format names that may be parsed ("MPO" is the multi-picture JPEG
#: many phone cameras write; it is reported as JPEG).
ALLOWED_FORMATS = ("PNG", "JPEG", "BMP", "TIFF", "GIF", "WEBP")
_ALLOWED_TEXT = "PNG, JPEG, BMP, TIFF, GIF, WebP"

#: ITU-R BT.601 luma weights for R, G, B.
LUMA_WEIGHTS = (0.299, 0.587, 0.114)

#: PNG text key under which the value -> pixel mapping (JSON) is stored.
MAPPING_TEXT_KEY = "cnnpipe:mapping"

_EXT_FORMAT = {
    ".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".bmp": "BMP",
    ".tif": "TIFF", ".tiff": "TIFF", ".gif": "GIF", ".webp": "WEBP",
}  # fmt: skip

_NPY_MAGIC = b"\x93NUMPY"

# The smallest magnitude that rounds to infinity in float32 (halfway between
# the largest float32 and 2**128; the tie goes to the even 2**128).
_FLOAT32_OVERFLOW = 2.0**128 - 2.0**103

# Formats we recognise only to name them in the refusal.
_FOREIGN_MAGIC = (
    (b"%!PS", "EPS"), (b"\xc5\xd0\xd3\xc6", "EPS"), (b"8BPS", "PSD"), (b"%PDF", "PDF"),
    (b"\x00\x00\x01\x00", "ICO"), (b"\x00\x00\x02\x00", "CUR"), (b"icns", "ICNS"),
    (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"), (b"\xff\x4f\xff\x51", "JPEG 2000"),
    (b"DDS ", "DDS"), (b"qoif", "QOI"), (b"SIMPLE  =", "FITS"), (b"\x59\xa6\x6a\x95", "SUN"),
    (b"P1", "PNM"), (b"P2", "PNM"), (b"P3", "PNM"), (b"P4", "PNM"), (b"P5", "PNM"),
    (b"P6", "PNM"), (b"#define", "XBM"), (b"/* XPM */", "XPM"), (b"\x01\xda", "SGI"),
    (b"\xd7\xcd\xc6\x9a", "WMF"), (b"\x01\x00\x00\x00", "EMF"), (b"BLP", "BLP"),
)  # fmt: skip

_ORIENTATION_WORDS = {
    2: "mirrored left-right",
    3: "rotated 180°",
    4: "mirrored top-bottom",
    5: "transposed",
    6: "rotated 90° clockwise",
    7: "transversed",
    8: "rotated 90° counter-clockwise",
}

_PILLOW_LOCK = threading.Lock()


@dataclass
class Loaded:
    """An input as the pipeline sees it.

    Attributes
    ----------
    array : ndarray
        float32; (H, W) for gray, (C, H, W) for ``color="rgb"``.
    info : dict
        ``path``, ``format``, ``width``, ``height``, ``mode`` (source mode, e.g.
        ``"RGB"``, ``"I;16"``, ``"matrix"``), ``bits``, ``frames`` and
        ``conversion`` (plain words: everything that was done).
    """

    array: np.ndarray
    info: dict = field(default_factory=dict)


# --------------------------------------------------------------------------- opening


def _open_source(source) -> tuple[io.BufferedIOBase, int]:
    """Open a path as a binary file after making sure it is a regular file.

    Returns the file object and its size. ``O_NONBLOCK`` keeps ``open`` from
    hanging on a FIFO; ``fstat`` on the opened descriptor avoids a race
    between checking and opening.
    """
    path = os.fspath(source)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        st = os.stat(path)
        if stat.S_ISDIR(st.st_mode):
            raise InputError("is a directory, not a file")
        if not stat.S_ISREG(st.st_mode):
            raise InputError(f"not a regular file (it is a {_file_kind(st.st_mode)})")
        fd = os.open(path, flags)
    except FileNotFoundError:
        if os.path.islink(path):
            raise InputError("broken symbolic link (its target does not exist)") from None
        raise InputError("file not found") from None
    except PermissionError:
        raise InputError("permission denied (the file is not readable)") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise InputError("symbolic link loop (the link points back to itself)") from None
        raise InputError(f"cannot open: {exc.strerror or exc}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise InputError(f"not a regular file (it is a {_file_kind(st.st_mode)})")
    return os.fdopen(fd, "rb"), st.st_size


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


def _sniff_image(head: bytes) -> str | None:
    """Return the allowed Pillow format whose signature starts ``head``."""
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "PNG"
    if head.startswith(b"\xff\xd8\xff"):
        return "JPEG"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "GIF"
    if head.startswith((b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")):
        return "TIFF"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WEBP"
    if head.startswith(b"BM") and len(head) >= 18:
        return "BMP"
    return None


def _sniff_foreign(head: bytes) -> str | None:
    for magic, name in _FOREIGN_MAGIC:
        if head.startswith(magic):
            return name
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        return "AVIF" if brand in (b"avif", b"avis") else "HEIF/HEIC"
    if head.lstrip().startswith((b"<svg", b"<?xml")):
        return "SVG"
    return None


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a multi-byte character cut at the end
    return True


# --------------------------------------------------------------------------- public loaders


def load_image(source, *, color="gray", max_pixels=DEFAULT_MAX_PIXELS, name=None) -> Loaded:
    """Load an image or a matrix file as a float32 array.

    Parameters
    ----------
    source : str, Path or bytes
        A path, or the raw bytes of standard input (format sniffed from the
        contents: an image signature, the ``.npy`` magic, else CSV/text).
    color : {"gray", "rgb"}
        ``gray``: one channel, BT.601 luminance; ``rgb``: (C, H, W).
    max_pixels : int
        Refuse images (and matrices) with more than this many pixels (H * W),
        before decoding them.
    name : str, optional
        What to record as ``info["path"]`` (default: the path, or ``"-"``).

    Returns
    -------
    Loaded
        ``array`` in [0, 1] for images (8-bit / 255, 16-bit / 65535), matrix
        values unchanged; ``info`` describes the source and the conversion.

    Raises
    ------
    InputError
        With a one-line reason, without the path (the caller adds it).
    ParameterError
        For a bad ``color`` or ``max_pixels``.

    Notes
    -----
    Gray is luminance ``0.299 R + 0.587 G + 0.114 B`` (ITU-R BT.601) computed
    in float from the full-precision channels. Transparent pixels are
    composited over white. The EXIF orientation is applied, so the map matches
    what a photo viewer shows.
    """
    if color not in ("gray", "rgb"):
        raise ParameterError(f"`color` must be 'gray' or 'rgb' (got {color!r})")
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, int) or max_pixels < 1:
        raise ParameterError(f"`max_pixels` must be an integer >= 1 (got {max_pixels!r})")

    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InputError("standard input is empty")
        fp, size, ext = io.BytesIO(data), len(data), None
        shown = name or "-"
    else:
        fp, size = _open_source(source)
        ext = Path(os.fspath(source)).suffix.lower()
        shown = name or os.fspath(source)
    with fp:
        if size == 0:
            raise InputError("file is empty")
        head = fp.read(64)
        fp.seek(0)
        loaded = _dispatch(fp, head, ext, color, max_pixels)
    loaded.info = {"path": shown, **loaded.info}
    return loaded


def _dispatch(fp, head, ext, color, max_pixels) -> Loaded:
    notes = []
    if head.startswith(_NPY_MAGIC):
        if ext is not None and ext != ".npy":
            notes.append(f"contents are a .npy matrix despite the {ext} extension")
        return _matrix_loaded(fp, ".npy", color, max_pixels, notes)
    fmt = _sniff_image(head)
    if fmt is not None:
        expected = _EXT_FORMAT.get(ext) if ext else None
        if ext and expected != fmt:
            notes.append(f"contents are {_nice(fmt)} despite the {ext} extension")
        return _load_picture(fp, fmt, color, max_pixels, notes)
    foreign = _sniff_foreign(head)
    if foreign is not None and ext not in (".csv", ".txt"):
        raise InputError(f"format {foreign} is not supported (allowed: {_ALLOWED_TEXT})")
    if ext in (".csv", ".txt"):
        return _matrix_loaded(fp, ext, color, max_pixels, notes)
    if ext == ".npy":
        raise InputError("not a .npy file (it does not start with the NUMPY header)")
    if ext in IMAGE_EXTENSIONS:
        if _looks_like_text(head):
            raise InputError("not an image: the file contains text")
        raise InputError("not an image: unrecognised file contents")
    if ext is None:  # standard input: a text matrix is the last possibility
        if _looks_like_text(head):
            text_ext = ".csv" if b"," in fp.getvalue()[:65536] else ".txt"
            return _matrix_loaded(fp, text_ext, color, max_pixels, notes)
        raise InputError("not an image or a matrix: unrecognised contents")
    raise InputError(
        f"unsupported file extension {ext or '(none)'!r} and unrecognised contents"
        f" (use an image: {_ALLOWED_TEXT}; or a matrix: .npy, .csv, .txt)"
    )


def _nice(fmt: str) -> str:
    return "WebP" if fmt == "WEBP" else fmt


# --------------------------------------------------------------------------- images


@contextlib.contextmanager
def _strict_pillow(max_pixels: int):
    """Pillow settings for one decode: bombs are errors, truncation is an error.

    Pillow's global bomb limit is only raised (never lowered), and only while
    this block runs, when the caller allows more pixels than Pillow does.
    cnnpipe's own check (exact width x height) runs right after ``open``.
    """
    limit = Image.MAX_IMAGE_PIXELS
    must_raise = limit is not None and limit < max_pixels
    must_strict = ImageFile.LOAD_TRUNCATED_IMAGES
    lock = _PILLOW_LOCK if (must_raise or must_strict) else contextlib.nullcontext()
    with lock, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        if must_raise:
            Image.MAX_IMAGE_PIXELS = max_pixels
        if must_strict:
            ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            if must_raise:
                Image.MAX_IMAGE_PIXELS = limit
            if must_strict:
                ImageFile.LOAD_TRUNCATED_IMAGES = True


def _too_big(pixels: int, max_pixels: int, size=None) -> InputError:
    dims = f"{size[0]}x{size[1]} = " if size else ""
    return InputError(
        f"image is {dims}{pixels / 1e6:.1f} megapixels, over the limit of"
        f" {max_pixels / 1e6:.1f} (use --max-pixels to raise it)"
    )


def _decode_error(exc: BaseException, fmt: str) -> InputError:
    text = str(exc)
    low = text.lower()
    name = _nice(fmt)
    if isinstance(exc, EOFError) or "truncat" in low or "end of file" in low or "ends early" in low:
        return InputError(f"truncated {name} file (image data ends early)")
    if "crc" in low or "checksum" in low:
        return InputError(f"corrupt {name} file (a chunk checksum does not match)")
    if isinstance(exc, Image.UnidentifiedImageError) or "cannot identify" in low:
        return InputError(f"corrupt {name} file (the header cannot be read)")
    detail = text.splitlines()[0][:80] if text else type(exc).__name__
    return InputError(f"corrupt {name} file (cannot decode it: {detail})")


def _check_png_chunks(fp) -> None:
    """Verify every PNG chunk's CRC (Pillow skips this for image data)."""
    fp.seek(8)
    while True:
        header = fp.read(8)
        if len(header) < 8:
            raise InputError("truncated PNG file (image data ends early)")
        length, ctype = struct.unpack(">I4s", header)
        if length > 2**31 - 1:
            raise InputError("corrupt PNG file (a chunk length is impossible)")
        crc = zlib.crc32(ctype)
        remaining = length
        while remaining:
            block = fp.read(min(remaining, 1 << 20))
            if not block:
                raise InputError("truncated PNG file (image data ends early)")
            crc = zlib.crc32(block, crc)
            remaining -= len(block)
        stored = fp.read(4)
        if len(stored) < 4:
            raise InputError("truncated PNG file (image data ends early)")
        if struct.unpack(">I", stored)[0] != crc & 0xFFFFFFFF:
            kind = ctype.decode("latin-1", "replace")
            raise InputError(f"corrupt PNG file (checksum of the {kind} chunk does not match)")
        if ctype == b"IEND":
            fp.seek(0)
            return


def _load_picture(fp, fmt, color, max_pixels, notes) -> Loaded:
    formats = [fmt]
    if fmt == "WEBP":
        # libwebp only says "could not create decoder object"; the RIFF size says why.
        declared = struct.unpack("<I", fp.read(8)[4:8])[0] + 8
        actual = fp.seek(0, os.SEEK_END)
        fp.seek(0)
        if actual < declared:
            raise InputError("truncated WebP file (image data ends early)")
    if fmt == "PNG":
        _check_png_chunks(fp)
        head = fp.read(26)
        fp.seek(0)
        png_bits, png_type = head[24], head[25]
        if png_bits == 16 and png_type in (2, 4, 6):
            notes.append("16-bit colour/alpha PNG read at 8 bits per channel (Pillow limit)")
    try:
        with _strict_pillow(max_pixels):
            im = Image.open(fp, formats=formats)
            width, height = im.size
            if width * height > max_pixels:
                raise _too_big(width * height, max_pixels, (width, height))
            frames = _frame_count(im)
            im.seek(0)
            im.load()
    except InputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        found = re.search(r"\((\d+) pixels\)", str(exc))
        raise _too_big(int(found.group(1)) if found else max_pixels + 1, max_pixels) from None
    except MemoryError:
        raise InputError("image too large to decode in the available memory") from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError, KeyError,
            TypeError, ZeroDivisionError) as exc:  # fmt: skip
        raise _decode_error(exc, fmt) from None
    if im.format not in (fmt, "MPO"):
        raise InputError(f"format {im.format} is not supported (allowed: {_ALLOWED_TEXT})")
    if frames > 1:
        notes.append(f"first of {frames} frames")
    source_mode = im.mode
    im = _apply_orientation(im, notes)
    array, bits = _to_float(im, color, notes)
    info = {
        "format": fmt,
        "width": int(array.shape[-1]),
        "height": int(array.shape[-2]),
        "mode": source_mode,
        "bits": bits,
        "frames": frames,
        "conversion": "; ".join(notes) if notes else "none",
    }
    return Loaded(array, info)


def _frame_count(im) -> int:
    try:
        return int(getattr(im, "n_frames", 1))
    except (OSError, SyntaxError, ValueError, EOFError, struct.error):
        return 1  # later frames unreadable: the first frame is all we use


def _apply_orientation(im, notes):
    try:
        orientation = im.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block must not stop a readable image
        notes.append("EXIF data unreadable, orientation not applied")
        return im
    if orientation not in _ORIENTATION_WORDS:
        return im
    fmt = im.format
    try:
        im = ImageOps.exif_transpose(im)
    except (OSError, ValueError, SyntaxError, struct.error):
        notes.append("EXIF orientation unreadable, not applied")
        return im
    im.format = fmt
    notes.append(f"EXIF orientation {orientation} applied ({_ORIENTATION_WORDS[orientation]})")
    return im


def _to_float(im, color, notes) -> tuple[np.ndarray, int]:
    """Pixels in [0, 1] as float32: (H, W) or (3, H, W)."""
    mode = im.mode
    if mode == "1":
        gray = np.asarray(im, dtype=np.float32)
        return _gray_out(gray, color, notes, "1-bit black/white -> 0/1"), 1
    if mode == "L":
        gray = np.asarray(im, dtype=np.float32) / np.float32(255)
        return _gray_out(gray, color, notes, "8-bit gray / 255"), 8
    if mode.startswith("I;16"):
        gray = np.asarray(im).astype(np.float32) / np.float32(65535)
        return _gray_out(gray, color, notes, "16-bit gray / 65535"), 16
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError("32-bit integer image with values outside 0..65535 is not supported")
        gray = values.astype(np.float32) / np.float32(65535)
        return _gray_out(gray, color, notes, "integer gray / 65535 (16-bit range)"), 16
    if mode == "F":
        gray = np.asarray(im, dtype=np.float32)
        if not np.isfinite(gray).all():
            raise InputError("floating-point image contains NaN or infinity")
        return _gray_out(gray, color, notes, "32-bit float values used as they are"), 32
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette expanded to " + im.mode)
        mode = im.mode
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
        target = "RGBA" if mode in ("RGBa", "La") else "RGB"
        try:
            im = im.convert(target)
        except ValueError:
            raise InputError(f"image mode {mode} is not supported") from None
        notes.append(f"{mode} -> {target} (Pillow)")
        mode = im.mode
    if mode == "LA":
        pixels = np.asarray(im, dtype=np.float32) / np.float32(255)
        gray = _over_white(pixels[..., 0], pixels[..., 1])
        notes.append("alpha composited over white")
        return _gray_out(gray, color, notes, "8-bit gray / 255"), 8
    if mode not in ("RGB", "RGBA"):
        raise InputError(f"image mode {mode} is not supported")
    if mode == "RGB" and color == "gray":
        notes.append("8-bit RGB / 255")
        notes.append("RGB -> luminance (BT.601: 0.299 R + 0.587 G + 0.114 B)")
        return _luma_exact(np.asarray(im)), 8
    pixels = np.asarray(im, dtype=np.float32) / np.float32(255)
    rgb = [pixels[..., c] for c in range(3)]
    notes.append("8-bit RGB / 255")
    if mode == "RGBA":
        alpha = pixels[..., 3]
        rgb = [_over_white(c, alpha) for c in rgb]
        notes.append("alpha composited over white")
    if color == "rgb":
        return np.ascontiguousarray(np.stack(rgb), dtype=np.float32), 8
    r, g, b = rgb
    wr, wg, wb = (np.float32(w) for w in LUMA_WEIGHTS)
    notes.append("RGB -> luminance (BT.601: 0.299 R + 0.587 G + 0.114 B)")
    # Float rounding could step just past 1.0 for white; [0, 1] is a promise.
    return np.clip(wr * r + wg * g + wb * b, 0, 1).astype(np.float32), 8


def _luma_exact(rgb8: np.ndarray) -> np.ndarray:
    """BT.601 luminance of uint8 RGB in integer arithmetic, one rounding at the end.

    299 R + 587 G + 114 B is exact in int32 and below 2**24, so the single
    float32 division makes white exactly 1.0 and a gray (v, v, v) exactly
    the same value as an 8-bit gray pixel v.
    """
    weighted = np.zeros(rgb8.shape[:2], dtype=np.int32)
    for weight, channel in zip((299, 587, 114), range(3), strict=True):
        weighted += weight * rgb8[..., channel].astype(np.int32)
    return weighted.astype(np.float32) / np.float32(255_000)


def _over_white(channel, alpha):
    return channel * alpha + (np.float32(1) - alpha)


def _gray_out(gray, color, notes, what):
    notes.append(what)
    if color == "rgb":
        notes.append("gray copied to 3 channels")
        return np.ascontiguousarray(np.stack([gray] * 3), dtype=np.float32)
    return np.ascontiguousarray(gray, dtype=np.float32)


# --------------------------------------------------------------------------- matrices


def _matrix_loaded(fp, ext, color, max_pixels, notes) -> Loaded:
    array = _read_matrix(fp, ext, max_pixels)
    if color == "gray" and array.ndim != 2:
        raise InputError(
            f"matrix has shape {array.shape}; expected 2-D (rows, cols)"
            " (a 3-D (channels, rows, cols) matrix needs --color rgb)"
        )
    if color == "rgb" and array.ndim == 2:
        array = array[np.newaxis]
        notes.append("2-D matrix used as 1 channel")
    notes.insert(0, "matrix values used as they are (no scaling)")
    info = {
        "format": ext[1:].upper(),
        "width": int(array.shape[-1]),
        "height": int(array.shape[-2]),
        "mode": "matrix",
        "bits": 32,
        "frames": 1,
        "conversion": "; ".join(notes),
    }
    return Loaded(array, info)


def load_matrix(source, *, ext, max_pixels=DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load a ``.npy``, ``.csv`` or ``.txt`` matrix as float32, values unchanged.

    Parameters
    ----------
    source : str, Path or bytes
        The file, or its contents.
    ext : {".npy", ".csv", ".txt"}
        How to parse it. CSV: comma separated, spaces allowed around values;
        TXT: whitespace separated. Blank lines and lines starting with ``#``
        are skipped.
    max_pixels : int
        Refuse matrices with more than this many rows x cols (checked from the
        ``.npy`` header before the data is read).

    Returns
    -------
    ndarray
        float32, 2-D (rows, cols) or, from ``.npy`` only, 3-D.

    Raises
    ------
    InputError
        Ragged rows, non-numeric cells, NaN/inf, empty files, object or
        complex arrays (never unpickled), other dimensions; the message names
        the row and column or the shape.
    """
    ext = ext.lower() if ext.startswith(".") else "." + ext.lower()
    if ext not in MATRIX_EXTENSIONS:
        raise ParameterError(f"`ext` must be one of .npy, .csv, .txt (got {ext!r})")
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            raise InputError("file is empty")
        return _read_matrix(io.BytesIO(data), ext, max_pixels)
    fp, size = _open_source(source)
    with fp:
        if size == 0:
            raise InputError("file is empty")
        return _read_matrix(fp, ext, max_pixels)


def _read_matrix(fp, ext, max_pixels) -> np.ndarray:
    array = _read_npy(fp, max_pixels) if ext == ".npy" else _read_text(fp, ext, max_pixels)
    _check_finite(array)
    return array


def _read_npy(fp, max_pixels) -> np.ndarray:
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, EOFError, SyntaxError, struct.error) as exc:
        raise InputError(f"corrupt .npy file (header cannot be read: {str(exc)[:60]})") from None
    if dtype.hasobject:
        raise InputError("object arrays are not supported (the .npy holds Python objects)")
    if dtype.fields is not None:
        raise InputError("structured arrays are not supported (save a plain numeric array)")
    if dtype.kind == "c":
        raise InputError("complex arrays are not supported (save the real part)")
    if dtype.kind not in "biuf":
        raise InputError(f"arrays of type {dtype} are not supported (use numbers)")
    if len(shape) not in (2, 3):
        raise InputError(f"matrix has shape {tuple(shape)}; expected 2-D (rows, cols) or 3-D")
    if 0 in shape:
        raise InputError(f"matrix is empty (shape {tuple(shape)})")
    if shape[-1] * shape[-2] > max_pixels:
        raise _too_big(shape[-1] * shape[-2], max_pixels, (shape[-1], shape[-2]))
    fp.seek(0)
    try:
        array = np.load(fp, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        if "pickle" in str(exc):
            raise InputError("object arrays are not supported") from None
        raise InputError("truncated .npy file (data ends early)") from None
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(array, dtype=np.float32)


def _read_text(fp, ext, max_pixels) -> np.ndarray:
    raw = fp.read()
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError("not a text matrix (the file is not UTF-8 text)") from None
    rows: list[list[float]] = []
    expected = None
    first_row = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        cells = [c.strip() for c in stripped.split(",")] if ext == ".csv" else stripped.split()
        if expected is None:
            expected, first_row = len(cells), lineno
        elif len(cells) != expected:
            raise InputError(
                f"row {lineno} has {len(cells)} values; expected {expected} (as in row {first_row})"
            )
        row = []
        for col, cell in enumerate(cells, start=1):
            if not cell:
                raise InputError(f"empty value at row {lineno}, column {col}")
            try:
                value = float(cell)
            except ValueError:
                shown = cell if len(cell) <= 20 else cell[:20] + "..."
                raise InputError(
                    f"non-numeric value {shown!r} at row {lineno}, column {col}"
                ) from None
            if value != value:
                raise InputError(f"contains NaN at row {lineno}, column {col}")
            if abs(value) >= _FLOAT32_OVERFLOW:
                raise InputError(f"contains infinity (or a value beyond float32) at row "
                                 f"{lineno}, column {col}")  # fmt: skip
            row.append(value)
        rows.append(row)
        if len(rows) * expected > max_pixels:
            raise InputError(f"matrix has more than {max_pixels} values (the limit)")
    if not rows:
        raise InputError("matrix file has no numbers (it is empty)")
    return np.array(rows, dtype=np.float32)


def _check_finite(array: np.ndarray) -> None:
    bad = ~np.isfinite(array)
    if not bad.any():
        return
    where = tuple(int(i) for i in np.argwhere(bad)[0])
    what = "NaN" if np.isnan(array[where]) else "infinity (or a value beyond float32)"
    names = ("row", "column") if len(where) == 2 else ("channel", "row", "column")
    place = ", ".join(f"{n} {i + 1}" for n, i in zip(names, where, strict=True))
    raise InputError(f"contains {what} at {place}")


def save_matrix(path, array) -> None:
    """Write a matrix by extension, atomically.

    ``.npy``: float32, exact. ``.csv``: comma separated; ``.txt``: space
    separated; each value written with the shortest text that reads back as
    the same float32.
    """
    path = Path(path)
    ext = path.suffix.lower()
    values = np.asarray(array, dtype=np.float32)
    if ext == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, values, allow_pickle=False)
        atomic_write(path, buffer.getvalue())
        return
    if ext not in (".csv", ".txt"):
        raise ParameterError(f"matrix file must end in .npy, .csv or .txt (got {path.name!r})")
    if values.ndim == 1:
        values = values[np.newaxis]
    if values.ndim != 2:
        raise ParameterError(
            f"a {ext} file holds a 2-D matrix; got shape {values.shape} (use .npy)"
        )
    sep = "," if ext == ".csv" else " "
    lines = (sep.join(_float32_text(v) for v in row) for row in values)
    atomic_write(path, ("\n".join(lines) + "\n").encode("ascii"))


def _float32_text(value) -> str:
    return (
        np.format_float_positional(value, unique=True, trim="-")
        if (value == 0 or 1e-4 <= abs(value) < 1e16)
        else np.format_float_scientific(value, unique=True, trim="-")
    )


# --------------------------------------------------------------------------- PNG out


def encode_png(pixels, *, compression=1, text=None) -> bytes:
    """Encode pixels as PNG bytes.

    Parameters
    ----------
    pixels : ndarray
        uint8 or uint16 (H, W) gray, or uint8 (H, W, 3) RGB.
    compression : int
        zlib level 0-9 (``compress_level``); 1 is fast and nearly as small.
    text : dict, optional
        Stored as PNG text chunks (tEXt, or iTXt for non-Latin-1 text);
        non-string values are stored as JSON.
    """
    pixels = np.asarray(pixels)
    if (
        isinstance(compression, bool)
        or not isinstance(compression, int)
        or not (0 <= compression <= 9)
    ):
        raise ParameterError(f"`compression` must be an integer 0..9 (got {compression!r})")
    if pixels.ndim == 2 and pixels.dtype == np.uint8:
        im = Image.fromarray(pixels, mode=None)
    elif pixels.ndim == 2 and pixels.dtype == np.uint16:
        im = Image.fromarray(pixels.astype("<u2", copy=False))
    elif pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8:
        im = Image.fromarray(np.ascontiguousarray(pixels))
    else:
        raise ParameterError(
            "`pixels` must be uint8/uint16 (H, W) or uint8 (H, W, 3)"
            f" (got {pixels.dtype} {pixels.shape})"
        )
    info = None
    if text:
        info = PngImagePlugin.PngInfo()
        for key, value in text.items():
            value = value if isinstance(value, str) else json.dumps(value)
            try:
                value.encode("latin-1")
                key.encode("latin-1")
            except UnicodeEncodeError:
                info.add_itxt(key, value)
            else:
                info.add_text(key, value)
    buffer = io.BytesIO()
    im.save(buffer, format="PNG", compress_level=compression, pnginfo=info)
    return buffer.getvalue()


def _open_png(path):
    if isinstance(path, (bytes, bytearray)):
        fp = io.BytesIO(bytes(path))
    else:
        fp, _ = _open_source(path)
    try:
        with _strict_pillow(DEFAULT_MAX_PIXELS):
            im = Image.open(fp, formats=["PNG"])
            width, height = im.size
            if width * height > DEFAULT_MAX_PIXELS:
                raise _too_big(width * height, DEFAULT_MAX_PIXELS, (width, height))
            im.load()
    except InputError:
        fp.close()
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        fp.close()
        raise _too_big(DEFAULT_MAX_PIXELS + 1, DEFAULT_MAX_PIXELS) from None
    except (OSError, SyntaxError, ValueError, EOFError, struct.error) as exc:
        fp.close()
        raise _decode_error(exc, "PNG") from None
    return fp, im


def read_png_text(path) -> dict:
    """Return the text chunks (tEXt, zTXt, iTXt) of a PNG file (path or bytes)."""
    fp, im = _open_png(path)
    with fp:
        return dict(im.text)


def decode_png_values(path, *, key=MAPPING_TEXT_KEY) -> np.ndarray:
    """Turn a cnnpipe map PNG back into float32 values, via its stored mapping.

    The mapping is JSON under ``key``: ``value = lo + pixel / levels * (hi - lo)``.
    Only gray maps can be inverted (a colour map would need the colour table).
    """
    fp, im = _open_png(path)
    with fp:
        raw = im.text.get(key)
        if raw is None:
            raise InputError(f"PNG has no {key!r} text chunk (not written by cnnpipe)")
        try:
            mapping = json.loads(raw)
            lo, hi = float(mapping["lo"]), float(mapping["hi"])
            levels = float(mapping.get("levels", 65535 if im.mode.startswith("I") else 255))
        except (ValueError, KeyError, TypeError):
            raise InputError(f"PNG {key!r} text chunk is not a valid mapping") from None
        if im.mode not in ("L", "I;16", "I;16B", "I"):
            raise InputError(f"only gray maps can be turned back into values (mode {im.mode})")
        pixels = np.asarray(im).astype(np.float64)
    return (lo + pixels / levels * (hi - lo)).astype(np.float32)


# --------------------------------------------------------------------------- atomic writes


def atomic_write(path, data) -> None:
    """Write ``data`` to ``path`` so the file is either complete or absent.

    The bytes go to ``.NAME.cnnpipe-tmp-XXXXXXXX`` in the same folder, are
    flushed and fsynced, then renamed over ``path`` (``os.replace``, atomic on
    POSIX and Windows). On any failure the temporary file is removed.

    Raises
    ------
    OutputError
        With the path and the reason, e.g. "No space left on device".
    """
    path = Path(path)
    folder = path.parent
    tmp = None
    try:
        for _ in range(100):
            candidate = folder / f".{path.name}.cnnpipe-tmp-{secrets.token_hex(4)}"
            try:
                # 0o666 filtered by the umask, as for any new file (mkstemp would give 0o600).
                fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            except FileExistsError:
                continue
            tmp = candidate
            break
        else:
            raise FileExistsError(f"no free temporary name in {folder}")
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        tmp = None
    except OSError as exc:
        raise OutputError(f"cannot write '{path}': {exc.strerror or exc}") from None
    finally:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _fsync_folder(folder)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable; best effort (not possible everywhere)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
