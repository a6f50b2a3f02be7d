"""The colour bar under a map on the overview sheet: where it goes, and drawing it (Pillow).

A bar shows the map's colour table from ``lo`` (left) to ``hi`` (right), with
ticks at both ends and at 0 when the range spans it. When the mapping clipped
cells (the robust default range, or a fixed one), the clipped end gets an
arrow in the end colour and its tick reads ``<=lo`` / ``>=hi``: the end colour
means "at or beyond". An ``--color rgb`` map gets three ramps, R, G and B.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image

from cnnpipe.numbers import format_number
from cnnpipe.pictures.colormaps import lut

__all__ = ["BAR_GAP", "BAR_H", "TICK_LEN", "ARROW_W", "colorbar_geometry", "draw_colorbar"]

BAR_GAP, BAR_H, TICK_LEN = 6, 12, 4
ARROW_W = 8  # the end arrows of a clipped colour bar
INK = (30, 30, 30)
FRAME = (190, 190, 190)


def colorbar_geometry(mapping: dict | None, x: int, top: int, width: int) -> dict:
    """Where the bar of a panel at ``x`` goes, and its ticks.

    Returns
    -------
    dict
        ``box`` (left, top, right, bottom; None without a mapping), ``ticks``
        (list of (x, text)), ``shown`` (lo, hi) and ``clipped_ends`` (below, above).

    Examples
    --------
    >>> g = colorbar_geometry({"lo": -1.0, "hi": 1.0, "clipped": {"above": 3}}, 0, 0, 101)
    >>> g["ticks"], g["clipped_ends"]
    ([(0, '-1'), (46, '0'), (92, '>=1')], (False, True))
    """
    cut = (mapping or {}).get("clipped") or {}
    below, above = bool(cut.get("below")), bool(cut.get("above"))
    if mapping is None:
        return {"box": None, "ticks": [], "shown": None, "clipped_ends": (below, above)}
    lo, hi = float(mapping["lo"]), float(mapping["hi"])
    box = (x + (ARROW_W if below else 0), top, x + width - (ARROW_W if above else 0),
           top + BAR_H)
    left, right = box[0], box[2] - 1
    ticks = [(left, ("<=" if below else "") + format_number(lo)),
             (right, (">=" if above else "") + format_number(hi))]
    if lo < 0 < hi:
        ticks.insert(1, (left + round((0 - lo) / (hi - lo) * (right - left)), "0"))
    return {"box": box, "ticks": ticks, "shown": (lo, hi), "clipped_ends": (below, above)}


def draw_colorbar(sheet: Image.Image, draw, box, mapping: dict, ticks, clipped_ends,
                  face) -> None:
    """Draw the bar in ``box`` with its end arrows and tick labels (``face``: their font)."""
    bx, by, br, bb = box
    # An rgb bar's ends are all channels at 0 / at full: black and white.
    rgb = mapping.get("channels") == "rgb"
    bar, start, end = _bar("rgb" if rgb else mapping.get("cmap", "gray"), br - bx, bb - by)
    sheet.paste(bar, (bx, by))
    draw.rectangle((bx - 1, by - 1, br, bb), outline=FRAME)
    below, above = clipped_ends
    mid = (by + bb - 1) / 2
    if above:
        draw.polygon([(br, by - 1), (br + ARROW_W - 1, mid), (br, bb)], fill=end,
                     outline=FRAME)
    if below:
        draw.polygon([(bx - 1, by - 1), (bx - ARROW_W, mid), (bx - 1, bb)], fill=start,
                     outline=FRAME)
    widths = [face.getlength(t) for _, t in ticks]
    if len(ticks) == 3 and widths[0] + widths[1] + widths[2] + 12 > br - bx:
        ticks, widths = [ticks[0], ticks[2]], [widths[0], widths[2]]  # no room for "0"
    for i, ((x, text), w) in enumerate(zip(ticks, widths, strict=True)):
        draw.line((x, bb, x, bb + TICK_LEN), fill=INK)
        left = x if i == 0 else (x - w + 1 if i == len(ticks) - 1 else x - w / 2)
        draw.text((left, bb + TICK_LEN + 1), text, fill=INK, font=face)


@functools.lru_cache(maxsize=64)
def _bar(cmap: str, width: int, height: int) -> tuple[Image.Image, tuple, tuple]:
    """The bar's picture, and the colours of its arrows (left, right): made once per
    colour map and size (``cmap`` "rgb": one ramp per channel). Only read once made."""
    ramp = np.rint(np.linspace(0, 255, width)).astype(np.int64)
    if cmap == "rgb":
        # One ramp per channel: each of R, G, B uses the same lo..hi.
        bar = np.zeros((height, width, 3), dtype=np.uint8)
        for c, rows in enumerate(np.array_split(np.arange(height), 3)):
            bar[rows, :, c] = ramp.astype(np.uint8)
        return Image.fromarray(bar), (0, 0, 0), (255, 255, 255)
    colours = lut(cmap)[ramp]
    bar = np.broadcast_to(colours[None, :, :], (height, width, 3))
    return (Image.fromarray(np.ascontiguousarray(bar)), tuple(int(c) for c in colours[0]),
            tuple(int(c) for c in colours[-1]))
