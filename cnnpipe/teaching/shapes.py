"""Shape arithmetic for `cnnpipe shape`: every stage's size, with the formula filled in.

No arrays are made: this is integer arithmetic on sizes, so a dry run on a
50-megapixel photo costs nothing. The sizes come from the same helpers the
ops use (:func:`cnnpipe.ops.conv_output_shape`, :func:`cnnpipe.ops.pool_windows`),
so the dry run cannot disagree with a real run.

The peer-framework numbers (PyTorch, TensorFlow) are computed here from their
documented formulas, without importing either framework.
"""

from __future__ import annotations

from cnnpipe.errors import ParameterError
from cnnpipe.ops import conv_output_shape, resolve_padding
from cnnpipe.ops import pool as _pool
from cnnpipe.ops.args import as_pair, pool_args
from cnnpipe.ops.pool import pool_output_size, pool_windows

__all__ = [
    "torch_pool_size",
    "tf_pool_size",
    "conv_axis",
    "pool_axis",
    "plan",
    "cell_ranges",
]

AXES = ("rows", "cols")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def torch_pool_size(n: int, k: int, s: int, padding: int = 0, ceil_mode: bool = False):
    """Output length of PyTorch's ``MaxPool2d`` along one axis, or None if it refuses.

    Notes
    -----
    ``floor((n + 2p - k) / s) + 1``; with ``ceil_mode=True`` the ceiling, minus
    one if the last window would start at or past ``n + p`` (PyTorch's rule:
    a window must start inside the input or its left padding).

    Examples
    --------
    >>> torch_pool_size(5, 2, 2), torch_pool_size(5, 2, 2, ceil_mode=True)
    (2, 3)
    """
    span = n + 2 * padding - k
    if span < 0:
        return None
    out = (_ceil_div(span, s) if ceil_mode else span // s) + 1
    if ceil_mode and (out - 1) * s >= n + padding:
        out -= 1
    return out


def tf_pool_size(n: int, k: int, s: int, padding: str = "VALID"):
    """Output length of TensorFlow's ``max_pool2d`` along one axis, or None if it refuses.

    Notes
    -----
    ``VALID``: ``ceil((n - k + 1) / s)``; ``SAME``: ``ceil(n / s)`` (the
    window may hang off either edge; the padding is split, more after).

    Examples
    --------
    >>> tf_pool_size(5, 3, 2, "VALID"), tf_pool_size(5, 3, 2, "SAME")
    (2, 3)
    """
    if padding == "SAME":
        return _ceil_div(n, s)
    out = _ceil_div(n - k + 1, s)
    return out if out >= 1 else None


def cell_ranges(cells):
    """[0, 1, 2, 5] -> "0..2, 5": consecutive indices folded into ranges."""
    parts, start = [], None
    for i, c in enumerate(cells):
        if start is None:
            start = c
        if i + 1 == len(cells) or cells[i + 1] != c + 1:
            parts.append(str(start) if start == c else f"{start}..{c}")
            start = None
    return ", ".join(parts)


def conv_axis(n, k, s=1, d=1, pad=(0, 0)):
    """One axis of a convolution: the numbers, the output and the formula text.

    Returns
    -------
    dict
        ``n, k, stride, dilation, pad`` (before, after), ``span`` (the
        dilated kernel ``d * (k - 1) + 1``), ``out`` and ``formula``.

    Examples
    --------
    >>> conv_axis(7, 3)["formula"]
    'floor((7 + 0 + 0 - 3) / 1) + 1 = 5'
    """
    span = d * (k - 1) + 1
    before, after = pad
    out = (n + before + after - span) // s + 1
    formula = f"floor(({n} + {before} + {after} - {span}) / {s}) + 1 = {out}"
    return {"n": n, "k": k, "stride": s, "dilation": d, "pad": [before, after], "span": span,
            "out": out, "formula": formula}


def pool_axis(n, k, s, edge="keep"):
    """One axis of pooling: output, formula, partial windows, uncovered cells, peers.

    Returns
    -------
    dict
        ``n, k, stride, edge, out, formula``; ``windows``: every window as
        ``[start, stop]`` (stop exclusive, clipped to the map); ``partial``:
        indices of output cells whose window hangs off the edge;
        ``uncovered``: map cells no window looks at (dropped at the edge, or
        skipped when the stride is larger than the window); ``peers``: the
        sizes PyTorch and TensorFlow give for the same numbers (None where
        they refuse).

    Examples
    --------
    >>> a = pool_axis(5, 2, 2, "keep")
    >>> a["out"], a["windows"], a["partial"]
    (3, [[0, 2], [2, 4], [4, 5]], [2])
    """
    out = pool_output_size(n, k, s, edge)
    windows = [[start, stop] for start, stop in pool_windows(n, k, s, edge)]
    partial = [i for i, (start, stop) in enumerate(windows) if stop - start < k]
    covered = set()
    for start, stop in windows:
        covered.update(range(start, stop))
    uncovered = [c for c in range(n) if c not in covered]
    if edge == "keep":
        raw = _ceil_div(n - k, s) + 1 if n >= k else 1
        formula = f"ceil(({n} - {k}) / {s}) + 1 = {raw}" if n >= k else \
            f"window {k} > map {n}: one partial window = 1"
        if n >= k and raw != out:
            formula += f", minus 1 (a window would start at {(raw - 1) * s} >= {n}) = {out}"
    else:
        formula = f"floor(({n} - {k}) / {s}) + 1 = {out}"
    peers = {
        "pytorch_floor": torch_pool_size(n, k, s),
        "pytorch_ceil": torch_pool_size(n, k, s, ceil_mode=True),
        "tf_valid": tf_pool_size(n, k, s, "VALID"),
        "tf_same": tf_pool_size(n, k, s, "SAME"),
    }
    return {"n": n, "k": k, "stride": s, "edge": edge, "out": out, "formula": formula,
            "windows": windows, "partial": partial, "uncovered": uncovered,
            "uncovered_text": cell_ranges(uncovered), "peers": peers}


#: Every pooling window is listed (text and JSON): 10^6 per side takes ~1 s and
#: ~300 MB; 10^8 would take tens of GB.
MAX_SIDE = 1_000_000


def plan(in_hw, kernel_hw, *, conv_stride=1, padding="valid", dilation=1, activation="relu",
         pool="max", window=2, stride=None, edge="keep"):
    """Every stage's size for an input of ``in_hw`` and a ``kernel_hw`` detector.

    Parameters
    ----------
    in_hw : (int, int)
        Input size (rows, cols).
    kernel_hw : (int, int) or None
        Detector size; None skips the convolution (the input is a feature map).
    conv_stride, padding, dilation, activation, pool, window, stride, edge
        As for ``cnnpipe run``.

    Returns
    -------
    dict
        JSON-able: ``input`` (rows, cols) and ``stages``, a list of
        ``{"stage", "in", "out", "axes"?}``; conv and pool stages carry one
        dict per axis from :func:`conv_axis` / :func:`pool_axis`.

    Raises
    ------
    ParameterError
        When a stage would be empty, or a window is larger than the map
        with ``edge="drop"``; the message names the sizes.

    Examples
    --------
    >>> [s["out"] for s in plan((7, 7), (3, 3))["stages"]]
    [[5, 5], [5, 5], [3, 3]]
    """
    in_hw = as_pair(tuple(in_hw), "size")
    stages = []
    hw = in_hw
    if kernel_hw is not None:
        kernel_hw = as_pair(tuple(kernel_hw), "kernel size")
        cs, dl = as_pair(conv_stride, "conv_stride"), as_pair(dilation, "dilation")
        out_hw = conv_output_shape(hw, kernel_hw, stride=cs, padding=padding, dilation=dl)
        top, bottom, left, right = resolve_padding(padding, hw, kernel_hw, cs, dl)
        axes = [dict(conv_axis(hw[i], kernel_hw[i], cs[i], dl[i], pads), axis=AXES[i])
                for i, pads in enumerate(((top, bottom), (left, right)))]
        stages.append({"stage": "conv", "in": list(hw), "out": list(out_hw),
                       "kernel": list(kernel_hw), "padding": padding, "axes": axes})
        hw = out_hw
    if activation != "none":
        stages.append({"stage": activation, "in": list(hw), "out": list(hw)})
    if pool != "none":
        win, st, _, edge = pool_args(window, stride, "max", edge)
        if max(hw) > MAX_SIDE:
            raise ParameterError(
                f"the {hw[0]}x{hw[1]} feature map is too large to explain window by window; "
                f"at most {MAX_SIDE} per side (use less padding)")
        _pool.output_shape(hw, win, st, edge)  # a window larger than the map with "drop"
        axes = [dict(pool_axis(hw[i], win[i], st[i], edge), axis=AXES[i]) for i in range(2)]
        out_hw = [axes[0]["out"], axes[1]["out"]]
        stages.append({"stage": "pool", "mode": pool, "in": list(hw), "out": out_hw,
                       "window": list(win), "stride": list(st), "edge": edge, "axes": axes})
    return {"input": list(in_hw), "stages": stages}
