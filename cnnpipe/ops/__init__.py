"""The numeric core: convolution, ReLU and pooling on numpy arrays (numpy only).

Arrays in, arrays out: no files, no printing. Results are new float32
arrays; inputs are never modified. Bad arguments raise
:class:`cnnpipe.errors.ParameterError` (a ``ValueError``) whose message names
the argument, the value and what to do.

- :mod:`cnnpipe.ops.args`: parsing and checking of pairs (window, stride, ...);
- :mod:`cnnpipe.ops.conv`: :func:`conv2d`, :func:`relu`, padding arithmetic;
- :mod:`cnnpipe.ops.engines`: the convolution engines (im2col + BLAS, FFT);
- :mod:`cnnpipe.ops.pool`: :func:`pool2d` and its window arithmetic.
"""

from __future__ import annotations

from cnnpipe.ops.args import as_pair
from cnnpipe.ops.conv import conv2d, conv_output_shape, relu, resolve_padding
from cnnpipe.ops.pool import (
    pool2d,
    pool_output_shape,
    pool_output_size,
    pool_provenance,
    pool_windows,
)

__all__ = [
    "conv2d",
    "relu",
    "pool2d",
    "as_pair",
    "resolve_padding",
    "conv_output_shape",
    "pool_output_size",
    "pool_output_shape",
    "pool_windows",
    "pool_provenance",
]
