"""Pooling (numpy only, private; the public names are re-exported by cnnpipe.ops)."""

from __future__ import annotations

import numbers
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.ops.args import EDGES, as_choice, pool_args

CORES = os.cpu_count() or 1  # the thread budget of the public pool2d


def _check_positive(value, name):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"`{name}` must be an int (got {value!r})")
    if value < 1:
        raise ParameterError(f"`{name}` must be >= 1 (got {value!r})")
    return int(value)


_TOO_SMALL = "use a smaller `window` or `edge=\"keep\"`"


def _size(n, k, s, edge):
    """Window count along one axis; None when `drop` leaves no whole window."""
    if edge == "drop":
        return None if k > n else (n - k) // s + 1
    # keep: windows start at 0, s, 2s, ... and the last is the first one that
    # reaches the end of the map; a window never starts at or past n.
    out = max(-(-(n - k) // s), 0) + 1
    if (out - 1) * s >= n:
        out -= 1
    return out


def pool_output_size(n, k, s, edge="keep"):
    """Number of pooling windows along one axis of length ``n``.

    Parameters
    ----------
    n, k, s : int
        Map length, window length, stride (all >= 1).
    edge : {"keep", "drop"}

    Returns
    -------
    int

    Notes
    -----
    ``keep`` (PyTorch ``ceil_mode=True`` without padding):
    ``ceil((n - k) / s) + 1``, minus one if the last window would start at
    or past ``n``. A window longer than the map gives one partial window.
    ``drop``: ``floor((n - k) / s) + 1``; a window longer than the map is an
    error.

    Examples
    --------
    >>> pool_output_size(5, 2, 2, "keep"), pool_output_size(5, 2, 2, "drop")
    (3, 2)
    """
    n = _check_positive(n, "n")
    k = _check_positive(k, "window")
    s = _check_positive(s, "stride")
    edge = as_choice(edge, EDGES, "edge")
    out = _size(n, k, s, edge)
    if out is None:
        raise ParameterError(f"pooling window {k} is longer than the feature map ({n}); "
                             + _TOO_SMALL)
    return out


def pool_output_shape(in_hw, window, stride=None, edge="keep"):
    """Size (H', W') of the pooled map; see :func:`pool_output_size`.

    Examples
    --------
    >>> pool_output_shape((5, 5), 2)
    (3, 3)
    >>> pool_output_shape((7, 6), 3, stride=2, edge="drop")
    (3, 2)
    """
    window, stride, _, edge = pool_args(window, stride, "max", edge)
    return output_shape(in_hw, window, stride, edge)


def output_shape(in_hw, window, stride, edge):
    """:func:`pool_output_shape` for arguments read by :func:`~cnnpipe.ops.args.pool_args`."""
    (kh, kw), (sh, sw) = window, stride
    n_h, n_w = (int(v) for v in in_hw)
    if n_h < 1 or n_w < 1:
        raise ParameterError(f"cannot pool an empty {n_h}x{n_w} feature map")
    out_h, out_w = _size(n_h, kh, sh, edge), _size(n_w, kw, sw, edge)
    if out_h is None or out_w is None:
        raise ParameterError(f"pooling window {kw}x{kh} is larger than the {n_w}x{n_h} "
                             "feature map (sizes WxH); " + _TOO_SMALL)
    return (out_h, out_w)


def pool_windows(n, k, s, edge="keep"):
    """The ``(start, stop)`` of every window along one axis; ``stop`` is clipped to ``n``.

    Examples
    --------
    >>> pool_windows(5, 2, 2)
    [(0, 2), (2, 4), (4, 5)]
    """
    out = pool_output_size(n, k, s, edge)
    return [(start, min(start + k, n)) for start in range(0, out * s, s)]


def _as_map(x):
    array = np.asarray(x)
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"`x` must be a numeric array (got dtype {array.dtype})")
    if array.ndim < 2:
        raise ParameterError(f"`x` must have at least 2 axes to pool (got shape {array.shape})")
    return array.astype(np.float32, copy=False)


def _counts(n, k, s, out):
    starts = np.arange(out) * s
    return (np.minimum(starts + k, n) - starts).astype(np.float32)


def _axis_view(x, axis, start, stop, step):
    index = [slice(None)] * x.ndim
    index[axis] = slice(start, stop, step)
    return x[tuple(index)]


def _reduce_axis(x, axis, k, s, out_len, reduce):
    """Reduce windows of length k, stride s, along one axis (-2 or -1).

    The loop runs over the k offsets inside a window; each offset is one
    strided view of the whole map. Near the end, an offset whose cell lies
    past the map simply takes no part, which is what a partial window means.
    """
    n = x.shape[axis]
    views = []  # (number of windows this offset reaches, strided view)
    for i in range(min(k, n)):
        count = min(out_len, (n - i + s - 1) // s)
        views.append((count, _axis_view(x, axis, i, i + (count - 1) * s + 1, s)))
    shape = list(x.shape)
    shape[axis] = out_len
    out = np.empty(shape, dtype=np.float32)
    # Offset 0 lies inside every window; combining it with offset 1 in one
    # call saves a full pass of copying.
    if len(views) > 1 and views[1][0] == out_len:
        reduce(views[0][1], views[1][1], out=out)
        rest = views[2:]
    else:
        out[...] = views[0][1]
        rest = views[1:]
    for count, view in rest:
        target = _axis_view(out, axis, 0, count, 1)
        reduce(target, view, out=target)
    return out


def pool2d(x, window=2, stride=None, mode="max", edge="keep"):
    """Pool the last two axes of ``x`` with a sliding window.

    Parameters
    ----------
    x : array_like, shape (..., H, W)
        Any leading axes (detectors, channels) are pooled independently.
    window : int, (int, int) or "HxW", default 2
    stride : int, (int, int) or None, default None (= window)
    mode : {"max", "mean", "avg", "sum", "min", "l2"}, default "max"
        ``avg`` is ``mean``; ``l2`` is the square root of the sum of squares.
    edge : {"keep", "drop"}, default "keep"
        ``keep`` also pools the partial windows that hang off the bottom and
        right edges; ``drop`` only whole windows.

    Returns
    -------
    ndarray of float32, shape (..., H', W')

    Notes
    -----
    Output size per axis, ``keep``: ``ceil((n - k) / s) + 1``, minus one if
    the last window would start at or past ``n``; a window longer than the
    map gives one window. ``drop``: ``floor((n - k) / s) + 1``. A partial
    window aggregates only the cells inside the map, and ``mean`` divides by
    the number of those cells.

    Every mode is separable, so windows are reduced along rows, then along
    columns; each pass loops over the offsets inside a window, each a
    strided view of the whole map, never over windows or pixels.

    Examples
    --------
    >>> x = np.arange(25, dtype=np.float32).reshape(5, 5)
    >>> pool2d(x)
    array([[ 6.,  8.,  9.],
           [16., 18., 19.],
           [21., 23., 24.]], dtype=float32)
    >>> pool2d(x, edge="drop", mode="mean")
    array([[ 3.,  5.],
           [13., 15.]], dtype=float32)
    """
    window, stride, mode, edge = pool_args(window, stride, mode, edge)
    return pool(_as_map(x), window, stride, mode, edge, threads=CORES)


def pool(x, window, stride, mode, edge, threads=1):
    """:func:`pool2d` of a float32 array, with arguments already read by
    :func:`~cnnpipe.ops.args.pool_args` (nothing is checked again). ``threads``:
    the most threads to use."""
    (kh, kw), (sh, sw) = window, stride
    oh, ow = output_shape(x.shape[-2:], window, stride, edge)
    n_h, n_w = x.shape[-2:]
    reduce = {"max": np.maximum, "min": np.minimum}.get(mode, np.add)
    out = np.empty((*x.shape[:-2], oh, ow), dtype=np.float32)
    maps, targets = x.reshape(-1, n_h, n_w), out.reshape(-1, oh, ow)

    def band(m, r0, r1):
        # Every mode is separable: reduce the rows of each window first, then its
        # columns. k_h + k_w passes over strided views instead of k_h * k_w, on a
        # band of rows small enough that the row pass's result is still in cache.
        rows = maps[m, r0 * sh : min(n_h, (r1 - 1) * sh + kh)]
        if mode == "l2":
            rows = np.square(rows)  # a new array: the caller's x is left alone
        partial = _reduce_axis(rows, -2, kh, sh, r1 - r0, reduce)
        targets[m, r0:r1] = _reduce_axis(partial, -1, kw, sw, ow, reduce)

    step = max(1, POOL_BAND_BYTES // max(1, sh * n_w * 4))
    bands = [(m, r0, min(oh, r0 + step)) for m in range(maps.shape[0])
             for r0 in range(0, oh, step)]
    _run_bands(band, bands, threads if x.size >= PARALLEL_MIN_CELLS else 1)
    if mode == "mean":
        if (oh - 1) * sh + kh <= n_h and (ow - 1) * sw + kw <= n_w:
            out /= np.float32(kh * kw)
        else:
            out /= np.multiply.outer(_counts(n_h, kh, sh, oh), _counts(n_w, kw, sw, ow))
    elif mode == "l2":
        np.sqrt(out, out=out)
    return out


#: Input bytes pooled per band (one map's rows): the row pass's result stays in L2.
POOL_BAND_BYTES = 1 << 18
#: Maps smaller than this many cells are pooled on one thread.
PARALLEL_MIN_CELLS = 1 << 20


def _run_bands(fn, bands, threads):
    """``fn(*band)`` for every band, on up to ``threads`` threads (numpy releases the GIL);
    each thread takes a contiguous run of bands, under the caller's numpy error state."""
    workers = min(threads, len(bands))
    if workers <= 1:
        for b in bands:
            fn(*b)
        return
    state = np.geterr()

    def run(part):
        with np.errstate(**state):
            for b in part:
                fn(*b)

    edges = [len(bands) * i // workers for i in range(workers + 1)]
    with ThreadPoolExecutor(workers) as pool_threads:
        for future in [pool_threads.submit(run, bands[edges[i]:edges[i + 1]])
                       for i in range(workers)]:
            future.result()


def pool_provenance(x2d, window=2, stride=None, mode="max", edge="keep"):
    """Where each pooled value came from: window bounds, cell count, winner.

    Parameters
    ----------
    x2d : array_like, shape (H, W)
    window, stride, mode, edge
        As for :func:`pool2d`.

    Returns
    -------
    dict of ndarray, each of shape (H', W')
        ``row0``, ``row1``, ``col0``, ``col1``: window bounds (stop
        exclusive, clipped to the map); ``count``: cells aggregated;
        ``partial``: True where the window hangs off the map; ``value``: the
        pooled value (exactly :func:`pool2d`'s). For ``max`` and ``min`` only,
        ``winner_row`` and ``winner_col``: the first cell, in row-major order
        within the window, that holds the winning value.

    Notes
    -----
    This loops over output cells in Python: it is meant for the small maps
    of a lesson, not for photographs.

    Examples
    --------
    >>> x = np.array([[1, 5, 2], [3, 4, 0], [7, 1, 1]])
    >>> p = pool_provenance(x)
    >>> p["value"].tolist(), p["winner_row"].tolist(), p["winner_col"].tolist()
    ([[5.0, 2.0], [7.0, 1.0]], [[0, 0], [2, 2]], [[1, 2], [0, 2]])
    """
    array = np.asarray(x2d)
    if array.ndim != 2:
        raise ParameterError(f"`x2d` must be a 2-D map (got shape {array.shape})")
    window, stride, mode, edge = pool_args(window, stride, mode, edge)
    return provenance(_as_map(array), window, stride, mode, edge)


def provenance(array, window, stride, mode, edge):
    """:func:`pool_provenance` of a float32 2-D map, arguments already read by
    :func:`~cnnpipe.ops.args.pool_args`."""
    (kh, kw), (sh, sw) = window, stride
    oh, ow = output_shape(array.shape, window, stride, edge)
    n_h, n_w = array.shape
    result = {
        "row0": np.repeat(np.arange(oh) * sh, ow).reshape(oh, ow),
        "col0": np.tile(np.arange(ow) * sw, oh).reshape(oh, ow),
    }
    result["row1"] = np.minimum(result["row0"] + kh, n_h)
    result["col1"] = np.minimum(result["col0"] + kw, n_w)
    result["count"] = (result["row1"] - result["row0"]) * (result["col1"] - result["col0"])
    result["partial"] = result["count"] < kh * kw
    if mode in ("max", "min"):
        pick = np.argmax if mode == "max" else np.argmin
        winner_row = np.empty((oh, ow), dtype=np.intp)
        winner_col = np.empty((oh, ow), dtype=np.intp)
        for r in range(oh):
            for c in range(ow):
                r0, r1 = result["row0"][r, c], result["row1"][r, c]
                c0, c1 = result["col0"][r, c], result["col1"][r, c]
                flat = int(pick(array[r0:r1, c0:c1]))  # first occurrence, row-major
                winner_row[r, c] = r0 + flat // (c1 - c0)
                winner_col[r, c] = c0 + flat % (c1 - c0)
        result["winner_row"], result["winner_col"] = winner_row, winner_col
    result["value"] = pool(array, window, stride, mode, edge)
    return result
