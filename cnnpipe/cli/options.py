"""Parameter types and option groups shared by the commands.

Imports only click: commands must stay cheap to import.
"""

from __future__ import annotations

import re

import click

#: Where the command line's flags differ from the parameter names the core's messages use
#: (those of the Python API and of pipeline files): the one translation between them.
PARAM_FLAGS = {
    "conv_stride": "--conv-stride", "padding": "--padding", "pad_mode": "--pad-mode",
    "dilation": "--dilation", "flip": "--flip", "activation": "--activation", "leak": "--leak",
    "pool": "--pool", "mode": "--pool", "window": "--window", "stride": "--stride",
    "edge": "--edge", "color": "--color", "size": "--size", "seed": "--seed",
}
_PARAM_REF = re.compile(r'`([a-z_]+)(?:=("?)([^`"]*)\2)?`')


def as_flags(message: str) -> str:
    """A core message in command-line words: `` `window` `` -> ``--window``,
    `` `edge="keep"` `` -> ``--edge keep``; other names are left as they are.

    >>> as_flags('window 3x3 is larger than the map; use a smaller `window` or `edge="keep"`')
    'window 3x3 is larger than the map; use a smaller --window or --edge keep'
    """
    def flag(match):
        name, value = match.group(1), match.group(3)
        if name not in PARAM_FLAGS:
            return match.group(0)
        return PARAM_FLAGS[name] + (f" {value}" if value is not None else "")

    return _PARAM_REF.sub(flag, message)


class PairType(click.ParamType):
    """``2`` or ``2x3`` (rows x cols) or ``2,3``: a positive (rows, cols) pair."""

    name = "N|HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        from cnnpipe.errors import ParameterError
        from cnnpipe.ops.args import as_pair

        try:
            return as_pair(str(value), "value")
        except ParameterError:
            self.fail(f"must be >= 1, as N or HxW such as 2 or 2x3 (got {value!r})", param, ctx)


class PaddingType(click.ParamType):
    """``valid``, ``same``, ``full``, ``N`` or ``top,bottom,left,right``."""

    name = "valid|same|full|N|T,B,L,R"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        from cnnpipe.errors import ParameterError
        from cnnpipe.ops.args import as_padding

        try:
            return as_padding(value)
        except ParameterError as exc:
            self.fail(as_flags(str(exc)), param, ctx)


PAIR = PairType()
PADDING = PaddingType()
POSITIVE = click.IntRange(min=1)


def _stack(*decorators):
    def apply(func):
        for decorator in reversed(decorators):
            func = decorator(func)
        return func

    return apply


def make_kernel_options(default: str):
    """The -k/--random/--seed/--size options; ``default`` says what runs without -k."""
    return _stack(
        click.option("-k", "--kernel", "kernel_specs", multiple=True, metavar="SPEC",
                     help="Feature detector: a built-in name (see `cnnpipe kernels`), an inline "
                          "matrix \"1,0,-1;2,0,-2;1,0,-1\", a .csv/.txt/.npy file, or "
                          f"NAME=SPEC. Repeatable. Default: {default}."),
        click.option("--random", "random_n", type=POSITIVE, default=None, metavar="N",
                     help="Add N random detectors, as an untrained CNN layer has."),
        click.option("--seed", type=int, default=0, show_default=True,
                     help="Seed for --random: the same seed gives the same detectors "
                          "everywhere."),
        click.option("--size", "random_size", type=PAIR, default="3", show_default=True,
                     help="Size of the --random detectors (K or HxW)."),
    )


kernel_options = make_kernel_options(
    "gaussian, sharpen, sobel-x, sobel-y, laplacian (see `cnnpipe kernels`)")
tutorial_kernel_options = make_kernel_options("tutorial, the tutorial's 3x3 X detector")

#: `animate` shows one detector: -k once, or --random 1.
single_kernel_options = _stack(
    # multiple=True only so that a second -k is refused instead of silently replacing the first
    click.option("-k", "--kernel", "kernel_specs", multiple=True, metavar="SPEC",
                 help="The one detector to show (give -k once): a built-in name, an inline "
                      "matrix, a .csv/.txt/.npy file, or NAME=SPEC. Default: tutorial."),
    click.option("--random", "random_n", type=click.IntRange(1, 1), default=None, metavar="1",
                 help="A random detector instead of -k (animate shows one detector)."),
    click.option("--seed", type=int, default=0, show_default=True,
                 help="Seed for --random: the same seed gives the same detector everywhere."),
    click.option("--size", "random_size", type=PAIR, default="3", show_default=True,
                 help="Size of the --random detector (K or HxW)."),
)

conv_options = _stack(
    click.option("--conv-stride", type=PAIR, default="1", show_default=True,
                 help="Convolution stride (N or HxW)."),
    click.option("--padding", type=PADDING, default="valid", show_default=True,
                 help="valid (no padding), same, full, N, or top,bottom,left,right."),
    click.option("--pad-mode", type=click.Choice(["zeros", "reflect", "replicate", "circular"]),
                 default="zeros", show_default=True, help="What the padding is filled with."),
    click.option("--dilation", type=PAIR, default="1", show_default=True,
                 help="Kernel dilation (N or HxW)."),
    click.option("--flip", is_flag=True,
                 help="Textbook convolution: the kernel rotated 180°, as ImageMagick's "
                      "-morphology Convolve and scipy.signal.convolve2d do. Without it: "
                      "cross-correlation, as PyTorch, TensorFlow and ImageMagick's "
                      "-morphology Correlate do."),
)

activation_options = _stack(
    click.option("--activation", type=click.Choice(["relu", "leaky", "none"]), default="relu",
                 show_default=True, help="Activation after the convolution."),
    click.option("--leak", type=float, default=0.01, show_default=True,
                 help="Slope for negative values with --activation leaky."),
)

pool_options = _stack(
    click.option("--pool", "pool_mode",
                 type=click.Choice(["max", "mean", "avg", "sum", "min", "l2", "none"]),
                 default="max", show_default=True, help="Pooling mode."),
    click.option("--window", type=PAIR, default="2", show_default=True,
                 help="Pooling window (N or HxW)."),
    click.option("--stride", type=PAIR, default=None,
                 help="Pooling stride (N or HxW). Default: the window size. The stride of "
                      "a PyTorch/Keras conv layer is --conv-stride."),
    click.option("--edge", type=click.Choice(["keep", "drop"]), default="keep",
                 show_default=True,
                 help="keep: partial windows at the right/bottom edges (PyTorch "
                      "ceil_mode=True); drop: whole windows only (PyTorch's default, "
                      "ceil_mode=False)."),
)


# --------------------------------------------------------------------------- `run`'s groups
# To add an option to `cnnpipe run`, add one click.option line to the group it belongs to;
# the command hands every value on by name (see cnnpipe/cli/run.py), and `docs/cli.md`
# must list it (tests/test_docs.py says so if it does not).

layer_source_options = _stack(
    click.option("--color", type=click.Choice(["gray", "rgb"]), default="gray",
                 show_default=True,
                 help="gray: luminance; rgb: each detector on each channel, colour PNGs."),
    click.option("--pipeline", "pipeline_file", default=None, metavar="FILE.toml",
                 help="Run the stacked layers of a pipeline file (see samples/net.toml) "
                      "instead of one layer; the detector and layer options then come from "
                      "the file."),
)

output_options = _stack(
    click.option("-o", "--out", "out_root", default="cnnpipe-out", show_default=True,
                 type=click.Path(file_okay=False), metavar="DIR",
                 help="Output root; each input gets OUT/NAME/."),
    click.option("--npy", is_flag=True, help="Also save each map's exact float values as .npy."),
    click.option("--cmap", default="auto", show_default=True, metavar="NAME",
                 help="Colour map of the map PNGs: auto (vik for signed maps, viridis for "
                      "non-negative ones, gray for the input), gray, viridis, magma, cividis, "
                      "or the diverging vik, berlin, coolwarm (zero in the middle)."),
    click.option("--scale", default="robust", show_default=True,
                 metavar="robust|map|detector|fixed:LO,HI",
                 help="Value range of each PNG: robust (per map, 1.25 x the 99th percentile "
                      "of |value|, so outliers cannot wash it out; pool on its ReLU's range), "
                      "map (full range), shared by one detector's stages, or fixed."),
    click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True,
                 help="Bits per grey level of the map PNGs (16: grey maps; not with a colour "
                      "--cmap)."),
    click.option("--no-overview", is_flag=True, help="Do not write overview.png."),
    click.option("--png-compression", type=click.IntRange(0, 9), default=1, show_default=True,
                 help="zlib level of the PNGs: 1 is ~2x faster than 6 for files ~8% larger."),
    click.option("--provenance", is_flag=True,
                 help="Record each pooled cell's window, count and winner in the manifest."),
    click.option("--html", is_flag=True,
                 help="Also write report.html: an interactive page (hover a cell to see its "
                      "window, kernel products and receptive field); a batch also gets "
                      "OUT/index.html. Opens from disk, no network."),
)

class SizeType(click.ParamType):
    """A number of bytes: ``4G``, ``512M``, ``1.5GiB`` or plain bytes."""

    name = "SIZE"

    def convert(self, value, param, ctx):
        if isinstance(value, int):
            return value
        from cnnpipe.budget import parse_size
        from cnnpipe.errors import ParameterError

        try:
            return parse_size(value, param.name if param is not None else "size")
        except ParameterError as exc:
            self.fail(str(exc), param, ctx)


SIZE = SizeType()

limit_options = _stack(
    click.option("--max-pixels", type=click.IntRange(min=1), default=None,
                 help="Refuse images with more pixels than this (decompression bombs)."),
    click.option("--max-memory", type=SIZE, default="4G", show_default=True,
                 help="Memory one input's run may use: every map of every detector and "
                      "layer, padding included, is counted from the shapes before anything "
                      "is allocated. Standard input may be an eighth of it."),
    click.option("--max-disk", type=SIZE, default="4G", show_default=True,
                 help="Bytes one input's output folder may take."),
)

#: conv, relu, pool: the memory budget of one stage (standard input may be an eighth of it)
stage_memory_option = click.option(
    "--max-memory", type=SIZE, default="4G", show_default=True,
    help="Memory this stage may use: its result maps (padding included) are counted from "
         "the shapes before they are allocated. Standard input may be an eighth of it.")

#: animate, invariance: what they keep is counted from the shapes before it is allocated
teaching_memory_option = click.option(
    "--max-memory", type=SIZE, default="4G", show_default=True,
    help="Memory this command may use: every step or map it keeps (padding included) is "
         "counted from the shapes before anything large is allocated.")

batch_options = _stack(
    click.option("-r", "--recursive", is_flag=True, help="Descend into sub-directories."),
    click.option("-j", "--workers", type=click.IntRange(min=1), default=None,
                 help="Cores to use: N inputs at once in separate processes, or one input on "
                      "N threads. -j 1 stays on one core. Default: all cores."),
    click.option("--skip-existing", is_flag=True,
                 help="Skip inputs whose output folder is complete with the same settings."),
    click.option("--fail-fast", is_flag=True,
                 help="Start no input after the first one that fails."),
    click.option("--retries", type=click.IntRange(min=0), default=0, show_default=True,
                 help="Run an input again up to this many times when its worker process "
                      "dies (killed, out of memory, a crash in a codec)."),
    click.option("--executor", type=click.Choice(["process", "dask"]), default="process",
                 show_default=True,
                 help="Where inputs run: worker processes on this machine, or a Dask cluster "
                      "(a local one of -j workers, or --scheduler's; needs the cnnpipe[dask] "
                      "extra; see docs/dask.md)."),
    click.option("--scheduler", metavar="tcp://HOST:PORT", envvar="DASK_SCHEDULER_ADDRESS",
                 default=None,
                 help="With --executor dask: the scheduler of a running cluster whose workers "
                      "see the inputs and OUT at the same paths. Default: "
                      "$DASK_SCHEDULER_ADDRESS, else a local cluster."),
    click.option("-n", "--dry-run", is_flag=True,
                 help="List what each input would get, and which would fail or are up to "
                      "date (each file sniffed as a run would), then the counts; write "
                      "nothing."),
)

report_options = _stack(
    click.option("--table-max", type=click.IntRange(min=0), default=16, show_default=True,
                  help="Print whole maps as tables when both sides are at most this."),
    click.option("--json", "as_json", is_flag=True,
                 help="Print one JSON object per input (JSON Lines) on stdout, nothing else."),
    click.option("-q", "--quiet", is_flag=True, help="Nothing on stdout but --json output."),
)


def build_kernels(kernel_specs, random_n, seed, random_size, default=True, budget=None):
    """The detectors named by the kernel options (KernelError on a bad spec); ``budget``
    bounds ``--random N`` before any detector is drawn."""
    from cnnpipe import kernels as K

    chosen = K.parse_kernel_specs(list(kernel_specs)) if kernel_specs else []
    if random_n:
        chosen += K.random_kernels(random_n, seed, random_size, budget=budget)
    if not chosen and default:
        chosen = [K.BUILTIN[name] for name in K.DEFAULT_KERNELS]
    return K.unique_names(chosen)


def build_params(*, conv_stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1),
                 flip=False, activation="relu", leak=0.01, pool_mode="max", window=(2, 2),
                 stride=None, edge="keep", color="gray"):
    """A validated pipeline.Params from option values (ParameterError when invalid)."""
    from cnnpipe.layer import Params

    return Params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                  dilation=dilation, flip=flip, activation=activation, leak=leak,
                  pool=pool_mode, window=window, stride=stride, edge=edge, color=color)


def force_option(what: str):
    """``--force``: let a command replace an existing ``what`` (it never does unasked)."""
    return click.option("--force", is_flag=True,
                        help=f"Replace {what} if it exists (without --force an existing file "
                             "is never replaced: exit 2, nothing written).")


def refuse_to_replace(path, force: bool, flag: str) -> None:
    """Refuse (exit 2, before any work) to write ``path`` over a file, unless ``force``.

    A chart, GIF or picture a command writes outside an output folder may land on a
    file the user keeps (``./invariance.png``): it is replaced only when asked.
    """
    import os

    from cnnpipe.errors import ParameterError

    path = os.fspath(path)
    if os.path.isdir(path):
        raise ParameterError(f"{flag} {path}: is a directory; give a file name")
    if os.path.lexists(path) and not force:
        raise ParameterError(f"{flag} {path}: the file exists; add --force to replace it "
                             "(nothing was written)")
