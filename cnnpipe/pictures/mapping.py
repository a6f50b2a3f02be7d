"""Value -> pixel mappings: how a float feature map becomes a PNG, and back (numpy only).

A mapping is a JSON-able dict, recorded in the manifest and in each PNG's text
chunk, so that pixels can be turned back into values::

    {"kind": "linear", "lo": -2.0, "hi": 2.0, "levels": 255, "cmap": "vik",
     "scale": "map", "formula": "value = lo + index / levels * (hi - lo), ..."}

Rules (docs/outputs.md, "How values become pixels"):

- the extent ``M`` of a map: with ``scale="robust"`` (the default)
  ``M = min(max|v|, 1.25 * P99(|v|))``, where ``P99(|v|)`` is the 99th
  percentile of the magnitudes (of the non-zero ones when 99% of the map is
  zero); so a few outliers cannot wash a map out, and the 99th percentile is
  drawn at least 80% of the way from the zero colour to the end colour. Cells
  beyond the range are drawn with the end colours and counted in the
  mapping's ``clipped`` (``{"below": n, "above": n}``). ``scale="map"`` is the
  faithful full range, ``M = max|v|``, nothing clipped;
- a map (or given range) with negative values gets a symmetric range
  ``lo = -M, hi = +M``, so zero is the middle level and negatives and
  positives stay distinguishable; default colour map diverging (``vik``: zero
  is light grey, so the few strong edges of a photo stand out);
- a non-negative map gets ``lo = 0, hi = M``; default colour map viridis
  (with a diverging ``--cmap`` it gets ``-M..M`` too, so zero is always the
  neutral middle colour);
- within one detector, :func:`detector_mappings` draws the pooled map on the
  range of the map it pooled (ReLU, or conv with no activation) when pooling
  picks or averages values (max, min, mean), so a pooled cell has the colour
  of the cell it came from and pooling never looks as if it adds signal;
- the input stage: ``lo = 0, hi = 1`` for images in [0, 1], a matrix's own range
  otherwise; default gray;
- a degenerate range (all-zero map) becomes ``hi = lo + 1``;
- NaN values become pixel 0 (they cannot be told from ``lo`` afterwards);
  infinities are ignored when choosing the range and clip to the ends.
"""

from __future__ import annotations

import json
import math

import numpy as np

from cnnpipe.errors import InputError, ParameterError
from cnnpipe.pictures.colormaps import CMAP_NAMES, check_cmap_name, lut, lut_index
from cnnpipe.pictures.ranges import (  # noqa: F401  (public names, re-exported)
    CLIP_NOTE,
    CMAP_FORMULA,
    DEFAULT_SCALE,
    GRAY_FORMULA,
    NEEDS_GRAY_CMAP,
    NEEDS_GRAY_COLOR,
    RANGE_KEEPING_POOLS,
    RGB_FORMULA,
    ROBUST_FACTOR,
    ROBUST_PERCENTILE,
    ROBUST_SAMPLE,
    SCALES,
    STAGES,
    _is_rgb,
    choose_mapping,
    detector_mappings,
    parse_scale,
    robust_extent,
)

__all__ = [
    "CMAP_NAMES",
    "STAGES",
    "check_cmap",
    "PNG_TEXT_KEY",
    "choose_mapping",
    "detector_mappings",
    "robust_extent",
    "parse_scale",
    "to_pixels",
    "from_pixels",
    "apply_mapping",
    "invert_mapping",
    "png_text",
    "mapping_from_png_text",
    "values_from_png",
    "clipped_mask",
]

PNG_TEXT_KEY = "cnnpipe:mapping"

# `--cmap` validation for the CLI (raises ParameterError, exit 2).
check_cmap = check_cmap_name


def _check_mapping(mapping: dict) -> tuple[float, float, int, str]:
    try:
        lo, hi = float(mapping["lo"]), float(mapping["hi"])
        levels, cmap = int(mapping["levels"]), str(mapping["cmap"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ParameterError(f"mapping needs numeric lo, hi, levels and a cmap ({exc})") from None
    if levels not in (255, 65535):
        raise ParameterError(f"mapping `levels` must be 255 or 65535 (got {levels})")
    if not (math.isfinite(lo) and math.isfinite(hi) and hi > lo):
        raise ParameterError(f"mapping needs finite lo < hi (got lo={lo}, hi={hi})")
    if levels == 65535 and cmap != "gray":
        raise ParameterError(NEEDS_GRAY_CMAP)
    if check_cmap_name(cmap) == "auto":
        raise ParameterError("mapping `cmap` must be a colour map name, not 'auto'")
    return lo, hi, levels, cmap


def _levels_of(array: np.ndarray, lo: float, hi: float, levels: int) -> np.ndarray:
    """round((v - lo) / (hi - lo) * levels), clipped; NaN -> 0. uint8 or uint16."""
    # float64 so that the rounding is exact to half a level even for 65535 levels,
    # one cache-sized block at a time: a map's float64 copy would be twice its size,
    # and five passes over it cost more than the arithmetic.
    array = np.ascontiguousarray(array)
    out = np.empty(array.shape, dtype=np.uint8 if levels == 255 else np.uint16)
    source, target = array.reshape(-1), out.reshape(-1)
    factor = levels / (hi - lo)
    buffer = np.empty(min(source.size, LEVELS_BLOCK), dtype=np.float64)
    for start in range(0, source.size, LEVELS_BLOCK):
        part = source[start : start + LEVELS_BLOCK]
        scaled = buffer[: part.size]
        scaled[...] = part
        scaled -= lo
        scaled *= factor
        np.rint(scaled, out=scaled)
        np.clip(scaled, 0, levels, out=scaled)  # +-inf land on the ends
        if np.isnan(scaled.min()):  # NaN propagates through min: only then pay for a mask
            scaled[np.isnan(scaled)] = 0.0
        target[start : start + part.size] = scaled
    return out


#: Values mapped at once by :func:`_levels_of` (512 KiB of float64: stays in L2).
LEVELS_BLOCK = 1 << 16


def to_pixels(array, mapping: dict) -> np.ndarray:
    """Turn a float map into PNG pixels with `mapping`.

    Parameters
    ----------
    array : array_like
        (H, W) float map, or (3, H, W) (one detector on each of R, G, B); a
        one-channel (1, H, W) map is treated as (H, W).
    mapping : dict
        From :func:`choose_mapping`.

    Returns
    -------
    ndarray
        (H, W) uint8 for gray 8-bit, (H, W) uint16 for 16-bit gray, (H, W, 3) uint8
        for a colour map or a (3, H, W) input (whose channels are each mapped with
        the same lo/hi; the colour map is then not used).

    Notes
    -----
    ``pixel = round((v - lo) / (hi - lo) * levels)``, clipped to [0, levels];
    NaN becomes 0. For a colour map the same number is the index into the
    256-entry colour table.

    Examples
    --------
    >>> m = {"lo": -1.0, "hi": 1.0, "levels": 255, "cmap": "gray"}
    >>> to_pixels(np.array([[-1.0, 0.0, 1.0]]), m).tolist()
    [[0, 128, 255]]
    """
    lo, hi, levels, cmap = _check_mapping(mapping)
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] == 1:  # one channel (a matrix under --color rgb)
        array = array[0]
    if _is_rgb(array):
        if levels != 255:
            raise ParameterError(NEEDS_GRAY_COLOR)
        return np.ascontiguousarray(np.moveaxis(_levels_of(array, lo, hi, levels), 0, -1))
    if array.ndim != 2:
        raise ParameterError(f"a map must be (H, W) or (3, H, W) (got shape {array.shape})")
    index = _levels_of(array, lo, hi, levels)
    if levels == 65535 or cmap == "gray":
        return index
    return np.take(lut(cmap), index, axis=0)


def to_png_pixels(array, mapping: dict) -> tuple[np.ndarray, np.ndarray | None]:
    """Pixels for a PNG file, and its palette: ``(pixels, palette)``.

    A colour-mapped map is stored as a palette PNG: the (H, W) uint8 colour-table
    indices plus the 256-entry table. It shows exactly the colours of
    :func:`to_pixels`, encodes ~5x faster and is ~40% smaller than RGB, and its
    pixels are the indices themselves, so turning them back into values is exact
    to half a level. Gray, 16-bit and ``--color rgb`` maps have no palette.
    """
    lo, hi, levels, cmap = _check_mapping(mapping)
    array = np.asarray(array)
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.ndim == 2 and levels == 255 and cmap != "gray":
        return _levels_of(array, lo, hi, levels), lut(cmap)
    return to_pixels(array, mapping), None


def palette_to_rgb(pixels: np.ndarray, palette: np.ndarray | None) -> np.ndarray:
    """The colours a (pixels, palette) pair shows: the pixels themselves without a palette."""
    return pixels if palette is None else np.take(palette, pixels, axis=0)


def _index_of(pixels, mapping: dict, cmap: str) -> np.ndarray:
    pixels = np.asarray(pixels)
    if pixels.ndim == 3 and pixels.shape[-1] == 3:
        if mapping.get("channels") == "rgb" or cmap == "gray":
            return np.moveaxis(pixels, -1, 0).astype(np.float64)
        return lut_index(pixels, cmap).astype(np.float64)
    if pixels.ndim == 2:
        return pixels.astype(np.float64)
    raise ParameterError(f"pixels must be (H, W) or (H, W, 3) (got shape {pixels.shape})")


def clipped_mask(pixels, mapping: dict) -> np.ndarray:
    """True where a pixel is at an end level that stands for clipped values.

    When the mapping's ``clipped`` counts say that cells lay below ``lo`` (above
    ``hi``), the pixels at level 0 (``levels``) mean "at or beyond lo (hi)": their
    values cannot be recovered. All False for a mapping that clipped nothing.
    """
    _, _, levels, cmap = _check_mapping(mapping)
    index = _index_of(pixels, mapping, cmap)
    clipped = mapping.get("clipped") or {}
    mask = np.zeros(index.shape, dtype=bool)
    if clipped.get("below"):
        mask |= index <= 0.5
    if clipped.get("above"):
        mask |= index >= levels - 0.5
    return mask


def from_pixels(pixels, mapping: dict) -> np.ndarray:
    """Turn PNG pixels back into float32 values with `mapping` (inverse of :func:`to_pixels`).

    Gray: the linear inverse, exact to within half a level, (hi - lo) / levels / 2.
    Colour map: each colour's nearest colour-table entry gives the index, then the
    linear inverse. (3, H, W) maps come back as (3, H, W). NaN cannot be recovered.

    Examples
    --------
    >>> m = {"lo": -1.0, "hi": 1.0, "levels": 255, "cmap": "gray"}
    >>> from_pixels(np.array([[0, 255]], dtype=np.uint8), m).tolist()
    [[-1.0, 1.0]]
    """
    lo, hi, levels, cmap = _check_mapping(mapping)
    index = _index_of(pixels, mapping, cmap)
    return (lo + index / levels * (hi - lo)).astype(np.float32)


# Names used in docs/INTERNALS.md.
apply_mapping = to_pixels
invert_mapping = from_pixels


def png_text(mapping: dict) -> dict[str, str]:
    """The PNG text chunk that records `mapping`: ``{"cnnpipe:mapping": JSON}``."""
    _check_mapping(mapping)
    return {PNG_TEXT_KEY: json.dumps(mapping, sort_keys=True, allow_nan=False)}


def mapping_from_png_text(text: dict) -> dict:
    """Read the mapping back from a PNG's text chunks (e.g. ``Image.open(p).text``).

    Raises InputError when the PNG has no cnnpipe mapping or it is unreadable.
    """
    raw = (text or {}).get(PNG_TEXT_KEY)
    if raw is None:
        raise InputError(
            f"PNG has no {PNG_TEXT_KEY!r} text chunk: it was not written by cnnpipe, "
            "so its pixels cannot be turned back into values"
        )
    try:
        mapping = json.loads(raw)
        if not isinstance(mapping, dict):
            raise ValueError("not a JSON object")
        _check_mapping(mapping)
    except (ValueError, ParameterError) as exc:
        raise InputError(
            f"PNG text chunk {PNG_TEXT_KEY!r} is not a valid mapping ({exc})"
        ) from None
    return mapping


def values_from_png(path, *, masked: bool = False) -> np.ndarray:
    """Turn any PNG written by cnnpipe back into float32 values, using its text chunk.

    Works for gray (8 or 16 bit), colour-map and ``--color rgb`` PNGs: the mapping
    stored under ``cnnpipe:mapping`` says how (see :func:`from_pixels`).

    Parameters
    ----------
    path : str or Path
    masked : bool
        Return a ``numpy.ma.MaskedArray`` whose mask marks the clipped cells
        (see :func:`clipped_mask`): their value is only known to be at or
        beyond the end of the range.

    Returns
    -------
    ndarray
        (H, W), or (3, H, W) for a ``--color rgb`` map.
    """
    # Deferred: this module stays numpy-only at import. io's PNG opener carries the
    # size-bomb and truncation checks, so a hostile PNG fails with one clear line.
    from cnnpipe import io

    fp, im = io.open_png(path)
    with fp:
        mapping = mapping_from_png_text(im.text)
        if im.mode in ("I;16", "I;16B", "I;16L", "I"):
            pixels = np.asarray(im).astype(np.uint16)
        elif im.mode in ("L", "RGB", "P"):  # "P": the pixels are colour-table indices
            pixels = np.asarray(im)
        else:
            raise InputError(f"PNG mode {im.mode} was not written by cnnpipe; cannot decode it")
    values = from_pixels(pixels, mapping)
    if masked:
        return np.ma.masked_array(values, mask=clipped_mask(pixels, mapping))
    return values
