"""Maps drawn at one scale for a whole sheet (Pillow), with their values in small maps.

A sheet has one :class:`SheetScale`, set by its input: every map is drawn at
the same number of px per cell, so a pooled map is visibly smaller than the
map it came from. A small input is enlarged by a whole factor (each cell a
sharp k × k block, nearest-neighbour); when it has at most
``NUMBERS_UP_TO`` cells a side the factor is at least ``NUMBER_CELL`` px, so
the values fit inside the cells. A large input is reduced by area averaging
of the colours (what an image viewer does when zooming out; averaging values
would cancel the fine ± texture of a signed map into a blank panel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from cnnpipe.errors import ParameterError
from cnnpipe.numbers import format_number
from cnnpipe.pictures.text import cell_text_font

__all__ = ["SheetScale", "thumbnail", "write_values", "NUMBERS_UP_TO", "NUMBER_CELL"]

NUMBERS_UP_TO = 16  # maps with at most this many rows and columns show their values
NUMBER_CELL = 40  # px per cell, at least, when a sheet's maps can show their values
REDUCING_GAP = 2.0  # Pillow's resize(reducing_gap=): block-average first while >= 2x that


@dataclass(frozen=True)
class SheetScale:
    """px per cell for every map of one sheet: ``factor`` (whole, >= 1) or ``shrink`` (< 1).

    Examples
    --------
    >>> SheetScale.for_input(7, 7, 320).size_of(3, 3)
    (135, 135)
    >>> SheetScale.for_input(400, 600, 320).size_of(199, 299)
    (106, 159)
    """

    factor: int = 1
    shrink: float = 1.0
    limit: int = 2048  # px: a map larger than its input (e.g. padding full) stays on the sheet

    @classmethod
    def for_input(cls, h: int, w: int, panel: int) -> SheetScale:
        if h < 1 or w < 1 or panel < 1:
            raise ParameterError(f"map and panel sizes must be >= 1 (got {h}x{w}, panel {panel})")
        side = max(h, w)
        if side > panel:
            return cls(1, panel / side)
        factor = max(1, panel // side)
        if side <= NUMBERS_UP_TO:
            factor = max(factor, NUMBER_CELL)
        return cls(factor, 1.0)

    def size_of(self, h: int, w: int) -> tuple[int, int]:
        """(rows, cols) in px of an (h, w) map (within ``limit``)."""
        shrink = self.shrink if self.shrink < 1 else None
        if shrink is None and max(h, w) * self.factor > self.limit:
            shrink = self.limit / max(h, w)
        if shrink is not None and max(h, w) * shrink > self.limit:
            shrink = self.limit / max(h, w)
        if shrink is not None and shrink < 1:
            return max(1, round(h * shrink)), max(1, round(w * shrink))
        factor = self.factor if shrink is None else max(1, int(shrink))
        return h * factor, w * factor

    def enlarges(self, h: int, w: int) -> int:
        """The whole factor an (h, w) map is enlarged by (1 when it is reduced)."""
        th, _ = self.size_of(h, w)
        return th // h if th % h == 0 and th >= h else 1

    @property
    def cell(self) -> float:
        return self.factor if self.shrink >= 1 else self.shrink


def thumbnail(pixels: np.ndarray, scale: SheetScale, palette=None) -> np.ndarray:
    """`pixels` ((H, W) or (H, W, 3) uint8; colour-table indices with `palette`) at `scale`."""
    if pixels.dtype == np.uint16:  # 16-bit PNGs are shown at 8 bits on the sheet
        pixels = (pixels.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    h, w = pixels.shape[:2]
    th, tw = scale.size_of(h, w)
    if th < h or (th % h) or (tw % w):
        img = Image.fromarray(pixels)
        if palette is not None:  # Pillow's lookup is several times faster than numpy's
            img.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())
            img = img.convert("RGB")
        # Area averaging in two steps (whole blocks of REDUCING_GAP or more cells, then
        # the rest): twice as fast as one step on a large map, and no one can tell them
        # apart on a sheet (pixels differ by ~3 levels of 255 on average).
        return np.asarray(img.resize((tw, th), Image.Resampling.BOX,
                                     reducing_gap=REDUCING_GAP))
    if palette is not None:
        pixels = np.take(palette, pixels, axis=0)
    k = th // h
    return np.repeat(np.repeat(pixels, k, axis=0), k, axis=1)


def write_values(picture: np.ndarray, values: np.ndarray, factor: int) -> np.ndarray:
    """`picture` (k-px cells of a small map) with each cell's value written in it.

    Returns the picture unchanged when the map is larger than ``NUMBERS_UP_TO``
    or the numbers do not fit the cells.
    """
    values = np.asarray(values)
    if values.ndim != 2 or max(values.shape) > NUMBERS_UP_TO or factor < 16:
        return picture
    texts = [[_cell_text(v) for v in row] for row in values]
    face = cell_text_font([t for row in texts for t in row], factor)
    if face is None:
        return picture
    rgb = picture if picture.ndim == 3 else np.stack([picture] * 3, axis=-1)
    image = Image.fromarray(np.ascontiguousarray(rgb))
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(texts):
        for c, text in enumerate(row):
            colour = rgb[r * factor + factor // 2, c * factor + factor // 2]
            lum = 0.299 * int(colour[0]) + 0.587 * int(colour[1]) + 0.114 * int(colour[2])
            draw.text(((c + 0.5) * factor, (r + 0.5) * factor), text, font=face,
                      fill=(0, 0, 0) if lum > 140 else (255, 255, 255), anchor="mm")
    return np.asarray(image)


def _cell_text(value) -> str:
    return "nan" if math.isnan(float(value)) else format_number(value)
