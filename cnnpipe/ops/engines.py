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
  precision), then keep the valid part. The image is cut into cache-sized
  overlapping blocks (overlap-save), block rows run on all cores.

The thresholds are module attributes so that tests can force either path.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np

#: Use the FFT path when a kernel has at least this many taps (kh*kw) times
#: the stride area (sh*sw). Measured on a 2-core box (512^2 and 2048^2
#: images, 8 kernels): the paths cross near 14x14, and from there on the FFT
#: wins by a growing margin.
FFT_MIN_TAPS = 196

#: Target size of one im2col patch tile in bytes: well inside a per-core L2
#: cache, so the patch matrix is still hot when BLAS reads it, and small
#: enough that OpenBLAS runs each product on the calling thread (its own
#: threads on such thin products cost more than they gain, and they would
#: fight ours). Measured 2048^2, 8 kernels 3x3, 2 cores: 1 MiB ~76 ms,
#: 256 KiB ~25 ms.
TILE_BYTES = 1 << 18


#: The thread budget of a call that names none (the public ``conv2d``): every core.
#: ``cnnpipe run -j`` passes its own budget down as ``threads``; nothing changes this.
CORES = os.cpu_count() or 1


def correlate(xp, w, stride, dilation, out_hw, *, method=None, threads=None):
    """Cross-correlate padded ``xp`` (C, Hp, Wp) with ``w`` (K, C, kh, kw).

    ``method`` is "im2col", "fft" or None (choose by kernel size); ``threads`` the
    most threads to use (None: :data:`CORES`).
    """
    threads = CORES if threads is None else max(1, int(threads))
    kh, kw = w.shape[2:]
    if method is None:
        # The FFT costs the same at any stride; the direct sum shrinks with it.
        method = "fft" if kh * kw >= FFT_MIN_TAPS * stride[0] * stride[1] else "im2col"
        # One NaN or inf would spread over the whole spectrum; the direct sum
        # keeps it to the outputs whose window touches it.
        if method == "fft" and not (np.isfinite(xp).all() and np.isfinite(w).all()):
            method = "im2col"
    if method == "fft":
        return _correlate_fft(xp, w, stride, dilation, out_hw, threads)
    return _correlate_im2col(xp, w, stride, dilation, out_hw, threads)


#: The im2col path runs bands of output rows on its ``threads`` (numpy's copies
#: and BLAS release the GIL). Outputs smaller than this stay on one thread, where
#: starting threads would cost more than it saves.
IM2COL_MIN_THREADED = 1 << 18  # output pixels per kernel


def _correlate_im2col(xp, w, stride, dilation, out_hw, threads):
    channels = xp.shape[0]
    n_kernels, _, kh, kw = w.shape
    oh, ow = out_hw
    taps = channels * kh * kw
    weights = np.ascontiguousarray(w.reshape(n_kernels, taps), dtype=np.float32)
    out = np.empty((n_kernels, oh, ow), dtype=np.float32)
    rows_per_tile = max(1, min(oh, TILE_BYTES // max(1, taps * ow * 4)))
    workers = min(threads, -(-oh // rows_per_tile))
    if workers <= 1 or oh * ow < IM2COL_MIN_THREADED:
        _im2col_rows(xp, weights, (kh, kw), stride, dilation, out, 0, oh, rows_per_tile)
        return out
    # Contiguous bands, one per thread, each with its own patch buffer; the
    # bands write disjoint rows of ``out``.
    edges = [oh * i // workers for i in range(workers + 1)]
    rows = _in_callers_errstate(_im2col_rows)
    with ThreadPoolExecutor(workers) as pool:
        futures = [pool.submit(rows, xp, weights, (kh, kw), stride, dilation, out,
                               edges[i], edges[i + 1], rows_per_tile)
                   for i in range(workers)]
        for future in futures:
            future.result()
    return out


def _in_callers_errstate(fn):
    """``fn`` under the calling thread's numpy error state (a new thread has the default)."""
    state = np.geterr()

    def run(*args):
        with np.errstate(**state):
            return fn(*args)

    return run


def _im2col_rows(xp, weights, kernel_hw, stride, dilation, out, row0, row1, rows_per_tile):
    """Fill output rows ``row0:row1`` of ``out`` (K, H', W'), tile by tile."""
    channels = xp.shape[0]
    n_kernels, taps = weights.shape
    kh, kw = kernel_hw
    sh, sw = stride
    dh, dw = dilation
    ow = out.shape[2]
    patches = np.empty((taps, rows_per_tile, ow), dtype=np.float32)
    col_stop = (ow - 1) * sw + 1
    for r0 in range(row0, row1, rows_per_tile):
        r1 = min(row1, r0 + rows_per_tile)
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


#: FFT blocks (overlap-save) longer than this fall out of cache and cost
#: about 1.5x more per element; measured with numpy's pocketfft.
FFT_CACHE_LEN = 512

#: Bytes of complex spectra held at once per thread (block row x kernel chunk).
FFT_CHUNK_BYTES = 32 << 20


def _block_len(footprint, needed):
    """FFT block length along one axis for overlap-save.

    ``needed`` outputs along the axis, kernel ``footprint``: each block of
    length B yields B - footprint + 1 outputs. Pick the fast length with the
    least estimated work, n_blocks * B * log2(B), penalising blocks too long
    for the cache.
    """
    candidates = {_next_fast_len(needed + footprint - 1)}
    length = 64
    while length < needed + footprint - 1:
        if length >= 2 * footprint:
            candidates.add(_next_fast_len(length))
        length *= 2
    def cost(b):
        blocks = -(-needed // (b - footprint + 1))
        return blocks * b * np.log2(b) * (1.5 if b > FFT_CACHE_LEN else 1.0)
    return min(candidates, key=cost)


def _correlate_fft(xp, w, stride, dilation, out_hw, threads):
    channels, hp, wp = xp.shape
    n_kernels, _, kh, kw = w.shape
    dh, dw = dilation
    sh, sw = stride
    oh, ow = out_hw
    fh, fw = (kh - 1) * dh + 1, (kw - 1) * dw + 1  # dilated kernel footprint
    # Stride-1 output rows/cols we need; a stride picks every s-th of them.
    vh, vw = (oh - 1) * sh + 1, (ow - 1) * sw + 1
    bh, bw = _block_len(fh, vh), _block_len(fw, vw)
    step_h, step_w = bh - fh + 1, bw - fw + 1  # useful outputs per block
    nbh, nbw = -(-vh // step_h), -(-vw // step_w)
    # Zeros past the end only feed outputs that are thrown away.
    # Rows/cols past the last needed output's window are not needed at all.
    src = np.zeros((channels, (nbh - 1) * step_h + bh, (nbw - 1) * step_w + bw))
    used_h, used_w = min(hp, src.shape[1]), min(wp, src.shape[2])
    src[:, :used_h, :used_w] = xp[:, :used_h, :used_w]

    # Correlation = convolution with the kernel rotated by 180 degrees. Inside
    # one block, the outputs kept never wrap around the circular transform.
    rotated = np.zeros((n_kernels, channels, fh, fw))
    rotated[:, :, ::dh, ::dw] = w[:, :, ::-1, ::-1]
    kernel_spectra = np.fft.rfft2(rotated, s=(bh, bw))

    full = np.empty((n_kernels, nbh * step_h, nbw * step_w), dtype=np.float32)
    per_kernel = nbw * bh * (bw // 2 + 1) * 16
    chunk = max(1, min(n_kernels, FFT_CHUNK_BYTES // per_kernel))
    windows = np.lib.stride_tricks.sliding_window_view(src, bw, axis=2)

    def block_row(r):
        # (C, bh, nbw, bw) -> (nbw, C, bh, bw): the blocks of one block row
        blocks = windows[:, r * step_h : r * step_h + bh, ::step_w][:, :, :nbw]
        spectra = np.fft.rfft2(blocks.transpose(2, 0, 1, 3))
        for k0 in range(0, n_kernels, chunk):
            ks = kernel_spectra[k0 : k0 + chunk]
            product = spectra[:, np.newaxis, 0] * ks[np.newaxis, :, 0]
            for c in range(1, channels):
                product += spectra[:, np.newaxis, c] * ks[np.newaxis, :, c]
            result = np.fft.irfft2(product, s=(bh, bw))  # (nbw, chunk, bh, bw)
            valid = result[:, :, fh - 1 : fh - 1 + step_h, fw - 1 : fw - 1 + step_w]
            target = full[k0 : k0 + chunk, r * step_h : (r + 1) * step_h]
            target.reshape(len(ks), step_h, nbw, step_w)[...] = valid.transpose(1, 2, 0, 3)

    # numpy's FFT releases the GIL, and block rows write disjoint slices.
    workers = min(threads, nbh)
    if workers > 1:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(_in_callers_errstate(block_row), range(nbh)))
    else:
        for r in range(nbh):
            block_row(r)
    return np.ascontiguousarray(full[:, :vh:sh, :vw:sw])
