"""`cnnpipe demo`: the tutorial's worked example, one table per stage, in the terminal."""

from __future__ import annotations

import click

from cnnpipe.cli import console
from cnnpipe.cli.applies import refuse_ignored
from cnnpipe.cli.options import (
    activation_options,
    build_kernels,
    build_params,
    conv_options,
    pool_options,
    tutorial_kernel_options,
)

#: The tutorial's 7x7 X (samples/tutorial.csv), built in so the demo needs no files.
TUTORIAL_IMAGE = (
    (1, 0, 0, 0, 0, 0, 1),
    (0, 1, 0, 0, 0, 1, 0),
    (0, 0, 1, 0, 1, 0, 0),
    (0, 0, 0, 1, 0, 0, 0),
    (0, 0, 1, 0, 1, 0, 0),
    (0, 1, 0, 0, 0, 1, 0),
    (1, 0, 0, 0, 0, 0, 1),
)

#: The demo prints every cell: inputs larger than this (per side) belong to `run`.
DEMO_MAX_SIDE = 32

#: Provenance tables are shown without --provenance when the pooled map is this small.
AUTO_PROVENANCE_CELLS = 16


@click.command()
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE",
              help=f"Your own small input (CSV, NPY or an image up to {DEMO_MAX_SIDE}x"
                   f"{DEMO_MAX_SIDE}) instead of the built-in 7x7 X.")
@tutorial_kernel_options
@conv_options
@activation_options
@pool_options
@click.option("--provenance/--no-provenance", default=None,
              help="Show where each pooled cell came from (window, cells, winner). "
                   f"Default: shown when the pooled map has at most {AUTO_PROVENANCE_CELLS} "
                   "cells.")
def demo(input_path, kernel_specs, random_n, seed, random_size, conv_stride, padding, pad_mode,
         dilation, flip, activation, leak, pool_mode, window, stride, edge, provenance):
    """Walk through one CNN layer on a tiny image: conv -> ReLU -> pooling.

    Prints the image, the detector, the feature map, the ReLU map and the
    pooled map as tables, each with a caption saying what the stage did.
    The cell that won each pooling window is marked with * in the map it
    came from. Takes the same detector, convolution, activation and pooling
    options as `cnnpipe run`; the default detector is `tutorial`.

    \b
    Examples:
      cnnpipe demo
      cnnpipe demo --pool mean
      cnnpipe demo --window 3 --stride 2
      cnnpipe demo -k sobel-x --activation leaky
      cnnpipe demo --input my-drawing.csv -k "1,1;-1,-1"
    """
    from rich.text import Text

    from cnnpipe.layer import iter_detectors
    from cnnpipe.render import teaching
    from cnnpipe.render.tables import matrix_table

    out = console.stdout()
    refuse_ignored()
    chosen = _detectors(kernel_specs, random_n, seed, random_size)
    params = build_params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                          dilation=dilation, flip=flip, activation=activation, leak=leak,
                          pool_mode=pool_mode, window=window, stride=stride, edge=edge)
    image = _load(input_path)

    out.print(Text("cnnpipe demo: one CNN layer, step by step", style="bold underline"))
    out.print()
    out.print(teaching.stage(f"1. The input · {image.shape[0]}×{image.shape[1]}",
                             matrix_table(image),
                             teaching.input_caption(image.shape, input_path is None)))
    for number, maps in enumerate(iter_detectors(image, chosen, params), start=1):
        if len(chosen) > 1:
            out.rule(f"detector {number} of {len(chosen)}: {maps.kernel.name}", style="dim")
        for part in _detector_parts(image, maps, params, input_path is None, provenance):
            out.print(part)
        out.print()


def _detectors(kernel_specs, random_n, seed, random_size):
    """The detectors to show (default: tutorial); each must be 2-D (one gray channel)."""
    from cnnpipe import kernels as K
    from cnnpipe.errors import KernelError

    chosen = build_kernels(kernel_specs, random_n, seed, random_size, default=False)
    for k in chosen:
        if k.weights.ndim != 2:
            raise KernelError(f"kernel {k.name!r} has {k.weights.shape[0]} channels; the demo "
                              f"works on one gray channel, use a 2-D detector")
    return chosen or [K.BUILTIN["tutorial"]]


def _detector_parts(image, maps, params, builtin_input, provenance):
    """One detector's tables and captions; an overflowed map is refused, as in `run`."""
    import numpy as np

    from cnnpipe import ops
    from cnnpipe.errors import InputError
    from cnnpipe.render import teaching

    for stage, array in maps.items():
        if not np.isfinite(array).all():
            raise InputError(f"the {stage} map of {maps.kernel.name!r} overflowed float32 "
                             "(values beyond ±3.4e38); scale the input or the detector "
                             "weights down")
    prov = None
    if maps.pool is not None:
        source = maps.relu if maps.relu is not None else maps.conv
        prov = ops.pool_provenance(source, window=params.window, stride=params.stride,
                                   mode=params.pool, edge=params.edge)
    show = provenance if provenance is not None else (
        maps.pool is not None and maps.pool.size <= AUTO_PROVENANCE_CELLS)
    return teaching.demo_detector(image, maps.kernel, maps, params,
                                  builtin_input=builtin_input, provenance=prov,
                                  show_provenance=bool(show and prov is not None))


def _load(path):
    """The built-in X, or the user's small input as a 2-D float32 map."""
    import numpy as np

    from cnnpipe import io
    from cnnpipe.errors import InputError, ParameterError

    if path is None:
        return np.array(TUTORIAL_IMAGE, dtype=np.float32)
    hint = f"the demo prints every cell, so it takes at most {DEMO_MAX_SIDE}x{DEMO_MAX_SIDE}; " \
           f"use `cnnpipe run {path}` for larger inputs"
    try:
        # Refuse big pictures from their header, before decoding any pixel.
        loaded = io.load_image(path, max_pixels=DEMO_MAX_SIDE * DEMO_MAX_SIDE)
    except InputError as exc:
        if "over the limit" in str(exc):
            raise ParameterError(f"input {path!r} is too large: {hint}") from None
        raise InputError(f"{path}: {exc}") from None
    image = loaded.array
    if max(image.shape) > DEMO_MAX_SIDE:
        raise ParameterError(f"input {path!r} is {image.shape[0]}x{image.shape[1]}: {hint}")
    return image
