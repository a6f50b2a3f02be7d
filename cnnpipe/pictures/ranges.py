"""Which range a map is drawn on: the display rule (numpy only).

:func:`choose_mapping` picks one map's mapping (its range ``lo..hi``, colour
map, levels and the count of clipped cells); :func:`detector_mappings` the
mappings of one detector's conv, ReLU and pooled maps, so that ReLU and pool
share a range. The rules are in :mod:`cnnpipe.pictures.mapping`'s notes and
docs/outputs.md ("How values become pixels"); turning values into pixels and
back is :mod:`cnnpipe.pictures.mapping`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.pictures.colormaps import (
    DIVERGING,
    DIVERGING_DEFAULT,
    SEQUENTIAL_DEFAULT,
    check_cmap_name,
)

__all__ = ["SCALES", "DEFAULT_SCALE", "STAGES", "choose_mapping", "detector_mappings",
           "parse_scale", "robust_extent"]

STAGES = ("input", "conv", "relu", "pool")
GRAY_FORMULA = "value = lo + pixel / levels * (hi - lo)"
CMAP_FORMULA = (
    "value = lo + index / levels * (hi - lo), where index is the position (0..255) "
    "of the pixel's colour in the colour map's 256-entry table"
)
NEEDS_GRAY_CMAP = "--bit-depth 16 needs --cmap gray (colour PNGs have 8 bits per channel)"
NEEDS_GRAY_COLOR = "--bit-depth 16 needs --color gray (colour PNGs have 8 bits per channel)"
RGB_FORMULA = "for each of R, G, B: value = lo + pixel / levels * (hi - lo)"
CLIP_NOTE = (
    "; values below lo are drawn as lo and values above hi as hi (their counts are in "
    "`clipped`), so the end levels mean 'at or beyond'"
)
SCALES = ("robust", "map", "detector", "fixed:LO,HI")
DEFAULT_SCALE = "robust"
ROBUST_PERCENTILE = 99.0
ROBUST_FACTOR = 1.25  # the 99th percentile is drawn at 1 / 1.25 = 80% of the way
ROBUST_SAMPLE = 1_000_000  # cells looked at to find the percentile of a huge map
#: pooling modes whose output lies within the range of their input (sum and l2 do not)
RANGE_KEEPING_POOLS = frozenset({"max", "min", "mean", "avg"})


def parse_scale(scale: str) -> tuple[str, tuple[float, float] | None]:
    """Parse a ``--scale`` value.

    Parameters
    ----------
    scale : str
        ``"robust"`` (each map its own outlier-proof range, the default), ``"map"``
        (each map its full range, faithful), ``"detector"`` (one full range shared
        by the conv/relu/pool maps of a detector) or ``"fixed:LO,HI"``.

    Returns
    -------
    (kind, range)
        range is ``(lo, hi)`` for "fixed", else None.

    Examples
    --------
    >>> parse_scale("fixed:-1,1")
    ('fixed', (-1.0, 1.0))
    """
    if not isinstance(scale, str):
        raise ParameterError(f"`--scale` must be {'|'.join(SCALES)} (got {scale!r})")
    text = scale.strip().lower()
    if text in ("robust", "map", "detector"):
        return text, None
    if text.startswith("fixed:"):
        parts = text[len("fixed:") :].split(",")
        try:
            lo, hi = (float(p) for p in parts)
        except ValueError:
            raise ParameterError(
                f"`--scale fixed:LO,HI` needs two numbers, e.g. fixed:-1,1 (got {scale!r})"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo >= hi:
            raise ParameterError(
                f"`--scale fixed:LO,HI` needs finite LO < HI, e.g. fixed:-1,1 (got {scale!r})"
            )
        return "fixed", (lo, hi)
    raise ParameterError(f"`--scale` must be {'|'.join(SCALES)} (got {scale!r})")


def robust_extent(array, bounds: tuple[float, float] | None = None) -> float:
    """``min(max|v|, 1.25 * P99(|v|))``: the extent of a map's robust range (module notes).

    The percentile is of the non-zero magnitudes when 99% of the map is zero; a
    map of more than a million cells is sampled on a regular grid. 0.0 for an
    all-zero (or all non-finite) map. ``bounds``: the min and max of a map whose
    values are all finite, when known (:func:`summarize`): saves two passes.

    Examples
    --------
    >>> spikes = np.full((20, 20), 0.5); spikes[0, 0] = 40.0
    >>> robust_extent(spikes)
    0.625
    >>> robust_extent(np.array([[-1.0, 3.0]]))
    3.0
    """
    array = np.asarray(array)
    step = max(1, math.isqrt(max(1, array.size // ROBUST_SAMPLE)))
    sample = np.abs(array[..., ::step, ::step] if array.ndim >= 2 else array).ravel()
    if bounds is None and not np.isfinite(sample.max(initial=0.0)):
        sample = sample[np.isfinite(sample)]
    if sample.size == 0:
        return 0.0
    if bounds is None and step > 1:
        bounds = finite_min_max(array)
    top = max(abs(bounds[0]), abs(bounds[1])) if bounds else float(sample.max())
    cut = _percentile(sample, ROBUST_PERCENTILE)
    if cut == 0:
        nonzero = sample[sample > 0]
        cut = _percentile(nonzero, ROBUST_PERCENTILE) if nonzero.size else 0.0
    return min(top, ROBUST_FACTOR * cut)


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` (linear), with one partial sort in the values' dtype."""
    index = q / 100 * (values.size - 1)
    below = int(math.floor(index))
    above = min(below + 1, values.size - 1)
    # One selection, then the least value above it: numpy's partition with two kth
    # indices is ~20x slower than with one on a million values.
    part = np.partition(values, below)
    lo = float(part[below])
    hi = float(part[below + 1 :].min()) if above != below else lo
    return lo + (hi - lo) * (index - below)


def finite_min_max(array: np.ndarray) -> tuple[float, float] | None:
    """Min and max of the finite values, None when there are none; a mask only when
    the map holds a non-finite value."""
    # A float array's min and max are exact in its own dtype: no float64 copy needed.
    if array.dtype.kind != "f":
        array = array.astype(np.float64)
    lo, hi = float(array.min()), float(array.max())
    if np.isfinite(lo) and np.isfinite(hi):  # the common case: no mask, no copy
        return lo, hi
    finite = array[np.isfinite(array)]
    if finite.size == 0:
        return None
    return float(finite.min()), float(finite.max())


@dataclass(frozen=True)
class Summary:
    """What one pass over a map gives (:func:`summarize`)."""

    bounds: tuple[float, float] | None  # min and max of the finite values; None: none
    mean: float  # of every value, accumulated in float64 (NaN/inf when there are some)
    zeros: int  # cells equal to zero
    finite: bool  # every cell finite


def summarize(array: np.ndarray) -> Summary:
    """Min, max, mean and zero count of a map in one pass, a cache-sized block at a time.

    Each separate numpy reduction would read the whole map again from memory;
    here every block is read once and reduced four times while it is in cache.
    """
    flat = np.ascontiguousarray(array).reshape(-1)
    if flat.size == 0:
        return Summary(None, math.nan, 0, False)
    if flat.dtype.kind != "f":
        flat = flat.astype(np.float64)
    lows, highs, sums, zeros = [], [], [], 0
    with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: said by `finite`
        for start in range(0, flat.size, SCAN_BLOCK):
            part = flat[start : start + SCAN_BLOCK]
            lows.append(part.min(initial=math.inf))
            highs.append(part.max(initial=-math.inf))
            sums.append(np.add.reduce(part, dtype=np.float64))
            zeros += int(np.count_nonzero(part == 0))  # 3x faster than counting floats
        # numpy's reductions, not min(): a NaN must win whatever its block
        lo, hi = float(np.min(lows, initial=math.inf)), float(np.max(highs, initial=-math.inf))
        finite = math.isfinite(lo) and math.isfinite(hi)
        if not finite:  # rare (the run refuses such maps): the plain, slower way
            mean = float(flat.mean(dtype=np.float64))
            return Summary(finite_min_max(flat), mean, zeros, False)
    return Summary((lo, hi), math.fsum(sums) / flat.size, zeros, True)


#: Values reduced at once by :func:`summarize` (256 KiB of float32: stays in L2).
SCAN_BLOCK = 1 << 16


def _rule_range(lo: float, hi: float) -> tuple[float, float]:
    """The symmetric / from-zero range for data spanning [lo, hi]."""
    if lo < 0:
        m = max(abs(lo), abs(hi))
        return -m, m
    return 0.0, max(hi, 0.0)


def _non_degenerate(lo: float, hi: float) -> tuple[float, float]:
    # hi - lo must be a positive, finite float64 and survive float32 storage of values.
    if not (hi - lo > 0 and math.isfinite(hi - lo)):
        hi = lo + 1.0
    return lo, hi


def choose_mapping(array, *, stage: str, scale: str = DEFAULT_SCALE, cmap: str = "auto",
                   value_range: tuple[float, float] | None = None, bit_depth: int = 8,
                   extent: float | None = None,
                   bounds: tuple[float, float] | None = None) -> dict:
    """Choose how the values of a map become pixels.

    Parameters
    ----------
    array : array_like
        The map, (H, W), or (3, H, W) for ``--color rgb`` (one detector per channel).
    stage : {"input", "conv", "relu", "pool"}
    scale : str
        "robust" (default), "map", "detector" (``value_range`` is then the range
        shared by one detector's maps) or "fixed:LO,HI". The input is always on
        its own full range (0..1 for images).
    cmap : str
        A colour map or "auto" (gray for the input and 16-bit, `vik` for signed
        maps, `viridis` for non-negative ones); (3, H, W) maps use their channels.
    value_range : (lo, hi), optional
        The shared data range for ``scale="detector"``.
    bit_depth : {8, 16}
        16 gives 65535 levels and needs ``cmap="gray"``.
    extent : float, optional
        With "robust": this extent ``M`` instead of the map's own
        (:func:`detector_mappings` gives a pooled map its source's).
    bounds : (min, max), optional
        The map's min and max when every value is finite and they are already
        known (:func:`summarize`): the map is then read fewer times.

    Returns
    -------
    dict
        JSON-able: kind, lo, hi, levels, cmap, scale, formula, clipped
        (``{"below": n, "above": n}``: cells drawn with an end colour) and
        channels="rgb" for (3, H, W) maps.

    Examples
    --------
    >>> m = choose_mapping(np.array([[-2.0, 1.0]]), stage="conv")
    >>> m["lo"], m["hi"], m["cmap"]
    (-2.0, 2.0, 'vik')
    """
    _check_arguments(stage, bit_depth, cmap)
    kind, fixed = parse_scale(scale)
    array = np.asarray(array)
    rgb = _is_rgb(array)
    if kind == "fixed":
        lo, hi = fixed
    else:
        kind, lo, hi = _data_range(array, stage, kind, value_range, extent, cmap, bounds)
    lo, hi = _non_degenerate(float(lo), float(hi))
    cmap = _colour_map(cmap, stage, lo, bit_depth, rgb)
    mapping = {"kind": "linear", "lo": lo, "hi": hi, "levels": 65535 if bit_depth == 16 else 255,
               "cmap": cmap, "scale": kind,
               "formula": RGB_FORMULA if rgb else GRAY_FORMULA if cmap == "gray" else CMAP_FORMULA,
               "clipped": _clipped(array, lo, hi, bounds)}
    if mapping["clipped"]["below"] or mapping["clipped"]["above"]:
        mapping["formula"] += CLIP_NOTE
    if rgb:
        mapping["channels"] = "rgb"
    return mapping


def _check_arguments(stage: str, bit_depth: int, cmap: str) -> None:
    if stage not in STAGES:
        raise ParameterError(f"`stage` must be one of {', '.join(STAGES)} (got {stage!r})")
    if bit_depth not in (8, 16):
        raise ParameterError(f"`--bit-depth` must be 8 or 16 (got {bit_depth!r})")
    check_cmap_name(cmap)


def _data_range(array: np.ndarray, stage: str, kind: str, value_range, extent, cmap: str,
                bounds=None):
    """``(kind, lo, hi)`` for the "robust", "map" and "detector" scales (module rules).

    The input is always on its full range (0..1 for an image); ``kind`` comes
    back as the scale actually used ("map" for the input). With a diverging
    ``cmap`` a map's range is symmetric, so zero is the middle colour.
    """
    if kind == "detector" and stage != "input":
        if value_range is None:
            raise ParameterError(
                "`--scale detector` needs the detector's value range (value_range=(lo, hi))"
            )
        data = (float(value_range[0]), float(value_range[1]))
        if not all(math.isfinite(v) for v in data) or data[0] > data[1]:
            raise ParameterError(
                f"`value_range` must be finite (lo, hi) with lo <= hi (got {value_range!r})"
            )
    else:
        kind = "map" if stage == "input" or kind != "robust" else kind
        data = (bounds if bounds is not None else finite_min_max(array)) or (0.0, 0.0)
    if stage == "input" and data[0] >= 0 and data[1] <= 1:
        return kind, 0.0, 1.0
    lo, hi = _rule_range(*data)
    if kind == "robust":
        m = robust_extent(array, bounds) if extent is None else float(extent)
        if m > 0 and math.isfinite(m):
            lo, hi = (-m, m) if lo < 0 else (0.0, m)
    if cmap in DIVERGING and lo == 0:
        lo = -hi  # a diverging map's middle colour means zero, whatever the data
    return kind, lo, hi


def _colour_map(cmap: str, stage: str, lo: float, bit_depth: int, rgb: bool) -> str:
    """The colour map drawn: "auto" resolved; gray for the input, RGB maps and 16 bits."""
    if cmap == "auto":
        if stage == "input" or bit_depth == 16:  # 16-bit PNGs are gray only
            cmap = "gray"
        elif lo < 0:
            cmap = DIVERGING_DEFAULT
        else:
            cmap = SEQUENTIAL_DEFAULT
    if rgb or stage == "input":  # the input is shown as the pipeline saw it: grey (or RGB)
        cmap = "gray"
    if bit_depth == 16 and cmap != "gray":
        raise ParameterError(NEEDS_GRAY_CMAP)
    if bit_depth == 16 and rgb:
        raise ParameterError(NEEDS_GRAY_COLOR)
    return cmap


def _clipped(array: np.ndarray, lo: float, hi: float, bounds=None) -> dict:
    """How many cells lie beyond [lo, hi] (infinities included, NaN not).

    With the map's ``bounds`` (all values finite), an end the values do not
    pass is not counted at all; the others are counted a block at a time.
    """
    below = bounds is None or bounds[0] < lo
    above = bounds is None or bounds[1] > hi
    counts = {"below": 0, "above": 0}
    if not (below or above):
        return counts
    flat = np.ascontiguousarray(array).reshape(-1)
    for start in range(0, flat.size, SCAN_BLOCK):
        part = flat[start : start + SCAN_BLOCK]
        if below:
            counts["below"] += int(np.count_nonzero(part < lo))
        if above:
            counts["above"] += int(np.count_nonzero(part > hi))
    return counts


def detector_mappings(
    items,
    *,
    scale: str = DEFAULT_SCALE,
    cmap: str = "auto",
    bit_depth: int = 8,
    pool: str = "max",
    bounds=None,
) -> list[dict]:
    """The mappings of one detector's maps, ``[(stage, array), ...]`` in pipeline order.

    With ``scale="robust"`` each map gets its own robust range, except the pooled
    map: after max, min or mean pooling (whose values lie within those of the
    map they pool) it gets the extent of that map (ReLU, or conv with no
    activation), so a pooled cell has the colour of the cell that won it. With
    ``"detector"`` every stage shares the detector's full range; ``"fixed:LO,HI"``
    is the same range for all; ``"map"`` each map its full range. ``bounds``:
    each map's (min, max) when all its values are finite and they are known
    (:func:`summarize`), or None.

    Examples
    --------
    >>> relu_map = np.array([[0.0, 1.0], [2.0, 8.0]])
    >>> ms = detector_mappings([("relu", relu_map), ("pool", np.array([[8.0]]))])
    >>> [m["hi"] for m in ms]
    [8.0, 8.0]
    """
    kind, fixed = parse_scale(scale)
    items = [(stage, np.asarray(array)) for stage, array in items]
    bounds = list(bounds) if bounds is not None else [None] * len(items)
    shared = None
    if kind == "detector":
        ranges = [b if b is not None else finite_min_max(a)
                  for (_, a), b in zip(items, bounds, strict=True)]
        ranges = [r for r in ranges if r is not None] or [(0.0, 0.0)]
        shared = (min(r[0] for r in ranges), max(r[1] for r in ranges))
    elif kind == "fixed":
        shared = fixed
    result: list[dict] = []
    previous = None  # (stage, mapping) of the map the next stage works on
    for (stage, array), known in zip(items, bounds, strict=True):
        extent = None
        if kind == "robust" and stage == "pool" and previous is not None \
                and pool in RANGE_KEEPING_POOLS:
            extent = max(abs(previous["lo"]), abs(previous["hi"]))
        m = choose_mapping(array, stage=stage, scale=scale, cmap=cmap, value_range=shared,
                           bit_depth=bit_depth, extent=extent, bounds=known)
        result.append(m)
        previous = m
    return result


def _is_rgb(array: np.ndarray) -> bool:
    return array.ndim == 3 and array.shape[0] == 3
