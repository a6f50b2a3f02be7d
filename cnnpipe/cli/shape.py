"""`cnnpipe shape`: a dry run that explains every stage's output size."""

from __future__ import annotations

import click

from cnnpipe.cli import console
from cnnpipe.cli.applies import Rule, refuse_ignored
from cnnpipe.cli.options import PAIR, activation_options, conv_options, pool_options

_SIZES_ONLY = "does not change any size, and `cnnpipe shape` shows sizes only"
#: Options shape shares with run that cannot change a size.
RULES = (
    Rule("flip", lambda p: False, _SIZES_ONLY + " (it turns the detector, not its size)"),
    Rule("pad_mode", lambda p: False, _SIZES_ONLY + " (it sets what the padding holds)"),
)


@click.command()
@click.option("--size", "size", type=PAIR, default=None, metavar="WxH",
              help="Input size, width x height as image tools write it (741x500: 741 wide, "
                   "500 tall; 5 for 5x5). Sizes are printed the same way, W×H.")
@click.option("--input", "input_path", type=click.Path(dir_okay=False), default=None,
              metavar="FILE", help="Take the input size from this file (.npy: header only).")
@click.option("-k", "--kernel", "kernel_specs", multiple=True, metavar="SPEC",
              help="A detector as `run -k` takes it; only its size matters here. Repeatable.")
@click.option("--kernel-size", type=PAIR, default=None, metavar="K|HxW",
              help="Detector size without naming a detector: K, or rows x cols like "
                   "--window (3x5: 3 rows, 5 columns, printed 5×3 W×H). Default: the sizes of "
                   "`run`'s default detectors.")
@click.option("--pool-only", is_flag=True,
              help="The size is a feature map: show pooling only (no convolution).")
@conv_options
@activation_options
@pool_options
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON, nothing else.")
def shape(size, input_path, kernel_specs, kernel_size, pool_only, conv_stride, padding,
          pad_mode, dilation, flip, activation, leak, pool_mode, window, stride, edge,
          as_json):
    """Show every stage's output size and the formula behind it (a dry run).

    For an input size and `run`'s options: the size after convolution,
    activation and pooling, each formula with the numbers filled in, which
    rows and columns of the pooled map come from partial windows (or which
    cells are dropped), and what PyTorch (floor and ceil mode) and
    TensorFlow (VALID, SAME) would give for the same pooling.

    \b
    Examples:
      cnnpipe shape --size 741x500 --kernel-size 3
      cnnpipe shape --size 5x5 --pool-only --window 3 --stride 2
      cnnpipe shape --input samples/chelsea.png -k sobel-x --conv-stride 2
      cnnpipe shape --size 28 --padding same --edge drop --json
    """
    import json

    from cnnpipe.errors import ParameterError
    from cnnpipe.teaching import shapes

    if (size is None) == (input_path is None):
        raise click.UsageError("give the input size with --size WxH or --input FILE (one of them)")
    in_hw = (size[1], size[0]) if size is not None else _file_size(input_path)
    if max(in_hw) > shapes.MAX_SIDE:
        raise ParameterError(f"input size {in_hw[1]}x{in_hw[0]} (WxH) is too large to explain "
                             f"window by window; give at most {shapes.MAX_SIDE} per side")
    sizes = _kernel_sizes(kernel_specs, kernel_size, pool_only)
    if pool_only:
        _refuse_conv_options(click.get_current_context())
    if pool_only and pool_mode == "none":
        raise ParameterError("--pool-only with --pool none leaves nothing to show; "
                             "choose a pooling mode")
    refuse_ignored(extra=RULES)
    results = []
    for kernel_hw, names in sizes:
        result = shapes.plan(in_hw, kernel_hw, conv_stride=conv_stride, padding=padding,
                             dilation=dilation,
                             activation="none" if pool_only else activation,
                             pool=pool_mode, window=window, stride=stride, edge=edge)
        result["detectors"] = names
        results.append(result)

    out = console.stdout()
    if as_json:
        body = results[0] if len(results) == 1 else results
        out.file.write(json.dumps(body, ensure_ascii=False) + "\n")
        return
    from cnnpipe.render import shapes as render

    for result in results:
        out.print(render.shape_report(result))
        out.print()


_CONV_OPTIONS = ("conv_stride", "padding", "pad_mode", "dilation", "flip", "activation", "leak")


def _refuse_conv_options(ctx):
    """--pool-only has no convolution: a convolution option would be silently ignored."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.name in _CONV_OPTIONS and ctx.get_parameter_source(param.name) not in (
                ParameterSource.DEFAULT, None):
            raise click.UsageError(f"{param.opts[-1]} has no effect with --pool-only: it sets "
                                   "the convolution or activation, which --pool-only leaves out "
                                   "(pooling has no padding; --edge decides partial windows)")


def _kernel_sizes(kernel_specs, kernel_size, pool_only):
    """[(kernel (rows, cols) or None, detector names or None)], one per distinct size."""
    if pool_only:
        if kernel_specs or kernel_size:
            raise click.UsageError("--pool-only takes no detector (-k / --kernel-size)")
        return [(None, None)]
    if kernel_size and not kernel_specs:
        return [(tuple(kernel_size), [])]
    from cnnpipe import kernels as K

    chosen = (K.parse_kernel_specs(list(kernel_specs)) if kernel_specs
              else [K.BUILTIN[name] for name in K.DEFAULT_KERNELS])
    groups: dict[tuple, list] = {}
    for k in chosen:
        groups.setdefault(tuple(int(n) for n in k.weights.shape[-2:]), []).append(k.name)
    if kernel_size:
        groups.setdefault(tuple(kernel_size), [])
    return list(groups.items())


def _file_size(path):
    """(rows, cols) of an input file; a .npy file is sized from its header alone."""
    import os

    from cnnpipe import io
    from cnnpipe.errors import InputError

    if path.lower().endswith(".npy"):
        import numpy as np

        try:
            with open(path, "rb") as fh:
                version = np.lib.format.read_magic(fh)
                header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                          else np.lib.format.read_array_header_2_0)(fh)
        except (OSError, ValueError) as exc:
            raise InputError(f"{path}: cannot read the .npy header ({exc})") from None
        dims = header[0]
        if len(dims) not in (2, 3):
            raise InputError(f"{path}: matrix has shape {tuple(dims)}; expected (rows, cols) "
                             "or (channels, rows, cols)")
        return (int(dims[-2]), int(dims[-1]))
    if not os.path.exists(path):
        raise InputError(f"{path}: no such file")
    try:
        loaded = io.load_image(path, color="rgb")
    except InputError as exc:
        raise InputError(f"{path}: {exc}") from None
    return (int(loaded.info["height"]), int(loaded.info["width"]))
