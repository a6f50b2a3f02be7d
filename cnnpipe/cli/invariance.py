"""`cnnpipe invariance`: move the input a little and measure how much every map changes."""

from __future__ import annotations

from types import SimpleNamespace

import click

from cnnpipe.cli import console
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
    teaching_memory_option,
)


def _shift_list(text: str) -> list[int]:
    parts = [p.strip() for p in str(text).split(",") if p.strip()]
    try:
        shifts = [int(p) for p in parts]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a list of whole pixels; use e.g. 1,2,3,4",
                                 param_hint="'--shifts'") from None
    if any(s < 1 for s in shifts):
        raise click.BadParameter(f"every shift must be >= 1 (got {text})",
                                 param_hint="'--shifts'")
    if len(set(shifts)) != len(shifts):
        raise click.BadParameter(f"shifts must differ (got {text})", param_hint="'--shifts'")
    return shifts


#: When invariance's own options act (the shared ones are in cli/applies.py).
RULES = (
    Rule("chart_file", lambda p: not p["no_chart"], "has no effect with --no-chart"),
    Rule("axis", lambda p: bool(str(p["shifts"]).strip()),
         "has no effect with --shifts '' (no shifted copies)"),
    Rule("force", lambda p: not p["no_chart"], "has no effect with --no-chart (no file is "
         "written)"),
)


@click.command()
@click.argument("image", metavar="IMAGE")
@click.option("--shifts", default="1,2,3,4", show_default=True, metavar="S,S,...",
              help="Shifts in pixels; set to '' for none (with --rotate or --scale-by).")
@click.option("--axis", type=click.Choice(["x", "y", "xy"]), default="x", show_default=True,
              help="Shift direction: x right, y down, xy diagonal.")
@click.option("--rotate", type=float, default=None, metavar="DEG",
              help="Also rotate the input by DEG degrees, clockwise on screen (as sobel:ANGLE "
                   "turns), and compare.")
@click.option("--scale-by", type=float, default=None, metavar="F",
              help="Also scale the input by F about its centre (e.g. 1.1) and compare.")
@kernel_options
@conv_options
@activation_options
@pool_options
@click.option("--pipeline", "pipeline_file", default=None, metavar="FILE.toml",
              help="Measure the stacked layers of a pipeline file instead of one layer.")
@click.option("--chart", "chart_file", default="invariance.png", show_default=True,
              metavar="FILE.png", help="Where to write the chart.")
@click.option("--no-chart", is_flag=True, help="Do not write the chart.")
@force_option("the --chart file")
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole result as one JSON object on stdout, nothing else.")
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stdout but --json output.")
@teaching_memory_option
def invariance(image, **options):
    """Shift (rotate, scale) IMAGE slightly and measure how much each map changes.

    Every stage of every detector is compared with the unmoved input's map:
    "change" is ||moved - original|| / ||original|| at the same positions (0 =
    unchanged, 1 = a difference as large as the map itself); "aligned" is the correlation
    after undoing the known shift in whole cells (1 = the map just moved). The
    tables show whether the pooled maps change less than the convolution maps;
    the chart plots the mean change per stage.

    \b
    Examples:
      cnnpipe invariance samples/chelsea.png
      cnnpipe invariance photo.jpg -k sobel-x --window 4 --shifts 1,2,4,8
      cnnpipe invariance photo.jpg --rotate 5 --scale-by 1.1 --chart inv.png --force
      cnnpipe invariance photo.jpg --pipeline samples/net.toml --json -q
    """
    opts = SimpleNamespace(**options)
    shift_list = _shift_list(opts.shifts)
    network = _network(opts)  # --pipeline refuses the layer options first
    refuse_ignored(extra=RULES)
    if not opts.no_chart:
        refuse_to_replace(opts.chart_file, opts.force, "--chart")
    result = _experiment(image, network, shift_list, opts)
    if not opts.no_chart:
        _write_chart(image, result, opts.chart_file)
    if opts.as_json:
        console.stdout().file.write(_json(result) + "\n")
    elif not opts.quiet:
        _show(result)
    if not opts.no_chart:
        console.say(f"chart -> {opts.chart_file}")


def _network(opts):
    """The network to measure: the --pipeline file, or one layer from the options."""
    from cnnpipe.errors import ParameterError
    from cnnpipe.network import load_network, single_layer

    if opts.pipeline_file is not None:
        from cnnpipe.cli.applies import refuse_layer_options

        refuse_layer_options(click.get_current_context())
        return load_network(opts.pipeline_file)
    kernels = build_kernels(opts.kernel_specs, opts.random_n, opts.seed, opts.random_size)
    for k in kernels:
        if k.weights.ndim != 2:
            raise ParameterError(f"kernel {k.name!r} has {k.weights.shape[0]} channels; "
                                 "invariance works on the gray image, use a 2-D detector "
                                 "(or --pipeline for several layers)")
    params = build_params(conv_stride=opts.conv_stride, padding=opts.padding,
                          pad_mode=opts.pad_mode, dilation=opts.dilation, flip=opts.flip,
                          activation=opts.activation, leak=opts.leak, pool_mode=opts.pool_mode,
                          window=opts.window, stride=opts.stride, edge=opts.edge)
    return single_layer(kernels, params)


def _experiment(image, network, shift_list, opts) -> dict:
    from cnnpipe import io
    from cnnpipe.budget import Budget
    from cnnpipe.errors import InputError
    from cnnpipe.teaching import invariance as inv
    from cnnpipe.teaching.limits import check_invariance

    try:
        # the budget from the header's size, before the pixels are decoded
        loaded = io.load_image(image, on_size=lambda shape: check_invariance(
            shape, network.layers, Budget(memory=opts.max_memory)))
    except InputError as exc:
        raise InputError(f"{image}: {exc}") from None
    result = inv.experiment(loaded.array, network, shift_list, axis=opts.axis,
                            rotate=opts.rotate, scale_by=opts.scale_by)
    result["input"] = {"path": image, "width": loaded.info.get("width"),
                       "height": loaded.info.get("height")}
    result["verdicts"] = inv.verdicts(result["summary"])
    return result


def _write_chart(image, result, chart_file) -> None:
    import os

    from cnnpipe import io
    from cnnpipe.pictures.chart import chart_png

    name = os.path.basename(image)
    io.atomic_write(chart_file, chart_png(
        result, title=f"{name}: how much each stage changes when the input moves"))
    result["chart"] = chart_file


def _json(result) -> str:
    """The result as one JSON object; NaN (a map with nothing to compare) becomes null."""
    import json
    import math

    def scrub(obj):
        if isinstance(obj, dict):
            return {k: scrub(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [scrub(v) for v in obj]
        return None if isinstance(obj, float) and math.isnan(obj) else obj

    return json.dumps(scrub(result), ensure_ascii=False)


def _show(result) -> None:
    from cnnpipe.render.invariance import aligned_table, change_table, verdict_lines

    out = console.stdout()
    out.print(change_table(result))
    if any(v["kind"] == "shift" for v in result["variants"]):
        out.print(aligned_table(result))
    for line in verdict_lines(result):
        out.print(line, markup=False)
