"""The invariance experiment: does pooling make the maps change less when the input moves?

The input is cut into a reference window and, for each shift ``s``, a window of
the same size ``s`` pixels further left (or up), so that its content sits ``s``
pixels right of (below) where it sits in the reference. No wrap-around, no
padding invented: both are real pixels of the image. Optionally the reference is
also rotated or scaled slightly (bilinear, about its centre, edges replicated).

Both go through the same network; every stage's map of the moved input is then
compared with the reference's map (see :func:`compare`):

``change``
    ``||b - a|| / ||a||`` at the same positions: how different the next layer
    would find the map. 0 means unchanged; 1 means the difference is as large
    as the map itself (two unrelated maps of equal size give about ``sqrt(2)``
    only when they are uncorrelated; real photos give other values). This is
    the invariance measure.
``corr``
    Pearson correlation at the same positions.
``aligned``
    Pearson correlation on the overlap after undoing the known shift, rounded
    (half up) to whole cells of that stage: ``s / stride``, where ``stride`` is
    the product of every conv and pooling stride up to the stage. 1 means the
    map simply moved along (equivariance). Not defined for rotation or scaling.
``mean_change``
    ``|mean(b) - mean(a)| / |mean(a)|``: a shift-agnostic, global measure (what a
    global average pool at the end of a network would see).

numpy only.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from cnnpipe.errors import InputError, ParameterError
from cnnpipe.network import Network, run_network, stage_stride

AXES = ("x", "y", "xy")


@dataclass
class Variant:
    """One moved copy of the reference: a shift in pixels ``(dy, dx)`` or a warp."""

    label: str
    kind: str  # "shift", "rotate" or "scale"
    image: np.ndarray = field(repr=False)
    shift: tuple[int, int] | None = None
    amount: float = 0.0


def _checked_shifts(shifts, axis: str, rotate, scale_by) -> list[int]:
    """The shifts as ints, refused when one is < 1, two are equal, or nothing is asked."""
    if axis not in AXES:
        raise ParameterError(f"`axis` must be one of {', '.join(AXES)} (got {axis!r})")
    shifts = [int(s) for s in shifts]
    if any(s < 1 for s in shifts):
        raise ParameterError(f"every shift must be >= 1 pixel (got {shifts})")
    if len(set(shifts)) != len(shifts):
        raise ParameterError(f"shifts must differ from each other (got {shifts})")
    if not shifts and rotate is None and scale_by is None:
        raise ParameterError("nothing to compare: give at least one shift, --rotate or --scale-by")
    return shifts


def make_variants(image: np.ndarray, shifts: Sequence[int] = (1, 2, 3, 4), *, axis: str = "x",
                  rotate: float | None = None, scale_by: float | None = None
                  ) -> tuple[np.ndarray, list[Variant]]:
    """The reference window and its moved copies, all of one size.

    Parameters
    ----------
    image : ndarray
        (H, W) or (C, H, W).
    shifts : sequence of int
        Shifts in pixels, each >= 1. With ``m = max(shifts)`` the reference is
        ``image[..., m:, m:]`` cut to ``H - m`` by ``W - m`` (only along the shifted
        axes); the copy shifted by ``s`` starts ``s`` pixels earlier, so its content
        is ``s`` pixels right of / below the reference's.
    axis : {"x", "y", "xy"}
        Direction of the shifts: right, down, or both (diagonal).
    rotate : float, optional
        Also a copy of the reference rotated by this many degrees, clockwise on
        screen (image rows grow down), the convention of ``sobel:ANGLE``.
    scale_by : float, optional
        Also a copy of the reference scaled by this factor about its centre.

    Examples
    --------
    >>> ref, vs = make_variants(np.arange(12.0).reshape(2, 6), [1, 2])
    >>> ref.tolist()
    [[2.0, 3.0, 4.0, 5.0], [8.0, 9.0, 10.0, 11.0]]
    >>> vs[0].image.tolist()
    [[1.0, 2.0, 3.0, 4.0], [7.0, 8.0, 9.0, 10.0]]
    """
    image = np.asarray(image, dtype=np.float32)
    shifts = _checked_shifts(shifts, axis, rotate, scale_by)
    m = max(shifts, default=0)
    my, mx = (m if axis in ("y", "xy") else 0), (m if axis in ("x", "xy") else 0)
    h, w = image.shape[-2:]
    if h - my < 2 or w - mx < 2:
        raise ParameterError(f"the image ({w}x{h}, WxH) is too small for shifts up to {m} pixels; "
                             "use smaller shifts or a larger image")
    ref = image[..., my:, mx:]
    variants = []
    for s in shifts:
        dy, dx = (s if my else 0), (s if mx else 0)
        window = image[..., my - dy:h - dy, mx - dx:w - dx]
        variants.append(Variant(f"{s} px", "shift", np.ascontiguousarray(window), (dy, dx), s))
    if rotate is not None:
        if not math.isfinite(rotate) or abs(rotate) > 180:
            raise ParameterError(f"`rotate` must be between -180 and 180 degrees (got {rotate})")
        variants.append(Variant(f"rot {rotate:g}°", "rotate", warp(ref, rotate, 1.0),
                                None, rotate))
    if scale_by is not None:
        if not math.isfinite(scale_by) or not 0.25 <= scale_by <= 4:
            raise ParameterError(f"`scale-by` must be between 0.25 and 4 (got {scale_by})")
        variants.append(Variant(f"scale {scale_by:g}", "scale", warp(ref, 0.0, scale_by),
                                None, scale_by))
    return np.ascontiguousarray(ref), variants


def warp(image: np.ndarray, degrees: float, scale: float) -> np.ndarray:
    """Rotate (clockwise on screen) and scale ``image`` about its centre; same size out.

    Positive angles turn clockwise, as everywhere in cnnpipe (``sobel:ANGLE``,
    ``gabor:THETA,...``): image rows grow down.

    Bilinear interpolation; positions outside the image take the nearest edge
    pixel (so no black corners appear that a detector would respond to).
    """
    image = np.asarray(image, dtype=np.float32)
    h, w = image.shape[-2:]
    cy, cx = (h - 1) / 2, (w - 1) / 2
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    t = math.radians(degrees)  # rows grow down: a positive angle turns clockwise on screen
    # the source of each output pixel: undo the scale, then rotate back
    dy, dx = (yy - cy) / scale, (xx - cx) / scale
    sy = cy + math.cos(t) * dy - math.sin(t) * dx
    sx = cx + math.sin(t) * dy + math.cos(t) * dx
    sy, sx = np.clip(sy, 0, h - 1), np.clip(sx, 0, w - 1)
    y0, x0 = np.floor(sy).astype(int), np.floor(sx).astype(int)
    y1, x1 = np.minimum(y0 + 1, h - 1), np.minimum(x0 + 1, w - 1)
    fy, fx = sy - y0, sx - x0
    out = (image[..., y0, x0] * (1 - fy) * (1 - fx) + image[..., y0, x1] * (1 - fy) * fx
           + image[..., y1, x0] * fy * (1 - fx) + image[..., y1, x1] * fy * fx)
    return out.astype(np.float32)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two same-shape arrays; NaN when either is constant."""
    a = np.asarray(a, dtype=np.float64).ravel()
    b = np.asarray(b, dtype=np.float64).ravel()
    if a.size == 0:
        return math.nan
    a, b = a - a.mean(), b - b.mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return float(a @ b) / denom if denom > 0 else math.nan


def compare(a: np.ndarray, b: np.ndarray, offset: tuple[int, int] | None) -> dict:
    """The measures of how map ``b`` (moved input) differs from map ``a`` (reference).

    ``offset`` is the known movement of ``b``'s content in whole cells ``(dy, dx)``
    (>= 0), or None when it is not defined (rotation, scaling).

    Examples
    --------
    >>> a = np.array([[0, 1, 0, 0]], float); b = np.array([[0, 0, 1, 0]], float)
    >>> r = compare(a, b, (0, 1))
    >>> round(r["change"], 4), r["aligned"]
    (1.4142, 1.0)
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    norm = float(np.linalg.norm(a))
    diff = float(np.linalg.norm(b - a))
    change = diff / norm if norm > 0 else (0.0 if diff == 0 else math.nan)
    mean_a, mean_b = float(a.mean()), float(b.mean())
    mean_change = abs(mean_b - mean_a) / abs(mean_a) if mean_a != 0 else (
        0.0 if mean_b == 0 else math.nan)
    aligned = math.nan
    if offset is not None:
        dy, dx = offset
        h, w = a.shape[-2:]
        if dy < h and dx < w:
            aligned = pearson(a[..., :h - dy, :w - dx], b[..., dy:, dx:])
    return {"change": change, "corr": pearson(a, b), "aligned": aligned,
            "mean_change": mean_change}


def cells(shift: int, stride: int) -> int:
    """A shift of ``shift`` input pixels in cells of ``stride`` pixels, rounded half up."""
    return int(math.floor(shift / stride + 0.5))


def experiment(image: np.ndarray, network: Network, shifts: Sequence[int] = (1, 2, 3, 4), *,
               axis: str = "x", rotate: float | None = None,
               scale_by: float | None = None) -> dict:
    """Run ``network`` on the reference and every moved copy; measure every map.

    Returns
    -------
    dict
        ``variants``: label, kind, shift (pixels) per moved copy;
        ``rows``: one per layer, stage, detector and variant with ``offset`` (cells,
        or None) and the measures of :func:`compare`;
        ``summary``: per layer, stage and variant the mean of each measure over
        the detectors; ``reference_shape``: the size compared.
    """
    ref, variants = make_variants(image, shifts, axis=axis, rotate=rotate, scale_by=scale_by)
    base = _finite(run_network(ref, network))
    rows = []
    for variant in variants:
        moved = _finite(run_network(variant.image, network))
        for li, (lm_a, lm_b) in enumerate(zip(base, moved, strict=True)):
            params = [layer.params for layer in network.layers[:li + 1]]
            for det_a, det_b in zip(lm_a.detectors, lm_b.detectors, strict=True):
                for (stage, a), (_, b) in zip(det_a.items(), det_b.items(), strict=True):
                    offset = None
                    sy, sx = stage_stride(params, stage)
                    if variant.shift is not None:
                        offset = (cells(variant.shift[0], sy), cells(variant.shift[1], sx))
                    rows.append({"layer": lm_a.layer.number, "stage": stage,
                                 "detector": det_a.kernel.name, "variant": variant.label,
                                 "kind": variant.kind,
                                 "stride": [sy, sx],
                                 "offset": list(offset) if offset is not None else None,
                                 "shape": list(a.shape), **compare(a, b, offset)})
    return {"reference_shape": list(ref.shape), "axis": axis,
            "variants": [{"label": v.label, "kind": v.kind,
                          "shift": list(v.shift) if v.shift else None, "amount": v.amount}
                         for v in variants],
            "rows": rows, "summary": summarize(rows)}


def _finite(layer_maps: list) -> list:
    """``layer_maps``, unless a map overflowed float32: its measures would be inf/NaN."""
    for lm in layer_maps:
        for det in lm.detectors:
            for stage, array in det.items():
                if not np.isfinite(array).all():
                    raise InputError(
                        f"layer {lm.layer.number} {stage} map of detector {det.kernel.name!r} "
                        "overflowed float32 (values beyond ±3.4e38); scale the input or the "
                        "detector weights down")
    return layer_maps


MEASURES = ("change", "corr", "aligned", "mean_change")
#: How each stage is named in tables and on the chart.
STAGE_LABEL = {"conv": "conv", "relu": "ReLU", "pool": "pool"}


def summarize(rows: list[dict]) -> list[dict]:
    """Mean of each measure over the detectors, per layer, stage and variant (NaNs skipped)."""
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["layer"], row["stage"], row["variant"]), []).append(row)
    out = []
    for (layer, stage, variant), members in groups.items():
        entry = {"layer": layer, "stage": stage, "variant": variant,
                 "kind": members[0]["kind"], "detectors": len(members)}
        for measure in MEASURES:
            values = [r[measure] for r in members if not math.isnan(r[measure])]
            entry[measure] = float(np.mean(values)) if values else math.nan
        out.append(entry)
    return out


def verdicts(summary: list[dict]) -> list[dict]:
    """Per layer with pooling: at how many variants the pooled maps changed less than conv."""
    out = []
    for layer in sorted({s["layer"] for s in summary}):
        by_stage: dict[str, dict[str, float]] = {}
        for s in summary:
            if s["layer"] == layer:
                by_stage.setdefault(s["stage"], {})[s["variant"]] = s["change"]
        if "pool" not in by_stage:
            continue
        conv, pool = by_stage["conv"], by_stage["pool"]
        compared = [v for v in conv if not (math.isnan(conv[v]) or math.isnan(pool[v]))]
        less = [v for v in compared if pool[v] < conv[v]]
        out.append({"layer": layer, "variants": len(compared), "pool_less": len(less),
                    "conv_mean": _mean([conv[v] for v in compared]),
                    "pool_mean": _mean([pool[v] for v in compared])})
    return out


def _mean(values):
    return float(np.mean(values)) if values else math.nan


__all__ = ["AXES", "MEASURES", "Variant", "cells", "compare", "experiment", "make_variants",
           "pearson", "summarize", "verdicts", "warp"]
