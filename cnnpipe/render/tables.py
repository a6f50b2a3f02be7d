"""rich renderables for maps and run summaries. Functions return, never print."""

from __future__ import annotations

import numpy as np
from rich import box
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from cnnpipe.numbers import SIZE_ORDER, format_number, format_sum, shape_text, size_text
from cnnpipe.render.text import printable

NEGATIVE = "red"
ZERO = "dim"
HIGHLIGHT = "bold reverse"


def format_value(value: float) -> str:
    """A number as cnnpipe shows it everywhere (:func:`cnnpipe.numbers.format_number`)."""
    return format_number(value)


def matrix_table(array: np.ndarray, title: str | None = None, *, caption: str | None = None,
                 highlight: set[tuple[int, int]] | None = None,
                 row_labels: bool = True) -> Table:
    """A 2-D array as a table: numbers right-aligned, negatives red, zeros dim.

    ``highlight`` holds ``(row, col)`` cells to emphasise (e.g. pooling winners);
    they are also marked with ``*`` so the mark survives without colour. A table
    wider than the console prints as blocks of whole columns, one under the other.
    """
    array = np.asarray(array)
    if array.ndim != 2:
        raise ValueError(f"matrix_table needs a 2-D array (got shape {array.shape})")
    highlight = highlight or set()

    def block(start: int, stop: int, first: bool = True, last: bool = True,
              table: Table | None = None) -> Table:
        if table is None:
            table = Table(**_matrix_style(title if first else None, caption if last else None))
        if row_labels:
            table.add_column("", justify="right", style="dim")
        for col in range(start, stop):
            table.add_column(str(col), justify="right")
        for row in range(array.shape[0]):
            cells = []
            for col in range(start, stop):
                value = array[row, col]
                text = format_value(value)
                style = NEGATIVE if value < 0 else (ZERO if value == 0 else "")
                if (row, col) in highlight:
                    text = f"*{text}"
                    style = f"{style} {HIGHLIGHT}".strip()
                cells.append(Text(text, style=style))
            table.add_row(*([str(row)] if row_labels else []), *cells)
        return table

    n_cols = array.shape[1]
    return block(0, n_cols, table=_MatrixTable(block, n_cols, **_matrix_style(title, caption)))


def _matrix_style(title, caption) -> dict:
    return dict(title=title, caption=caption, box=box.SIMPLE_HEAD, show_edge=False,
                pad_edge=False, title_justify="left", caption_justify="left",
                min_width=len(title or "") + 1)


class _MatrixTable(Table):
    """A matrix table that, wider than the console, prints in blocks of whole columns.

    rich would squeeze every column instead and elide the numbers: "0.55"
    became "0…", and "3.92e-03" became "3…", which reads as 3.
    """

    def __init__(self, block, n_cols: int, **kwargs):
        super().__init__(**kwargs)
        self._block = block  # (start, stop, first, last) -> Table of columns start:stop
        self._n_cols = n_cols

    def __rich_console__(self, console, options):
        if self._n_cols <= 1 or _natural_width(console, options, self) <= options.max_width:
            yield from super().__rich_console__(console, options)
            return
        # Natural width of every column, measured once; blocks are packed greedily with
        # that estimate, then each is measured and narrowed until it fits.
        widths = [max(Measurement.get(console, options.update_width(1 << 20), cell).maximum
                      for cell in [column.header, *column.cells]) for column in self.columns]
        labels = len(widths) - self._n_cols  # the row-label column, if any
        start = 0
        while start < self._n_cols:
            stop, used = start + 1, sum(widths[:labels]) + 3 * labels + widths[labels + start]
            while stop < self._n_cols and used + 3 + widths[labels + stop] <= options.max_width:
                used += 3 + widths[labels + stop]
                stop += 1
            block = self._block(start, stop, start == 0, stop == self._n_cols)
            while stop > start + 1 and _natural_width(console, options, block) > options.max_width:
                stop -= 1
                block = self._block(start, stop, start == 0, stop == self._n_cols)
            yield block
            start = stop


def _natural_width(console, options, table: Table) -> int:
    """The width ``table`` needs to show every cell in full."""
    return Measurement.get(console, options.update_width(1 << 20), table).maximum


def summary_table(manifest: dict, title: str | None = None):
    """One row per map: stage, detector, size (W×H), min, max, mean, zeros, file.

    File names are never cut: when the table is wider than the console, the
    stage and detector columns (which the file name repeats) are left out.
    """
    return _Summary(manifest, title)


class _Summary:
    def __init__(self, manifest: dict, title: str | None):
        self.manifest, self.title = manifest, title

    def table(self, names: bool) -> Table:
        table = Table(title=_plain(self.title) if self.title is not None else None,
                      box=box.SIMPLE_HEAD, title_justify="left", show_edge=False)
        if names:
            table.add_column("stage", no_wrap=True)
            table.add_column("detector", no_wrap=True)
        table.add_column(f"size ({SIZE_ORDER})", justify="right", no_wrap=True)
        for name in ("min", "max", "mean"):
            table.add_column(name, justify="right", no_wrap=True)
        table.add_column("zeros", justify="right", no_wrap=True)
        table.add_column("file", no_wrap=True)
        for entry in self.manifest.get("maps", []):
            cells = [Text(format_value(entry[key]), style=NEGATIVE if entry[key] < 0 else "")
                     for key in ("min", "max", "mean")]
            zeros = (f"{100 * entry['zero_fraction']:.0f}%"
                     if entry["stage"] in ("relu", "pool") else "")
            first = [entry["stage"], _plain(entry.get("kernel") or "")] if names else []
            table.add_row(*first, shape_text(entry["shape"]), *cells, zeros,
                          _plain(entry["file"]))
        return table

    def __rich_console__(self, console, options):
        full = self.table(names=True)
        yield full if _natural_width(console, options, full) <= options.max_width \
            else self.table(names=False)

    def __rich_measure__(self, console, options):
        return Measurement.get(console, options, self.table(names=True))


def _plain(text) -> Text:
    """A name or message as a cell: no markup, every control character escaped."""
    return Text(printable(text))


def batch_table(reports: list[dict]) -> Table:
    """One row per input of a batch: status, size, output folder or error."""
    table = Table(box=box.SIMPLE_HEAD, title="inputs", title_justify="left", show_edge=False)
    table.add_column("input")
    table.add_column("status")
    table.add_column(f"size ({SIZE_ORDER})", justify="right")
    table.add_column("output / error")
    styles = {"ok": "green", "failed": "red", "skipped": "yellow"}
    for report in reports:
        info = report.get("input", {})
        size = size_text(info["height"], info["width"]) if "width" in info else ""
        detail = report.get("error") or report.get("output", "")
        table.add_row(_plain(info.get("path", "")), Text(report["status"],
                      style=styles.get(report["status"], "")), size, _plain(detail))
    return table


def detectors_table(kernels, *, show_matrices: int = 5) -> Table:
    """The detectors of a run: name, size, sum and (for small ones) the matrix inline."""
    table = Table(box=box.SIMPLE_HEAD, title="detectors", title_justify="left", show_edge=False)
    table.add_column("detector", no_wrap=True)
    table.add_column(f"size ({SIZE_ORDER})", justify="right", no_wrap=True)
    table.add_column("sum", justify="right", no_wrap=True)
    table.add_column("weights", no_wrap=True)
    table.add_column("description")
    for k in kernels:
        w = np.asarray(k.weights)
        size = shape_text(w.shape)
        if w.ndim == 2 and max(w.shape) <= show_matrices:
            rows = Text()
            for i, row in enumerate(w):
                if i:
                    rows.append("\n")
                for j, value in enumerate(row):
                    rows.append(("" if j == 0 else " ") + f"{format_value(value):>5}",
                                style=NEGATIVE if value < 0 else "")
            weights = rows
        else:
            weights = Text(f"{w.size} weights", style="dim")
        total = float(np.asarray(w, dtype=np.float64).sum())
        table.add_row(_plain(k.name), size, format_sum(total), weights,
                      _plain(getattr(k, "description", "")))
    return table
