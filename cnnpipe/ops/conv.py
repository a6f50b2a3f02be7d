"""Convolution and ReLU on numpy arrays, and the padding arithmetic (numpy only).

Arrays in, arrays out: no files, no printing. Results are new float32 arrays;
inputs are never modified. The public functions check their arguments and raise
:class:`cnnpipe.errors.ParameterError` (a ``ValueError``) naming the argument;
``convolve``, ``output_shape``, ``padding_amounts`` and ``rectify`` take arguments
already checked (by :class:`cnnpipe.layer.Params`) and check nothing again.
"""

from __future__ import annotations

import numbers

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.ops import engines as _conv_fast
from cnnpipe.ops import pool as _pool
from cnnpipe.ops.args import as_choice, as_padding, as_pair, padding_sides

__all__ = ["conv2d", "relu", "resolve_padding", "conv_output_shape", "convolve",
           "output_shape", "padding_amounts", "rectify"]

PAD_MODES = ("zeros", "reflect", "replicate", "circular")
_NUMPY_PAD_MODE = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def resolve_padding(padding, in_hw, kernel_hw, stride=1, dilation=1):
    """Turn a padding spec into explicit ``(top, bottom, left, right)`` amounts.

    Parameters
    ----------
    padding : str, int or sequence of int
        ``"valid"`` (none), ``"same"``, ``"full"``, an int N (N on every side),
        a pair ``(rows, cols)``, or four ints ``(top, bottom, left, right)``.
        String forms such as ``"1"`` or ``"1,1,2,2"`` are accepted too.
    in_hw, kernel_hw : (int, int)
        Input and kernel sizes (rows, cols).
    stride, dilation : int or (int, int)

    Returns
    -------
    (top, bottom, left, right) : tuple of int

    Notes
    -----
    ``same`` makes the output ``ceil(n / s)`` per axis; the total padding is
    ``max((out - 1) * s + (k - 1) * d + 1 - n, 0)``, the smaller half before,
    the larger after. ``full`` pads ``(k - 1) * d`` on every side.

    Examples
    --------
    >>> resolve_padding("same", (5, 6), (4, 3))
    (1, 2, 1, 1)
    >>> resolve_padding("full", (5, 5), (3, 3), dilation=2)
    (4, 4, 4, 4)
    """
    return padding_amounts(as_padding(padding), in_hw, kernel_hw, as_pair(stride, "stride"),
                           as_pair(dilation, "dilation"))


def padding_amounts(padding, in_hw, kernel_hw, stride, dilation):
    """:func:`resolve_padding` for arguments already read (:func:`as_padding`, pairs)."""
    (sh, sw), (dh, dw) = stride, dilation
    (n_h, n_w), (k_h, k_w) = in_hw, kernel_hw
    name = padding if isinstance(padding, str) else None
    if name == "valid":
        return (0, 0, 0, 0)
    if name == "full":
        ph, pw = (k_h - 1) * dh, (k_w - 1) * dw
        return (ph, ph, pw, pw)
    if name == "same":
        sides = []
        for n, k, s, d in ((n_h, k_h, sh, dh), (n_w, k_w, sw, dw)):
            out = -(-n // s)
            total = max((out - 1) * s + (k - 1) * d + 1 - n, 0)
            sides += [total // 2, total - total // 2]
        return tuple(sides)
    return padding_sides(padding)


def _padding_label(padding):
    if isinstance(padding, str):
        return padding.strip()
    if isinstance(padding, (tuple, list)):
        return ",".join(str(p) for p in padding)
    return str(padding)


def conv_output_shape(in_hw, kernel_hw, *, stride=1, padding="valid", dilation=1):
    """Size (H', W') of the feature map a convolution produces.

    Per axis: ``floor((n + pad_before + pad_after - d * (k - 1) - 1) / s) + 1``.

    Raises
    ------
    ParameterError
        If either size would be zero or negative; the message names the sizes.

    Examples
    --------
    >>> conv_output_shape((7, 7), (3, 3))
    (5, 5)
    >>> conv_output_shape((7, 8), (3, 3), stride=2, padding="same")
    (4, 4)
    """
    return output_shape(in_hw, kernel_hw, as_pair(stride, "stride"), as_padding(padding),
                        as_pair(dilation, "dilation"))


def output_shape(in_hw, kernel_hw, stride, padding, dilation):
    """:func:`conv_output_shape` for arguments already read (pairs, :func:`as_padding`)."""
    (sh, sw), (dh, dw) = stride, dilation
    top, bottom, left, right = padding_amounts(padding, in_hw, kernel_hw, stride, dilation)
    (n_h, n_w), (k_h, k_w) = in_hw, kernel_hw
    out_h = (n_h + top + bottom - dh * (k_h - 1) - 1) // sh + 1
    out_w = (n_w + left + right - dw * (k_w - 1) - 1) // sw + 1
    if out_h <= 0 or out_w <= 0:
        dil = f"{dh}" if dh == dw else f"{dw}x{dh}"
        raise ParameterError(  # sizes width first, as everywhere
            f"convolution output would be {max(out_w, 0)}x{max(out_h, 0)} (WxH): "
            f"input {n_w}x{n_h}, kernel {k_w}x{k_h} (dilation {dil}), "
            f"padding {_padding_label(padding)} — use a smaller kernel or `padding=\"same\"`"
        )
    return (int(out_h), int(out_w))


def _as_float_array(value, name):
    try:
        array = np.asarray(value)
    except (TypeError, ValueError) as exc:  # ragged nested lists
        raise ParameterError(f"`{name}` must be a numeric array ({exc})") from None
    if array.dtype.kind not in "biuf":
        raise ParameterError(f"`{name}` must be a numeric array (got dtype {array.dtype})")
    return array.astype(np.float32, copy=False)


def _conv_operands(x, kernels):
    """Bring x to (C, H, W) and kernels to (K, C, kh, kw); remember the output form."""
    x = _as_float_array(x, "x")
    w = _as_float_array(kernels, "kernels")
    if x.ndim == 2:
        x3 = x[np.newaxis]
        if w.ndim == 2:
            w4, squeeze = w[np.newaxis, np.newaxis], True
        elif w.ndim == 3:
            w4, squeeze = w[:, np.newaxis], False
        elif w.ndim == 4 and w.shape[1] == 1:
            w4, squeeze = w, False
        else:
            raise ParameterError(
                f"kernels of shape {w.shape} do not fit a 2-D input {x.shape}; "
                f"use (kh, kw) or (K, kh, kw)"
            )
    elif x.ndim == 3:
        x3, squeeze = x, False
        if w.ndim != 4 or w.shape[1] != x.shape[0]:
            raise ParameterError(
                f"kernels of shape {w.shape} do not fit an input of shape {x.shape} "
                f"with {x.shape[0]} channels; use kernels of shape (K, {x.shape[0]}, kh, kw)"
            )
        w4 = w
    else:
        raise ParameterError(
            f"`x` must be (H, W) or (C, H, W) (got an array of shape {x.shape})"
        )
    if min(x3.shape) == 0:
        raise ParameterError(f"`x` is empty (shape {x.shape}); give at least one pixel")
    if min(w4.shape) == 0:
        raise ParameterError(f"`kernels` is empty (shape {w.shape}); give at least one weight")
    return x3, w4, squeeze


def _pad(x3, pads, pad_mode):
    top, bottom, left, right = pads
    if not any(pads):
        return x3
    channels, n_h, n_w = x3.shape
    if pad_mode == "zeros":
        xp = np.zeros((channels, n_h + top + bottom, n_w + left + right), dtype=np.float32)
        xp[:, top : top + n_h, left : left + n_w] = x3
        return xp
    # PyTorch refuses these, and so do we: numpy would silently reflect twice.
    for before, after, n, axis in ((top, bottom, n_h, "rows"), (left, right, n_w, "cols")):
        if pad_mode == "reflect" and max(before, after) > n - 1:
            raise ParameterError(
                f"reflect padding of {max(before, after)} needs at least "
                f"{max(before, after) + 1} {axis} but the input has {n}; "
                "use less padding or `pad_mode=\"replicate\"`"
            )
        if pad_mode == "circular" and max(before, after) > n:
            raise ParameterError(
                f"circular padding of {max(before, after)} would wrap around more than once "
                f"({n} {axis}); use at most {n} or `pad_mode=\"replicate\"`"
            )
    return np.pad(x3, ((0, 0), (top, bottom), (left, right)), mode=_NUMPY_PAD_MODE[pad_mode])


def conv2d(x, kernels, *, stride=1, padding="valid", pad_mode="zeros", dilation=1, flip=False):
    """Slide feature detectors over a map: the convolution of a CNN layer.

    Parameters
    ----------
    x : array_like, shape (H, W) or (C, H, W)
        The input map (an image, or the channels of one).
    kernels : array_like
        ``(kh, kw)`` for one detector on a 2-D input; ``(K, kh, kw)`` for K
        detectors on a 2-D input; ``(K, C, kh, kw)`` for a (C, H, W) input,
        each detector summing over the C input channels as a CNN layer does.
        Non-square and even-sized kernels are fine.
    stride : int or (int, int), default 1
    padding : {"valid", "same", "full"}, int or sequence of int, default "valid"
        See :func:`resolve_padding`.
    pad_mode : {"zeros", "reflect", "replicate", "circular"}, default "zeros"
        As in PyTorch: ``reflect`` mirrors without repeating the edge (so it
        needs padding < n), ``replicate`` repeats the edge, ``circular`` wraps.
    dilation : int or (int, int), default 1
        Spacing between kernel taps.
    flip : bool, default False
        Rotate the kernel by 180 degrees first (textbook convolution).

    Returns
    -------
    ndarray of float32
        ``(H', W')``, or ``(K, H', W')`` when ``kernels`` has a K axis.

    Raises
    ------
    ParameterError
        Bad argument values, shapes that do not fit, or an empty output.

    Notes
    -----
    Like every CNN framework this computes a cross-correlation,
    ``out[i, j] = sum_{a, b} x[i*s + a*d, j*s + b*d] * k[a, b]``: the kernel
    is *not* flipped. ``flip=True`` gives the convolution of signal
    processing. Output size per axis:
    ``floor((n + pad_before + pad_after - d * (k - 1) - 1) / s) + 1``.

    Small kernels run as a tiled im2col matrix product; kernels of 14x14 or
    more (at stride 1; larger at larger strides) run through an FFT in
    float64. Both agree with the
    direct sum to float32 precision. Non-finite inputs propagate.

    Examples
    --------
    >>> x = np.arange(16, dtype=np.float32).reshape(4, 4)
    >>> conv2d(x, [[1, 0], [0, -1]])
    array([[-5., -5., -5.],
           [-5., -5., -5.],
           [-5., -5., -5.]], dtype=float32)
    >>> conv2d(x, np.ones((2, 3, 3)), padding="same").shape
    (2, 4, 4)
    """
    stride = as_pair(stride, "stride")
    dilation = as_pair(dilation, "dilation")
    pad_mode = as_choice(pad_mode, PAD_MODES, "pad_mode")
    if not isinstance(flip, (bool, np.bool_)):
        raise ParameterError(f"`flip` must be True or False (got {flip!r})")
    padding = as_padding(padding)  # every argument is checked before the arrays
    return convolve(x, kernels, stride, padding, pad_mode, dilation, bool(flip))


def convolve(x, kernels, stride, padding, pad_mode, dilation, flip, threads=None):
    """:func:`conv2d` with arguments already read (pairs, :func:`as_padding`, a known
    pad mode): nothing but the arrays is checked again. ``threads``: the most
    threads to use (None: every core)."""
    x3, w4, squeeze = _conv_operands(x, kernels)
    in_hw, kernel_hw = x3.shape[1:], w4.shape[2:]
    out_hw = output_shape(in_hw, kernel_hw, stride, padding, dilation)
    pads = padding_amounts(padding, in_hw, kernel_hw, stride, dilation)
    xp = _pad(x3, pads, pad_mode)
    if flip:
        w4 = w4[..., ::-1, ::-1]
    out = _conv_fast.correlate(xp, w4, stride, dilation, out_hw, threads=threads)
    return out[0] if squeeze else out


def relu(x, *, leak=0.0):
    """Rectified linear unit: ``max(x, 0)``, or leaky ``x if x > 0 else leak * x``.

    Parameters
    ----------
    x : array_like
    leak : float, default 0.0
        Slope for negative values (0.01 is the usual leaky ReLU).

    Returns
    -------
    ndarray of float32
        A new array; ``x`` is not modified. NaN stays NaN.

    Examples
    --------
    >>> relu([-2.0, 0.0, 3.0])
    array([0., 0., 3.], dtype=float32)
    >>> relu([-2.0, 3.0], leak=0.5)
    array([-1.,  3.], dtype=float32)
    """
    if isinstance(leak, bool) or not isinstance(leak, numbers.Real) or not np.isfinite(leak):
        raise ParameterError(f"`leak` must be a finite number (got {leak!r})")
    return rectify(_as_float_array(x, "x"), float(leak), threads=_pool.CORES)


def rectify(x, leak, threads=1):
    """:func:`relu` of a float32 array with a finite ``leak`` (nothing is checked again),
    on up to ``threads`` threads for a large array (each takes a band of rows)."""
    if threads > 1 and x.ndim >= 2 and x.size >= _pool.PARALLEL_MIN_CELLS:
        out = np.empty(x.shape, dtype=np.float32)
        rows, targets = x.reshape(-1, x.shape[-1]), out.reshape(-1, x.shape[-1])
        step = max(1, -(-rows.shape[0] // (4 * threads)))
        bands = [(r0, min(rows.shape[0], r0 + step)) for r0 in range(0, rows.shape[0], step)]
        _pool._run_bands(lambda r0, r1: _rectify(rows[r0:r1], leak, targets[r0:r1]), bands,
                         threads)
        return out
    return _rectify(x, leak)


def _rectify(x, leak, out=None):
    if leak == 0:
        return np.maximum(x, np.float32(0), out=out)
    if 0 < leak <= 1:
        # For 0 < leak <= 1, leaky ReLU is max(x, leak * x): one temporary, no mask.
        out = np.multiply(x, np.float32(leak), out=out)
        return np.maximum(x, out, out=out)
    result = np.where(x > 0, x, x * np.float32(leak)).astype(np.float32, copy=False)
    if out is None:
        return result
    out[...] = result
    return out
