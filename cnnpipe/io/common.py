"""Shared pieces of :mod:`cnnpipe.io`: limits, the result type, safe opening, Pillow settings."""

from __future__ import annotations

import contextlib
import errno
import io
import os
import stat
import threading
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageFile

from cnnpipe.budget import file_kind
from cnnpipe.errors import InputError

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

#: Marks cnnpipe's temporary files: ``.NAME.cnnpipe-tmp-XXXXXXXX`` (8 hex digits).
TEMP_MARKER = ".cnnpipe-tmp-"

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

    def __array__(self, dtype=None, copy=None):
        # So that ``conv2d(load_image("photo.png"), ...)`` and ``np.asarray(loaded)`` work.
        if copy:
            return np.array(self.array, dtype=dtype)
        return np.asarray(self.array, dtype=dtype)


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
            raise InputError(f"not a regular file (it is a {file_kind(st.st_mode)})")
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
        raise InputError(f"not a regular file (it is a {file_kind(st.st_mode)})")
    return os.fdopen(fd, "rb"), st.st_size



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
    # size is Pillow's (width, height)
    dims = f"{size[0]} wide x {size[1]} high = " if size else ""
    return InputError(
        f"image is {dims}{_count(pixels)}, over the limit of {_count(max_pixels)}"
        " (use --max-pixels to raise it)"
    )


def _count(pixels: int) -> str:
    """0.3 megapixels, or a plain pixel count when that would round to nothing."""
    return f"{pixels / 1e6:.1f} megapixels" if pixels >= 100_000 else f"{pixels:,} pixels"


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

