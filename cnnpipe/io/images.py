"""Loading images (and dispatching matrix files): sniffing, bombs, corruption, conversion."""

from __future__ import annotations

import io
import os
import re
import struct
import zlib
from pathlib import Path

from PIL import Image, ImageOps

from cnnpipe.errors import InputError, ParameterError, UnreadableInput
from cnnpipe.io.common import (
    _ALLOWED_TEXT,
    _EXT_FORMAT,
    _FOREIGN_MAGIC,
    _NPY_MAGIC,
    _ORIENTATION_WORDS,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    Loaded,
    _decode_error,
    _nice,
    _open_source,
    _strict_pillow,
    _too_big,
)
from cnnpipe.io.matrix import _matrix_loaded, text_format
from cnnpipe.io.pixels import to_float


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


def load_image(source, *, color="gray", max_pixels=DEFAULT_MAX_PIXELS, name=None,
               on_size=None) -> Loaded:
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
    on_size : callable, optional
        Called with the shape the array will have, ``(H, W)`` or ``(C, H, W)``, as
        soon as it is known (after the header, before any pixel is decoded); it
        may raise to refuse the input (see :func:`cnnpipe.budget.check`).

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
        loaded = _dispatch(fp, head, ext, color, max_pixels, on_size)
    loaded.info = {"path": shown, **loaded.info}
    return loaded


def _dispatch(fp, head, ext, color, max_pixels, on_size=None) -> Loaded:
    kind, fmt, notes = _route(fp, head, ext)
    if kind == "picture":
        return _load_picture(fp, fmt, color, max_pixels, notes, on_size)
    return _matrix_loaded(fp, fmt, color, max_pixels, notes, on_size)


def _route(fp, head, ext) -> tuple[str, str, list]:
    """How a file is read, from its first bytes and extension (None: standard input).

    Returns ``("picture", FORMAT, notes)`` or ``("matrix", ".npy"|".csv"|".txt", notes)``;
    raises InputError (one line) for contents cnnpipe does not read.
    """
    notes = []
    if head.startswith(_NPY_MAGIC):
        if ext is not None and ext != ".npy":
            notes.append(f"contents are a .npy matrix despite the {ext} extension")
        return "matrix", ".npy", notes
    fmt = _sniff_image(head)
    if fmt is not None:
        expected = _EXT_FORMAT.get(ext) if ext else None
        if ext and expected != fmt:
            notes.append(f"contents are {_nice(fmt)} despite the {ext} extension")
        return "picture", fmt, notes
    foreign = _sniff_foreign(head)
    if foreign is not None and ext not in (".csv", ".txt"):
        raise InputError(f"format {foreign} is not supported (allowed: {_ALLOWED_TEXT})")
    if ext in (".csv", ".txt"):
        return "matrix", ext, notes
    if ext == ".npy":
        raise InputError("not a .npy file (it does not start with the NUMPY header)")
    if ext in IMAGE_EXTENSIONS:
        if _looks_like_text(head):
            raise InputError("not an image: the file contains text")
        raise InputError("not an image: unrecognised file contents")
    if ext is None:  # standard input: a text matrix is the last possibility
        if _looks_like_text(head):
            return "matrix", text_format(fp.getvalue()[:65536]), notes
        raise InputError("not an image or a matrix: unrecognised contents")
    raise InputError(
        f"unsupported file extension {ext or '(none)'!r} and unrecognised contents"
        f" (use an image: {_ALLOWED_TEXT}; or a matrix: .npy, .csv, .txt)"
    )


def sniff(source) -> str:
    """What a run would read ``source`` as, from its first bytes alone (nothing decoded).

    Parameters
    ----------
    source : str, Path or bytes
        A path, or standard input's bytes.

    Returns
    -------
    str
        ``"PNG image"``, ``".csv matrix"``, ...

    Raises
    ------
    UnreadableInput
        The file cannot be opened, or is empty.
    InputError
        Its contents are not an image or a matrix cnnpipe reads (the reason a
        run would give). A file that passes may still fail when decoded
        (truncated, too large, bad values).
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        fp, size, ext = io.BytesIO(bytes(source)), len(source), None
    else:
        try:
            fp, size = _open_source(source)
        except InputError as exc:
            raise UnreadableInput(str(exc)) from None
        ext = Path(os.fspath(source)).suffix.lower()
    with fp:
        if size == 0:
            raise UnreadableInput("standard input is empty" if ext is None else "file is empty")
        kind, fmt, _ = _route(fp, fp.read(64), ext)
    return f"{_nice(fmt)} image" if kind == "picture" else f"{fmt} matrix"


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


def _load_picture(fp, fmt, color, max_pixels, notes, on_size=None) -> Loaded:
    _check_container(fp, fmt, notes)
    im, frames = _open_picture(fp, fmt, color, max_pixels, on_size)
    if im.format not in (fmt, "MPO"):
        raise InputError(f"format {im.format} is not supported (allowed: {_ALLOWED_TEXT})")
    if frames > 1:
        notes.append(f"first of {frames} frames")
    source_mode = im.mode
    im = _apply_orientation(im, notes)
    array, bits = to_float(im, color, notes)
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


def _check_container(fp, fmt, notes) -> None:
    """What Pillow would not say well: a truncated WebP, a PNG chunk's bad checksum."""
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


def _open_picture(fp, fmt, color, max_pixels, on_size):
    """(the decoded first frame, the frame count); the size is checked before decoding."""
    try:
        with _strict_pillow(max_pixels):
            im = Image.open(fp, formats=[fmt])
            width, height = im.size
            if width * height > max_pixels:
                raise _too_big(width * height, max_pixels, (width, height))
            if on_size is not None:
                on_size((height, width) if color == "gray" else (3, height, width))
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
    return im, frames


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
