"""Rich renderables for kernels. Functions return tables; they never print."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cnnpipe.numbers import format_number, format_sum
from cnnpipe.numbers import size_text as _width_first

#: Matrices wider or taller than this are summarised instead of drawn.
MAX_SHOWN_SIDE = 9
#: Up to this many columns the name and description sit beside the matrix; wider
#: matrices and multi-channel kernels get them above, so 80 columns never cut them.
SIDE_BY_SIDE_UP_TO = 5


def size_text(shape: tuple[int, ...]) -> str:
    """Width first, as everywhere: ``(3, 5) -> "5×3"``, ``(3, 5, 5) -> "3ch 5×5"``."""
    if len(shape) == 3:
        return f"{shape[0]}ch {_width_first(shape[1], shape[2])}"
    return _width_first(shape[0], shape[1])


def number_text(value: float) -> str:
    """A weight as text (:func:`cnnpipe.numbers.format_number`)."""
    return format_number(value)


def kernels_overview_table(kernels: Iterable) -> Table:
    """One row per kernel: name, size, sum of the weights, description."""
    table = Table(title="Feature detectors", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("size (W×H)", justify="right", no_wrap=True)
    table.add_column("sum", justify="right", no_wrap=True)
    table.add_column("description")
    for k in kernels:
        total = float(np.asarray(k.weights, dtype=np.float64).sum())
        table.add_row(k.name, size_text(k.shape), format_sum(total), k.description)
    return table


def _matrix_table(weights: np.ndarray, max_side: int) -> Table:
    kh, kw = weights.shape
    if max(kh, kw) > max_side:
        table = Table(show_header=False)
        table.add_column()
        table.add_row(f"{kh}x{kw}: too large for a table\n(limit {max_side}x{max_side});\n"
                      "see it with --png FILE,\nits weights with --json")
        return table
    table = Table(show_header=False)
    for _ in range(kw):
        table.add_column(justify="right", no_wrap=True)
    for row in weights:
        cells = []
        for value in row:
            text = number_text(float(value))
            # Negative weights in red; the minus sign keeps them distinct without colour.
            style = "red" if text.startswith("-") else ("dim" if float(value) == 0 else "")
            cells.append(Text(text, style=style))
        table.add_row(*cells)
    return table


def kernel_card(k, max_side: int = MAX_SHOWN_SIDE) -> Table | Group:
    """The kernel's matrix (one per input channel) beside its name, description and source.

    Matrices wider or taller than ``max_side`` are summarised, not drawn.
    """
    weights = np.asarray(k.weights)
    card = Table.grid(padding=(0, 2))
    card.add_column(no_wrap=True)
    card.add_column()
    about = Text()
    about.append(k.name, style="bold")
    about.append(f"  {size_text(k.shape)}\n")
    if k.description:
        about.append(k.description + "\n")
    if k.source:
        about.append(f"source: {k.source}", style="italic")
    channels = [weights] if weights.ndim == 2 else list(weights)
    if weights.ndim == 3 or weights.shape[-1] > SIDE_BY_SIDE_UP_TO:
        # The matrices take the width (a 7-wide matrix is ~75 columns): the words go
        # above them, whole, instead of being cut to a few characters beside them.
        parts = [about]
        for c, channel in enumerate(channels):
            if weights.ndim == 3:
                parts.append(Text(f"channel {c}", style="dim"))
            parts.append(_matrix_table(channel, max_side))
        return Group(*parts)
    for c, channel in enumerate(channels):
        label = about if c == 0 else Text(f"channel {c}")
        if weights.ndim == 3 and c == 0:
            label = about.copy()
            label.append("\nchannel 0")
        card.add_row(_matrix_table(channel, max_side), label)
    return card
