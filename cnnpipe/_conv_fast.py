"""Convolution engines behind :func:`cnnpipe.ops.conv2d` (numpy only, private).

Both engines take an already padded input ``xp`` of shape (C, Hp, Wp) and
weights ``w`` of shape (K, C, kh, kw) (already flipped if the caller wanted
textbook convolution), and compute the cross-correlation into a float32
array of shape (K, H', W').

- ``im2col``: the input is cut into row tiles; each tile is unrolled into a
  (C*kh*kw, pixels) patch matrix that fits in the CPU cache, and one BLAS
  matrix product with the (K, C*kh*kw) weight matrix gives every detector at
  once. Loops run over tiles and kernel taps only, never over pixels.
- ``fft``: for large kernels, the correlation theorem: multiply
  spectra (float64, so the result matches the direct sum to float32
  precision), then keep the valid part.

The thresholds are module attributes so that tests can force either path.
"""

from __future__ import annotations

import numpy as np

#: Use the FFT path when a kernel has at least this many taps (kh*kw) times
#: the stride area (sh*sw). Measured on a 2-core box: at 11x11 the two paths are close;
#: from 15x15 on the FFT wins by a growing margin.
FFT_MIN_TAPS = 144

#: Target size of one im2col patch tile in bytes. About the size of a
#: per-core L2 cache, so the patch matrix is still hot when BLAS reads it.
TILE_BYTES = 1 << 20


def correlate(xp, w, stride, dilation, out_hw, *, method=None):
    """Cross-correlate padded ``xp`` (C, Hp, Wp) with ``w`` (K, C, kh, kw).

    ``method`` is "im2col", "fft" or None (choose by kernel size).
    """
    kh, kw = w.shape[2:]
    if method is None:
        # The FFT costs the same at any stride; the direct sum shrinks with it.
        method = "fft" if kh * kw >= FFT_MIN_TAPS * stride[0] * stride[1] else "im2col"
        # One NaN or inf would spread over the whole spectrum; the direct sum
        # keeps it to the outputs whose window touches it.
        if method == "fft" and not (np.isfinite(xp).all() and np.isfinite(w).all()):
            method = "im2col"
    if method == "fft":
        return _correlate_fft(xp, w, stride, dilation, out_hw)
    return _correlate_im2col(xp, w, stride, dilation, out_hw)


def _correlate_im2col(xp, w, stride, dilation, out_hw):
    channels = xp.shape[0]
    n_kernels, _, kh, kw = w.shape
    sh, sw = stride
    dh, dw = dilation
    oh, ow = out_hw
    taps = channels * kh * kw
    weights = np.ascontiguousarray(w.reshape(n_kernels, taps), dtype=np.float32)
    out = np.empty((n_kernels, oh, ow), dtype=np.float32)

    rows_per_tile = max(1, min(oh, TILE_BYTES // max(1, taps * ow * 4)))
    patches = np.empty((taps, rows_per_tile, ow), dtype=np.float32)
    col_stop = (ow - 1) * sw + 1
    for r0 in range(0, oh, rows_per_tile):
        r1 = min(oh, r0 + rows_per_tile)
        nrows = r1 - r0
        tile = patches[:, :nrows]
        tap = 0
        for c in range(channels):
            plane = xp[c]
            for i in range(kh):
                top = r0 * sh + i * dh
                rows = plane[top : top + (nrows - 1) * sh + 1 : sh]
                for j in range(kw):
                    tile[tap] = rows[:, j * dw : j * dw + col_stop : sw]
                    tap += 1
        # out[:, r0:r1] is a view whose (K, rows*cols) reshape is still a
        # view, so BLAS writes straight into the result.
        np.matmul(
            weights,
            tile.reshape(taps, nrows * ow),
            out=out[:, r0:r1].reshape(n_kernels, nrows * ow),
        )
    return out


def _next_fast_len(n):
    """Smallest 2^a 3^b 5^c >= n: pocketfft is much faster on such sizes."""
    best = 1 << max(0, (n - 1).bit_length())
    p5 = 1
    while p5 < best:
        p35 = p5
        while p35 < best:
            m = p35
            while m < n:
                m *= 2
            best = min(best, m)
            p35 *= 3
        p5 *= 5
    return best


def _correlate_fft(xp, w, stride, dilation, out_hw):
    channels, hp, wp = xp.shape
    n_kernels, _, kh, kw = w.shape
    dh, dw = dilation
    sh, sw = stride
    oh, ow = out_hw
    # The dilated kernel footprint.
    fh, fw = (kh - 1) * dh + 1, (kw - 1) * dw + 1
    # A circular transform of length >= Hp is enough: for the output cells we
    # keep, the correlation never wraps around.
    lh, lw = _next_fast_len(hp), _next_fast_len(wp)
    spectra = np.fft.rfft2(xp.astype(np.float64), s=(lh, lw))
    out = np.empty((n_kernels, oh, ow), dtype=np.float32)
    for k in range(n_kernels):
        # Correlation = convolution with the kernel rotated by 180 degrees.
        rotated = np.zeros((channels, fh, fw), dtype=np.float64)
        rotated[:, ::dh, ::dw] = w[k, :, ::-1, ::-1]
        product = (spectra * np.fft.rfft2(rotated, s=(lh, lw))).sum(axis=0)
        full = np.fft.irfft2(product, s=(lh, lw))
        out[k] = full[fh - 1 : fh - 1 + (oh - 1) * sh + 1 : sh,
                      fw - 1 : fw - 1 + (ow - 1) * sw + 1 : sw]
    return out
