"""Feature detectors (kernels): the built-in library and every way to spell one.

numpy only. Weights are float32, shaped ``(kh, kw)`` or ``(C, kh, kw)``, finite,
non-empty; non-square and even-sized kernels are fine. All kernels are applied
by cross-correlation (not flipped), as in every CNN framework, so the matrices
below read the way they act: the top-left weight meets the top-left pixel.

Spec forms accepted by :func:`kernel` and :func:`parse_kernel_specs`
(see also :func:`describe_spec_forms`):

============================  ===============================================
``sobel-x``                   a built-in name (case-insensitive, ``_`` = ``-``)
``"1,0,-1;2,0,-2;1,0,-1"``    inline matrix: rows by ``;`` or newline, values
                              by ``,`` or spaces
``edge.csv`` / ``.txt``       text matrix file, one row per line
``edge.npy``                  2-D ``(kh, kw)`` or 3-D ``(C, kh, kw)`` array
``edge.mat``                  libvips matrix file (``width height [scale
                              [offset]]`` then the rows); weights are divided
                              by scale
``"3x3: -1,0,1,-2,0,2,..."``  ImageMagick style, ``WxH:`` then row-major
                              values (``3:`` means 3x3)
``gaussian:1.5``              Gaussian blur, sigma in pixels, sums to 1
``log:2``                     Laplacian of Gaussian, positive centre, sums to 0
``dog:1,2``                   difference of Gaussians G(1) - G(2), sums to 0
``gabor:45,2,6``              Gabor, THETA degrees, SIGMA, wavelength LAMBDA
``sobel:45``                  Sobel rotated: cos(a)*sobel-x + sin(a)*sobel-y
``box:5``                     5x5 mean
``NAME=SPEC``                 any of the above, named NAME
============================  ===============================================

Names are slugs (``[a-z0-9-]``) because they end up in file names: a file is
named after its stem, families after their arguments with ``.`` -> ``p`` and
``-`` -> ``m`` (``gaussian:1.5`` -> ``gaussian-1p5``, ``sobel:-45`` ->
``sobel-m45``, ``dog:1,2`` -> ``dog-1-2``). Angles are in degrees in image
coordinates (rows grow down), so positive angles turn clockwise on screen and
``sobel:90`` equals ``sobel-y``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cnnpipe.errors import KernelError, ParameterError
from cnnpipe.kernels import families as fam

__all__ = [
    "BUILTIN", "DEFAULT_KERNELS", "Kernel", "describe_spec_forms", "kernel",
    "parse_kernel_specs", "random_kernels", "slugify", "suggest", "suggestions",
]

#: A kernel file bigger than this is refused before it is read.
MAX_FILE_BYTES = 16 * 1024 * 1024

MATRIX_SUFFIXES = (".csv", ".txt", ".npy", ".mat")


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
        w = np.array(self.weights, dtype=np.float32, copy=True)
        if w.ndim not in (2, 3) or w.size == 0:
            raise KernelError(f"kernel '{self.name}' must be a non-empty 2-D (kh, kw) or "
                              f"3-D (C, kh, kw) matrix (got shape {w.shape})")
        if not np.isfinite(w).all():
            raise KernelError(f"kernel '{self.name}' has a NaN or infinite value; "
                              "every weight must be a finite number")
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


# --- Names ----------------------------------------------------------------

def slugify(text: str) -> str:
    """Lowercase ``[a-z0-9-]`` slug of ``text`` (accents dropped); ``""`` if nothing is left.

    >>> slugify("My Edge_Detector!")
    'my-edge-detector'
    """
    ascii_text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def _normal_name(text: str) -> str:
    return text.strip().lower().replace("_", "-")


def suggestions(name: str, limit: int = 6) -> list[str]:
    """Every built-in name and family form close to ``name``, closest first.

    Case does not matter. A name is close when difflib finds it similar (and
    nearly as similar as the best match), or when ``name`` is one of its words
    (``lines`` -> ``horizontal-lines``); a name that differs only by its dashes
    (``sobelx``) is the one answer. Built-in names come before family forms
    such as ``sobel:ANGLE``.

    >>> suggestions("Sobel")
    ['sobel-x', 'sobel-y', 'sobel:ANGLE']
    >>> suggestions("sobelx")
    ['sobel-x']
    """
    wanted = _normal_name(name).replace(" ", "-")
    if not wanted:
        return []
    undashed = [n for n in BUILTIN if n.replace("-", "") == wanted.replace("-", "")]
    if undashed:
        return undashed

    def score(candidate: str) -> float:
        ratio = difflib.SequenceMatcher(None, wanted, candidate).ratio()
        if len(wanted) >= 3 and wanted in candidate.split("-"):
            ratio = max(ratio, 0.7)
        return ratio

    families = {family: form for family, (form, _) in fam.FAMILIES.items()}
    scored = [(score(n), 0, n) for n in BUILTIN] + [(score(f + ":"), 1, form)
                                                    for f, form in families.items()]
    best = max(r for r, _, _ in scored)
    close = [(kind, -r, n) for r, kind, n in scored if r >= max(0.6, best - 0.15)]
    return [n for _, _, n in sorted(close)][:limit]


def suggest(name: str) -> str | None:
    """The built-in name closest to ``name``, or None if nothing is close.

    >>> suggest("sobelx")
    'sobel-x'
    """
    hits = [hit for hit in suggestions(name) if hit in BUILTIN]
    return hits[0] if hits else None


def _did_you_mean(names: Sequence[str]) -> str:
    quoted = [f"'{n}'" for n in names]
    if len(quoted) > 1:
        quoted[-2:] = [f"{quoted[-2]} or {quoted[-1]}"]
    return f"; did you mean {', '.join(quoted)}?" if quoted else ""


def describe_spec_forms() -> str:
    """Every kernel spec form, one per line, for help texts."""
    return "\n".join([
        "sobel-x                      a built-in name (`cnnpipe kernels` lists them)",
        '"1,0,-1;2,0,-2;1,0,-1"       inline matrix: rows by ";", values by "," or spaces',
        "edge.csv, edge.txt, edge.npy a matrix file (.npy may be 3-D: C,kh,kw)",
        "edge.mat                     libvips matrix file (weights divided by its scale)",
        '"3x3: -1,0,1,-2,0,2,-1,0,1"  ImageMagick style WxH: values (3: = 3x3)',
        "gaussian:SIGMA  log:SIGMA  dog:S1,S2  gabor:THETA,SIGMA,LAMBDA  sobel:ANGLE  box:N",
        "NAME=SPEC                    any of these, named NAME",
    ])


# --- Parsing --------------------------------------------------------------

_IMAGEMAGICK = re.compile(r"^(\d+)(?:\s*[xX]\s*(\d+))?\s*:(.*)$", re.DOTALL)
_FAMILY = re.compile(r"^([A-Za-z]+)\s*:(.*)$", re.DOTALL)
_NAME_PART = re.compile(r"^[^=,;:/\\\n]+$")
_NUMBERS_ONLY = re.compile(r"^[-+0-9.eE\s]+$")


def _inline(text: str, spec: str) -> np.ndarray:
    return fam.rows_to_array(fam.split_rows(text), f"kernel '{spec}'")


def _imagemagick(match: re.Match, spec: str) -> np.ndarray:
    width = int(match.group(1))
    height = int(match.group(2) or width)
    tokens = [t for t in re.split(r"[,\s]+", match.group(3).strip()) if t]
    if width < 1 or height < 1:
        raise KernelError(f"kernel '{spec}': width and height must be >= 1")
    if len(tokens) != width * height:
        raise KernelError(f"kernel '{spec}' has {len(tokens)} values; expected "
                          f"{width * height} for {width}x{height}")
    rows = [tokens[r * width:(r + 1) * width] for r in range(height)]
    return fam.rows_to_array(rows, f"kernel '{spec}'")


def _from_file(path: str, spec: str) -> Kernel:
    suffix = os.path.splitext(path)[1].lower()
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise KernelError(f"kernel file '{path}' not found; check the path") from None
    except OSError as exc:
        raise KernelError(f"kernel file '{path}' cannot be read ({exc.strerror})") from None
    if os.path.isdir(path):
        raise KernelError(f"kernel file '{path}' is a directory; give a {suffix} file")
    if size > MAX_FILE_BYTES:
        raise KernelError(f"kernel file '{path}' is {size} bytes; the limit is "
                          f"{MAX_FILE_BYTES} bytes")
    name = slugify(os.path.splitext(os.path.basename(path))[0]) or "kernel"
    description = "from " + os.path.basename(path)
    try:
        if suffix == ".npy":
            weights = fam.load_npy(path)
        elif suffix == ".mat":
            weights, detail = fam.load_mat(path)
            description += f" ({detail})"
        else:
            text = fam.strip_comments(fam.read_text(path))
            weights = fam.rows_to_array(fam.split_rows(text, "\n;"), f"kernel file '{path}'")
    except PermissionError:
        raise KernelError(f"kernel file '{path}' cannot be read (permission denied)") from None
    return Kernel(name, weights, description, str(path), spec)


def _sobel_angle(angle: float) -> np.ndarray:
    t = math.radians(angle)
    # round so multiples of 90 degrees give exact 0s: sobel:90 == sobel-y
    c, s = round(math.cos(t), 12), round(math.sin(t), 12)
    return c * SOBEL_X + s * SOBEL_Y


def _family(family: str, args_text: str, spec: str) -> Kernel:
    args = fam.parse_family_args(family, args_text, spec)
    slug = "-".join([family] + [fam.number_slug(a) for a in args])
    if family == "gaussian":
        w, d = fam.gaussian(args[0], spec), f"Gaussian blur, sigma {args[0]:g}"
    elif family == "log":
        w, d = fam.log(args[0], spec), f"Laplacian of Gaussian (positive centre), sigma {args[0]:g}"
    elif family == "dog":
        w, d = fam.dog(args[0], args[1], spec), f"difference of Gaussians {args[0]:g} - {args[1]:g}"
    elif family == "gabor":
        w = fam.gabor(args[0], args[1], args[2], spec)
        d = f"Gabor, theta {args[0]:g} deg, sigma {args[1]:g}, wavelength {args[2]:g}"
    elif family == "sobel":
        w, d = _sobel_angle(args[0]), f"Sobel rotated {args[0]:g} deg (0 = sobel-x, 90 = sobel-y)"
    else:
        n = int(args[0])
        w, d, slug = fam.box(n, spec), f"{n}x{n} mean", f"box-{n}"
    return Kernel(slug, w, d, "cnnpipe family " + fam.FAMILIES[family][0], spec)


def _unknown(text: str, spec: str) -> KernelError:
    return KernelError(f"unknown kernel '{text}'{_did_you_mean(suggestions(text))} "
                       "(see `cnnpipe kernels`)")


def _parse(spec: str) -> tuple[Kernel, bool]:
    """One spec -> (kernel, is_unnamed_inline)."""
    if not isinstance(spec, str):
        raise KernelError(f"kernel spec must be text (got {type(spec).__name__})")
    text = spec.strip()
    if not text:
        raise KernelError("empty kernel spec; give a built-in name (see `cnnpipe kernels`), "
                          'a matrix like "1,0,-1;2,0,-2;1,0,-1", or a file')
    if "=" in text:
        name_part, rest = text.split("=", 1)
        if _NAME_PART.match(name_part) and name_part.strip():
            name = slugify(name_part)
            if not name:
                raise KernelError(f"kernel name '{name_part.strip()}' in '{spec}' has no "
                                  "letters or digits a file name can keep (a-z, 0-9); use a-z, "
                                  "0-9 and -")
            inner, _ = _parse(rest)
            return Kernel(name, inner.weights, inner.description, inner.source, spec), False
    if text.lower().endswith(MATRIX_SUFFIXES):
        return _from_file(text, spec), False
    match = _IMAGEMAGICK.match(text)
    if match:
        return Kernel("k1", _imagemagick(match, spec), "ImageMagick-style matrix", "", spec), True
    match = _FAMILY.match(text)
    if match:
        family = match.group(1).lower()
        if family not in fam.FAMILIES:
            hits = difflib.get_close_matches(family, list(fam.FAMILIES), n=1)
            hint = f"did you mean '{hits[0]}:'? " if hits else ""
            forms = ", ".join(form for form, _ in fam.FAMILIES.values())
            raise KernelError(f"unknown kernel family '{family}' in '{spec}'; {hint}"
                              f"families: {forms}")
        return _family(family, match.group(2), spec), False
    builtin = BUILTIN.get(_normal_name(text).replace(" ", "-"))
    if builtin is not None:
        return Kernel(builtin.name, builtin.weights, builtin.description, builtin.source,
                      spec), False
    if re.search(r"[,;\n]", text) or (_NUMBERS_ONLY.match(text) and re.search(r"\d", text)):
        return Kernel("k1", _inline(text, spec), "inline matrix", "", spec), True
    if os.path.exists(text):
        raise KernelError(f"kernel file '{text}' has an unsupported extension; use "
                          ".csv, .txt, .npy or .mat")
    raise _unknown(text, spec)


def kernel(spec: str) -> Kernel:
    """Parse one kernel spec (any form listed in the module docstring).

    Parameters
    ----------
    spec : str
        A built-in name, inline matrix, file, family, ImageMagick string or
        ``NAME=SPEC``.

    Returns
    -------
    Kernel
        An unnamed inline matrix is named ``k1``; :func:`parse_kernel_specs`
        numbers several of them ``k1, k2, ...``.

    Raises
    ------
    KernelError
        If the spec cannot be understood; the message says why and, for a
        misspelt name, suggests the closest built-in.

    Examples
    --------
    >>> kernel("sobel-x").weights.tolist()
    [[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]]
    >>> kernel("edge=1,-1").name
    'edge'
    """
    return _parse(spec)[0]


def parse_kernel_specs(specs: Sequence[str]) -> list[Kernel]:
    """Parse several specs, naming unnamed inline kernels and keeping names unique.

    Unnamed inline matrices (plain or ImageMagick style) are named ``k1``,
    ``k2``, ... in the order they appear among themselves. A name already used
    gets ``-2``, ``-3``, ... (the first free one), so ``-k sobel-x -k sobel-x``
    gives ``sobel-x`` and ``sobel-x-2``.

    >>> [k.name for k in parse_kernel_specs(["1,-1", "sobel-x", "2;-2", "sobel-x"])]
    ['k1', 'sobel-x', 'k2', 'sobel-x-2']
    """
    if isinstance(specs, str):
        specs = [specs]
    result, inline_count = [], 0
    for spec in specs:
        k, unnamed = _parse(spec)
        if unnamed:
            inline_count += 1
            k = dataclasses.replace(k, name=f"k{inline_count}")
        result.append(k)
    return unique_names(result)


def unique_names(kernels: Sequence[Kernel]) -> list[Kernel]:
    """The detectors with repeated names suffixed ``-2``, ``-3``... (the first free one),
    so that their files never collide; the one name de-duplicator.

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


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"`{what}` must be a whole number >= 1 (got {value!r})")
    if value < 1:
        raise ParameterError(f"`{what}` must be >= 1 (got {value})")
    return int(value)


def random_kernels(n: int, seed: int, size: int | tuple[int, int] = 3) -> list[Kernel]:
    """``n`` random detectors, as an untrained CNN layer starts out.

    Parameters
    ----------
    n : int
        Number of kernels, >= 1. They are named ``random-1`` ... ``random-N``.
    seed : int
        Seed, >= 0. The same seed gives bit-identical weights on every machine.
    size : int or (int, int)
        ``K`` for K x K, or ``(kh, kw)``; each >= 1.

    Notes
    -----
    He (Kaiming) uniform initialisation for a one-channel input: each weight is
    uniform in ``[-b, b)`` with ``b = sqrt(6 / fan_in)``, ``fan_in = kh * kw``
    (He et al. 2015, Keras ``he_uniform``; PyTorch's default ``Conv2d`` init has
    the same form with the smaller ``b = 1 / sqrt(fan_in)``). The values are
    drawn in float64 by ``numpy.random.Generator(PCG64(seed)).uniform(-b, b,
    (n, kh, kw))``, whose stream numpy keeps stable across versions and
    platforms, and then cast to float32.
    """
    n = _positive_int(n, "n")
    if isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) != 2:
            raise ParameterError(f"`size` must be K or (kh, kw) (got {size!r})")
        kh, kw = (_positive_int(s, "size") for s in size)
    else:
        kh = kw = _positive_int(size, "size")
    if max(kh, kw) > fam.MAX_SIDE:
        raise ParameterError(f"`size` must be <= {fam.MAX_SIDE} (got {kh}x{kw})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"`seed` must be a whole number >= 0 (got {seed!r})")
    bound = math.sqrt(6.0 / (kh * kw))
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    draws = rng.uniform(-bound, bound, size=(n, kh, kw))
    return [
        Kernel(f"random-{i + 1}", draws[i], f"random {kh}x{kw}, He-uniform, seed {seed}",
               "numpy PCG64", "")
        for i in range(n)
    ]
