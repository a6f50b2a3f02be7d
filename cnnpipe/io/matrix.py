"""Reading and writing matrix files (.npy, .csv, .txt): never unpickled, every value checked."""

from __future__ import annotations

import io
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

# --------------------------------------------------------------------------- matrices


def _matrix_loaded(fp, ext, color, max_pixels, notes) -> Loaded:
    array = _read_matrix(fp, ext, max_pixels)
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


def _separator_hint(cell: str, ext: str) -> str:
    """Why a cell holding several numbers did not split: the extension picks the separator."""
    if ext == ".txt" and "," in cell:
        return "; a .txt matrix separates values with spaces (name it .csv for commas)"
    if ext == ".csv" and (";" in cell or len(cell.split()) > 1):
        return "; a .csv matrix separates values with commas"
    return ""


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
                f"row {lineno} has {_n_values(len(cells))}; expected {expected}"
                f" (as in row {first_row})"
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
                    + _separator_hint(cell, ext)
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


def _n_values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"
