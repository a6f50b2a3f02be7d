"""Kernels that do not come from the built-in library: parametric families
(``gaussian:SIGMA``, ``log:SIGMA``, ``dog:S1,S2``, ``gabor:THETA,SIGMA,LAMBDA``,
``box:N``; ``sobel:ANGLE`` lives in :mod:`cnnpipe.kernels`, next to the Sobel
constants it mixes) and matrices read from text or files (inline rows,
``.csv``/``.txt``, ``.npy``, libvips ``.mat``).

Every function returns a float64 array; :mod:`cnnpipe.kernels` casts it to
float32 and wraps it in a :class:`~cnnpipe.kernels.Kernel`. numpy only.

Conventions
-----------
* Gaussian-based kernels are square, ``2 * ceil(3 * sigma) + 1`` on a side
  (``dog`` uses the larger sigma), so 99.7 % of a 1-D Gaussian is inside.
* Coordinates are image coordinates: ``x`` grows to the right (columns),
  ``y`` grows **down** (rows). An angle ``theta`` therefore turns clockwise
  as seen on the screen: 90 degrees points down. This is what makes
  ``sobel:90`` equal to ``sobel-y`` (which responds to dark-above/bright-below).
"""

from __future__ import annotations

import math
import re

import numpy as np

from cnnpipe import numbers
from cnnpipe.errors import KernelError

#: The largest side a generated kernel may have; a bigger detector is almost
#: certainly a typo (``gaussian:150``) and would take minutes per image.
MAX_SIDE = 255


def gaussian_size(sigma: float) -> int:
    """Side of a Gaussian kernel for ``sigma``: ``2 * ceil(3 * sigma) + 1``."""
    return 2 * math.ceil(3 * sigma) + 1


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Column (x) and row (y) offsets from the centre of a ``size`` x ``size`` grid."""
    half = (size - 1) / 2
    y, x = np.mgrid[0:size, 0:size].astype(np.float64) - half
    return x, y


def _check_size(family: str, spec: str, size: int) -> None:
    if size > MAX_SIDE:
        raise KernelError(
            f"kernel '{spec}' would be {size}x{size}; the largest {family} kernel is "
            f"{MAX_SIDE}x{MAX_SIDE} (use a smaller value)")


def _gauss(sigma: float, size: int) -> np.ndarray:
    x, y = _grid(size)
    g = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    return g / g.sum()


def gaussian(sigma: float, spec: str = "") -> np.ndarray:
    """Normalised 2-D Gaussian (sums to 1): a blur of standard deviation ``sigma`` pixels."""
    size = gaussian_size(sigma)
    _check_size("gaussian", spec, size)
    return _gauss(sigma, size)


def log(sigma: float, spec: str = "") -> np.ndarray:
    """Laplacian of Gaussian, sign flipped: a "Mexican hat" with a **positive** centre.

    ``-sigma**2 * laplacian(G) = G * (2 - r**2 / sigma**2)`` (scale-normalised, so
    responses are comparable across sigmas), then the mean is subtracted so the
    kernel sums to exactly 0 despite the truncated tails.

    Notes
    -----
    The sign is chosen so a bright blob of radius about ``sigma * sqrt(2)`` on a
    dark background gives a **positive** response at its centre, which survives
    ReLU. This is the opposite sign of the built-in ``laplacian`` (the textbook
    operator, negative centre); ``outline`` is the positive-centre 3x3 cousin.
    """
    size = gaussian_size(sigma)
    _check_size("log", spec, size)
    x, y = _grid(size)
    r2 = (x * x + y * y) / (sigma * sigma)
    w = _gauss(sigma, size) * (2.0 - r2)
    return w - w.mean()


def dog(sigma1: float, sigma2: float, spec: str = "") -> np.ndarray:
    """Difference of Gaussians ``G(sigma1) - G(sigma2)``, each normalised to sum 1.

    Both Gaussians share one grid sized for the larger sigma, so the result sums
    to 0 (up to rounding). With ``sigma1 < sigma2`` the centre is positive: a
    bright blob gives a positive response, like ``log``.
    """
    size = gaussian_size(max(sigma1, sigma2))
    _check_size("dog", spec, size)
    return _gauss(sigma1, size) - _gauss(sigma2, size)


def gabor(theta_deg: float, sigma: float, wavelength: float, spec: str = "") -> np.ndarray:
    """Real (even, cosine) Gabor kernel, zero-mean.

    ``exp(-(x'**2 + y'**2) / (2 sigma**2)) * (cos(2 pi x' / wavelength) - c)`` with
    ``x' = x cos(theta) + y sin(theta)``. The carrier oscillates *along* the
    direction ``theta`` (image coordinates, clockwise on screen), so the kernel
    responds to stripes *perpendicular* to it: ``gabor:0,...`` finds vertical
    stripes, ``gabor:90,...`` horizontal ones. ``c`` is the envelope-weighted
    mean of the cosine, which makes the kernel sum to 0 without shifting the
    weights outside the envelope (the usual Morlet correction).
    """
    size = gaussian_size(sigma)
    _check_size("gabor", spec, size)
    x, y = _grid(size)
    t = math.radians(theta_deg)
    xr = x * math.cos(t) + y * math.sin(t)
    envelope = np.exp(-(x * x + y * y) / (2 * sigma * sigma))
    carrier = np.cos(2 * math.pi * xr / wavelength)
    c = (envelope * carrier).sum() / envelope.sum()
    return envelope * (carrier - c)


def box(n: int, spec: str = "") -> np.ndarray:
    """``n`` x ``n`` mean filter: every weight ``1 / n**2``."""
    _check_size("box", spec, n)
    return np.full((n, n), 1.0 / (n * n))


# family name -> (argument form for messages, number of arguments, builder)
FAMILIES = {
    "gaussian": ("gaussian:SIGMA", 1),
    "log": ("log:SIGMA", 1),
    "dog": ("dog:S1,S2", 2),
    "gabor": ("gabor:THETA,SIGMA,LAMBDA", 3),
    "sobel": ("sobel:ANGLE", 1),
    "box": ("box:N", 1),
}


def number_slug(value: float) -> str:
    """A number as a file-name-safe slug part: ``1.5 -> "1p5"``, ``-45 -> "m45"``."""
    text = f"{value:g}"
    return text.replace("-", "m").replace("+", "").replace(".", "p")


def parse_family_args(family: str, args_text: str, spec: str) -> list[float]:
    """The numeric arguments of ``family:ARGS``, checked for count and range."""
    form, count = FAMILIES[family]
    parts = [p for p in args_text.replace(",", " ").split()]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = None
    if values is None or len(values) != count or not all(map(math.isfinite, values)):
        raise KernelError(
            f"kernel '{spec}': expected {form} with {count} number"
            f"{'s' if count > 1 else ''}, e.g. {_EXAMPLES[family]}")
    if family == "box":
        if values[0] != int(values[0]) or values[0] < 1:
            raise KernelError(f"kernel '{spec}': N in box:N must be a whole number >= 1 "
                              f"(got {parts[0]})")
    elif family in ("gaussian", "log", "dog"):
        if any(v <= 0 for v in values):
            raise KernelError(f"kernel '{spec}': sigma in {form} must be > 0")
        if family == "dog" and values[0] == values[1]:
            raise KernelError(f"kernel '{spec}': S1 and S2 in {form} must differ "
                              "(equal sigmas give an all-zero kernel)")
    elif family == "gabor" and (values[1] <= 0 or values[2] <= 0):
        raise KernelError(f"kernel '{spec}': SIGMA and LAMBDA in {form} must be > 0")
    return values


_EXAMPLES = {
    "gaussian": "gaussian:1.5",
    "log": "log:2",
    "dog": "dog:1,2",
    "gabor": "gabor:45,2,6",
    "sobel": "sobel:45",
    "box": "box:5",
}


# --- Matrices from text and files -----------------------------------------

def rows_to_array(rows: list[list[str]], what: str) -> np.ndarray:
    """Turn rows of number strings into a 2-D float64 array, with checks."""
    if not rows:
        raise KernelError(f"{what} has no values; give at least one number")
    width = len(rows[0])
    for i, row in enumerate(rows, start=1):
        if len(row) != width:
            raise KernelError(f"kernel row {i} has {len(row)} value{'' if len(row) == 1 else 's'}; "
                              f"expected {width} "
                              f"(in {what})")
    values = []
    for i, row in enumerate(rows, start=1):
        for j, token in enumerate(row, start=1):
            if not token:
                raise KernelError(f"{what}: empty value in row {i}, column {j}; write a number "
                                  "(0 for nothing) between the commas")
            try:
                value = float(token)
            except ValueError:
                raise KernelError(f"{what}: value '{token}' in row {i}, column {j} is not a "
                                  "number") from None
            if not math.isfinite(value):
                raise KernelError(f"{what}: value '{token}' in row {i}, column {j} is not "
                                  "finite; use finite numbers only")
            values.append(value)
    return np.array(values, dtype=np.float64).reshape(len(rows), width)


def split_rows(text: str, row_separators: str = ";\n") -> list[list[str]]:
    """Rows split at ``row_separators``, values at commas or whitespace."""
    rows = re.split("[" + re.escape(row_separators) + "]", text)
    # "1,,0" keeps its empty value (refused later), as an image CSV does; a
    # trailing ";" or blank line is not an empty row.
    return [re.split(r"\s*,\s*|\s+", row.strip()) for row in rows if row.strip()]


def split_file_rows(text: str, what: str) -> list[list[str]]:
    """A kernel file's rows (at newlines or ``;``), split by the one separator rule of
    every text matrix (:func:`cnnpipe.numbers.separator`: the first row decides)."""
    rows = [row.strip() for row in re.split("[\n;]", text) if row.strip()]
    comma = bool(rows) and numbers.separator(rows[0]) == ","
    split = []
    for i, row in enumerate(rows, start=1):
        if comma and any(len(cell.split()) > 1 for cell in row.split(",")) or \
                not comma and "," in row:
            first, other = ("commas", "spaces or tabs") if comma else ("spaces or tabs", "commas")
            raise KernelError(f"{what}: row {i} separates values with {other}, but the first "
                              f"row uses {first}; use one separator in every row")
        split.append(numbers.split_row(row, comma))
    return split


def read_text(path: str) -> str:
    """A kernel file's text (UTF-8); a binary file is a KernelError."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except UnicodeDecodeError:
        raise KernelError(f"kernel file '{path}' is not a text file; "
                          "use numbers separated by commas or spaces") from None


def strip_comments(text: str) -> str:
    """Drop everything after ``#`` on each line (``numpy.savetxt`` headers)."""
    return "\n".join(line.split("#", 1)[0] for line in text.splitlines())


def load_npy(path: str, *, ndims=(2, 3), expected="2-D (kh, kw) or 3-D (C, kh, kw)",
             what="kernel file") -> np.ndarray:
    """An array of finite real numbers with ``ndims`` axes from ``.npy``, never unpickling
    anything: the one reader of detector weights (kernel files, pipeline weight banks)."""
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic != b"\x93NUMPY":
        # np.load would take any other file for a pickle; never go there.
        raise KernelError(f"{what} '{path}' is not a valid .npy file (no NumPy header); "
                          "save it with numpy.save")
    try:
        array = np.load(path, allow_pickle=False)
    except ValueError as exc:
        if "allow_pickle" in str(exc):
            raise KernelError(f"{what} '{path}' holds Python objects; only numeric "
                              "arrays are accepted") from None
        raise KernelError(f"{what} '{path}' is not a valid .npy file ({exc})") from None
    except (OSError, EOFError) as exc:
        raise KernelError(f"{what} '{path}' is not a valid .npy file ({exc})") from None
    if not isinstance(array, np.ndarray) or array.dtype.kind not in "biuf":
        kind = getattr(array, "dtype", type(array))
        raise KernelError(f"{what} '{path}' holds {kind} values; only real numbers "
                          "are accepted")
    if array.ndim not in ndims:
        raise KernelError(f"{what} '{path}' holds a {array.ndim}-D array of shape "
                          f"{array.shape}; expected {expected}")
    if array.size == 0:
        raise KernelError(f"{what} '{path}' is empty (shape {array.shape})")
    if not np.isfinite(array.astype(np.float64)).all():
        raise KernelError(f"{what} '{path}' has a NaN or infinite value; every "
                          "weight must be a finite number")
    return array.astype(np.float64)


def load_mat(path: str) -> tuple[np.ndarray, str]:
    """libvips matrix file: header ``width height [scale [offset]]``, then rows.

    libvips computes ``sum(pixel * weight) / scale + offset``. The division by
    ``scale`` is folded into the weights. ``offset`` shifts the output, which a
    kernel cannot express; it is reported in the description and not applied.
    """
    lines = [line for line in read_text(path).splitlines() if line.strip()]
    what = f"kernel file '{path}'"
    if not lines:
        raise KernelError(f"{what} is empty; a .mat file starts with 'width height [scale "
                          "[offset]]'")
    header = [t for t in re.split(r'[,\s"]+', lines[0].strip()) if t]
    try:
        numbers_ = [float(t) for t in header]
    except ValueError:
        numbers_ = []
    if not 2 <= len(numbers_) <= 4:
        raise KernelError(f"{what}: first line must be 'width height [scale [offset]]' "
                          f"(got '{lines[0].strip()}')")
    width, height = numbers_[0], numbers_[1]
    scale = numbers_[2] if len(numbers_) > 2 else 1.0
    offset = numbers_[3] if len(numbers_) > 3 else 0.0
    if width != int(width) or height != int(height) or width < 1 or height < 1:
        raise KernelError(f"{what}: width and height must be whole numbers >= 1 "
                          f"(got '{lines[0].strip()}')")
    if scale == 0 or not math.isfinite(scale) or not math.isfinite(offset):
        raise KernelError(f"{what}: scale must be a non-zero number (got {header[2]})")
    rows = [[t for t in re.split(r'[,\s"]+', line.strip()) if t] for line in lines[1:]]
    if len(rows) != int(height):
        raise KernelError(f"{what} has {len(rows)} rows; the header says {int(height)}")
    weights = rows_to_array(rows, what)
    if weights.shape[1] != int(width):
        raise KernelError(f"{what}: kernel row 1 has {weights.shape[1]} values; the header "
                          f"says {int(width)}")
    note = f" (offset {offset:g} not applied)" if offset else ""
    return weights / scale, f"libvips matrix, scale {scale:g}{note}"
