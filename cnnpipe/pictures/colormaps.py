"""Colour maps as 256-entry uint8 lookup tables (numpy only).

The colour data comes from the maintained ``cmap`` package (pyapp-kit/cmap), which
ships the published tables of matplotlib/BIDS (viridis, magma, cividis), Fabio
Crameri's Scientific Colour Maps (vik, berlin) and Kenneth Moreland's coolwarm.
``cmap`` is imported only when a colour map is first used, and each table is
built once per process.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from cnnpipe.errors import ParameterError

# --cmap name -> name in the `cmap` catalogue; None means built here (a plain ramp).
CMAP_SOURCES: dict[str, str | None] = {
    "gray": None,
    "viridis": "viridis",
    "magma": "magma",
    "cividis": "cividis",
    "vik": "crameri:vik",
    "berlin": "crameri:berlin",
    "coolwarm": "matplotlib:coolwarm",
}
SEQUENTIAL_DEFAULT = "viridis"
DIVERGING_DEFAULT = "vik"  # light zero: sparse edges on a photo stay visible
DIVERGING = frozenset({"vik", "berlin", "coolwarm"})
CMAP_NAMES: tuple[str, ...] = ("auto", *CMAP_SOURCES)
LUT_SIZE = 256


def check_cmap_name(name: str) -> str:
    """Return `name` if it is a known ``--cmap`` value, else raise ParameterError."""
    if name not in CMAP_NAMES:
        raise ParameterError(
            f"`--cmap` must be one of {', '.join(CMAP_NAMES)} (got {name!r})"
        )
    return name


@cache
def lut(name: str) -> np.ndarray:
    """The (256, 3) uint8 RGB lookup table of colour map `name` (read-only, cached).

    Parameters
    ----------
    name : str
        A ``--cmap`` name other than "auto".

    Examples
    --------
    >>> lut("gray")[[0, 128, 255], 0].tolist()
    [0, 128, 255]
    """
    if name == "auto" or name not in CMAP_SOURCES:
        check_cmap_name(name)
        raise ParameterError("`--cmap auto` must be resolved to a colour map before use")
    source = CMAP_SOURCES[name]
    if source is None:
        ramp = np.arange(LUT_SIZE, dtype=np.uint8)
        table = np.stack([ramp, ramp, ramp], axis=1)
    else:
        from cmap import Colormap  # deferred: only runs that use colour maps pay for it

        rgba = Colormap(source).lut(LUT_SIZE)
        table = np.clip(np.rint(rgba[:, :3] * 255.0), 0, 255).astype(np.uint8)
    table.setflags(write=False)
    return table


@cache
def _inverse_table(name: str) -> tuple[np.ndarray, np.ndarray]:
    """Sorted distinct packed-RGB colours of a LUT and the LUT position of each.

    Where neighbouring entries round to one 8-bit colour (viridis has a few), the
    position is the middle of those entries, so inverting it is off by at most
    half of the run plus half a level: within one level for runs of two.
    """
    table = lut(name).astype(np.int64)
    packed = (table[:, 0] << 16) | (table[:, 1] << 8) | table[:, 2]
    keys, inverse = np.unique(packed, return_inverse=True)
    positions = np.bincount(inverse, weights=np.arange(LUT_SIZE)) / np.bincount(inverse)
    return keys, positions


def lut_index(rgb: np.ndarray, name: str) -> np.ndarray:
    """For (..., 3) uint8 colours, the (float) position of the nearest entry of LUT `name`.

    Colours written by cnnpipe are exact LUT entries and are found by lookup (a
    colour shared by neighbouring entries gives their middle position); any other
    colour (e.g. after a lossy edit) falls back to the nearest entry in RGB.
    """
    rgb = np.asarray(rgb)
    flat = rgb.reshape(-1, 3).astype(np.int64)
    packed = (flat[:, 0] << 16) | (flat[:, 1] << 8) | flat[:, 2]
    keys, index = _inverse_table(name)
    pos = np.clip(np.searchsorted(keys, packed), 0, len(keys) - 1)
    exact = keys[pos] == packed
    result = index[pos].astype(np.float64)
    if not exact.all():
        table = lut(name).astype(np.int64)
        missing = np.flatnonzero(~exact)
        for start in range(0, missing.size, 65536):  # bounded memory: 64k x 256 distances
            chunk = missing[start : start + 65536]
            d = ((flat[chunk, None, :] - table[None, :, :]) ** 2).sum(axis=2)
            result[chunk] = d.argmin(axis=1)
    return result.reshape(rgb.shape[:-1])
