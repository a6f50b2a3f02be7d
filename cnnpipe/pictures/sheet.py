"""The overview sheet: every stage of every detector on one PNG (Pillow).

The sheet is built incrementally: :meth:`OverviewSheet.add` turns each float map
into its picture at once and keeps only that, so a caller can stream one
detector at a time and never hold all the float maps.

Layout: the title (every setting that differs from the defaults, wrapped, never
cut), the input drawn once, then one row per detector: its kernel as a small
picture (with its weights up to 7 × 7; a 3-channel detector on a colour input as an
RGB patch, :mod:`cnnpipe.pictures.kernel_picture`), then conv -> ReLU -> pool (a stage that
no row has is left out). Every map is drawn at one scale for the whole sheet
(:class:`~cnnpipe.pictures.thumbnails.SheetScale`), so pooling visibly shrinks
the map; maps of at most 16 × 16 cells carry their values. Each panel has its
label lines (stage and detector; size, W×H, and value range), the picture, and a
colour bar saying what the colours mean.

Every panel shows its map with the map PNG's own mapping (one display rule,
:mod:`cnnpipe.pictures.mapping`). When that mapping clipped cells (the robust
default range, or a fixed one), the colour bar gets an arrow at each clipped
end and ``<=``/``>=`` labels, and the panel label keeps the true min and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from cnnpipe.errors import ParameterError
from cnnpipe.numbers import SIZE_ORDER, format_number, shape_text
from cnnpipe.pictures.colorbar import BAR_GAP, BAR_H, TICK_LEN, colorbar_geometry, draw_colorbar
from cnnpipe.pictures.kernel_picture import kernel_pixels
from cnnpipe.pictures.mapping import to_png_pixels
from cnnpipe.pictures.ranges import finite_min_max
from cnnpipe.pictures.text import font, plain, wrap
from cnnpipe.pictures.thumbnails import SheetScale, thumbnail, write_values

__all__ = ["OverviewSheet", "STAGE_ORDER"]

STAGE_ORDER = ("conv", "relu", "pool")
STAGE_TITLES = {"input": "input", "conv": "conv", "relu": "ReLU", "pool": "pool"}

DEFAULT_PANEL = 320  # px: the input's longer side (small inputs: whole blocks, maybe more)
DEFAULT_MAX_PIXELS = 40_000_000
MARGIN = 24
GAP = 32  # between columns; an arrow is drawn there
ROW_GAP = 22
MIN_COLUMN = 150  # px: room for the labels and colour bar of a small pooled map
LABEL_FONT = 15
TICK_FONT = 13
TITLE_FONT = 20
LINE = 20  # label line height at LABEL_FONT
TITLE_LINE = TITLE_FONT + 8
KERNEL_VALUES_UP_TO = 7
MIN_SCALE_SIDE = 8  # a reference sheet's scale comes from a map of at least this many cells
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
MUTED = (95, 95, 95)
FRAME = (190, 190, 190)


@dataclass
class _Panel:
    kernel: str
    stage: str
    thumb: np.ndarray  # uint8 (h, w) or (h, w, 3)
    shape: tuple[int, ...]
    vmin: float
    vmax: float
    mapping: dict | None
    title: str


def _checked_pixels(pixels, array: np.ndarray) -> np.ndarray | None:
    if pixels is None:
        return None
    pixels = np.asarray(pixels)
    if pixels.shape[:2] != array.shape[-2:] or pixels.dtype not in (np.uint8, np.uint16):
        raise ParameterError(f"`pixels` must be the uint8/uint16 pixels of the "
                             f"{array.shape[-2:]} map (got {pixels.dtype} {pixels.shape})")
    return pixels


def _same_pixels(a, b) -> bool:
    return a is b or (a is not None and b is not None and a.dtype == b.dtype
                      and np.array_equal(a, b))


class OverviewSheet:
    """One picture of every stage of every detector, built one map at a time.

    Parameters
    ----------
    title : str
        Title text: the input name and the settings (wrapped to the width).
    input_pixels : ndarray
        The input as saved, uint8 (H, W) or (H, W, 3).
    input_label : str
        Shown under "input" (e.g. the file name).
    input_mapping : dict, optional
        The input's mapping; when given the input panel gets a colour bar, and a
        small input shows its values.
    panel : int
        The input's longer side in px when it is larger than this; a smaller input
        is enlarged by a whole factor. Every map uses the input's scale.
    max_pixels : int
        The sheet never grows past this; detectors beyond it are counted and named
        in a footer line instead of drawn.
    maps_hw : (int, int), optional
        The input is shown for reference only (a deeper layer of a stack, whose maps
        are much smaller than the image): it is drawn at its own scale, and the maps
        at the scale that gives a map of ``maps_hw`` (the maps the layer takes in)
        ``panel`` px; a map under ``MIN_SCALE_SIDE`` cells a side counts as that many.
    input_values : array_like, optional
        The input's (H, W) values: a small input then shows them in its cells.

    Examples
    --------
    >>> sheet = OverviewSheet("demo", np.zeros((7, 7), np.uint8), "X")
    >>> m = {"lo": -1.0, "hi": 1.0, "levels": 255, "cmap": "gray"}
    >>> sheet.add("tutorial", "conv", np.zeros((5, 5), np.float32), m)
    >>> sheet.render().mode
    'RGB'
    """

    def __init__(self, title: str, input_pixels: np.ndarray, input_label: str, *,
                 input_mapping: dict | None = None, panel: int = DEFAULT_PANEL,
                 max_pixels: int = DEFAULT_MAX_PIXELS, input_values=None,
                 maps_hw: tuple[int, int] | None = None):
        pixels = np.asarray(input_pixels)
        if pixels.dtype != np.uint8 or not (pixels.ndim == 2 or pixels.shape[2:] == (3,)):
            raise ParameterError(f"`input_pixels` must be uint8 (H, W) or (H, W, 3) "
                                 f"(got {pixels.dtype} {pixels.shape})")
        if panel < 16:
            raise ParameterError(f"`panel` must be >= 16 px (got {panel})")
        self.title = title
        self.panel = int(panel)
        self.max_pixels = int(max_pixels)
        own = SheetScale.for_input(pixels.shape[0], pixels.shape[1], self.panel)
        # A reference input (the original image on a deeper layer's sheet) is drawn at its
        # own scale; the maps get theirs from the size of the maps the layer takes in.
        self.reference_input = maps_hw is not None
        self.scale = own if maps_hw is None else SheetScale.for_input(
            *(max(int(n), MIN_SCALE_SIDE) for n in maps_hw), self.panel)
        thumb = thumbnail(pixels, own)
        if input_values is not None and np.ndim(input_values) == 2:
            thumb = write_values(thumb, np.asarray(input_values),
                                 own.enlarges(*pixels.shape[:2]))
        self._input = _Panel(
            kernel="", stage="input", thumb=thumb, shape=tuple(pixels.shape[:2]),
            vmin=math.nan, vmax=math.nan, mapping=input_mapping, title=input_label)
        self._rows: dict[str, dict[str, _Panel]] = {}
        self._kernels: dict[str, np.ndarray] = {}
        self.omitted: list[str] = []
        self._last_picture = None  # (pixels, palette, picture) of the last map drawn

    # -- building ---------------------------------------------------------------------

    def add(self, kernel_name: str, stage: str, array: np.ndarray, mapping: dict, *,
            title: str | None = None, pixels: np.ndarray | None = None,
            palette: np.ndarray | None = None, weights=None,
            picture: np.ndarray | None = None, value_range=None) -> None:
        """Add one map: it is drawn now and the float array is not kept.

        Parameters
        ----------
        kernel_name : str
            The detector; maps with the same name share a row.
        stage : {"conv", "relu", "pool"}
        array : ndarray
            Float map (H, W), or (3, H, W) for ``--color rgb``.
        mapping : dict
            The mapping used for its PNG (see :mod:`cnnpipe.pictures.mapping`).
        title : str, optional
            Stage caption instead of the default ("leaky ReLU", "mean pool", ...).
        pixels, palette : ndarray, optional
            ``to_png_pixels(array, mapping)`` when the caller already made them for
            the map's PNG: the sheet then does not map the values a second time.
        weights : array_like, optional
            The detector's weights: the row starts with a picture of its kernel.
        picture : ndarray, optional
            ``self.picture(pixels, palette)``, when the caller already drew it (in
            another thread: the drawing is most of the cost of a large map).
        value_range : (min, max), optional
            The map's finite min and max, when the caller knows them already.
        """
        if stage not in STAGE_ORDER:
            raise ParameterError(f"`stage` must be conv, relu or pool (got {stage!r})")
        array = np.asarray(array)
        if array.ndim == 3 and array.shape[0] == 1:  # one channel: a plain map
            array = array[0]
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[0] == 3)) or 0 in array.shape:
            raise ParameterError(f"a map must be (H, W) or (3, H, W) (got shape {array.shape})")
        pixels = _checked_pixels(pixels, array)
        if kernel_name not in self._rows:
            if len(self._rows) >= self._max_rows():
                if kernel_name not in self.omitted:
                    self.omitted.append(kernel_name)
                return
            self._rows[kernel_name] = {}
        if weights is not None and kernel_name not in self._kernels:
            # a 3-channel detector on a colour input is an RGB filter: a colour patch
            self._kernels[kernel_name] = kernel_pixels(weights, KERNEL_VALUES_UP_TO,
                                                       self._input.thumb.ndim == 3)
        if picture is None:
            if pixels is None:
                pixels, palette = to_png_pixels(array, mapping)
            picture = self.picture(pixels, palette)
        thumb = picture
        if array.ndim == 2:
            thumb = write_values(thumb, array, self.scale.enlarges(*array.shape))
        # the label's true range
        vmin, vmax = value_range or finite_min_max(array) or (math.nan, math.nan)
        self._rows[kernel_name][stage] = _Panel(
            kernel=kernel_name, stage=stage, thumb=thumb, shape=tuple(array.shape),
            vmin=vmin, vmax=vmax, mapping=dict(mapping), title=title or STAGE_TITLES[stage])

    def picture(self, pixels: np.ndarray, palette: np.ndarray | None = None) -> np.ndarray:
        """A map's PNG pixels (and palette) drawn at this sheet's scale, as :meth:`add`
        draws them; safe to call from another thread. The previous call's pixels give
        its picture again: a ReLU map of a map with no negative values (a blur of a
        photo) is its conv map."""
        last = self._last_picture  # one read: another thread may replace it meanwhile
        if last is not None and _same_pixels(last[0], pixels) and _same_pixels(last[1], palette):
            return last[2]
        picture = thumbnail(pixels, self.scale, palette)
        self._last_picture = (pixels, palette, picture)
        return picture

    def _max_rows(self) -> int:
        """Rows that fit ``max_pixels``, estimated from the input's picture (maps are no larger)."""
        ih, iw = self._input.thumb.shape[:2]
        width = 2 * MARGIN + MIN_COLUMN + 3 * max(iw, MIN_COLUMN) + 3 * GAP
        row = ih + 5 * LINE + BAR_GAP + BAR_H + TICK_LEN + ROW_GAP
        top = MARGIN + 4 * TITLE_LINE + ih + 4 * LINE + BAR_H + ROW_GAP + 2 * MARGIN
        return max(1, (self.max_pixels // width - top) // row)

    # -- geometry ---------------------------------------------------------------------

    def stages(self) -> list[str]:
        """The map columns drawn: each stage that at least one row has."""
        present = {s for row in self._rows.values() for s in row}
        return [s for s in STAGE_ORDER if s in present]

    def layout(self) -> dict:
        """Geometry of the sheet, as drawn by :meth:`render`.

        Returns
        -------
        dict
            ``size`` (width, height); ``title_box``, ``title_lines``; ``columns``
            (``"kernel"`` then the stages); ``panels``: one dict per panel with
            row (-1 for the input), col, kernel, stage (``"input"``,
            ``"kernel"``, ``"conv"`` ...), labels (the wrapped label lines),
            label_box, image_box (the picture itself), colorbar_box, ticks (list
            of (x, text)), shown (the colour bar's (lo, hi)), clipped and
            clipped_ends ((below, above)); ``footer`` (text or None). Boxes are
            (left, top, right, bottom), right/bottom exclusive.
        """
        columns = (["kernel"] if self._kernels else []) + self.stages()
        label_font = font(LABEL_FONT)
        widths = [self._column_width(c, label_font) for c in columns]
        inner = max(sum(widths) + GAP * max(0, len(widths) - 1),
                    self._input.thumb.shape[1], MIN_COLUMN * 2)
        width = 2 * MARGIN + inner
        title_lines = wrap(self.title, font(TITLE_FONT), inner)
        title_h = len(title_lines) * TITLE_LINE + 12
        y = MARGIN + title_h
        panels = [self._panel_geometry(self._input, "", -1, 0, MARGIN, y,
                                       max(self._input.thumb.shape[1], MIN_COLUMN * 2),
                                       None, label_font)]
        y = panels[0]["bottom"] + ROW_GAP
        for r, (kernel, row) in enumerate(self._rows.items()):
            x = MARGIN
            items = []
            for c, (column, col_w) in enumerate(zip(columns, widths, strict=True)):
                panel = self._kernel_panel(kernel) if column == "kernel" else row.get(column)
                if panel is not None:
                    items.append((panel, c, x, col_w))
                x += col_w + GAP
            label_lines = max(len(self._labels(p, w, label_font)) for p, _, _, w in items)
            # the maps' colour bars line up under the tallest map, not under a tall kernel
            maps_h = max([p.thumb.shape[0] for p, *_ in items if p.stage != "kernel"] or [0])
            row_panels = [self._panel_geometry(
                p, kernel, r, c, x0, y, w,
                (label_lines, p.thumb.shape[0] if p.stage == "kernel" else maps_h), label_font)
                for p, c, x0, w in items]
            panels += row_panels
            y = max(p["bottom"] for p in row_panels) + ROW_GAP
        height = y + MARGIN - ROW_GAP
        footer = None
        if self.omitted:
            footer = (f"{len(self.omitted)} more detector(s) not drawn to keep the sheet small "
                      f"(see their own PNGs): {', '.join(self.omitted[:8])}"
                      + (", ..." if len(self.omitted) > 8 else ""))
            footer_lines = wrap(footer, label_font, inner)
            footer = "\n".join(footer_lines)
            height += len(footer_lines) * LINE + 8
        return {"size": (width, height), "title_box": (MARGIN, MARGIN, width - MARGIN,
                                                       MARGIN + title_h),
                "title_lines": title_lines, "columns": columns, "panels": panels,
                "footer": footer}

    def _kernel_panel(self, kernel: str) -> _Panel | None:
        picture = self._kernels.get(kernel)
        if picture is None:
            return None
        return _Panel(kernel=kernel, stage="kernel", thumb=picture, shape=(),
                      vmin=math.nan, vmax=math.nan, mapping=None, title="kernel")

    def _column_width(self, column: str, label_font) -> int:
        if column == "kernel":
            pictures = [p.shape[1] for p in self._kernels.values()]
        else:
            pictures = [row[column].thumb.shape[1] for row in self._rows.values()
                        if column in row]
        return max([MIN_COLUMN, *pictures])

    def _labels(self, panel: _Panel, width: int, label_font) -> list[str]:
        if panel.stage == "input":
            first = f"input \u00b7 {panel.title}"
            second = f"{shape_text(panel.shape)} ({SIZE_ORDER})"
            if self.reference_input:
                second += ", not to the maps' scale"
        elif panel.stage == "kernel":
            first = f"kernel \u00b7 {panel.kernel}"
            second = ""
        else:
            first = f"{panel.title} \u00b7 {panel.kernel}"
            second = shape_text(panel.shape)
            if not math.isnan(panel.vmin):
                second += f"  min {format_number(panel.vmin)}  max {format_number(panel.vmax)}"
        lines = wrap(first, label_font, width)
        if second:
            lines += wrap(second, label_font, width)
        return lines

    def _panel_geometry(self, panel: _Panel, kernel: str, r: int, c: int, x: int, y: int,
                        width: int, row: tuple[int, int] | None, label_font) -> dict:
        labels = self._labels(panel, width, label_font)
        n_lines, image_h = row if row is not None else (len(labels), panel.thumb.shape[0])
        label_box = (x, y, x + width, y + n_lines * LINE)
        th, tw = panel.thumb.shape[:2]
        img_top = y + n_lines * LINE + 4
        image_box = (x, img_top, x + tw, img_top + th)  # top-left: sizes compare at a glance
        bottom = img_top + image_h
        bar = colorbar_geometry(panel.mapping, x, img_top + image_h + BAR_GAP,
                                max(tw, MIN_COLUMN))
        bar_box, ticks, shown, (below, above) = (bar["box"], bar["ticks"], bar["shown"],
                                                 bar["clipped_ends"])
        if bar_box is not None:
            bottom = bar_box[3] + TICK_LEN + LINE
        return {"row": r, "col": c, "kernel": kernel, "stage": panel.stage, "labels": labels,
                "label_box": label_box, "image_box": image_box, "colorbar_box": bar_box,
                "ticks": ticks, "shown": shown, "clipped": below or above,
                "clipped_ends": (below, above), "bottom": bottom, "_panel": panel}

    # -- drawing ----------------------------------------------------------------------

    def render(self) -> Image.Image:
        """Draw the sheet (RGB)."""
        geo = self.layout()
        sheet = Image.new("RGB", geo["size"], BACKGROUND)
        draw = ImageDraw.Draw(sheet)
        label_font, tick_font, title_font = font(LABEL_FONT), font(TICK_FONT), font(TITLE_FONT)
        tx, ty = geo["title_box"][:2]
        for i, line in enumerate(geo["title_lines"]):
            draw.text((tx, ty + i * TITLE_LINE), plain(line), fill=INK, font=title_font)
        for p in geo["panels"]:
            panel: _Panel = p["_panel"]
            lx, ly = p["label_box"][:2]
            for i, line in enumerate(p["labels"]):
                draw.text((lx, ly + i * LINE), plain(line), fill=INK if i == 0 else MUTED,
                          font=label_font)
            ix, iy, ir, ib = p["image_box"]
            sheet.paste(Image.fromarray(panel.thumb), (ix, iy))
            draw.rectangle((ix - 1, iy - 1, ir, ib), outline=FRAME)
            if p["col"] > 0:
                self._arrow(draw, p)
            if p["colorbar_box"] is not None:
                draw_colorbar(sheet, draw, p["colorbar_box"], panel.mapping, p["ticks"],
                              p["clipped_ends"], tick_font)
        if geo["footer"]:
            lines = geo["footer"].split("\n")
            top = geo["size"][1] - MARGIN - len(lines) * LINE
            for i, line in enumerate(lines):
                draw.text((MARGIN, top + i * LINE), plain(line), fill=MUTED, font=label_font)
        return sheet

    def _arrow(self, draw: ImageDraw.ImageDraw, p: dict) -> None:
        x = p["label_box"][0]
        y = p["image_box"][1] + min(40, (p["image_box"][3] - p["image_box"][1]) // 2)
        x0, x1 = x - GAP + 8, x - 8
        draw.line((x0, y, x1 - 4, y), fill=MUTED, width=2)
        draw.polygon([(x1, y), (x1 - 7, y - 5), (x1 - 7, y + 5)], fill=MUTED)

    def to_png_bytes(self, compression: int = 1) -> bytes:
        """The rendered sheet as PNG bytes (zlib level `compression`, 0-9)."""
        if not 0 <= compression <= 9:
            raise ParameterError(f"`compression` must be 0..9 (got {compression})")
        from cnnpipe.io.png import encode_png

        # no row filter: flat backgrounds and colour-mapped panels deflate best as they are
        return encode_png(np.asarray(self.render()), compression=compression,
                          filter="none")
