"""Every way to spell a detector: names, inline matrices, files, families (numpy only).

The forms are listed in :mod:`cnnpipe.kernels`; :func:`kernel` reads one spec,
:func:`parse_kernel_specs` several (naming unnamed ones and keeping names unique).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
import unicodedata
from collections.abc import Sequence

import numpy as np

from cnnpipe.errors import KernelError
from cnnpipe.kernels import families as fam
from cnnpipe.kernels.library import BUILTIN, SOBEL_X, SOBEL_Y, Kernel, unique_names

#: A kernel file bigger than this is refused before it is read.
MAX_FILE_BYTES = 16 * 1024 * 1024

MATRIX_SUFFIXES = (".csv", ".txt", ".npy", ".mat")


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


def _from_file(path: str, spec: str) -> list[Kernel]:
    """One kernel from a file; K kernels (``STEM-1`` .. ``STEM-K``) from a (K, C, kh, kw) .npy."""
    suffix = os.path.splitext(path)[1].lower()
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise KernelError(f"kernel file '{path}' not found; check the path") from None
    except OSError as exc:
        raise KernelError(f"kernel file '{path}' cannot be read ({exc.strerror})") from None
    if os.path.isdir(path):
        raise KernelError(f"kernel file '{path}' is a directory; give a {suffix} file")
    from cnnpipe.budget import regular_file_problem

    problem = regular_file_problem(path)  # a FIFO would block the open below
    if problem is not None:
        raise KernelError(f"kernel file '{path}' {problem}; give a {suffix} file")
    if size > MAX_FILE_BYTES:
        raise KernelError(f"kernel file '{path}' is {size} bytes; the limit is "
                          f"{MAX_FILE_BYTES} bytes")
    name = slugify(os.path.splitext(os.path.basename(path))[0]) or "kernel"
    description = "from " + os.path.basename(path)
    try:
        if suffix == ".npy":
            weights = fam.load_npy(path, ndims=(2, 3, 4), expected="2-D (kh, kw), 3-D "
                                   "(C, kh, kw) or a 4-D (K, C, kh, kw) bank")
        elif suffix == ".mat":
            weights, detail = fam.load_mat(path)
            description += f" ({detail})"
        else:
            text = fam.strip_comments(fam.read_text(path))
            weights = fam.rows_to_array(fam.split_file_rows(text, f"kernel file '{path}'"),
                                       f"kernel file '{path}'")
    except PermissionError:
        raise KernelError(f"kernel file '{path}' cannot be read (permission denied)") from None
    if weights.ndim == 4:
        return [Kernel(f"{name}-{i + 1}", w[0] if w.shape[0] == 1 else w,
                       f"{description}[{i}], {_bank_shape(w)}", str(path), spec)
                for i, w in enumerate(weights)]
    return [Kernel(name, weights, description, str(path), spec)]


def _bank_shape(w: np.ndarray) -> str:
    """How a bank's detector is described: 'RGB 7x7' for 3 channels, else 'C x kh x kw'."""
    channels, kh, kw = w.shape
    size = f"{kw}\u00d7{kh} (W\u00d7H)"
    return f"RGB {size}" if channels == 3 else f"{channels} channels, {size}"


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


def _named(text: str, spec: str) -> list[Kernel] | None:
    """``NAME=SPEC`` read into a kernel named NAME (a bank: NAME-1 .. NAME-K); None when
    ``text`` is no such form."""
    if "=" not in text:
        return None
    name_part, rest = text.split("=", 1)
    if not (_NAME_PART.match(name_part) and name_part.strip()):
        return None
    name = slugify(name_part)
    if not name:
        raise KernelError(f"kernel name '{name_part.strip()}' in '{spec}' has no "
                          "letters or digits a file name can keep (a-z, 0-9); use a-z, "
                          "0-9 and -")
    inner, _ = _parse(rest)
    if len(inner) > 1:  # a bank from a 4-D .npy: NAME-1 .. NAME-K
        return [Kernel(f"{name}-{i + 1}", k.weights, k.description, k.source, spec)
                for i, k in enumerate(inner)]
    return [Kernel(name, inner[0].weights, inner[0].description, inner[0].source, spec)]


def _family_name(word: str, spec: str) -> str:
    family = word.lower()
    if family not in fam.FAMILIES:
        hits = difflib.get_close_matches(family, list(fam.FAMILIES), n=1)
        hint = f"did you mean '{hits[0]}:'? " if hits else ""
        forms = ", ".join(form for form, _ in fam.FAMILIES.values())
        raise KernelError(f"unknown kernel family '{family}' in '{spec}'; {hint}"
                          f"families: {forms}")
    return family


def _parse(spec: str) -> tuple[list[Kernel], bool]:
    """One spec -> (kernels, is_unnamed_inline): one kernel, or K from a (K, C, kh, kw) .npy."""
    if not isinstance(spec, str):
        raise KernelError(f"kernel spec must be text (got {type(spec).__name__})")
    text = spec.strip()
    if not text:
        raise KernelError("empty kernel spec; give a built-in name (see `cnnpipe kernels`), "
                          'a matrix like "1,0,-1;2,0,-2;1,0,-1", or a file')
    named = _named(text, spec)
    if named is not None:
        return named, False
    if text.lower().endswith(MATRIX_SUFFIXES):
        return _from_file(text, spec), False
    kernel_, unnamed = _parse_one(text, spec)
    return [kernel_], unnamed


def _parse_one(text: str, spec: str) -> tuple[Kernel, bool]:
    """ImageMagick style, a family, a built-in or an inline matrix -> (kernel, unnamed)."""
    match = _IMAGEMAGICK.match(text)
    if match:
        return Kernel("k1", _imagemagick(match, spec), "ImageMagick-style matrix", "", spec), True
    match = _FAMILY.match(text)
    if match:
        return _family(_family_name(match.group(1), spec), match.group(2), spec), False
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
    kernels = _parse(spec)[0]
    if len(kernels) > 1:
        raise KernelError(f"kernel spec '{spec}' holds a bank of {len(kernels)} detectors; "
                          "read it with parse_kernel_specs")
    return kernels[0]


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
        found, unnamed = _parse(spec)
        if unnamed:
            inline_count += 1
            found = [dataclasses.replace(found[0], name=f"k{inline_count}")]
        result += found
    return unique_names(result)
