"""`cnnpipe animate`: the window stepping over a small matrix, live or as a GIF."""

from __future__ import annotations

import click

from cnnpipe.cli import console
from cnnpipe.cli.applies import Rule, refuse_ignored
from cnnpipe.cli.options import (
    activation_options,
    build_kernels,
    build_params,
    conv_options,
    force_option,
    pool_options,
    refuse_to_replace,
    single_kernel_options,
    teaching_memory_option,
)

MAX_SIDE = 16

#: When animate's own options act (the shared ones are in cli/applies.py).
RULES = (
    Rule("speed", lambda p: not p["no_live"] or p["gif_path"],
         "has no effect with --no-live/--steps (every step is printed at once)"),
    Rule("force", lambda p: p["gif_path"] is not None,
         "has no effect without --gif FILE (no file is written)"),
)


def _write_gif(steps, gif_path, speed) -> None:
    from cnnpipe.pictures.gif import frame_size, write_gif

    count = write_gif(steps, gif_path, duration_ms=int(round(speed * 1000)))
    width, height = frame_size(steps)
    console.say(f"animate: wrote {gif_path} ({count} frames, {width}x{height})")


def _check_gif_path(gif_path, force) -> None:
    from cnnpipe.errors import ParameterError

    if not str(gif_path).lower().endswith(".gif"):
        raise ParameterError(f"--gif {gif_path!r}: the file name must end in .gif (the "
                             "animation is written as a GIF)")
    refuse_to_replace(gif_path, force, "--gif")


@click.command()
@click.option("--input", "input_path", default=None, metavar="FILE",
              help=f"A small matrix (.csv, .txt, .npy) or image, at most {MAX_SIDE}x{MAX_SIDE}. "
                   "Default: the tutorial's 7x7 X.")
@single_kernel_options
@conv_options
@activation_options
@pool_options
@click.option("--speed", type=click.FloatRange(min=0), default=0.5, show_default=True,
              help="Seconds per step: of the live animation, or of each --gif frame.")
@click.option("--no-live", "--steps", "no_live", is_flag=True,
              help="Print every step as plain text (the default when stdout is not a terminal).")
@click.option("--gif", "gif_path", default=None, metavar="FILE",
              help="Write the steps as an animated GIF (one labelled frame per step) "
                   "instead of animating in the terminal.")
@force_option("the --gif file")
@teaching_memory_option
def animate(input_path, kernel_specs, random_n, seed, random_size, conv_stride, padding,
            pad_mode, dilation, flip, activation, leak, pool_mode, window, stride, edge, speed,
            no_live, gif_path, force, max_memory):
    """Step the window over a small matrix: convolution, then pooling.

    Each step shows the window on the input, the output cell being filled and
    the arithmetic (products and their sum; the max/mean of the pooling
    window). Pooling windows at the right and bottom edges hang off the map
    (--edge keep). Takes one detector (default: tutorial).

    \b
    Examples:
      cnnpipe animate
      cnnpipe animate --speed 0.2 --pool mean
      cnnpipe animate --input small.csv -k sobel-x --padding same --steps
      cnnpipe animate --gif steps.gif
    """
    import sys

    from cnnpipe.errors import ParameterError
    from cnnpipe.teaching.animation import TUTORIAL_X, walk

    refuse_ignored(extra=RULES)
    if gif_path is not None:
        _check_gif_path(gif_path, force)
    kernels = build_kernels(kernel_specs, random_n, seed, random_size, default=False)
    if not kernels:
        from cnnpipe.kernels import BUILTIN

        kernels = [BUILTIN["tutorial"]]
    if len(kernels) != 1:
        raise ParameterError(f"animate shows one detector at a time (got {len(kernels)}); "
                             "give a single -k")
    params = build_params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                          dilation=dilation, flip=flip, activation=activation, leak=leak,
                          pool_mode=pool_mode, window=window, stride=stride, edge=edge)
    image = TUTORIAL_X if input_path is None else _load_small(input_path)
    from cnnpipe.budget import Budget
    from cnnpipe.teaching.limits import check_animate

    check_animate(image.shape, kernels[0].weights.shape[-2:], params, Budget(memory=max_memory))
    steps = walk(image, kernels[0].weights, params)

    if gif_path is not None:
        _write_gif(steps, gif_path, speed)
        return
    out = console.stdout()
    if not wants_live(no_live, sys.stdout):
        for step in steps.steps:
            out.print(_render(steps, step, kernels[0].name, out.width))
            out.print()
        return
    import time

    from rich.live import Live

    with Live(_render(steps, steps.steps[0], kernels[0].name, out.width), console=out,
              auto_refresh=False) as live:
        for step in steps.steps:
            live.update(_render(steps, step, kernels[0].name, out.width), refresh=True)
            time.sleep(speed)


def wants_live(no_live, stdout) -> bool:
    """Animate in place only on a terminal: a file or pipe gets every step as plain text."""
    isatty = getattr(stdout, "isatty", None)
    return not no_live and isatty is not None and bool(isatty())


def _load_small(path):
    from cnnpipe import io
    from cnnpipe.errors import InputError, ParameterError

    try:
        array = io.load_image(path).array
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    if array.shape[0] > MAX_SIDE or array.shape[1] > MAX_SIDE:
        # a fine file, but not for this command: a usage error (exit 2), as in `demo`
        raise ParameterError(f"{path}: is {array.shape[0]}x{array.shape[1]}; animate takes at most "
                         f"{MAX_SIDE}x{MAX_SIDE} (crop it, or use `cnnpipe run` for big inputs)")
    return array


def _render(walk, step, kernel_name, console_width=None):
    """One step as a rich renderable; brackets mark the window so it shows without colour.

    The input and output grids sit side by side when both fit in
    ``console_width`` columns, else one under the other; a grid still wider
    than the console shows the columns around the window (``…`` marks hidden
    ones, the title says which are shown), never wrapped into the next row.
    """
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    conv_stage = step.stage == "conv"
    grid = walk.padded if conv_stage else walk.activated
    output = walk.conv if conv_stage else walk.pooled
    rows, cols = max(grid.shape[0], step.row1), max(grid.shape[1], step.col1)
    width = max(len(_num(v)) for v in list(grid.ravel()) + list(output.ravel()))
    side_by_side = (cols + output.shape[1]) * (width + 2) + 4
    stacked = console_width is not None and side_by_side > console_width
    # One under the other, a grid still wider than the console scrolls with the window.
    room = console_width if stacked else None
    in_cols = _view(cols, step.col0, step.col1, width + 2, room)
    out_cols = _view(output.shape[1], step.out_col, step.out_col + 1, width + 2, room)
    left = _input_grid(grid, step, rows, cols, in_cols, width)
    right = _output_grid(output, step, out_cols, width)
    heading, titles = _titles(walk, step, kernel_name, grid,
                              ((in_cols, cols), (out_cols, output.shape[1])))
    if stacked:
        layout = Group(Text(titles[0], style="bold"), left, Text(titles[1], style="bold"), right)
    else:
        layout = Table.grid(padding=(0, 4))
        layout.add_row(Text(titles[0], style="bold"), Text(titles[1], style="bold"))
        layout.add_row(left, right)
    where = (f"{heading} step {step.number}/{step.total}: window rows {step.row0}-"
             f"{step.row1 - 1}, cols {step.col0}-{step.col1 - 1} → cell "
             f"({step.out_row}, {step.out_col})" + (", partial window" if step.partial else ""))
    return Group(Text(where, style="bold"), layout, Text(step.arithmetic(), style="bold red"))


def _input_grid(grid, step, rows, cols, in_cols, width):
    """The input (padded) grid with the window's cells marked; ``·`` where it hangs off."""
    from rich.text import Text

    dh, dw = step.dilation
    window = {(r, c) for r in range(step.row0, step.row1, dh)
              for c in range(step.col0, step.col1, dw)}
    left = Text(no_wrap=True, overflow="ellipsis")
    for r in range(rows):
        left.append("…" if in_cols[0] > 0 else "")
        for c in range(*in_cols):
            inside = r < grid.shape[0] and c < grid.shape[1]
            text = _num(grid[r, c]) if inside else ("·" if (r, c) in window else "")
            left.append_text(_cell(text, width, (r, c) in window, "bold black on yellow"))
        left.append("…" if in_cols[1] < cols else "")
        if r < rows - 1:
            left.append("\n")
    return left


def _output_grid(output, step, out_cols, width):
    """The output grid filled up to the current cell, which is marked."""
    from rich.text import Text

    right = Text(no_wrap=True, overflow="ellipsis")
    for r in range(output.shape[0]):
        right.append("…" if out_cols[0] > 0 else "")
        for c in range(*out_cols):
            done = (r, c) <= (step.out_row, step.out_col)
            current = (r, c) == (step.out_row, step.out_col)
            right.append_text(_cell(_num(output[r, c]) if done else ".", width, current,
                                    "bold black on cyan"))
        right.append("…" if out_cols[1] < output.shape[1] else "")
        if r < output.shape[0] - 1:
            right.append("\n")
    return right


def _titles(walk, step, kernel_name, grid, views):
    """The step's heading and the two grids' titles (with the columns shown, if not all)."""
    from cnnpipe.numbers import size_text

    if step.stage == "conv":
        titles = (f"input {size_text(*walk.image.shape)} (W×H)"
                  + (" (padded)" if grid.shape != walk.image.shape else ""),
                  f"feature map ({kernel_name})")
        heading = "Convolution"
    else:
        titles = ("feature map after activation", f"pooled ({step.mode})")
        heading = "Pooling"
    return heading, tuple(
        title + (f", cols {first}-{last - 1} of {total}" if (first, last) != (0, total) else "")
        for title, ((first, last), total) in zip(titles, views, strict=True))


def _view(total: int, focus0: int, focus1: int, cell: int, room: int | None) -> tuple[int, int]:
    """The columns [first, last) to draw: all of them when they fit in ``room``
    characters, else as many as fit (one ``…`` each side) around [focus0, focus1)."""
    if room is None or total * cell <= room:
        return 0, total
    fit = max(focus1 - focus0, (room - 2) // cell, 1)
    first = round((focus0 + focus1) / 2 - fit / 2)
    first = max(0, min(total - fit, first))
    return first, min(total, first + fit)


def _cell(text, width, marked, style):
    from rich.text import Text

    if marked:
        return Text(f"[{text:>{width}}]", style=style)
    return Text(f" {text:>{width}} ")


def _num(value) -> str:
    from cnnpipe.numbers import format_number

    return format_number(value)
