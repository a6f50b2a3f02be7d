"""The built-in library: :class:`Kernel` and the named detectors (numpy only).

See :mod:`cnnpipe.kernels` for the spec forms; :mod:`cnnpipe.kernels.specs`
reads them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cnnpipe.errors import KernelError


@dataclass(frozen=True, eq=False)
class Kernel:
    """One feature detector.

    ``weights`` is stored as a read-only float32 copy, so a kernel (and the
    built-in library) cannot be changed by accident.
    """

    name: str
    weights: np.ndarray = field(repr=False)
    description: str = ""
    source: str = ""
    spec: str = ""

    def __post_init__(self):
        with np.errstate(over="ignore", invalid="ignore"):  # refused below, in one line
            w = np.array(self.weights, dtype=np.float32, copy=True)
        if w.ndim not in (2, 3) or w.size == 0:
            raise KernelError(f"kernel '{self.name}' must be a non-empty 2-D (kh, kw) or "
                              f"3-D (C, kh, kw) matrix (got shape {w.shape})")
        if not np.isfinite(w).all():
            raise KernelError(f"kernel '{self.name}' has a NaN, infinite or too large value "
                              "(float32 holds up to ±3.4e38); every weight must be a finite "
                              "number")
        w.flags.writeable = False
        object.__setattr__(self, "weights", w)

    def __array__(self, dtype=None, copy=None):
        # So that ``conv2d(x, kernel("sobel-x"))`` works: a Kernel is its weights.
        if copy:
            return np.array(self.weights, dtype=dtype)
        return np.asarray(self.weights, dtype=dtype)

    @property
    def shape(self) -> tuple[int, ...]:
        """Shape of the weights: ``(kh, kw)`` or ``(C, kh, kw)``."""
        return tuple(self.weights.shape)

    def to_dict(self) -> dict:
        """JSON-ready form: name, shape, weights (nested lists), description, source.

        Each weight is written with the shortest decimal that reads back as the
        same float32 (``1/9`` -> ``0.11111111``), so JSON round-trips exactly.
        """
        flat = [float(np.format_float_positional(v, unique=True, trim="0"))
                for v in self.weights.ravel()]
        weights = np.array(flat, dtype=object).reshape(self.weights.shape).tolist()
        return {"name": self.name, "shape": list(self.shape), "weights": weights,
                "description": self.description, "source": self.source}

    def __eq__(self, other):
        if not isinstance(other, Kernel):
            return NotImplemented
        return (self.name == other.name and self.shape == other.shape
                and bool(np.array_equal(self.weights, other.weights))
                and (self.description, self.source, self.spec)
                == (other.description, other.source, other.spec))

    def __hash__(self):
        return hash((self.name, self.shape, self.weights.tobytes()))


# --- The built-in library -------------------------------------------------
# Matrices as they act under cross-correlation. Sources in each entry below.

#: [[0, 0, 0], [0, 1, 0], [0, 0, 0]]
IDENTITY = np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]])
#: [[1, 1, 1], [1, 1, 1], [1, 1, 1]] / 9
BOX = np.ones((3, 3)) / 9
#: [[1, 2, 1], [2, 4, 2], [1, 2, 1]] / 16
GAUSSIAN = np.outer([1, 2, 1], [1, 2, 1]) / 16
#: outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
GAUSSIAN_5X5 = np.outer([1, 4, 6, 4, 1], [1, 4, 6, 4, 1]) / 256
#: [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]
SHARPEN = np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]])
#: [[0, 1, 0], [1, -4, 1], [0, 1, 0]]
LAPLACIAN = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]])
#: [[1, 1, 1], [1, -8, 1], [1, 1, 1]]
LAPLACIAN_8 = np.array([[1, 1, 1], [1, -8, 1], [1, 1, 1]])
#: [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]])
#: [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
SOBEL_Y = SOBEL_X.T.copy()
#: [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]]
PREWITT_X = np.array([[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]])
#: [[-1, -1, -1], [0, 0, 0], [1, 1, 1]]
PREWITT_Y = PREWITT_X.T.copy()
#: [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]]
SCHARR_X = np.array([[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]])
#: [[-3, -10, -3], [0, 0, 0], [3, 10, 3]]
SCHARR_Y = SCHARR_X.T.copy()
#: [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]]  a "/" line
DIAGONAL_45 = np.array([[-1, -1, 2], [-1, 2, -1], [2, -1, -1]])
#: [[2, -1, -1], [-1, 2, -1], [-1, -1, 2]]  a "\" line
DIAGONAL_135 = np.array([[2, -1, -1], [-1, 2, -1], [-1, -1, 2]])
#: [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]
EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]])
#: [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]]
OUTLINE = np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]])
#: [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]]
HORIZONTAL_LINES = np.array([[-1, -1, -1], [2, 2, 2], [-1, -1, -1]])
#: [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]]
VERTICAL_LINES = HORIZONTAL_LINES.T.copy()
#: [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]]
TUTORIAL = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]])

_POWELL = "V. Powell, 'Image Kernels Explained Visually' (setosa.io, 2015)"
_GW = "Gonzalez & Woods, Digital Image Processing, line-detection masks"

_TABLE = [
    ("identity", IDENTITY, "copies the image unchanged: the do-nothing detector",
     "the unit impulse; " + _POWELL),
    ("box", BOX, "3x3 mean: every pixel becomes the average of its neighbourhood",
     "mean filter; Pillow ImageFilter.BoxBlur(1)"),
    ("gaussian", GAUSSIAN, "3x3 Gaussian blur (binomial 1-2-1), sums to 1",
     "binomial approximation of a Gaussian, sigma ~ 0.71; " + _POWELL),
    ("gaussian-5x5", GAUSSIAN_5X5, "5x5 Gaussian blur (binomial 1-4-6-4-1), sums to 1",
     "binomial approximation of a Gaussian, sigma = 1; Burt & Adelson 1983"),
    ("sharpen", SHARPEN, "identity plus the 4-neighbour edge response: crisper edges",
     _POWELL),
    ("laplacian", LAPLACIAN, "4-neighbour Laplacian: responds to edges in every direction",
     "discrete Laplace operator (negative centre, as scipy.ndimage.laplace)"),
    ("laplacian-8", LAPLACIAN_8, "8-neighbour Laplacian: also counts the diagonals",
     "discrete Laplace operator with diagonals; Gonzalez & Woods"),
    ("sobel-x", SOBEL_X, "vertical edges: positive where dark-left meets bright-right",
     "Sobel & Feldman 1968"),
    ("sobel-y", SOBEL_Y, "horizontal edges: positive where dark-above meets bright-below",
     "Sobel & Feldman 1968"),
    ("prewitt-x", PREWITT_X, "vertical edges, unweighted rows: positive dark-left/bright-right",
     "Prewitt 1970"),
    ("prewitt-y", PREWITT_Y, "horizontal edges, unweighted: positive dark-above/bright-below",
     "Prewitt 1970"),
    ("scharr-x", SCHARR_X, "vertical edges, better rotation symmetry: positive dark-left",
     "Scharr 2000 (as OpenCV Scharr)"),
    ("scharr-y", SCHARR_Y, "horizontal edges, better rotation symmetry: positive dark-above",
     "Scharr 2000 (as OpenCV Scharr)"),
    ("diagonal-45", DIAGONAL_45, "thin bright lines rising left to right ( / )",
     _GW + " (+45 degrees)"),
    ("diagonal-135", DIAGONAL_135, "thin bright lines falling left to right ( \\ )",
     _GW + " (-45 degrees)"),
    ("emboss", EMBOSS, "relief: lit from the top-left, sums to 1 so the picture stays",
     _POWELL),
    ("outline", OUTLINE, "bright where a pixel is brighter than its neighbours' average",
     "negated 8-neighbour Laplacian; " + _POWELL),
    ("horizontal-lines", HORIZONTAL_LINES, "thin bright horizontal lines", _GW),
    ("vertical-lines", VERTICAL_LINES, "thin bright vertical lines", _GW),
    ("tutorial", TUTORIAL,
     "the tutorial's 3x3 X-part detector: +1 on the main diagonal, -1 elsewhere",
     "the diagonal feature of B. Rohrer, 'How do Convolutional Neural Networks work?' (2016)"),
]

#: Every built-in detector by name, in teaching order.
BUILTIN: dict[str, Kernel] = {
    name: Kernel(name, weights, description, source, name)
    for name, weights, description, source in _TABLE
}

#: The detectors ``cnnpipe run`` uses when no ``-k`` is given: a blur (the
#: detector everyone understands first: a weighted average), sharpen (the
#: identity plus edges), the Sobel pair (vertical and horizontal edges, whose
#: sign shows the direction of the step, half of which ReLU keeps), and the
#: Laplacian (edges in every direction at once).
DEFAULT_KERNELS: tuple[str, ...] = ("gaussian", "sharpen", "sobel-x", "sobel-y", "laplacian")


def unique_names(kernels: Sequence[Kernel]) -> list[Kernel]:
    """The detectors with repeated names suffixed ``-2``, ``-3``... (the first free one),
    so that their files never collide; the one name de-duplicator.

    >>> from cnnpipe.kernels import kernel
    >>> [k.name for k in unique_names([kernel("box"), kernel("box"), kernel("box-2=1")])]
    ['box', 'box-2', 'box-2-2']
    """
    used: set[str] = set()
    out = []
    for k in kernels:
        name, n = k.name, 1
        while name in used:
            n += 1
            name = f"{k.name}-{n}"
        used.add(name)
        out.append(k if name == k.name else dataclasses.replace(k, name=name))
    return out
