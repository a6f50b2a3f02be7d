"""No option is ever silently ignored: one that cannot apply to the others given is refused.

Each :class:`Rule` says when an option has an effect; :func:`refuse_ignored`,
called first by every command, turns an option given on the command line
where it has none into a usage error (exit 2) that names both options, e.g.
``--seed has no effect without --random (it seeds the random detectors)``.
Defaults never trigger a rule: only what the user typed counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import click


class Rule(NamedTuple):
    option: str  # the click parameter name
    applies: Callable[[dict], bool]  # given every parameter value: does the option act?
    reason: str  # "has no effect without --random (it seeds the random detectors)"


def _padded(params: dict) -> bool:
    return "padding" not in params or params["padding"] not in ("valid", 0, (0, 0, 0, 0))


#: Rules for the options shared by several commands (cli/options.py's groups). A rule
#: whose other option the command does not have never fires (`exercise --seed`).
COMMON = (
    Rule("seed", lambda p: "random_n" not in p or bool(p["random_n"]),
         "has no effect without --random N (it seeds the random detectors)"),
    Rule("random_size", lambda p: "random_n" not in p or bool(p["random_n"]),
         "has no effect without --random N (it sizes the random detectors; the input "
         "size of `cnnpipe shape` is its own --size)"),
    Rule("leak", lambda p: p.get("activation", "leaky") == "leaky",
         "has no effect without --activation leaky (it is the slope of negative values)"),
    Rule("pad_mode", _padded,
         "has no effect with --padding valid (no padding is added to fill); give --padding "
         "same, full, N or T,B,L,R"),
    Rule("window", lambda p: p.get("pool_mode", "max") != "none",
         "has no effect with --pool none (there is no pooling)"),
    Rule("stride", lambda p: p.get("pool_mode", "max") != "none",
         "has no effect with --pool none (it is the pooling stride; the convolution's is "
         "--conv-stride)"),
    Rule("edge", lambda p: p.get("pool_mode", "max") != "none",
         "has no effect with --pool none (there is no pooling)"),
)


def given(ctx: click.Context, name: str) -> bool:
    """True when the user typed the option (or set it in the environment)."""
    from click.core import ParameterSource

    return ctx.get_parameter_source(name) in (ParameterSource.COMMANDLINE,
                                              ParameterSource.ENVIRONMENT,
                                              ParameterSource.PROMPT)


def flag(ctx: click.Context, name: str) -> str:
    """The option's long flag as the user knows it (``--pad-mode``)."""
    for param in ctx.command.params:
        if param.name == name:
            return max(param.opts, key=len)
    return name


def refuse_ignored(ctx: click.Context | None = None, extra: tuple[Rule, ...] = ()) -> None:
    """Raise a usage error for the first option given where it would have no effect."""
    ctx = ctx or click.get_current_context()
    names = {p.name for p in ctx.command.params}
    for rule in COMMON + tuple(extra):
        if rule.option in names and given(ctx, rule.option) and not rule.applies(ctx.params):
            raise click.UsageError(f"{flag(ctx, rule.option)} {rule.reason}", ctx=ctx)


_LAYER_OPTIONS = ("kernel_specs", "random_n", "seed", "random_size", "conv_stride", "padding",
                  "pad_mode", "dilation", "flip", "activation", "leak", "pool_mode", "window",
                  "stride", "edge")


def refuse_layer_options(ctx):
    """With --pipeline the file decides every layer; a layer option too would be ambiguous."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.name in _LAYER_OPTIONS and ctx.get_parameter_source(param.name) not in (
                ParameterSource.DEFAULT, None):
            raise click.UsageError(f"{param.opts[-1]} cannot be combined with --pipeline; set it "
                                   "per layer in the pipeline file")

