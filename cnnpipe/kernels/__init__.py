"""Feature detectors (kernels): the built-in library and every way to spell one.

numpy only. Weights are float32, shaped ``(kh, kw)`` or ``(C, kh, kw)``, finite,
non-empty; non-square and even-sized kernels are fine. All kernels are applied
by cross-correlation (not flipped), as in every CNN framework, so the matrices
below read the way they act: the top-left weight meets the top-left pixel.

Spec forms accepted by :func:`kernel` and :func:`parse_kernel_specs`
(see also :func:`describe_spec_forms`):

============================  ===============================================
``sobel-x``                   a built-in name (case-insensitive, ``_`` = ``-``)
``"1,0,-1;2,0,-2;1,0,-1"``    inline matrix: rows by ``;`` or newline, values
                              by ``,`` or spaces
``edge.csv`` / ``.txt``       text matrix file, one row per line
``edge.npy``                  2-D ``(kh, kw)`` or 3-D ``(C, kh, kw)`` array
``edge.mat``                  libvips matrix file (``width height [scale
                              [offset]]`` then the rows); weights are divided
                              by scale
``"3x3: -1,0,1,-2,0,2,..."``  ImageMagick style, ``WxH:`` then row-major
                              values (``3:`` means 3x3)
``gaussian:1.5``              Gaussian blur, sigma in pixels, sums to 1
``log:2``                     Laplacian of Gaussian, positive centre, sums to 0
``dog:1,2``                   difference of Gaussians G(1) - G(2), sums to 0
``gabor:45,2,6``              Gabor, THETA degrees, SIGMA, wavelength LAMBDA
``sobel:45``                  Sobel rotated: cos(a)*sobel-x + sin(a)*sobel-y
``box:5``                     5x5 mean
``NAME=SPEC``                 any of the above, named NAME
============================  ===============================================

Names are slugs (``[a-z0-9-]``) because they end up in file names: a file is
named after its stem, families after their arguments with ``.`` -> ``p`` and
``-`` -> ``m`` (``gaussian:1.5`` -> ``gaussian-1p5``, ``sobel:-45`` ->
``sobel-m45``, ``dog:1,2`` -> ``dog-1-2``). Angles are in degrees in image
coordinates (rows grow down), so positive angles turn clockwise on screen and
``sobel:90`` equals ``sobel-y``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.kernels import families as fam
from cnnpipe.kernels.library import BUILTIN, DEFAULT_KERNELS, Kernel, unique_names
from cnnpipe.kernels.specs import (
    MATRIX_SUFFIXES,
    MAX_FILE_BYTES,
    describe_spec_forms,
    kernel,
    parse_kernel_specs,
    slugify,
    suggest,
    suggestions,
)

__all__ = [
    "BUILTIN", "DEFAULT_KERNELS", "MATRIX_SUFFIXES", "MAX_FILE_BYTES", "Kernel",
    "describe_spec_forms", "kernel", "parse_kernel_specs", "random_kernels", "slugify",
    "suggest", "suggestions", "unique_names",
]


def _positive_int(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ParameterError(f"`{what}` must be a whole number >= 1 (got {value!r})")
    if value < 1:
        raise ParameterError(f"`{what}` must be >= 1 (got {value})")
    return int(value)


def random_kernels(n: int, seed: int, size: int | tuple[int, int] = 3, *,
                   budget=None) -> list[Kernel]:
    """``n`` random detectors, as an untrained CNN layer starts out.

    Parameters
    ----------
    n : int
        Number of kernels, >= 1. They are named ``random-1`` ... ``random-N``.
    seed : int
        Seed, >= 0. The same seed gives bit-identical weights on every machine.
    size : int or (int, int)
        ``K`` for K x K, or ``(kh, kw)``; each >= 1.
    budget : cnnpipe.budget.Budget, optional
        ``n`` detectors whose weights and maps could not fit its memory are refused
        before any is drawn (default: the default budget).

    Notes
    -----
    He (Kaiming) uniform initialisation for a one-channel input: each weight is
    uniform in ``[-b, b)`` with ``b = sqrt(6 / fan_in)``, ``fan_in = kh * kw``
    (He et al. 2015, Keras ``he_uniform``; PyTorch's default ``Conv2d`` init has
    the same form with the smaller ``b = 1 / sqrt(fan_in)``). The values are
    drawn in float64 by ``numpy.random.Generator(PCG64(seed)).uniform(-b, b,
    (n, kh, kw))``, whose stream numpy keeps stable across versions and
    platforms, and then cast to float32.
    """
    n = _positive_int(n, "n")
    if isinstance(size, Sequence) and not isinstance(size, str):
        if len(size) != 2:
            raise ParameterError(f"`size` must be K or (kh, kw) (got {size!r})")
        kh, kw = (_positive_int(s, "size") for s in size)
    else:
        kh = kw = _positive_int(size, "size")
    if max(kh, kw) > fam.MAX_SIDE:
        raise ParameterError(f"`size` must be <= {fam.MAX_SIDE} (got {kh}x{kw})")
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ParameterError(f"`seed` must be a whole number >= 0 (got {seed!r})")
    from cnnpipe.budget import check_detectors

    check_detectors(n, 1, (kh, kw), budget)  # before any is drawn
    bound = math.sqrt(6.0 / (kh * kw))
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    draws = rng.uniform(-bound, bound, size=(n, kh, kw))
    return [
        Kernel(f"random-{i + 1}", draws[i], f"random {kh}x{kw}, He-uniform, seed {seed}",
               "numpy PCG64", "")
        for i in range(n)
    ]
