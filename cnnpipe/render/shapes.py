"""rich renderables for `cnnpipe shape`: the stages, the formulas, the windows, the peers.

Sizes are written width first (``W×H``, :func:`cnnpipe.numbers.size_text`),
as in every other table; the formulas go axis by axis (rows, then columns).
Functions return renderables; they never print.
"""

from __future__ import annotations

from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from cnnpipe.numbers import SIZE_ORDER, size_text

__all__ = ["CEIL_MODE_NOTE", "edge_keep_note", "shape_formulas", "shape_peers_table",
           "shape_report", "shape_stages_table", "shape_title", "shape_windows_text"]


def _hw(pair) -> str:
    """A (rows, cols) pair written width first: (500, 741) -> 741×500."""
    return size_text(pair[0], pair[1])


_PEER_ROWS = (
    ("PyTorch", "ceil_mode=False (floor)", "pytorch_floor"),
    ("PyTorch", "ceil_mode=True", "pytorch_ceil"),
    ("TensorFlow", "padding='VALID'", "tf_valid"),
    ("TensorFlow", "padding='SAME'", "tf_same"),
)


def _size_or_error(value) -> str:
    return "error" if value is None else str(value)


def shape_stages_table(result: dict, title: str | None = None) -> Table:
    """One row per stage: what it is and its output size."""
    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                  pad_edge=False)
    table.add_column("stage")
    table.add_column("settings")
    table.add_column(f"in ({SIZE_ORDER})", justify="right")
    table.add_column(f"out ({SIZE_ORDER})", justify="right")
    table.add_row("input", "", "", _hw(result["input"]))
    for s in result["stages"]:
        if s["stage"] == "conv":
            a = s["axes"]
            settings = (f"{_hw(s['kernel'])} detector, stride "
                        f"{_pair_str([a[0]['stride'], a[1]['stride']])}, padding {s['padding']}")
            if a[0]["dilation"] != 1 or a[1]["dilation"] != 1:
                settings += f", dilation {_pair_str([a[0]['dilation'], a[1]['dilation']])}"
        elif s["stage"] == "pool":
            settings = (f"{s['mode']} {_hw(s['window'])} window, stride "
                        f"{_pair_str(s['stride'])}, edge {s['edge']}")
        else:
            settings = "same size"
        table.add_row(s["stage"], settings, _hw(s["in"]), _hw(s["out"]))
    return table


def _pair_str(pair) -> str:
    """A step along (rows, cols): one number when both agree, else width first."""
    return str(pair[0]) if pair[0] == pair[1] else _hw(pair)


def shape_formulas(result: dict) -> Text:
    """Each stage's size formula per axis, the numbers filled in."""
    text = Text()
    for s in result["stages"]:
        if s["stage"] not in ("conv", "pool"):
            continue
        if s["stage"] == "conv":
            text.append("conv: floor((n + pad_before + pad_after - span) / stride) + 1\n",
                        style="bold")
            if any(a["dilation"] != 1 for a in s["axes"]):
                text.append("  span = dilation * (k - 1) + 1, the dilated detector\n")
        elif s["edge"] == "keep":
            text.append("pool (keep): ceil((n - k) / stride) + 1, minus 1 if a window "
                        "would start >= n\n", style="bold")
        else:
            text.append("pool (drop): floor((n - k) / stride) + 1\n", style="bold")
        for a in s["axes"]:
            text.append(f"  {a['axis']}: {a['formula']}\n")
    return text


def shape_windows_text(pool_stage: dict) -> Text:
    """Which rows/cols of the pooled map come from partial windows; what is left out."""
    text = Text()
    for a in pool_stage["axes"]:
        label = a["axis"]
        k = a["k"]
        for i in a["partial"]:
            start, stop = a["windows"][i]
            text.append(f"  pooled {label[:-1]} {i}: window {start}..{start + k - 1} clipped "
                        f"to {start}..{stop - 1} ({stop - start} of {k} {label})\n")
        if a["uncovered"]:
            why = "dropped at the edge" if a["uncovered"][-1] == a["n"] - 1 and \
                a["edge"] == "drop" else "in no window"
            if a["stride"] > a["k"]:
                why = "skipped: the stride is larger than the window"
            name = label if len(a["uncovered"]) > 1 else label[:-1]
            text.append(f"  map {name} {a['uncovered_text']}: {why}\n")
    if not text.plain:
        text.append("  every window lies whole inside the map; no cell is left out\n")
    return text


def shape_peers_table(pool_stage: dict) -> Table:
    """Our pooled size next to PyTorch's and TensorFlow's for the same numbers."""
    rows, cols = pool_stage["axes"]
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("framework")
    table.add_column("setting")
    table.add_column(f"out ({SIZE_ORDER})", justify="right")
    table.add_column("", style="dim")
    ours = (rows["out"], cols["out"])
    table.add_row("cnnpipe", f"--edge {pool_stage['edge']}", _hw(ours), "")
    for framework, setting, key in _PEER_ROWS:
        got = (rows["peers"][key], cols["peers"][key])
        if None in got:
            out, note = "error", "window larger than the map"
        else:
            out, note = _hw(got), ("same" if got == ours else "differs")
        table.add_row(framework, setting, out, note)
    return table


#: What a PyTorch user must hear about --edge keep, the first time it matters.
CEIL_MODE_NOTE = "ceil_mode=True (PyTorch's default is False: use --edge drop)"


def edge_keep_note(pool_stage: dict) -> Text | None:
    """--edge keep next to PyTorch's default, with this map's two sizes; None for --edge drop."""
    if pool_stage["edge"] != "keep":
        return None
    rows, cols = pool_stage["axes"]
    ours = (rows["out"], cols["out"])
    floor = (rows["peers"]["pytorch_floor"], cols["peers"]["pytorch_floor"])
    text = Text(f"--edge keep is PyTorch's {CEIL_MODE_NOTE}", style="bold")
    if None in floor:
        text.append(f"; here PyTorch's default refuses the {_hw(pool_stage['window'])} "
                    f"window on the {_hw(pool_stage['in'])} map", style="")
    elif floor != ours:
        text.append(f"; here the default gives {_hw(floor)}, not {_hw(ours)}", style="")
    else:
        text.append(f"; here both give {_hw(ours)}", style="")
    return text


def shape_title(result: dict) -> str:
    """The first line: the input size with its order spelled out, and the detector.

    An old ``--size HxW`` habit is then visible at once: ``--size 500x741``
    reads back as 500 wide and 741 tall.

    Examples
    --------
    >>> shape_title({"input": [500, 741], "stages": [{"stage": "conv", "kernel": [3, 3]}],
    ...              "detectors": ["sobel-x"]})
    '741×500 (W×H) input, 741 wide and 500 tall; 3×3 detector (sobel-x)'
    """
    rows, cols = result["input"]
    size = f"{_hw(result['input'])} ({SIZE_ORDER})"
    if result.get("detectors") is None:
        return f"{size} feature map, {cols} wide and {rows} tall; pooling only"
    k_rows, k_cols = result["stages"][0]["kernel"]
    title = f"{size} input, {cols} wide and {rows} tall; {_hw((k_rows, k_cols))} detector"
    if k_rows != k_cols:
        title += f" ({k_cols} wide, {k_rows} tall)"
    if result["detectors"]:
        title += f" ({', '.join(result['detectors'])})"
    return title


def shape_report(result: dict, title: str | None = None) -> Group:
    """Everything `cnnpipe shape` prints for one detector size."""
    parts = [Text(title or shape_title(result), style="bold"), shape_stages_table(result)]
    pools = [s for s in result["stages"] if s["stage"] == "pool"]
    note = edge_keep_note(pools[0]) if pools else None
    if note is not None:
        parts.append(note)
    parts += [Text(""), shape_formulas(result)]
    if pools:
        p = pools[0]
        parts += [Text(f"Pooling windows on the {_hw(p['in'])} map", style="bold"),
                  shape_windows_text(p),
                  Text(f"Other frameworks, same numbers ({_hw(p['in'])} map, "
                       f"{_hw(p['window'])} window, stride {_pair_str(p['stride'])}, "
                       f"no padding)", style="bold"),
                  shape_peers_table(p)]
    return Group(*parts)
