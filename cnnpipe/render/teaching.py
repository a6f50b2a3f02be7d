"""rich renderables for the lessons: `cnnpipe demo` and pooling provenance.

`cnnpipe shape` has its own module, :mod:`cnnpipe.render.shapes`.

Functions return renderables (or plain caption strings); they never print.
Captions are separate paragraphs, not table captions, so they wrap at the
terminal's width instead of the width of a narrow 5x5 table.
"""

from __future__ import annotations

import numpy as np
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cnnpipe.numbers import size_text
from cnnpipe.render.tables import format_value, matrix_table
from cnnpipe.teaching.shapes import cell_ranges

POOL_VERBS = {
    "max": "kept the largest value",
    "min": "kept the smallest value",
    "mean": "took the average",
    "sum": "added up the values",
    "l2": "took the square root of the sum of squares",
}

SUMMARY_NOUNS = {"mean": "average", "sum": "sum", "l2": "root of the sum of squares"}


def _hw(shape) -> str:
    """A (rows, cols) size written width first, as everywhere: (5, 7) -> 7×5."""
    return size_text(shape[0], shape[1])


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def caption(text: str) -> Text:
    """A caption paragraph: plain words that wrap at the terminal's width."""
    return Text(text)


def input_caption(shape, builtin: bool) -> str:
    """What the input is: the built-in X or the user's own values."""
    if builtin:
        return (f"The image: {_hw(shape)} cells, 1 = ink, 0 = background. An X, drawn "
                f"with two diagonal strokes.")
    return f"Your input: {_hw(shape)} values (images are scaled to 0..1)."


def conv_caption(in_hw, kernel_hw, out_hw, *, stride=(1, 1), padding="valid",
                 dilation=(1, 1)) -> str:
    """What the convolution did, with the sizes before and after."""
    span = [dilation[i] * (kernel_hw[i] - 1) + 1 for i in range(2)]
    step = "one cell at a time" if tuple(stride) == (1, 1) else \
        f"in steps of {stride[0] if stride[0] == stride[1] else _hw(stride)}"
    if padding == "valid":
        lost = [span[i] - 1 for i in range(2)]
        if lost[0] == lost[1]:
            how = f"valid padding loses ({span[0]}−1)={lost[0]} rows and columns"
        else:
            how = (f"valid padding loses ({span[0]}−1)={lost[0]} rows and "
                   f"({span[1]}−1)={lost[1]} columns")
    elif padding == "same":
        how = "same padding adds a border so the size only changes with the stride"
    elif padding == "full":
        how = "full padding adds a border of (k−1) so every overlap counts: the map grows"
    else:
        how = f"padding {padding} adds that many rows/columns around the image first"
    return (f"The detector slid over the {_hw(in_hw)} image {step}: {_hw(in_hw)} → "
            f"{_hw(out_hw)} feature map ({how}). Each cell is the sum of a "
            f"{_hw(kernel_hw)} patch times the detector: large where the patch looks like it.")


def activation_caption(conv: np.ndarray, activated: np.ndarray, activation: str,
                       leak: float) -> str:
    """What ReLU (or leaky ReLU) did to the feature map, with the counts."""
    negatives = int((conv < 0).sum())
    rest = conv.size - negatives
    shape = _hw(conv.shape)
    if activation == "leaky":
        return (f"Leaky ReLU multiplied the {_plural(negatives, 'negative value')} by "
                f"{leak:g}; the other {rest} cells are unchanged. {shape} → {shape}.")
    return (f"ReLU replaced the {_plural(negatives, 'negative value')} with 0; the other "
            f"{rest} cells are unchanged. {shape} → {shape}: only the detector's "
            f"positive matches remain.")


def _edge_windows(prov, idx: int):
    """(start, stop) of the windows along rows (idx 0) or columns (idx 1)."""
    if idx == 0:
        return zip(prov["row0"][:, 0].tolist(), prov["row1"][:, 0].tolist(), strict=True)
    return zip(prov["col0"][0, :].tolist(), prov["col1"][0, :].tolist(), strict=True)


def pool_caption(in_hw, out_hw, window, stride, mode, edge, prov,
                 source_name: str = "map") -> str:
    """What pooling did, the sizes, and which windows hang off the edge."""
    step = stride[0] if stride[0] == stride[1] else _hw(stride)
    text = (f"A {_hw(window)} window slid over the {_hw(in_hw)} map in steps of {step} "
            f"and {POOL_VERBS[mode]} of each window: {_hw(in_hw)} → {_hw(out_hw)}.")
    clipped = []
    for axis, idx in (("rows", 0), ("columns", 1)):
        for start, stop in _edge_windows(prov, idx):
            if stop - start < window[idx]:
                clipped.append(f"{axis} {start}..{start + window[idx] - 1} clipped to "
                               f"{start}..{stop - 1}")
    if clipped:
        text += (" The last windows hang off the edge (" + "; ".join(clipped) +
                 "): they pool only the cells inside the map" +
                 (", and the mean divides by that count." if mode == "mean" else "."))
    elif edge == "drop":
        text += " Only whole windows count (--edge drop)."
    unseen = []
    for axis, idx in (("rows", 0), ("columns", 1)):
        covered = set()
        for start, stop in _edge_windows(prov, idx):
            covered.update(range(start, stop))
        missing = [i for i in range(in_hw[idx]) if i not in covered]
        if missing:
            unseen.append(f"{axis if len(missing) > 1 else axis[:-1]} {cell_ranges(missing)}")
    if unseen:
        text += f" No window covers {' or '.join(unseen)}: those cells are ignored."
    if mode in ("max", "min"):
        text += f" The * cells in the {source_name} above are the winners."
    return text


def invariance_caption(source: np.ndarray, pooled: np.ndarray, window, stride,
                       mode: str = "max") -> str:
    """The closing lesson, with this run's numbers."""
    move = [max(min(window[i], stride[i]) - 1, 0) for i in range(2)]
    if move[0] == move[1]:
        shift = _plural(move[0], "cell")
    else:
        shift = " and ".join(_plural(m, w) for m, w in zip(move, ("row", "column"), strict=True)
                             if m)
    text = f"Invariance: the map shrank from {source.size} to {pooled.size} cells"
    if mode in ("max", "min"):
        pick = np.max if mode == "max" else np.min
        word = "strongest" if mode == "max" else "weakest"
        best, kept = float(pick(source)), float(pick(pooled))
        if best == kept:
            text += (f", yet its {word} response ({format_value(best)}) is still there "
                     f"({format_value(kept)} in the pooled map)")
        else:
            text += (f"; its {word} response ({format_value(best)}) lay in no window, so the "
                     f"pooled map's {word} is {format_value(kept)}")
        text += (f". Each pooled cell says a feature was somewhere in its {_hw(window)} "
                 f"window, not exactly where")
    else:
        text += (f"; each pooled cell is the {SUMMARY_NOUNS[mode]} of its {_hw(window)} "
                 f"window, whatever the order of the cells in it")
    if move[0] or move[1]:
        text += (f", so a feature that moves by up to {shift} and stays inside its window "
                 f"leaves that pooled cell unchanged")
    return text + ": pooling makes features robust to where they appear."


def provenance_table(prov: dict, mode: str, window, title: str | None = None) -> Table:
    """One row per pooled cell: window bounds, partial or not, cell count, winner, value.

    Bounds are inclusive (``0..1`` is rows 0 and 1); a clipped window also
    shows the bounds it would have had, e.g. ``4..4 (of 4..5)``.
    """
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                  pad_edge=False)
    table.add_column("cell")
    table.add_column("rows")
    table.add_column("cols")
    table.add_column("cells", justify="right")
    table.add_column("partial")
    winners = "winner_row" in prov
    if winners:
        table.add_column("winner")
    if mode == "mean":
        table.add_column("divisor", justify="right")
    table.add_column(mode, justify="right")
    out_h, out_w = prov["value"].shape
    for r in range(out_h):
        for c in range(out_w):
            r0, r1 = int(prov["row0"][r, c]), int(prov["row1"][r, c])
            c0, c1 = int(prov["col0"][r, c]), int(prov["col1"][r, c])
            rows = f"{r0}..{r1 - 1}" + ("" if r1 - r0 == window[0] else
                                         f" (of {r0}..{r0 + window[0] - 1})")
            cols = f"{c0}..{c1 - 1}" + ("" if c1 - c0 == window[1] else
                                         f" (of {c0}..{c0 + window[1] - 1})")
            count = int(prov["count"][r, c])
            cells = [f"({r},{c})", rows, cols, str(count),
                     "yes" if bool(prov["partial"][r, c]) else ""]
            if winners:
                cells.append(f"({int(prov['winner_row'][r, c])},{int(prov['winner_col'][r, c])})")
            if mode == "mean":
                cells.append(str(count))
            cells.append(format_value(float(prov["value"][r, c])))
            table.add_row(*cells)
    return table


def winners(prov: dict) -> set[tuple[int, int]]:
    """The (row, col) of every pooling winner (empty for mean, sum, l2)."""
    if "winner_row" not in prov:
        return set()
    return {(int(r), int(c)) for r, c in zip(prov["winner_row"].ravel().tolist(),
                                             prov["winner_col"].ravel().tolist(), strict=True)}


def stage(title: str, table, text: str) -> Group:
    """A heading, the map and its caption: one step of the lesson."""
    return Group(Text(title, style="bold"), table, caption(text), Text(""))


def demo_detector(image, kernel, maps, params, *, builtin_input: bool,
                  provenance: dict | None, show_provenance: bool) -> list:
    """The lesson for one detector, in pipeline order, as a list of renderables.

    Parameters
    ----------
    image : ndarray (H, W)
    kernel : cnnpipe.kernels.Kernel
    maps : cnnpipe.layer.DetectorMaps
    params : cnnpipe.layer.Params
    builtin_input : bool
        True when the image is the built-in X (the captions say so).
    provenance : dict or None
        :func:`cnnpipe.ops.pool_provenance` of the pooled map's source.
    show_provenance : bool
        Add the per-cell provenance table.
    """
    parts = []
    weights = np.asarray(kernel.weights)
    detector_text = kernel.description or "your detector"
    parts.append(stage(f"2. The detector · {kernel.name} · {_hw(weights.shape)}",
                       matrix_table(weights),
                       f"{detector_text[0].upper()}{detector_text[1:]}."))
    source = maps.relu if maps.relu is not None else maps.conv
    marks = winners(provenance) if provenance is not None else set()
    conv_marks = marks if maps.relu is None else set()
    parts.append(stage(f"3. Convolution → feature map · {_hw(maps.conv.shape)}",
                       matrix_table(maps.conv, highlight=conv_marks),
                       conv_caption(image.shape, weights.shape, maps.conv.shape,
                                    stride=params.conv_stride, padding=params.padding,
                                    dilation=params.dilation)))
    step = 4
    if maps.relu is not None:
        name = "ReLU" if params.activation == "relu" else "Leaky ReLU"
        parts.append(stage(f"{step}. {name} · {_hw(maps.relu.shape)}",
                           matrix_table(maps.relu, highlight=marks),
                           activation_caption(maps.conv, maps.relu, params.activation,
                                              params.leak)))
        step += 1
    if maps.pool is not None:
        parts.append(stage(f"{step}. {params.pool.capitalize()} pooling · "
                           f"{_hw(maps.pool.shape)}", matrix_table(maps.pool),
                           pool_caption(source.shape, maps.pool.shape, params.window,
                                        params.stride, params.pool, params.edge, provenance,
                                        "ReLU map" if maps.relu is not None else
                                        "feature map")))
        if show_provenance:
            parts.append(Text("Where each pooled cell came from", style="bold"))
            parts.append(provenance_table(provenance, params.pool, params.window))
            parts.append(Text(""))
        parts.append(caption(invariance_caption(source, maps.pool, params.window,
                                                params.stride, params.pool)))
    return parts
