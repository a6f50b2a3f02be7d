"""Reading and writing matrix files (.npy, .csv, .txt): never unpickled, every value checked."""

from __future__ import annotations

import array as pyarray
import codecs
import io
import re
import struct
from pathlib import Path

import numpy as np

from cnnpipe.errors import InputError, ParameterError
from cnnpipe.io.common import (
    _FLOAT32_OVERFLOW,
    DEFAULT_MAX_PIXELS,
    MATRIX_EXTENSIONS,
    Loaded,
    _open_source,
    _too_big,
)
from cnnpipe.io.png import atomic_write
from cnnpipe.numbers import separator

# --------------------------------------------------------------------------- matrices


def _matrix_loaded(fp, ext, color, max_pixels, notes, on_size=None) -> Loaded:
    array = _read_matrix(fp, ext, max_pixels, on_size)
    if color == "gray" and array.ndim != 2:
        raise InputError(
            f"matrix has shape {array.shape}; expected 2-D (rows, cols)"
            " (a 3-D (channels, rows, cols) matrix needs --color rgb)"
        )
    if color == "rgb" and array.ndim == 3 and array.shape[0] not in (1, 3):
        raise InputError(f"matrix has shape {array.shape}; --color rgb takes (rows, cols) or "
                         "(3, rows, cols)")
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
        How to parse it: ``.npy``, or text. A text matrix (``.csv`` or ``.txt``) is
        comma separated when its first row holds a comma (spaces allowed around
        values), else separated by spaces or tabs (:func:`separator`). Blank lines
        and lines starting with ``#`` are skipped.
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


def _read_matrix(fp, ext, max_pixels, on_size=None) -> np.ndarray:
    if ext == ".npy":
        array = _read_npy(fp, max_pixels, on_size)
    else:  # the text is parsed first (in bounded memory), then its shape checked
        array = _read_text(fp, max_pixels)
        if on_size is not None:
            on_size(array.shape)
    _check_finite(array)
    return array


def _read_npy(fp, max_pixels, on_size=None) -> np.ndarray:
    shape, dtype = _npy_header(fp)
    _check_npy_dtype(dtype)
    _check_npy_shape(shape, max_pixels)
    if on_size is not None:
        on_size(tuple(int(n) for n in shape))
    return _npy_data(fp)


def _npy_header(fp):
    """(shape, dtype) from a .npy header, read without the data (never unpickled)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(fp)
        if version == (1, 0):
            shape, _fortran, dtype = fmt.read_array_header_1_0(fp)
        elif version in ((2, 0), (3, 0)):
            shape, _fortran, dtype = fmt.read_array_header_2_0(fp)
        else:
            raise ValueError(f"unknown .npy version {version}")
    except (ValueError, EOFError, SyntaxError, struct.error) as exc:
        raise InputError(f"corrupt .npy file (header cannot be read: {str(exc)[:60]})") from None
    return shape, dtype


def _check_npy_dtype(dtype) -> None:
    if dtype.hasobject:
        raise InputError("object arrays are not supported (the .npy holds Python objects)")
    if dtype.fields is not None:
        raise InputError("structured arrays are not supported (save a plain numeric array)")
    if dtype.kind == "c":
        raise InputError("complex arrays are not supported (save the real part)")
    if dtype.kind not in "biuf":
        raise InputError(f"arrays of type {dtype} are not supported (use numbers)")


def _check_npy_shape(shape, max_pixels) -> None:
    if len(shape) not in (2, 3):
        raise InputError(f"matrix has shape {tuple(shape)}; expected 2-D (rows, cols) or 3-D")
    if 0 in shape:
        raise InputError(f"matrix is empty (shape {tuple(shape)})")
    if shape[-1] * shape[-2] > max_pixels:
        raise _too_big(shape[-1] * shape[-2], max_pixels, (shape[-1], shape[-2]))
    if len(shape) == 3 and shape[0] > 3:  # only 1 or 3 channels are ever used
        raise InputError(f"matrix has shape {tuple(shape)}; a 3-D matrix is (3, rows, cols) "
                         "or (1, rows, cols)")


def _npy_data(fp) -> np.ndarray:
    """The whole array as float32, from the start of the file; one array and nothing after."""
    fp.seek(0)
    try:
        array = np.load(fp, allow_pickle=False)
    except (ValueError, EOFError, OSError) as exc:
        if "pickle" in str(exc):
            raise InputError("object arrays are not supported") from None
        raise InputError("truncated .npy file (data ends early)") from None
    end = fp.tell()
    extra = fp.seek(0, io.SEEK_END) - end
    if extra > 0:
        raise InputError(f"corrupt .npy file ({_n_bytes(extra)} after the array data; "
                         "a .npy file holds one array)")
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(array, dtype=np.float32)


def text_format(data: bytes) -> str:
    """``".csv"`` or ``".txt"``: which a text matrix's first row says it is (by :func:`separator`).

    >>> text_format(b"# a comment\\n\\n1 2\\n3 4\\n")
    '.txt'
    """
    for line in data.decode("utf-8", "replace").splitlines():
        row = line.strip()
        if row and not row.startswith("#"):
            return ".csv" if separator(row) == "," else ".txt"
    return ".txt"


def _separator_hint(cell: str, comma: bool) -> str:
    """Why a cell holding several numbers did not split: the first row chose the separator."""
    if ";" in cell:
        return "; separate values with commas, spaces or tabs"
    if not comma and "," in cell:
        return ("; this matrix separates values with spaces or tabs, as its first row does "
                "(use one separator in every row)")
    if comma and len(cell.split()) > 1:
        return ("; this matrix separates values with commas, as its first row does "
                "(use one separator in every row)")
    return ""


#: A number as a matrix cell: ASCII digits, one optional sign, point and exponent.
#: ``float()`` alone would also take ``1_000``, ``١٢`` (Arabic-Indic digits) or
#: `` 5 ``; ``nan`` and ``inf`` pass here so their refusal names them.
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[+-]?(?:nan|inf|infinity)",
                     re.ASCII | re.IGNORECASE)

#: A cell longer than this is not a number anyone wrote (and would grow without bound).
_MAX_CELL = 400

_BLOCK = 1 << 20  # bytes read at a time


def _read_text(fp, max_pixels) -> np.ndarray:
    """Parse a text matrix in 1 MiB blocks: memory is 4 bytes per value plus one block.

    A long row is parsed piece by piece too, so neither the file nor a line is ever
    held whole (Python lists of floats cost ~28x the file size).
    """
    parser = _TextMatrix(max_pixels)
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    try:
        while block := fp.read(_BLOCK):
            parser.feed(decoder.decode(block))
        parser.feed(decoder.decode(b"", final=True))
    except UnicodeDecodeError:
        raise InputError("not a text matrix (the file is not UTF-8 text)") from None
    return parser.finish()


class _TextMatrix:
    """A streaming CSV/TXT matrix parser: text in (any pieces), float32 array out."""

    def __init__(self, max_pixels):
        self.csv = None  # commas or blanks: decided by the first row of numbers (separator())
        self.max_pixels = max_pixels
        self.values = pyarray.array("f")
        self.rows = 0
        self.expected = None  # values per row, from the first row
        self.first_row = None
        self.lineno = 1
        self.col = 0  # values seen on this line
        self.state = "start"  # start (blank so far), comment, data
        self.pending = ""  # text of this line not yet split into cells

    def feed(self, text: str) -> None:
        lines = text.split("\n")
        for i, piece in enumerate(lines):
            self._piece(piece)
            if i < len(lines) - 1:
                self._end_line()

    def finish(self) -> np.ndarray:
        self._end_line()
        if not self.rows:
            raise InputError("matrix file has no numbers (it is empty)")
        return np.frombuffer(self.values, dtype=np.float32).reshape(self.rows, self.expected)

    def _piece(self, piece: str) -> None:
        text = self.pending + piece
        self.pending = ""
        if self.state == "comment":
            return
        if self.state == "start":
            text = text.lstrip()
            if not text:
                return
            if text.startswith("#"):
                self.state = "comment"
                return
            self.state = "data"
            if self.csv is None:  # the first row's first piece (all of it, below 1 MiB)
                self.csv = separator(text) == ","
        cells = text.split(",") if self.csv else text.split()
        if self.csv or (text and not text[-1].isspace()):
            self.pending = cells.pop() if cells else ""  # may go on in the next piece
        if len(self.pending) > _MAX_CELL:  # blanks are kept as one, a long cell is refused
            stripped = self.pending.strip()
            if len(stripped) > _MAX_CELL:
                self._refuse_cell(stripped, self.col + len(cells) + 1)
            self.pending = stripped + (" " if self.pending[-1].isspace() else "")
        self._cells(cells)

    def _end_line(self) -> None:
        if self.state == "data":
            last = self.pending
            if self.csv or last.strip():
                self._cells([last])
            if self.expected is None:
                self.expected, self.first_row = self.col, self.lineno
            elif self.col != self.expected:
                raise InputError(
                    f"row {self.lineno} has {_n_values(self.col)}; expected {self.expected}"
                    f" (as in row {self.first_row})")
            self.rows += 1
        self.pending, self.state, self.col = "", "start", 0
        self.lineno += 1

    def _cells(self, cells: list) -> None:
        """Check and store the next cells of this line (Python loops only in C)."""
        first = self.col  # cells before these on this line
        self.col += len(cells)
        if self.expected is not None:  # a ragged row is counted, refused at its end, not stored
            cells = cells[:max(0, self.expected - first)]
        if not cells:
            return
        # float() strips blanks itself; it takes a superset of _NUMBER, and on ASCII
        # text without "_" exactly _NUMBER's set
        joined = "".join(cells)
        try:
            if "_" in joined or not joined.isascii() or max(map(len, cells)) > _MAX_CELL:
                raise ValueError
            values = np.array(list(map(float, cells)), dtype=np.float64)
        except ValueError:
            cells = [cell.strip() for cell in cells]
            i = next((i for i, c in enumerate(cells)
                      if len(c) > _MAX_CELL or not _NUMBER.fullmatch(c)), None)
            if i is None:  # only blanks made it look long
                values = np.array(list(map(float, cells)), dtype=np.float64)
            elif not cells[i]:
                raise InputError(f"empty value at row {self.lineno}, column {first + i + 1}"
                                 ) from None
            else:
                self._refuse_cell(cells[i], first + i + 1)
        bad = ~(np.abs(values) < _FLOAT32_OVERFLOW)  # NaN compares False too
        if bad.any():
            i = int(np.argmax(bad))
            what = "NaN" if values[i] != values[i] else "infinity (or a value beyond float32)"
            raise InputError(f"contains {what} at row {self.lineno}, column {first + i + 1}")
        self.values.frombytes(values.astype(np.float32).tobytes())
        if len(self.values) > self.max_pixels:
            raise InputError(f"matrix has more than {self.max_pixels} values (the limit; "
                             "use --max-pixels to raise it)")

    def _refuse_cell(self, cell: str, col: int):
        shown = cell if len(cell) <= 20 else cell[:20] + "..."
        raise InputError(f"non-numeric value {shown!r} at row {self.lineno}, column {col}"
                         + _separator_hint(cell, self.csv))


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


def _n_bytes(n: int) -> str:
    return "1 byte" if n == 1 else f"{n} bytes"


def _n_values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"
