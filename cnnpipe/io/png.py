"""Writing: PNG encoding (with the value mapping as text), reading it back, atomic files."""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import secrets
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from cnnpipe.errors import InputError, OutputError, ParameterError
from cnnpipe.io.common import (
    DEFAULT_MAX_PIXELS,
    TEMP_MARKER,
    _decode_error,
    _open_source,
    _strict_pillow,
    _too_big,
)

# --------------------------------------------------------------------------- PNG out


def encode_png(pixels, *, compression=1, text=None, palette=None, filter="up") -> bytes:
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
    palette : ndarray, optional
        A (256, 3) uint8 colour table: ``pixels`` (uint8 (H, W)) are then its
        indices and the PNG is a palette image.
    filter : {"up", "none"}
        The PNG row filter. "up" (each byte minus the one above it) suits
        maps and photos, whose rows resemble their neighbours, palette maps
        included (a palette index grows with the value); "none" suits
        drawings with flat areas, such as the overview sheet.

    Notes
    -----
    The rows are filtered with numpy and deflated by zlib here rather than
    by Pillow, which tries every filter on every row: on a 512x512 photo's
    maps that made encoding about twice as slow and the files larger.
    """
    pixels = np.asarray(pixels)
    if (
        isinstance(compression, bool)
        or not isinstance(compression, int)
        or not (0 <= compression <= 9)
    ):
        raise ParameterError(f"`compression` must be an integer 0..9 (got {compression!r})")
    if filter not in ("up", "none"):
        raise ParameterError(f"`filter` must be 'up' or 'none' (got {filter!r})")
    if palette is not None:
        palette = np.asarray(palette, dtype=np.uint8)
        if pixels.ndim != 2 or pixels.dtype != np.uint8 or palette.shape != (256, 3):
            raise ParameterError(
                "a palette PNG needs uint8 (H, W) indices and a (256, 3) uint8 palette"
                f" (got {pixels.dtype} {pixels.shape} and {palette.shape})"
            )
        color_type, depth = 3, 8
    elif pixels.ndim == 2 and pixels.dtype == np.uint8:
        color_type, depth = 0, 8
    elif pixels.ndim == 2 and pixels.dtype == np.uint16:
        color_type, depth = 0, 16
        pixels = pixels.astype(">u2", copy=False)  # PNG samples are big-endian
    elif pixels.ndim == 3 and pixels.shape[2] == 3 and pixels.dtype == np.uint8:
        color_type, depth = 2, 8
    else:
        raise ParameterError(
            "`pixels` must be uint8/uint16 (H, W) or uint8 (H, W, 3)"
            f" (got {pixels.dtype} {pixels.shape})"
        )
    height, width = pixels.shape[:2]
    if height == 0 or width == 0 or max(height, width) > 2**31 - 1:
        raise ParameterError(f"a PNG needs 1 to 2^31-1 rows and columns (got {height}x{width})")
    out = [_PNG_SIGNATURE,
           _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, color_type, 0, 0, 0))]
    if palette is not None:
        out.append(_chunk(b"PLTE", palette.tobytes()))
    for key, value in (text or {}).items():
        out.append(_text_chunk(key, value if isinstance(value, str) else json.dumps(value)))
    out.extend(_chunk(b"IDAT", part) for part in _deflate_rows(
        pixels.reshape(height, -1).view(np.uint8), compression, filter == "up"))
    out.append(_chunk(b"IEND", b""))
    return b"".join(out)


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

try:  # ISA-L's deflate: zlib-format streams, ~4x faster than zlib at level 1 and smaller
    from isal import isal_zlib as _fast_zlib
except ImportError:  # pragma: no cover - exercised by forcing the fallback in the tests
    _fast_zlib = None


def _compressor(level: int):
    """A deflate stream compressor for zlib ``level`` (0-9).

    Levels 1-3 use ISA-L (the ``isal`` package) when it imports: on a 2048x2048
    filtered map it compresses about 4.5x faster than zlib level 1 and into a
    smaller stream (benchmarks/bench_png.py). Level 0 (stored) and levels 4-9,
    where the user asked for size over speed, use zlib, as does any machine
    where isal is missing. Both give standard zlib streams, so a PNG decodes to
    the same pixels either way.
    """
    if _fast_zlib is not None and 1 <= level <= 3:
        return _fast_zlib.compressobj(level)
    return zlib.compressobj(level)
_ROWS_BYTES = 4 << 20  # rows filtered at once: bounds the extra memory for a huge map
_IDAT_BYTES = 1 << 20  # compressed bytes per IDAT chunk


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(
        ">I", zlib.crc32(data, zlib.crc32(kind)))


def _text_chunk(key: str, value: str) -> bytes:
    """tEXt when key and value are Latin-1, else iTXt (UTF-8, uncompressed)."""
    if not 1 <= len(key) <= 79:
        raise ParameterError(f"a PNG text key has 1 to 79 characters (got {key!r})")
    try:
        return _chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    except UnicodeEncodeError:
        return _chunk(b"iTXt", key.encode("utf-8") + b"\0\0\0\0\0" + value.encode("utf-8"))


def _deflate_rows(rows: np.ndarray, level: int, up: bool):
    """Yield the zlib stream of the filtered scanlines of ``rows`` (H, bytes per row)."""
    height, stride = rows.shape
    step = max(1, _ROWS_BYTES // (stride + 1))
    deflater = _compressor(level)
    pending = b""
    for top in range(0, height, step):
        block = rows[top:top + step]
        lines = np.empty((block.shape[0], stride + 1), dtype=np.uint8)
        if up:
            lines[:, 0] = 2  # filter type Up: the difference with the row above, mod 256
            if top:
                np.subtract(block[0], rows[top - 1], out=lines[0, 1:])
            else:
                lines[0, 1:] = block[0]  # the first row has zeros above it
            np.subtract(block[1:], block[:-1], out=lines[1:, 1:])
        else:
            lines[:, 0] = 0
            lines[:, 1:] = block
        pending += deflater.compress(lines)
        while len(pending) >= _IDAT_BYTES:
            yield pending[:_IDAT_BYTES]
            pending = pending[_IDAT_BYTES:]
    pending += deflater.flush()
    for start in range(0, len(pending), _IDAT_BYTES):
        yield pending[start:start + _IDAT_BYTES]


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


# --------------------------------------------------------------------------- atomic writes

_TEMP_NAME = re.compile(r"\..+" + re.escape(TEMP_MARKER) + r"[0-9a-f]{8}")


def is_temp_name(name: str) -> bool:
    """True for a temporary file :func:`atomic_write` creates (``.NAME.cnnpipe-tmp-XXXXXXXX``).

    A process killed with SIGKILL between creating and renaming one leaves it
    behind; the next run into that folder may remove exactly these files.
    """
    return bool(_TEMP_NAME.fullmatch(name))


def atomic_write(path, data, *, fsync_folder: bool = True) -> None:
    """Write ``data`` to ``path`` so the file is either complete or absent.

    The bytes go to ``.NAME.cnnpipe-tmp-XXXXXXXX`` in the same folder, are
    flushed and fsynced, then renamed over ``path`` (``os.replace``, atomic on
    POSIX and Windows), and the folder is fsynced so that the rename lasts
    too; ``fsync_folder=False`` leaves that to one :func:`sync_folder` call
    after the last of many files. On any failure the temporary file is removed.

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
            candidate = folder / f".{path.name}{TEMP_MARKER}{secrets.token_hex(4)}"
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
    if fsync_folder:
        sync_folder(folder)


def sync_folder(folder: Path) -> None:
    """Make the renames into ``folder`` durable; best effort (not possible everywhere).

    :func:`atomic_write` does it after each file unless told not to; a caller
    writing many files into one folder may call this once, after the last.
    """
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
