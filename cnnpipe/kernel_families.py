"""Parametric kernel families: ``gaussian:SIGMA``, ``log:SIGMA``, ``dog:S1,S2``,
``gabor:THETA,SIGMA,LAMBDA``, ``box:N`` (``sobel:ANGLE`` lives in
:mod:`cnnpipe.kernels`, next to the Sobel constants it mixes).

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

import numpy as np

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
