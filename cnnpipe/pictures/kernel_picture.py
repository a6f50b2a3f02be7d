"""Pictures of kernels (Pillow): weights as diverging colours, with their values when small.

A 2-D kernel (kh, kw) is drawn on a symmetric range ``±max|w|`` with the
diverging colour map ``vik`` (blue negative, light zero, red positive), each
weight a square cell; up to ``values_up_to`` × ``values_up_to`` the weights are
written in the cells (:func:`cnnpipe.numbers.format_number`). A (3, kh, kw)
kernel (an RGB first-layer filter) is drawn as one colour patch, the way the
first-layer filters of trained networks are usually shown: each channel
``128 + 127 · w / max|w|``, so grey is zero (:func:`kernels_sheet` does this for
a (K, 3, kh, kw) bank). Other (C, kh, kw) kernels, such as those of a second
layer whose channels are the maps of the first, are drawn one channel beside
the other.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw

from cnnpipe.numbers import format_number, shape_text
from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.text import cell_text_font, font, plain, wrap

__all__ = ["kernel_image", "kernel_pixels", "kernels_sheet", "rgb_patch", "KERNEL_CMAP"]

KERNEL_CMAP = "vik"
GRID = (150, 150, 150)
CHANNEL_GAP = 6
PLANE_LABEL = 14  # px above each plane of a multi-channel kernel for its channel number
MAX_CHANNELS = 8


def _cell_for(weights: np.ndarray, values: bool, target: int, min_text_cell: int) -> int:
    kh, kw = weights.shape[-2:]
    cell = max(2, target // max(kh, kw))
    if values:
        texts = [format_number(v) for v in weights.ravel()]
        widest = max(font(12).getlength(t) for t in texts)
        cell = max(cell, min_text_cell, int(widest) + 8)
    return cell


def kernel_image(weights, *, values_up_to: int = 7, target: int = 132,
                 min_text_cell: int = 26, rgb: bool = False) -> Image.Image:
    """An RGB picture of one kernel (module notes).

    Parameters
    ----------
    weights : array_like
        (kh, kw), or (C, kh, kw).
    values_up_to : int
        Write the weights in the cells when both sides are at most this.
    target : int
        About how many px the longer side takes when the weights are not written.
    rgb : bool
        Draw a (3, kh, kw) kernel as a colour patch (its channels are R, G, B),
        with its three planes beside it; otherwise its channels are drawn side by
        side. Either way every channel of one kernel shares one colour scale.

    Examples
    --------
    >>> kernel_image(np.array([[1.0, 0.0, -1.0]] * 3)).size
    (132, 132)
    """
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 3 and w.shape[0] == 3 and rgb:
        return _rgb_kernel(w, target)
    if w.ndim == 3:
        return _channels(w[:MAX_CHANNELS], values_up_to, target // 2, min_text_cell)
    if w.ndim != 2:
        raise ValueError(f"a kernel must be (kh, kw) or (C, kh, kw) (got shape {w.shape})")
    show = max(w.shape) <= values_up_to
    return _plane(w, float(np.abs(w).max()) or 1.0,
                  _cell_for(w, show, target, min_text_cell), show)


def kernel_pixels(weights, values_up_to: int, rgb: bool) -> np.ndarray:
    """``kernel_image(weights, values_up_to=..., rgb=...)`` as read-only pixels, drawn
    once per process for each distinct kernel: a batch's sheets show the same few."""
    w = np.ascontiguousarray(weights, dtype=np.float64)
    return _kernel_pixels(w.tobytes(), w.shape, values_up_to, rgb)


@functools.lru_cache(maxsize=64)
def _kernel_pixels(data: bytes, shape: tuple, values_up_to: int, rgb: bool) -> np.ndarray:
    weights = np.frombuffer(data, dtype=np.float64).reshape(shape)
    pixels = np.asarray(kernel_image(weights, values_up_to=values_up_to, rgb=rgb))
    pixels.setflags(write=False)
    return pixels


def _channels(w: np.ndarray, values_up_to: int, target: int, min_text_cell: int,
              gap: int = CHANNEL_GAP) -> Image.Image:
    """The planes of a (C, kh, kw) kernel side by side, on one scale and one cell size,
    each headed by the input channel it reads ("channel 0" is the first incoming map,
    as in the terminal's kernel card)."""
    show = max(w.shape[-2:]) <= values_up_to
    extent = float(np.abs(w).max()) or 1.0
    cell = max(_cell_for(c, show, target, min_text_cell) for c in w)
    face = cell_text_font([format_number(v) for v in w.ravel()], cell) if show else None
    parts = [_plane(c, extent, cell, show, face) for c in w]
    label = font(11)
    head = PLANE_LABEL if parts[0].width >= label.getlength("channel 0") else 0
    out = Image.new("RGB", (sum(p.width for p in parts) + gap * (len(parts) - 1),
                            head + parts[0].height), (255, 255, 255))
    draw = ImageDraw.Draw(out)
    for i, p in enumerate(parts):
        x = i * (p.width + gap)
        if head:
            draw.text((x, 0), f"channel {i}", fill=(95, 95, 95), font=label)
        out.paste(p, (x, head))
    return out


def _plane(w2: np.ndarray, extent: float, cell: int, show: bool, face=None) -> Image.Image:
    """One (kh, kw) plane on ``±extent`` in the diverging map; weights written if ``show``
    (in ``face``, or the largest font that fits every weight of the plane)."""
    kh, kw = w2.shape
    index = np.clip(np.rint((w2 / extent + 1) / 2 * 255), 0, 255).astype(np.int64)
    colours = lut(KERNEL_CMAP)[index]
    pixels = np.repeat(np.repeat(colours, cell, axis=0), cell, axis=1)
    image = Image.fromarray(np.ascontiguousarray(pixels))
    draw = ImageDraw.Draw(image)
    if show and cell >= 8:
        for r in range(kh + 1):
            draw.line((0, r * cell - (r == kh), kw * cell, r * cell - (r == kh)), fill=GRID)
        for c in range(kw + 1):
            draw.line((c * cell - (c == kw), 0, c * cell - (c == kw), kh * cell), fill=GRID)
        texts = [[format_number(v) for v in row] for row in w2]
        face = face or cell_text_font([t for row in texts for t in row], cell)
        if face is not None:
            for (r, c), text in np.ndenumerate(np.array(texts, dtype=object)):
                ink = _ink_for(colours[r, c])
                draw.text(((c + 0.5) * cell, (r + 0.5) * cell), text, fill=ink, font=face,
                          anchor="mm")
    return image


def _ink_for(colour) -> tuple[int, int, int]:
    """Black on light cells, white on dark ones."""
    r, g, b = (int(v) for v in colour)
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 140 else (255, 255, 255)


def rgb_patch(w) -> np.ndarray:
    """The colours of a (3, kh, kw) kernel: ``128 + 127 · w / max|w|`` per channel, uint8.

    One extent for the whole kernel (all three channels), so grey is zero,
    a strong positive red weight is red, a negative one cyan.

    Examples
    --------
    >>> rgb_patch(np.array([[[1.0]], [[0.0]], [[-1.0]]])).tolist()
    [[[255, 128, 1]]]
    """
    w = np.asarray(w, dtype=np.float64)
    extent = float(np.abs(w).max()) or 1.0
    rgb = np.clip(np.rint(128 + 127 * w / extent), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(rgb, 0, -1))


def _rgb_kernel(w: np.ndarray, target: int) -> Image.Image:
    """The colour patch, and under it its R, G and B planes (diverging, one scale), labelled."""
    rgb = rgb_patch(w)
    kh, kw = rgb.shape[:2]
    cell = max(2, target // max(kh, kw))
    patch = Image.fromarray(np.repeat(np.repeat(rgb, cell, axis=0), cell, axis=1))
    small = max(2, (patch.width - 2 * CHANNEL_GAP) // (3 * kw))
    extent = float(np.abs(w).max()) or 1.0
    planes = [_plane(c, extent, small, False) for c in w]
    label = font(11)
    line = 14
    height = patch.height + CHANNEL_GAP + line + planes[0].height
    out = Image.new("RGB", (max(patch.width, 3 * planes[0].width + 2 * CHANNEL_GAP), height),
                    (255, 255, 255))
    out.paste(patch, (0, 0))
    draw = ImageDraw.Draw(out)
    y = patch.height + CHANNEL_GAP
    for i, (name, plane) in enumerate(zip("RGB", planes, strict=True)):
        x = i * (plane.width + CHANNEL_GAP)
        draw.text((x, y), name, fill=(30, 30, 30), font=label)
        out.paste(plane, (x, y + line))
    return out


def kernels_sheet(kernels, *, values_up_to: int = 9, columns: int = 4) -> Image.Image:
    """One picture of several kernels: each with its name, size and weight range.

    ``kernels`` are objects with ``name`` and ``weights`` (a (kh, kw), (C, kh, kw)
    or, for a bank of RGB filters, (K, 3, kh, kw) array: one patch per filter).
    """
    items = []
    for k in kernels:
        w = np.asarray(k.weights)
        if w.ndim == 4:  # a bank of K filters, e.g. (K, 3, kh, kw)
            items += [(f"{k.name}[{i}]", f, f.shape[0] == 3) for i, f in enumerate(w)]
        else:  # a (3, kh, kw) kernel is taken for an RGB filter (a 4-D .npy's are)
            items.append((k.name, w, w.ndim == 3 and w.shape[0] == 3))
    label_font, small = font(14), font(12)
    tiles = []
    for name, w, rgb in items:
        picture = kernel_image(w, values_up_to=values_up_to, target=160, min_text_cell=30,
                               rgb=rgb)
        lo, hi = float(np.min(w)), float(np.max(w))
        if rgb:
            extent = format_number(float(np.abs(w).max()))
            about = (f"RGB {shape_text(w.shape[-2:])} (W×H)  {format_number(lo)} .. "
                     f"{format_number(hi)}; grey = 0, full colour = ±{extent}")
        else:
            size = shape_text(w.shape) + (" (W×H)" if w.ndim == 2 else " (C × W×H)")
            about = f"{size}  {format_number(lo)} .. {format_number(hi)}"
        width = max(picture.width, 170)
        lines = wrap(name, label_font, width) + wrap(about, small, width)
        tiles.append((lines, picture, width))
    gap, margin, line = 24, 16, 18
    rows = [tiles[i:i + columns] for i in range(0, len(tiles), columns)] or [[]]
    col_w = [max((r[c][2] for r in rows if c < len(r)), default=0) for c in range(columns)]
    heights = [max((len(t[0]) * line + 6 + t[1].height for t in r), default=0) for r in rows]
    width = 2 * margin + sum(col_w) + gap * (max(1, min(columns, len(tiles))) - 1)
    height = 2 * margin + sum(heights) + gap * (len(rows) - 1)
    sheet = Image.new("RGB", (max(width, 200), max(height, 60)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    y = margin
    for r, row in enumerate(rows):
        x = margin
        for c, (lines, picture, _) in enumerate(row):
            for i, text in enumerate(lines):
                draw.text((x, y + i * line), plain(text), fill=(30, 30, 30),
                          font=label_font if i == 0 else small)
            sheet.paste(picture, (x, y + len(lines) * line + 6))
            x += col_w[c] + gap
        y += heights[r] + gap
    return sheet
