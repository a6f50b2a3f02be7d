"""Parameter types and option groups shared by the commands.

Imports only click: commands must stay cheap to import.
"""

from __future__ import annotations

import re

import click

_PAIR = re.compile(r"^\s*(\d+)\s*(?:[x×,]\s*(\d+))?\s*$", re.IGNORECASE)


class PairType(click.ParamType):
    """``2`` or ``2x3`` (rows x cols) or ``2,3``: a positive (rows, cols) pair."""

    name = "N|HxW"

    def convert(self, value, param, ctx):
        if isinstance(value, tuple):
            return value
        match = _PAIR.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size; use N or HxW, e.g. 2 or 2x3", param, ctx)
        rows = int(match.group(1))
        cols = int(match.group(2)) if match.group(2) is not None else rows
        if rows < 1 or cols < 1:
            self.fail(f"must be >= 1 (got {value})", param, ctx)
        return (rows, cols)


class PaddingType(click.ParamType):
    """``valid``, ``same``, ``full``, ``N`` or ``top,bottom,left,right``."""

    name = "valid|same|full|N|T,B,L,R"

    def convert(self, value, param, ctx):
        if not isinstance(value, str):
            return value
        text = value.strip().lower()
        if text in ("valid", "same", "full"):
            return text
        parts = [p.strip() for p in text.split(",")]
        try:
            numbers = [int(p) for p in parts]
        except ValueError:
            self.fail(f"{value!r} is not a padding; use valid, same, full, N or "
                      "top,bottom,left,right", param, ctx)
        if any(n < 0 for n in numbers):
            self.fail(f"padding must be >= 0 (got {value})", param, ctx)
        if len(numbers) == 1:
            return numbers[0]
        if len(numbers) == 4:
            return tuple(numbers)
        self.fail(f"{value!r} has {len(numbers)} numbers; padding takes 1 or 4 "
                  "(top,bottom,left,right)", param, ctx)


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
                 help="Textbook convolution (kernel rotated 180°) instead of CNN "
                      "cross-correlation."),
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
                 help="Pooling stride (N or HxW). Default: the window size."),
    click.option("--edge", type=click.Choice(["keep", "drop"]), default="keep",
                 show_default=True,
                 help="keep: partial windows at the right/bottom edges; drop: whole windows only."),
)


def build_kernels(kernel_specs, random_n, seed, random_size, default=True):
    """The detectors named by the kernel options (KernelError on a bad spec)."""
    from cnnpipe import kernels as K

    chosen = K.parse_kernel_specs(list(kernel_specs)) if kernel_specs else []
    if random_n:
        chosen += K.random_kernels(random_n, seed, random_size)
    if not chosen and default:
        chosen = [K.BUILTIN[name] for name in K.DEFAULT_KERNELS]
    return _unique(chosen)


def _unique(kernels):
    """Suffix repeated detector names with -2, -3... so their files never collide."""
    import dataclasses

    seen: dict[str, int] = {}
    out = []
    for k in kernels:
        name = k.name
        if name in seen:
            seen[name] += 1
            name = f"{k.name}-{seen[k.name]}"
            while name in seen:
                seen[k.name] += 1
                name = f"{k.name}-{seen[k.name]}"
            k = dataclasses.replace(k, name=name)
        seen.setdefault(name, 1)
        out.append(k)
    return out


def build_params(*, conv_stride=(1, 1), padding="valid", pad_mode="zeros", dilation=(1, 1),
                 flip=False, activation="relu", leak=0.01, pool_mode="max", window=(2, 2),
                 stride=None, edge="keep", color="gray"):
    """A validated pipeline.Params from option values (ParameterError when invalid)."""
    from cnnpipe.layer import Params

    return Params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                  dilation=dilation, flip=flip, activation=activation, leak=leak,
                  pool=pool_mode, window=window, stride=stride, edge=edge, color=color)
