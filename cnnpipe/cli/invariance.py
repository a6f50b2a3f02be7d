"""`cnnpipe invariance`: move the input a little and measure how much every map changes."""

from __future__ import annotations

import click

from cnnpipe.cli import console
from cnnpipe.cli.options import (
    activation_options,
    build_kernels,
    build_params,
    conv_options,
    kernel_options,
    pool_options,
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


@click.command()
@click.argument("image", metavar="IMAGE")
@click.option("--shifts", default="1,2,3,4", show_default=True, metavar="S,S,...",
              help="Shifts in pixels; set to '' for none (with --rotate or --scale-by).")
@click.option("--axis", type=click.Choice(["x", "y", "xy"]), default="x", show_default=True,
              help="Shift direction: x right, y down, xy diagonal.")
@click.option("--rotate", type=float, default=None, metavar="DEG",
              help="Also rotate the input by DEG degrees (counter-clockwise) and compare.")
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
@click.option("--json", "as_json", is_flag=True,
              help="Print the whole result as one JSON object on stdout, nothing else.")
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stdout but --json output.")
def invariance(image, shifts, axis, rotate, scale_by, kernel_specs, random_n, seed, random_size,
               conv_stride, padding, pad_mode, dilation, flip, activation, leak, pool_mode,
               window, stride, edge, pipeline_file, chart_file, no_chart, as_json, quiet):
    """Shift (rotate, scale) IMAGE slightly and measure how much each map changes.

    Every stage of every detector is compared with the unmoved input's map:
    "change" is ||moved - original|| / ||original|| at the same positions (0 =
    unchanged, about 1.41 = no overlap at all); "aligned" is the correlation
    after undoing the known shift in whole cells (1 = the map just moved). The
    tables show whether the pooled maps change less than the convolution maps;
    the chart plots the mean change per stage.

    \b
    Examples:
      cnnpipe invariance samples/chelsea.png
      cnnpipe invariance photo.jpg -k sobel-x --window 4 --shifts 1,2,4,8
      cnnpipe invariance photo.jpg --rotate 5 --scale-by 1.1 --chart inv.png
      cnnpipe invariance photo.jpg --pipeline samples/net.toml --json -q
    """
    import json
    import math

    from cnnpipe import io
    from cnnpipe.errors import InputError, ParameterError
    from cnnpipe.network import load_network, single_layer
    from cnnpipe.teaching import invariance as inv

    out = console.stdout()
    shift_list = _shift_list(shifts)
    if pipeline_file is not None:
        from cnnpipe.cli.run import _refuse_layer_options

        _refuse_layer_options(click.get_current_context())
        network = load_network(pipeline_file)
    else:
        kernels = build_kernels(kernel_specs, random_n, seed, random_size)
        for k in kernels:
            if k.weights.ndim != 2:
                raise ParameterError(f"kernel {k.name!r} has {k.weights.shape[0]} channels; "
                                     "invariance works on the gray image, use a 2-D detector "
                                     "(or --pipeline for several layers)")
        params = build_params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                              dilation=dilation, flip=flip, activation=activation, leak=leak,
                              pool_mode=pool_mode, window=window, stride=stride, edge=edge)
        network = single_layer(kernels, params)
    try:
        loaded = io.load_image(image)
    except InputError as exc:
        raise InputError(f"{image}: {exc}") from None
    result = inv.experiment(loaded.array, network, shift_list, axis=axis, rotate=rotate,
                            scale_by=scale_by)
    result["input"] = {"path": image, "width": loaded.info.get("width"),
                       "height": loaded.info.get("height")}
    result["verdicts"] = inv.verdicts(result["summary"])
    if not no_chart:
        import os

        name = os.path.basename(image)
        io.atomic_write(chart_file, chart_png(
            result, title=f"{name}: how much each stage changes when the input moves"))
        result["chart"] = chart_file

    if as_json:
        def clean(value):
            return None if isinstance(value, float) and math.isnan(value) else value

        def scrub(obj):
            if isinstance(obj, dict):
                return {k: scrub(v) for k, v in obj.items()}
            if isinstance(obj, list):
                return [scrub(v) for v in obj]
            return clean(obj)

        out.file.write(json.dumps(scrub(result), ensure_ascii=False) + "\n")
        return
    if quiet:
        return
    out.print(change_table(result))
    if any(v["kind"] == "shift" for v in result["variants"]):
        out.print(aligned_table(result))
    for line in verdict_lines(result):
        out.print(line, markup=False)
    if not no_chart:
        console.say(f"chart -> {chart_file}")


STAGE_LABEL = {"conv": "conv", "relu": "ReLU", "pool": "pool"}


def _fmt(value: float) -> str:
    import math

    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def change_table(result: dict):
    """Rich table: one row per layer, stage and detector; one column per moved copy."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    variants = [v["label"] for v in result["variants"]]
    table = Table(box=box.SIMPLE_HEAD, title_justify="left",
                  title="change = ||moved - original|| / ||original|| at the same positions "
                        "(0 = unchanged, 1.41 = no overlap)")
    many = len({row["layer"] for row in result["rows"]}) > 1
    if many:
        table.add_column("layer", justify="right")
    table.add_column("stage", no_wrap=True)
    table.add_column("detector", no_wrap=True)
    for label in variants:
        table.add_column(label, justify="right")
    cells: dict[tuple, dict[str, float]] = {}
    for row in result["rows"]:
        cells.setdefault((row["layer"], row["stage"], row["detector"]), {})[row["variant"]] = (
            row["change"])
    means = {(s["layer"], s["stage"], s["variant"]): s for s in result["summary"]}
    groups: dict[tuple, list[str]] = {}
    for layer, stage, detector in cells:
        groups.setdefault((layer, stage), []).append(detector)
    for (layer, stage), detectors in groups.items():
        for detector in detectors:
            values = cells[(layer, stage, detector)]
            table.add_row(*([str(layer)] if many else []), STAGE_LABEL[stage], detector,
                          *(_fmt(values.get(v, float("nan"))) for v in variants))
        table.add_row(*([str(layer)] if many else []), Text(STAGE_LABEL[stage], style="bold"),
                      Text("mean", style="bold"),
                      *(Text(_fmt(means[(layer, stage, v)]["change"]), style="bold")
                        for v in variants))
        table.add_section()
    return table


def aligned_table(result: dict):
    """Rich table: mean correlation after undoing each shift, per layer and stage."""
    from rich import box
    from rich.table import Table

    shifts = [v for v in result["variants"] if v["kind"] == "shift"]
    table = Table(box=box.SIMPLE_HEAD, title_justify="left",
                  title="aligned = correlation after undoing the shift, rounded half up to "
                        "whole cells of px/cell pixels (1 = the map just moved along)")
    many = len({row["layer"] for row in result["rows"]}) > 1
    if many:
        table.add_column("layer", justify="right")
    table.add_column("stage", no_wrap=True)
    table.add_column("px/cell", justify="right", no_wrap=True)
    for v in shifts:
        table.add_column(v["label"], justify="right", no_wrap=True)
    strides = {(row["layer"], row["stage"]): row["stride"] for row in result["rows"]}
    seen = []
    for s in result["summary"]:
        if (s["layer"], s["stage"]) not in seen:
            seen.append((s["layer"], s["stage"]))
    means = {(s["layer"], s["stage"], s["variant"]): s for s in result["summary"]}
    for layer, stage in seen:
        sy, sx = strides[(layer, stage)]
        row = [_fmt(means[(layer, stage, v["label"])]["aligned"]) for v in shifts]
        table.add_row(*([str(layer)] if many else []), STAGE_LABEL[stage],
                      str(sx) if sy == sx else f"{sy}x{sx}", *row)
    return table


def verdict_lines(result: dict) -> list[str]:
    """One sentence per layer with pooling: did the pooled maps change less than conv?"""
    lines = []
    for v in result["verdicts"]:
        if not v["variants"]:
            continue
        answer = "less" if v["pool_mean"] < v["conv_mean"] else "NOT less"
        lines.append(f"layer {v['layer']}: pooled maps changed {answer} than conv maps on "
                     f"average (mean change {v['pool_mean']:.3f} vs {v['conv_mean']:.3f}); "
                     f"less for {v['pool_less']} of {v['variants']} moves.")
    return lines


# --- the chart -------------------------------------------------------------------------------

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
# conv, ReLU and pool of one layer share a hue family so the stages of a layer read together
STAGE_COLOR = {"conv": (31, 119, 180), "relu": (255, 127, 14), "pool": (44, 160, 44)}


def chart_png(result: dict, *, title: str, width: int = 960, height: int = 560) -> bytes:
    """A line chart (PNG bytes): mean change per layer and stage against each moved copy."""
    import io as _io
    import math

    from PIL import Image, ImageDraw, ImageFont

    def font(size):
        try:
            return ImageFont.load_default(size=size)
        except TypeError:  # Pillow < 10.1
            return ImageFont.load_default()

    f_title, f_label, f_small = font(20), font(15), font(13)
    variants = [v["label"] for v in result["variants"]]
    series: dict[tuple, dict[str, float]] = {}
    for s in result["summary"]:
        series.setdefault((s["layer"], s["stage"]), {})[s["variant"]] = s["change"]
    layers = sorted({k[0] for k in series})
    values = [v for d in series.values() for v in d.values() if not math.isnan(v)]
    top = max([math.sqrt(2)] + values) * 1.08
    step = 0.25 if top <= 2 else 0.5 if top <= 4 else 1.0
    top = math.ceil(top / step) * step

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    left, right, upper, lower = 80, width - 190, 96, height - 70
    draw.text((left - 60, 16), _shorten(draw, title, f_title, width - 40), fill=(20, 20, 20),
              font=f_title)
    draw.text((left - 60, 44), "mean over detectors of ||moved - original|| / ||original|| "
              "(lower = more invariant)", fill=(90, 90, 90), font=f_small)

    def y_of(value):
        return lower - (lower - upper) * value / top

    n = len(variants)
    xs = [left + (right - left) * (i + 0.5) / n for i in range(n)]
    tick = 0.0
    while tick <= top + 1e-9:
        y = y_of(tick)
        draw.line([(left, y), (right, y)], fill=(228, 228, 228), width=1)
        label = f"{tick:g}"
        tw = draw.textlength(label, font=f_small)
        draw.text((left - 8 - tw, y - 8), label, fill=(60, 60, 60), font=f_small)
        tick += step
    y = y_of(math.sqrt(2))
    for x in range(left, right, 12):
        draw.line([(x, y), (min(x + 6, right), y)], fill=(150, 150, 150), width=1)
    draw.text((left + 6, y - 17), "1.41 = no overlap", fill=(120, 120, 120), font=f_small)
    draw.line([(left, upper), (left, lower), (right, lower)], fill=(40, 40, 40), width=2)
    for x, label in zip(xs, variants, strict=True):
        draw.line([(x, lower), (x, lower + 5)], fill=(40, 40, 40), width=1)
        tw = draw.textlength(label, font=f_label)
        draw.text((x - tw / 2, lower + 9), label, fill=(30, 30, 30), font=f_label)
    axis = {"x": "to the right", "y": "down", "xy": "diagonally"}.get(result.get("axis"), "")
    kinds = [v["kind"] for v in result["variants"]]
    moves = ([f"shifts {axis}"] if "shift" in kinds else []) + (
        ["rotation"] if "rotate" in kinds else []) + (["scaling"] if "scale" in kinds else [])
    caption = "how the input was moved: " + ", ".join(moves)
    tw = draw.textlength(caption, font=f_small)
    draw.text(((left + right) / 2 - tw / 2, lower + 34), caption, fill=(90, 90, 90),
              font=f_small)
    draw.text((left - 60, upper - 26), "change", fill=(60, 60, 60), font=f_small)
    if "shift" in kinds and len(set(kinds)) > 1:  # warps are not points on the shift axis
        first_warp = kinds.index(next(k for k in kinds if k != "shift"))
        x_div = (xs[first_warp - 1] + xs[first_warp]) / 2
        for y in range(upper, lower, 10):
            draw.line([(x_div, y), (x_div, min(y + 5, lower))], fill=(170, 170, 170), width=1)

    legend_y = upper
    for key, points in series.items():
        layer, stage = key
        # one layer: a colour per stage; several: a colour per layer, the stage by its marker
        color = STAGE_COLOR[stage] if len(layers) == 1 else PALETTE[
            layers.index(layer) % len(PALETTE)]
        pts = [(x, y_of(points[v])) for x, v in zip(xs, variants, strict=True)
               if not math.isnan(points.get(v, math.nan))]
        line = [(x, y_of(points[v])) for x, v, kind in zip(xs, variants, kinds, strict=True)
                if kind == "shift" and not math.isnan(points.get(v, math.nan))]
        if len(line) > 1:
            draw.line(line, fill=color, width=3 if stage != "relu" else 2, joint="curve")
        for x, y in pts:
            _marker(draw, stage, x, y, color)
        name = (f"layer {layer} " if len(layers) > 1 else "") + STAGE_LABEL[stage]
        draw.line([(right + 20, legend_y + 9), (right + 48, legend_y + 9)], fill=color,
                  width=3 if stage != "relu" else 2)
        _marker(draw, stage, right + 34, legend_y + 9, color)
        draw.text((right + 56, legend_y), name, fill=(30, 30, 30), font=f_label)
        legend_y += 24
    buf = _io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _marker(draw, stage: str, x: float, y: float, color) -> None:
    """conv: a dot, ReLU: a hollow ring, pool: a square."""
    if stage == "pool":
        draw.rectangle([x - 5, y - 5, x + 5, y + 5], fill=color)
    elif stage == "relu":
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill="white", outline=color, width=2)
    else:
        draw.ellipse([x - 4, y - 4, x + 4, y + 4], fill=color)


def _shorten(draw, text: str, font, width: int) -> str:
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"
