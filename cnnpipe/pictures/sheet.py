"""The overview sheet: every stage of every detector on one PNG (Pillow).

The sheet is built incrementally: :meth:`OverviewSheet.add` turns each float map
into a small uint8 thumbnail at once and keeps only that, so a caller can stream
one detector at a time and never hold all the float maps.

Layout: a title row, then one row per detector with the columns
input -> conv -> ReLU -> pool (a stage that no row has is left out). Every panel
has two label lines (stage and detector; shape and value range), the picture,
and a colour bar with tick labels saying what the colours mean.

Every panel shows its map with the map PNG's own mapping (one display rule,
:mod:`cnnpipe.pictures.mapping`). When that mapping clipped cells (the robust
default range, or a fixed one), the colour bar gets an arrow at each clipped
end and ``<=``/``>=`` labels, and the panel label keeps the true min and max.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnpipe.errors import ParameterError
from cnnpipe.numbers import format_number
from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.mapping import to_png_pixels

__all__ = ["OverviewSheet", "thumbnail_block_factor", "thumbnail_shape"]

STAGE_ORDER = ("input", "conv", "relu", "pool")
STAGE_TITLES = {"input": "input", "conv": "conv", "relu": "ReLU", "pool": "pool"}

DEFAULT_PANEL = 224  # px: big enough to read a 5x5 map cell by cell, small enough for 30 rows
DEFAULT_MAX_PIXELS = 40_000_000
MARGIN = 24
GAP = 32  # between columns; an arrow is drawn there
ROW_GAP = 22
LABEL_FONT = 15
TICK_FONT = 13
TITLE_FONT = 22
LINE = 20  # label line height at LABEL_FONT
BAR_GAP, BAR_H, TICK_LEN = 6, 12, 4
ARROW_W = 8  # the end arrows of a clipped colour bar
BACKGROUND = (255, 255, 255)
INK = (30, 30, 30)
MUTED = (95, 95, 95)
FRAME = (190, 190, 190)


def thumbnail_block_factor(h: int, w: int, target: int) -> int:
    """Integer block size for showing an (h, w) map in a `target`-pixel panel.

    Maps that fit are upscaled by this whole factor (each cell becomes a k x k
    block, NEAREST); maps larger than `target` get 1 and are downscaled instead.

    Examples
    --------
    >>> thumbnail_block_factor(5, 5, 224)
    44
    >>> thumbnail_block_factor(2048, 2048, 224)
    1
    """
    if h < 1 or w < 1 or target < 1:
        raise ParameterError(f"map and panel sizes must be >= 1 (got {h}x{w}, panel {target})")
    return max(1, target // max(h, w))


def thumbnail_shape(h: int, w: int, target: int) -> tuple[int, int]:
    """(rows, cols) of the thumbnail of an (h, w) map: aspect ratio kept, longer side <= target."""
    k = thumbnail_block_factor(h, w, target)
    if max(h, w) <= target:
        return h * k, w * k
    s = target / max(h, w)
    return max(1, round(h * s)), max(1, round(w * s))


def _thumbnail_of_map(array, mapping: dict, target: int, pixels=None,
                      palette=None) -> np.ndarray:
    # Colour first, then shrink (what any image viewer does when zooming out): averaging
    # the values of a signed map would cancel fine +/- texture into a blank panel.
    if pixels is None:
        pixels, palette = to_png_pixels(array, mapping)
    if pixels.dtype == np.uint16:  # 16-bit PNGs are shown at 8 bits on the sheet
        pixels = (pixels.astype(np.uint32) * 255 // 65535).astype(np.uint8)
    return _thumbnail_of_pixels(pixels, target, palette)


def _thumbnail_of_pixels(pixels: np.ndarray, target: int, palette=None) -> np.ndarray:
    """Shrink (box filter) or enlarge (whole blocks); colour-table indices are looked up first."""
    h, w = pixels.shape[:2]
    th, tw = thumbnail_shape(h, w, target)
    if max(h, w) > target:
        img = Image.fromarray(pixels)
        if palette is not None:  # Pillow's lookup is several times faster than numpy's
            img.putpalette(np.asarray(palette, dtype=np.uint8).tobytes())
            img = img.convert("RGB")
        return np.asarray(img.resize((tw, th), Image.Resampling.BOX))
    if palette is not None:
        pixels = np.take(palette, pixels, axis=0)
    k = th // h
    return np.repeat(np.repeat(pixels, k, axis=0), k, axis=1)


_fmt = format_number


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the small bitmap font
        return ImageFont.load_default()


@dataclass
class _Panel:
    kernel: str
    stage: str
    thumb: np.ndarray  # uint8 (h, w) or (h, w, 3)
    shape: tuple[int, int]
    vmin: float
    vmax: float
    mapping: dict | None
    title: str


class OverviewSheet:
    """One picture of every stage of every detector, built one map at a time.

    Parameters
    ----------
    title : str
        Title row text: the input name and the parameters (wrapped to the width).
    input_pixels : ndarray
        The input as saved, uint8 (H, W) or (H, W, 3).
    input_label : str
        Shown under "input" in each row (e.g. the file name).
    input_mapping : dict, optional
        The input's mapping; when given the input panel gets a colour bar too.
    panel : int
        Longest side of a picture in px. Small maps are upscaled by a whole factor
        (NEAREST, every cell a visible block), larger ones area-averaged down.
    max_pixels : int
        The sheet never grows past this; detectors beyond it are counted and named
        in a footer line instead of drawn.

    Examples
    --------
    >>> sheet = OverviewSheet("demo", np.zeros((7, 7), np.uint8), "X")
    >>> m = {"lo": -1.0, "hi": 1.0, "levels": 255, "cmap": "gray"}
    >>> sheet.add("tutorial", "conv", np.zeros((5, 5), np.float32), m)
    >>> sheet.render().mode
    'RGB'
    """

    def __init__(
        self,
        title: str,
        input_pixels: np.ndarray,
        input_label: str,
        *,
        input_mapping: dict | None = None,
        panel: int = DEFAULT_PANEL,
        max_pixels: int = DEFAULT_MAX_PIXELS,
    ):
        pixels = np.asarray(input_pixels)
        if pixels.dtype != np.uint8 or not (
            pixels.ndim == 2 or (pixels.ndim == 3 and pixels.shape[2] == 3)
        ):
            raise ParameterError(
                f"`input_pixels` must be uint8 (H, W) or (H, W, 3) "
                f"(got {pixels.dtype} {pixels.shape})"
            )
        if panel < 16:
            raise ParameterError(f"`panel` must be >= 16 px (got {panel})")
        self.title = title
        self._title_cache: dict[tuple[str, int], list[str]] = {}
        self.panel = int(panel)
        self.max_pixels = int(max_pixels)
        self._input = _Panel(
            kernel="",
            stage="input",
            thumb=_thumbnail_of_pixels(pixels, self.panel),
            shape=tuple(pixels.shape[:2]),
            vmin=float(input_mapping["lo"]) if input_mapping else math.nan,
            vmax=float(input_mapping["hi"]) if input_mapping else math.nan,
            mapping=input_mapping,
            title=input_label,
        )
        self._rows: dict[str, dict[str, _Panel]] = {}
        self.omitted: list[str] = []

    # -- building ---------------------------------------------------------------------

    def add(
        self,
        kernel_name: str,
        stage: str,
        array: np.ndarray,
        mapping: dict,
        *,
        title: str | None = None,
        pixels: np.ndarray | None = None,
        palette: np.ndarray | None = None,
    ) -> None:
        """Add one map: it is made into a thumbnail now and the float array is not kept.

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
        pixels : ndarray, optional
            ``to_pixels(array, mapping)`` when the caller already made it for the
            map's PNG: the sheet then does not map the values a second time.
        palette : ndarray, optional
            With ``pixels``: the (256, 3) colour table when ``pixels`` are the
            indices of a palette PNG (see :func:`cnnpipe.pictures.mapping.to_png_pixels`).
        """
        if stage not in STAGE_ORDER[1:]:
            raise ParameterError(f"`stage` must be conv, relu or pool (got {stage!r})")
        array = np.asarray(array)
        if array.ndim == 3 and array.shape[0] == 1:  # one channel: a plain map
            array = array[0]
        if not (array.ndim == 2 or (array.ndim == 3 and array.shape[0] == 3)) or 0 in array.shape:
            raise ParameterError(f"a map must be (H, W) or (3, H, W) (got shape {array.shape})")
        if pixels is not None:
            pixels = np.asarray(pixels)
            if pixels.shape[:2] != array.shape[-2:] or pixels.dtype not in (np.uint8, np.uint16):
                raise ParameterError(
                    f"`pixels` must be the uint8/uint16 pixels of the {array.shape[-2:]} map "
                    f"(got {pixels.dtype} {pixels.shape})"
                )
        if kernel_name not in self._rows:
            if len(self._rows) >= self._max_rows():
                if kernel_name not in self.omitted:
                    self.omitted.append(kernel_name)
                return
            self._rows[kernel_name] = {}
        finite_mask = np.isfinite(array)
        finite = array if finite_mask.all() else array[finite_mask]
        thumb = _thumbnail_of_map(array, mapping, self.panel, pixels, palette)
        self._rows[kernel_name][stage] = _Panel(
            kernel=kernel_name,
            stage=stage,
            thumb=thumb,
            shape=tuple(array.shape[-2:]),
            vmin=float(finite.min()) if finite.size else math.nan,
            vmax=float(finite.max()) if finite.size else math.nan,
            mapping=dict(mapping),
            title=title or STAGE_TITLES[stage],
        )

    def _max_rows(self) -> int:
        width = 2 * MARGIN + 4 * self.panel + 3 * GAP
        room = self.max_pixels // width - self._title_height() - 2 * MARGIN - LINE
        return max(1, room // self._row_height())

    # -- geometry ---------------------------------------------------------------------

    def _row_height(self, image_height: int | None = None) -> int:
        """Height of one row whose tallest picture is `image_height` (default: a full panel)."""
        image_height = self.panel if image_height is None else image_height
        return 2 * LINE + 4 + image_height + BAR_GAP + BAR_H + TICK_LEN + LINE + ROW_GAP

    def _title_lines(self, width: int | None = None) -> list[str]:
        width = width or (2 * MARGIN + 4 * self.panel + 3 * GAP)
        # asked for each new row and for the layout: measure the words once per title and width
        key = (self.title, width)
        if key not in self._title_cache:
            self._title_cache[key] = self._wrap_title(width)
        return list(self._title_cache[key])

    def _wrap_title(self, width: int) -> list[str]:
        font = _font(TITLE_FONT)
        lines: list[str] = []
        for paragraph in _plain(self.title).splitlines() or [""]:
            line = ""
            for word in paragraph.split(" "):
                trial = f"{line} {word}" if line else word
                if line and font.getlength(trial) > width - 2 * MARGIN:
                    lines.append(line)
                    line = word
                else:
                    line = trial
            lines.append(line)
        return lines

    def _title_height(self, width: int | None = None) -> int:
        return len(self._title_lines(width)) * (TITLE_FONT + 8) + 16

    def stages(self) -> list[str]:
        """The columns shown: input, then each stage that at least one row has."""
        present = {s for row in self._rows.values() for s in row}
        return ["input", *(s for s in STAGE_ORDER[1:] if s in present)]

    def layout(self) -> dict:
        """Geometry of the sheet, as drawn by :meth:`render`.

        Returns
        -------
        dict
            ``size`` (width, height); ``title_box``; ``panels``: one dict per panel
            with row, col, kernel, stage, labels (the two label lines),
            label_box, image_box (the picture itself), colorbar_box, ticks
            (list of (x, text)), shown (the colour bar's (lo, hi)) and clipped
            (True when the sheet shows a cut range); ``footer`` (text or None). Boxes are
            (left, top, right, bottom), right/bottom exclusive.
        """
        columns = self.stages()
        width = 2 * MARGIN + len(columns) * self.panel + (len(columns) - 1) * GAP
        title_h = self._title_height(width)
        y = MARGIN + title_h
        panels = []
        rows = self._rows or {"": {}}  # no maps yet: the input alone
        for r, (kernel, row) in enumerate(rows.items()):
            # Rows are as tall as their tallest picture, so wide photos leave no holes.
            image_h = max(p.thumb.shape[0] for p in [self._input, *row.values()])
            for c, stage in enumerate(columns):
                panel = self._input if stage == "input" else row.get(stage)
                if panel is None:
                    continue
                x = MARGIN + c * (self.panel + GAP)
                panels.append(self._panel_geometry(panel, kernel, r, c, x, y, image_h))
            y += self._row_height(image_h)
        height = y + MARGIN
        footer = None
        if self.omitted:
            footer = (
                f"{len(self.omitted)} more detector(s) not drawn to keep the sheet small "
                f"(see their own PNGs): {', '.join(self.omitted[:8])}"
                + (", ..." if len(self.omitted) > 8 else "")
            )
            height += LINE + 8
        return {
            "size": (width, height),
            "title_box": (MARGIN, MARGIN, width - MARGIN, MARGIN + title_h),
            "title_lines": self._title_lines(width),
            "columns": columns,
            "panels": panels,
            "footer": footer,
        }

    def _panel_geometry(
        self, panel: _Panel, kernel: str, r: int, c: int, x: int, y: int, image_h: int
    ) -> dict:
        h, w = panel.shape
        if panel.stage == "input":
            first = f"input \u00b7 {panel.title}"
        else:
            first = f"{panel.title} \u00b7 {kernel}"
        second = f"{h}x{w}"
        # The input's float values are not known here (only its pixels); its bar says the scale.
        if panel.stage != "input" and not math.isnan(panel.vmin):
            second += f"  min {_fmt(panel.vmin)}  max {_fmt(panel.vmax)}"
        label_box = (x, y, x + self.panel, y + 2 * LINE)
        th, tw = panel.thumb.shape[:2]
        img_top = y + 2 * LINE + 4
        ix = x + (self.panel - tw) // 2
        iy = img_top + (image_h - th) // 2
        image_box = (ix, iy, ix + tw, iy + th)
        bar_box = None
        ticks = []
        shown = None
        cut = (panel.mapping or {}).get("clipped") or {}
        below, above = bool(cut.get("below")), bool(cut.get("above"))
        clipped = below or above
        if panel.mapping is not None:
            by = img_top + image_h + BAR_GAP
            shown = (float(panel.mapping["lo"]), float(panel.mapping["hi"]))
            lo, hi = shown
            # A clipped end of the bar gets an arrow meaning "and beyond".
            right_in = ARROW_W if above else 0
            left_in = ARROW_W if below else 0
            bar_box = (x + left_in, by, x + self.panel - right_in, by + BAR_H)
            left, right = bar_box[0], bar_box[2] - 1
            lo_text, hi_text = _fmt(lo), _fmt(hi)
            lo_text = f"<={lo_text}" if below else lo_text
            hi_text = f">={hi_text}" if above else hi_text
            ticks = [(left, lo_text), (right, hi_text)]
            if lo < 0 < hi:
                zx = left + round((0 - lo) / (hi - lo) * (right - left))
                ticks.insert(1, (zx, "0"))
        return {
            "row": r,
            "col": c,
            "kernel": kernel,
            "stage": panel.stage,
            "labels": [first, second],
            "label_box": label_box,
            "image_box": image_box,
            "colorbar_box": bar_box,
            "ticks": ticks,
            "shown": shown,
            "clipped": clipped,
            "clipped_ends": (below, above),
            "_panel": panel,
        }

    # -- drawing ----------------------------------------------------------------------

    def render(self) -> Image.Image:
        """Draw the sheet (RGB)."""
        geo = self.layout()
        sheet = Image.new("RGB", geo["size"], BACKGROUND)
        draw = ImageDraw.Draw(sheet)
        label_font, tick_font, title_font = _font(LABEL_FONT), _font(TICK_FONT), _font(TITLE_FONT)
        tx, ty = geo["title_box"][:2]
        for i, line in enumerate(geo["title_lines"]):
            draw.text((tx, ty + i * (TITLE_FONT + 8)), _plain(line), fill=INK, font=title_font)
        for p in geo["panels"]:
            panel: _Panel = p["_panel"]
            lx, ly, lr, _ = p["label_box"]
            for i, line in enumerate(p["labels"]):
                text = _fit(line, label_font, lr - lx)
                draw.text((lx, ly + i * LINE), text, fill=INK if i == 0 else MUTED, font=label_font)
            ix, iy, ir, ib = p["image_box"]
            sheet.paste(Image.fromarray(panel.thumb), (ix, iy))
            draw.rectangle((ix - 1, iy - 1, ir, ib), outline=FRAME)
            if p["col"] > 0:
                self._arrow(draw, ix, p)
            if p["colorbar_box"] is not None:
                self._colorbar(sheet, draw, p, tick_font)
        if geo["footer"]:
            draw.text((MARGIN, geo["size"][1] - MARGIN - LINE), geo["footer"], fill=MUTED,
                      font=label_font)
        return sheet

    def _arrow(self, draw: ImageDraw.ImageDraw, ix: int, p: dict) -> None:
        x = MARGIN + p["col"] * (self.panel + GAP)
        y = (p["image_box"][1] + p["image_box"][3]) // 2
        x0, x1 = x - GAP + 8, x - 8
        draw.line((x0, y, x1 - 4, y), fill=MUTED, width=2)
        draw.polygon([(x1, y), (x1 - 7, y - 5), (x1 - 7, y + 5)], fill=MUTED)

    def _colorbar(self, sheet: Image.Image, draw, p: dict, font) -> None:
        bx, by, br, bb = p["colorbar_box"]
        mapping = p["_panel"].mapping
        ramp = np.rint(np.linspace(0, 255, br - bx)).astype(np.int64)
        if mapping.get("channels") == "rgb":
            # One ramp per channel: each of R, G, B uses the same lo..hi.
            bar = np.zeros((bb - by, br - bx, 3), dtype=np.uint8)
            for c, rows in enumerate(np.array_split(np.arange(bb - by), 3)):
                bar[rows, :, c] = ramp.astype(np.uint8)
        else:
            colours = lut(mapping.get("cmap", "gray"))[ramp]
            bar = np.broadcast_to(colours[None, :, :], (bb - by, br - bx, 3))
        sheet.paste(Image.fromarray(np.ascontiguousarray(bar)), (bx, by))
        draw.rectangle((bx - 1, by - 1, br, bb), outline=FRAME)
        below, above = p["clipped_ends"]
        mid = (by + bb - 1) / 2
        # An rgb bar's ends are all channels at 0 / at full: black and white.
        rgb = mapping.get("channels") == "rgb"
        if above:
            end = (255, 255, 255) if rgb else tuple(int(c) for c in bar[0, -1])
            draw.polygon([(br, by - 1), (br + ARROW_W - 1, mid), (br, bb)], fill=end,
                         outline=FRAME)
        if below:
            start = (0, 0, 0) if rgb else tuple(int(c) for c in bar[0, 0])
            draw.polygon([(bx - 1, by - 1), (bx - ARROW_W, mid), (bx - 1, bb)], fill=start,
                         outline=FRAME)
        for i, (x, text) in enumerate(p["ticks"]):
            draw.line((x, bb, x, bb + TICK_LEN), fill=INK)
            width = font.getlength(text)
            if i == 0:
                left = x
            elif i == len(p["ticks"]) - 1:
                left = x - width + 1
            else:
                left = x - width / 2
            draw.text((left, bb + TICK_LEN + 1), text, fill=INK, font=font)

    def to_png_bytes(self, compression: int = 1) -> bytes:
        """The rendered sheet as PNG bytes (zlib level `compression`, 0-9)."""
        if not 0 <= compression <= 9:
            raise ParameterError(f"`compression` must be 0..9 (got {compression})")
        from cnnpipe.io.png import encode_png

        # no row filter: flat backgrounds and colour-mapped panels deflate best as they are
        return encode_png(np.asarray(self.render()), compression=compression,
                          filter="none")


# Pillow's built-in font lacks these glyphs; callers' labels often contain them.
_PLAIN = str.maketrans({"\u00d7": "x", "\u2212": "-", "\u2013": "-", "\u2192": "->"})


def _plain(text: str) -> str:
    return text.replace("\u2026", "...").translate(_PLAIN)


def _fit(text: str, font, width: int) -> str:
    """Cut `text` with "..." so it fits `width` pixels (the default font has no ellipsis glyph)."""
    text = _plain(text)
    if font.getlength(text) <= width:
        return text
    while text and font.getlength(text + "...") > width:
        text = text[:-1]
    return text + "..."
