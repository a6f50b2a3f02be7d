"""Slow, obviously-correct loop references for the tests (float64, plain Python).

Written straight from SPEC §1, independently of cnnpipe.ops: no numpy
padding, no strided views, no output-size formula. Other test files import
these.
"""

from __future__ import annotations

import math

import numpy as np


def _pair(value):
    return (value, value) if isinstance(value, int) else tuple(value)


def _source_index(p, n, pad_mode):
    """Index into an axis of length n for padded position p (relative to the
    original start), or None for a zero."""
    if 0 <= p < n:
        return p
    if pad_mode == "zeros":
        return None
    if pad_mode == "replicate":
        return 0 if p < 0 else n - 1
    if pad_mode == "circular":
        return p % n
    if pad_mode == "reflect":  # mirror about the edge cell, which is not repeated
        return -p if p < 0 else 2 * (n - 1) - p
    raise ValueError(pad_mode)


def ref_pad(x2d, pad, pad_mode):
    """Padded copy of x2d, pad = (top, bottom, left, right)."""
    x = np.asarray(x2d, dtype=np.float64)
    top, bottom, left, right = pad
    n_h, n_w = x.shape
    out = np.zeros((n_h + top + bottom, n_w + left + right))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            sr = _source_index(r - top, n_h, pad_mode)
            sc = _source_index(c - left, n_w, pad_mode)
            if sr is not None and sc is not None:
                out[r, c] = x[sr, sc]
    return out


def ref_conv2d(x2d, k2d, stride=1, pad=(0, 0, 0, 0), pad_mode="zeros", dilation=1, flip=False):
    """Cross-correlation (convolution if flip) of one map with one kernel."""
    sh, sw = _pair(stride)
    dh, dw = _pair(dilation)
    k = np.asarray(k2d, dtype=np.float64)
    if flip:
        k = k[::-1, ::-1]
    kh, kw = k.shape
    xp = ref_pad(x2d, pad, pad_mode)
    rows = []
    r = 0
    while r + (kh - 1) * dh < xp.shape[0]:
        row = []
        c = 0
        while c + (kw - 1) * dw < xp.shape[1]:
            total = 0.0
            for a in range(kh):
                for b in range(kw):
                    total += xp[r + a * dh, c + b * dw] * k[a, b]
            row.append(total)
            c += sw
        rows.append(row)
        r += sh
    return np.array(rows, dtype=np.float64)


def ref_window_starts(n, k, s, edge):
    """Window starts along one axis, by walking: keep stops after the first
    window that reaches the end; drop keeps whole windows only."""
    starts = []
    start = 0
    while start < n:
        if edge == "drop" and start + k > n:
            break
        starts.append(start)
        if start + k >= n:
            break
        start += s
    return starts


def ref_pool2d(x2d, window=2, stride=None, mode="max", edge="keep"):
    """Pool one map with explicit loops over windows and cells."""
    x = np.asarray(x2d, dtype=np.float64)
    kh, kw = _pair(window)
    sh, sw = (kh, kw) if stride is None else _pair(stride)
    n_h, n_w = x.shape
    out = []
    for r0 in ref_window_starts(n_h, kh, sh, edge):
        row = []
        for c0 in ref_window_starts(n_w, kw, sw, edge):
            cells = [x[r, c] for r in range(r0, min(r0 + kh, n_h))
                     for c in range(c0, min(c0 + kw, n_w))]
            if mode == "max":
                row.append(max(cells))
            elif mode == "min":
                row.append(min(cells))
            elif mode == "sum":
                row.append(sum(cells))
            elif mode in ("mean", "avg"):
                row.append(sum(cells) / len(cells))
            elif mode == "l2":
                row.append(math.sqrt(sum(v * v for v in cells)))
            else:
                raise ValueError(mode)
        out.append(row)
    return np.array(out, dtype=np.float64)
