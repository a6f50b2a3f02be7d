"""`cnnpipe conv | relu | pool`: one pipeline stage each, for shell pipes.

Each command reads one map (or a (K, H, W) stack of maps), applies its stage
with exactly the numerics of `cnnpipe run`, and writes the result by the
extension of ``-o``: ``.npy`` (exact float32, the format on a pipe), ``.csv`` /
``.txt`` (one 2-D map) or ``.png`` (a picture; a stack gives one PNG per map).
"""

from __future__ import annotations

import sys

import click

from cnnpipe.cli.applies import Rule, refuse_ignored
from cnnpipe.cli.options import (
    activation_options,
    build_kernels,
    build_params,
    conv_options,
    force_option,
    kernel_options,
    pool_options,
    refuse_to_replace,
    stage_memory_option,
)

TERMINAL_REFUSAL = ("refusing to write binary .npy to a terminal; redirect to a file or pipe "
                    "it into another cnnpipe stage (-o out.npy)")
OUTPUT_EXTENSIONS = (".npy", ".csv", ".txt", ".png")

_input_argument = click.argument("input_path", metavar="INPUT")
_output_option = click.option(
    "-o", "--out", "output", default="-", show_default=True, metavar="OUTPUT",
    help="Where the result goes: .npy (exact float32), .csv/.txt (one 2-D map), .png "
         "(a picture; a stack writes OUTPUT-1.png, OUTPUT-2.png, ...), or - for .npy on "
         "standard output.")


# --------------------------------------------------------------------------- reading

_force_option = force_option("the -o file")

#: When the stage commands' own options act.
RULES = (Rule("force", lambda p: p["output"] != "-",
              "has no effect with -o - (standard output: no file is written)"),)


def _check_output(output: str, force: bool) -> None:
    """Before any work: an existing -o file is refused unless --force (a stack written
    as PNGs goes to NAME-1.png ...: those are checked once their number is known)."""
    import os

    if output != "-" and (not output.lower().endswith(".png") or os.path.isdir(output)):
        refuse_to_replace(output, force, "-o")


def read_stage_input(source: str, stdin=None, max_memory: int | None = None):
    """The map(s) of a stage's INPUT as float32, (H, W) or (K, H, W).

    ``-`` reads standard input and sniffs it: the ``.npy`` magic, else an image,
    else a CSV/text matrix. A file's format follows its extension; images load
    as gray values in [0, 1], as ``cnnpipe run`` loads them.
    """
    import numpy as np

    from cnnpipe import io
    from cnnpipe.budget import Budget, read_stream
    from cnnpipe.errors import InputError

    if source == "-":
        stream = stdin if stdin is not None else sys.stdin.buffer
        budget = Budget(memory=max_memory) if max_memory else Budget()
        data = read_stream(stream, budget.input_bytes)  # in blocks: bounded, Ctrl-C works
        if not data:
            raise InputError("standard input is empty; pipe a map into this stage "
                             "(e.g. cnnpipe conv photo.png -o - | cnnpipe relu - -o -)")
        label = "standard input"
        try:
            if data.startswith(b"\x93NUMPY"):
                return io.load_matrix(data, ext=".npy")
            return io.load_image(data).array
        except InputError as exc:
            raise InputError(f"{label}: {exc}") from None
    try:
        if source.lower().endswith(".npy"):
            array = io.load_matrix(source, ext=".npy")
        else:
            array = io.load_image(source).array
    except InputError as exc:
        raise InputError(f"{source}: {exc}") from None
    return np.ascontiguousarray(array, dtype=np.float32)


# --------------------------------------------------------------------------- writing

def refuse_terminal(stream) -> None:
    """Raise ParameterError when ``stream`` is a terminal (binary would garble it)."""
    from cnnpipe.errors import ParameterError

    isatty = getattr(stream, "isatty", None)
    if isatty is not None and isatty():
        raise ParameterError(TERMINAL_REFUSAL)


def npy_bytes(array) -> bytes:
    """``array`` as float32 ``.npy`` bytes, exactly as ``cnnpipe run --npy`` saves it."""
    import io as _io

    import numpy as np

    buffer = _io.BytesIO()
    np.save(buffer, np.asarray(array, dtype=np.float32), allow_pickle=False)
    return buffer.getvalue()


def write_stage_output(array, output: str, stage: str, stdout=None,
                       force: bool = False) -> list[str]:
    """Write a stage's result by the extension of ``output``; return the files written.

    No existing file is replaced without ``force``: every target is checked before
    the first one is written (a stack to ``maps.png`` writes ``maps-1.png`` ...).
    """
    from pathlib import Path

    from cnnpipe import io
    from cnnpipe.errors import ParameterError
    from cnnpipe.pictures import mapping

    if output == "-":
        stream = stdout if stdout is not None else sys.stdout.buffer
        refuse_terminal(stream)
        stream.write(npy_bytes(array))
        stream.flush()
        return []
    path = Path(output)
    ext = path.suffix.lower()
    if ext not in OUTPUT_EXTENSIONS:
        raise ParameterError(f"-o {output!r}: the output must end in .npy, .csv, .txt or .png "
                             "(or be - for .npy on standard output)")
    if ext in (".csv", ".txt") and array.ndim == 3:
        raise ParameterError(f"-o {output!r}: a {ext} file holds one 2-D map but the result is "
                             f"a stack of {array.shape[0]} maps; use .npy (or .png for one "
                             "PNG per map)")
    if ext != ".png" or array.ndim == 2:
        maps, targets = [array], [path]
    else:
        maps = list(array)
        targets = [path.with_name(f"{path.stem}-{n}{ext}") for n in range(1, len(maps) + 1)]
    for target in targets:
        refuse_to_replace(target, force, "-o")
    if ext != ".png":
        io.save_matrix(path, array)
        return [str(path)]
    written = []
    for one, target in zip(maps, targets, strict=True):
        chosen = mapping.choose_mapping(one, stage=stage)
        pixels = mapping.to_pixels(one, chosen)
        io.atomic_write(target, io.encode_png(pixels, text=mapping.png_text(chosen)))
        written.append(str(target))
    return written


# --------------------------------------------------------------------------- stages

def apply_conv(array, kernels, params):
    """Every detector on every map: (H', W') for one map and one detector, else a stack.

    2-D detectors apply to each map of a (K, H, W) stack, map-major (map 1 with
    every detector, then map 2, ...). (C, kh, kw) detectors take a C-map stack as
    C channels and give one map each, summed over the channels as in ``run``.
    """
    import numpy as np

    from cnnpipe.errors import ParameterError
    from cnnpipe.layer import iter_detectors

    ndims = {k.weights.ndim for k in kernels}
    if len(ndims) > 1:
        raise ParameterError("mix of 2-D and (C, kh, kw) detectors; run them in separate "
                             "`cnnpipe conv` commands")
    maps = 1 if array.ndim == 2 else array.shape[0]
    for k in kernels:
        if k.weights.ndim == 3 and k.weights.shape[0] != maps:
            # `run --color rgb` is not available here: images load as one gray map.
            raise ParameterError(
                f"kernel {k.name!r} has {k.weights.shape[0]} channels but INPUT has {maps} "
                f"map(s); give a ({k.weights.shape[0]}, H, W) .npy stack as INPUT")
    if ndims == {3} or array.ndim == 2:
        results = [d.conv for d in iter_detectors(array, kernels, params)]
    else:
        results = [d.conv for one in array for d in iter_detectors(one, kernels, params)]
    if len(results) == 1 and results[0].ndim == 2:
        return results[0]
    return np.stack(results)


def _check_budget(source, array, max_memory, kernels=(), params=None) -> None:
    """The memory budget, from the shapes, before the stage allocates its result."""
    from cnnpipe.budget import Budget, OverBudget, check_stage

    try:
        check_stage(array.shape, Budget(memory=max_memory), kernels, params)
    except OverBudget as exc:
        raise OverBudget(f"{'standard input' if source == '-' else source}: {exc}") from None


def _params(**options):
    return build_params(**options)


def _finish(array, output, stage, force=False):
    import numpy as np

    from cnnpipe.errors import InputError

    if not np.isfinite(array).all():  # the next stage (and a PNG) could not take it
        raise InputError(f"the {stage} result overflowed float32 (values beyond ±3.4e38); "
                         "scale the input or the detector weights down")
    written = write_stage_output(array, output, stage, force=force)
    if written:
        shape = "x".join(str(n) for n in array.shape)
        click.echo(f"cnnpipe {stage}: wrote {', '.join(written)} ({shape})", err=True)


@click.command()
@_input_argument
@kernel_options
@conv_options
@_output_option
@_force_option
@stage_memory_option
def conv(input_path, kernel_specs, random_n, seed, random_size, conv_stride, padding, pad_mode,
         dilation, flip, output, force, max_memory):
    """Convolve INPUT with feature detectors (the first stage of `run`).

    INPUT is an image (loaded as gray in [0, 1]), a .npy map or (K, H, W)
    stack, a .csv map, or - for standard input (.npy, PNG or CSV, sniffed).
    With several detectors (or a stack) the result is a (maps, H', W') stack.

    \b
    Examples:
      cnnpipe conv photo.png -k sobel-x -o - | cnnpipe relu - -o - | cnnpipe pool - -o out.npy
      cnnpipe conv samples/tutorial.csv -k tutorial -o conv.csv
      cnnpipe conv photo.png -k sobel-x -k sobel-y -o edges.png
    """
    refuse_ignored(extra=RULES)
    _check_output(output, force)
    kernels = build_kernels(kernel_specs, random_n, seed, random_size)
    params = _params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                     dilation=dilation, flip=flip)
    array = read_stage_input(input_path, max_memory=max_memory)
    _check_budget(input_path, array, max_memory, kernels, params)
    _finish(apply_conv(array, kernels, params), output, "conv", force)


@click.command()
@_input_argument
@activation_options
@_output_option
@_force_option
@stage_memory_option
def relu(input_path, activation, leak, output, force, max_memory):
    """Apply the activation to every value of INPUT (the second stage of `run`).

    --activation none passes the values through unchanged.

    \b
    Examples:
      cnnpipe relu conv.csv -o relu.npy
      cnnpipe conv photo.png -k sobel-x -o - | cnnpipe relu - --activation leaky -o relu.png
    """
    from cnnpipe.layer import activate

    refuse_ignored(extra=RULES)
    _check_output(output, force)
    params = _params(activation=activation, leak=leak)
    array = read_stage_input(input_path, max_memory=max_memory)
    _check_budget(input_path, array, max_memory)
    result = activate(array, params)
    _finish(array if result is None else result, output, "relu", force)


@click.command()
@_input_argument
@pool_options
@_output_option
@_force_option
@stage_memory_option
def pool(input_path, pool_mode, window, stride, edge, output, force, max_memory):
    """Pool each map of INPUT (the third stage of `run`).

    --pool none passes the values through unchanged.

    \b
    Examples:
      cnnpipe pool relu.npy --window 2 --stride 2 -o pooled.csv
      cnnpipe conv photo.png -k sobel-x -o - | cnnpipe relu - -o - | cnnpipe pool - -o out.npy
    """
    from cnnpipe.layer import pool as pool_stage

    refuse_ignored(extra=RULES)
    _check_output(output, force)
    params = _params(pool_mode=pool_mode, window=window, stride=stride, edge=edge)
    array = read_stage_input(input_path, max_memory=max_memory)
    _check_budget(input_path, array, max_memory)
    result = pool_stage(array, params)
    _finish(array if result is None else result, output, "pool", force)
