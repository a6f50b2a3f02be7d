"""Animated GIF of a :class:`cnnpipe.teaching.animation.Walk`: one frame per window position.

Frame layout (every frame the same size, in pixels)::

    width  = max(MIN_WIDTH, 2*MARGIN + cell*(in_cols + out_cols) + GAP)
    height = 2*MARGIN + TITLE + cell*max(in_rows, out_rows) + FOOTER

``in_rows x in_cols`` is the larger of the padded input and the activated
feature map plus the rows/cols that pooling windows hang past it;
``out_rows x out_cols`` is the larger of the feature map and the pooled map.
``cell`` is CELL (40 px), or wider when the widest number of the grids needs it
(numbers are never cut: they are written as everywhere else, see
:mod:`cnnpipe.numbers`). With the defaults (CELL 40, MARGIN 20, GAP 40, TITLE 28, FOOTER 60,
MIN_WIDTH 480) the tutorial's 7x7 X gives 560 x 408.
"""

from __future__ import annotations

import functools

from PIL import Image, ImageDraw, ImageFont

from cnnpipe.numbers import format_number, size_text
from cnnpipe.teaching.animation import Step, Walk, hang

CELL = 40
MARGIN = 20
GAP = 40
TITLE = 28
FOOTER = 60
MIN_WIDTH = 480

_WHITE = (255, 255, 255)
_INK = (20, 20, 20)
_GRID = (170, 170, 170)
_PAD = (225, 225, 225)
_WINDOW = (255, 236, 150)
_BOX = (214, 39, 40)
_FILLED = (210, 228, 245)
_CURRENT = (255, 200, 90)
_EMPTY = (245, 245, 245)
_OFF = (235, 235, 235)
_WEIGHT = (30, 90, 200)
_DIM = (130, 130, 130)


def grid_extent(walk: Walk) -> tuple[int, int, int, int]:
    """``(in_rows, in_cols, out_rows, out_cols)`` in cells, shared by every frame."""
    hang_rows, hang_cols = hang(walk)
    act_h, act_w = walk.activated.shape
    in_rows = max(walk.padded.shape[0], act_h + hang_rows)
    in_cols = max(walk.padded.shape[1], act_w + hang_cols)
    out_rows, out_cols = walk.conv.shape
    if walk.pooled is not None:
        out_rows = max(out_rows, walk.pooled.shape[0])
        out_cols = max(out_cols, walk.pooled.shape[1])
    return in_rows, in_cols, out_rows, out_cols


def frame_size(walk: Walk) -> tuple[int, int]:
    """``(width, height)`` of every frame, by the formula in the module docstring."""
    in_rows, in_cols, out_rows, out_cols = grid_extent(walk)
    cell = cell_size(walk)
    width = max(MIN_WIDTH, 2 * MARGIN + cell * (in_cols + out_cols) + GAP)
    height = 2 * MARGIN + TITLE + cell * max(in_rows, out_rows) + FOOTER
    return width, height


@functools.lru_cache(maxsize=8)
def _font(size: int):
    return ImageFont.load_default(size=size)


_num = format_number  # the same numbers as the arithmetic line and the terminal


def _size(shape) -> str:
    """Width first, as everywhere (the GIF's font has no "×")."""
    return size_text(*shape[-2:]).replace("\u00d7", "x")


def cell_size(walk: Walk) -> int:
    """Side of one grid cell in px: CELL, or the widest number plus a margin."""
    font = _font(16)
    values = [walk.padded, walk.activated, walk.conv] + (
        [walk.pooled] if walk.pooled is not None else [])
    widest = max(font.getlength(_num(v)) for grid in values for v in grid.ravel())
    return max(CELL, int(widest) + 10)


def _cell_box(x0, y0, r, c, cell=CELL):
    return (x0 + c * cell, y0 + r * cell, x0 + (c + 1) * cell, y0 + (r + 1) * cell)


def _centered(draw, box, text, font, fill):
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    draw.text((cx, cy), text, font=font, fill=fill, anchor="mm")


def render_frame(walk: Walk, step: Step) -> Image.Image:
    """One RGB frame: the input grid with the window, the output grid filling, the arithmetic."""
    width, height = frame_size(walk)
    cell = cell_size(walk)
    in_rows, in_cols, out_rows, out_cols = grid_extent(walk)
    image = Image.new("RGB", (width, height), _WHITE)
    draw = ImageDraw.Draw(image)
    left_x, top_y = MARGIN, MARGIN + TITLE
    right_x = MARGIN + cell * in_cols + GAP
    conv_stage = step.stage == "conv"
    grid = walk.padded if conv_stage else walk.activated
    output = walk.conv if conv_stage else walk.pooled

    in_title, out_title = _titles(walk, step, grid, output)
    draw.text((left_x, MARGIN), in_title, font=_font(14), fill=_INK)
    draw.text((right_x, MARGIN), out_title, font=_font(14), fill=_INK)
    _draw_input(draw, walk, step, grid, (left_x, top_y), cell)
    _draw_output(draw, step, output, (right_x, top_y), cell)
    footer_y = top_y + cell * max(in_rows, out_rows) + 10
    _draw_footer(draw, step, footer_y, width)
    return image


def _titles(walk: Walk, step: Step, grid, output) -> tuple[str, str]:
    """The captions above the two grids, sizes width first."""
    if step.stage == "conv":
        in_title = f"input {_size(walk.image.shape)} (WxH)"
        if walk.padded.shape != walk.image.shape:
            in_title += " (grey: padding)"
        return in_title, f"feature map {_size(output.shape)}"
    return (f"feature map after activation {_size(grid.shape)} (WxH)",
            f"pooled ({step.mode}) {_size(output.shape)}")


def _draw_input(draw, walk: Walk, step: Step, grid, origin, cell: int) -> None:
    """The grid the window moves over: its cells, the window's weights, the red box."""
    left_x, top_y = origin
    big, small, tiny = _font(16), _font(14), _font(10)
    conv_stage = step.stage == "conv"
    top, _, left, _ = walk.padding if conv_stage else (0, 0, 0, 0)
    in_window = _window_cells(step)
    winner = _winner(step)
    # Cells the pooling box covers past the map's edge, drawn outside the grid.
    for r in range(step.row0, step.row1):
        for c in range(step.col0, step.col1):
            if r >= grid.shape[0] or c >= grid.shape[1]:
                box = _cell_box(left_x, top_y, r, c, cell)
                draw.rectangle(box, fill=_OFF, outline=_GRID)
                _centered(draw, box, "-", small, _DIM)
    for r in range(grid.shape[0]):
        for c in range(grid.shape[1]):
            box = _cell_box(left_x, top_y, r, c, cell)
            padding_cell = conv_stage and not (
                top <= r < top + walk.image.shape[0] and left <= c < left + walk.image.shape[1])
            fill = _WINDOW if (r, c) in in_window else (_PAD if padding_cell else _WHITE)
            draw.rectangle(box, fill=fill, outline=_GRID)
            colour = _BOX if (r, c) == winner else (_DIM if padding_cell else _INK)
            if conv_stage and (r, c) in in_window:
                wr = (r - step.row0) // step.dilation[0]
                wc = (c - step.col0) // step.dilation[1]
                draw.text((box[0] + 4, box[1] + 3), _num(grid[r, c]), font=big, fill=colour)
                draw.text((box[2] - 3, box[3] - 2), "x" + _num(step.weights[wr, wc]),
                          font=tiny, fill=_WEIGHT, anchor="rd")
            else:
                _centered(draw, box, _num(grid[r, c]), big, colour)
    x0, y0 = left_x + step.col0 * cell, top_y + step.row0 * cell
    x1, y1 = left_x + step.col1 * cell, top_y + step.row1 * cell
    draw.rectangle((x0, y0, x1, y1), outline=_BOX, width=3)


def _draw_output(draw, step: Step, output, origin, cell: int) -> None:
    """The map being filled: cells done so far, the current one boxed."""
    right_x, top_y = origin
    for r in range(output.shape[0]):
        for c in range(output.shape[1]):
            box = _cell_box(right_x, top_y, r, c, cell)
            done = (r, c) < (step.out_row, step.out_col)
            current = (r, c) == (step.out_row, step.out_col)
            fill = _CURRENT if current else (_FILLED if done else _EMPTY)
            draw.rectangle(box, fill=fill, outline=_GRID)
            if done or current:
                _centered(draw, box, _num(output[r, c]), _font(16), _INK)
    draw.rectangle(_cell_box(right_x, top_y, step.out_row, step.out_col, cell), outline=_BOX,
                   width=3)


def _draw_footer(draw, step: Step, footer_y: int, width: int) -> None:
    """Where the window is, then the arithmetic (shortened until it fits)."""
    stage_name = "Convolution" if step.stage == "conv" else "Pooling"
    where = (f"{stage_name} step {step.number}/{step.total}: window rows {step.row0}-"
             f"{step.row1 - 1}, cols {step.col0}-{step.col1 - 1} -> cell "
             f"({step.out_row}, {step.out_col})")
    if step.partial:
        where += ", partial window"
    draw.text((MARGIN, footer_y), where, font=_font(14), fill=_INK)
    draw.text((MARGIN, footer_y + 24), _fit(step, _font(16), width - 2 * MARGIN), font=_font(16),
              fill=_BOX)


def _window_cells(step: Step) -> set[tuple[int, int]]:
    dh, dw = step.dilation
    return {(r, c) for r in range(step.row0, step.row1, dh)
            for c in range(step.col0, step.col1, dw)}


def _winner(step: Step) -> tuple[int, int] | None:
    if step.stage != "pool" or step.mode not in ("max", "min") or step.inputs.size == 0:
        return None
    flat = step.inputs.argmax() if step.mode == "max" else step.inputs.argmin()
    r, c = divmod(int(flat), step.inputs.shape[1])
    return step.row0 + r, step.col0 + c


def _fit(step: Step, font, width: int) -> str:
    """The arithmetic, with fewer terms until it fits ``width`` pixels."""
    terms = step.inputs.size
    text = step.arithmetic(ascii_only=True)
    while font.getlength(text) > width and terms > 2:
        terms -= 1
        text = step.arithmetic(ascii_only=True, max_terms=terms)
    return text


def write_gif(walk: Walk, path, *, duration_ms: int = 500) -> int:
    """Write one frame per step as an animated GIF (atomically); return the frame count."""
    import io as _io

    from cnnpipe.io import atomic_write

    frames = _shared_palette([render_frame(walk, step) for step in walk.steps])
    buffer = _io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:],
                   duration=max(20, int(duration_ms)), loop=0, optimize=False, disposal=1)
    atomic_write(path, buffer.getvalue())
    return len(frames)


def _shared_palette(frames: list[Image.Image]) -> list[Image.Image]:
    """Frames in one 128-colour palette taken from both stages' first and last frames.

    One palette for all frames is ~15x faster than Pillow's per-frame
    quantisation and keeps colours from flickering between frames.
    """
    picks = sorted({0, len(frames) // 2, len(frames) - 1})
    sample = Image.new("RGB", (frames[0].width, frames[0].height * len(picks)))
    for i, index in enumerate(picks):
        sample.paste(frames[index], (0, i * frames[0].height))
    palette = sample.quantize(colors=128, method=Image.Quantize.MEDIANCUT)
    return [f.quantize(palette=palette, dither=Image.Dither.NONE) for f in frames]
