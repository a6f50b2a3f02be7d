"""The invariance chart: mean change per layer and stage against each moved copy (Pillow)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from cnnpipe.teaching.invariance import STAGE_LABEL

PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
           (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207)]
# conv, ReLU and pool of one layer share a hue family so the stages of a layer read together
STAGE_COLOR = {"conv": (31, 119, 180), "relu": (255, 127, 14), "pool": (44, 160, 44)}
#: The reference line: a change of 1 means the difference is as large as the map itself.
REFERENCE = 1.0
REFERENCE_LABEL = "1 = a change as large as the map itself"


@dataclass
class _Plot:
    """Where things go: the drawing, its fonts, the plot box and the value scale."""

    draw: object
    fonts: tuple  # title, label, small
    left: int
    right: int
    upper: int
    lower: int
    top: float  # the value at the upper edge

    def y_of(self, value: float) -> float:
        return self.lower - (self.lower - self.upper) * value / self.top


def chart_png(result: dict, *, title: str, width: int = 960, height: int = 560) -> bytes:
    """A line chart (PNG bytes): mean change per layer and stage against each moved copy."""
    import io as _io

    from PIL import Image, ImageDraw

    series: dict[tuple, dict[str, float]] = {}
    for s in result["summary"]:
        series.setdefault((s["layer"], s["stage"]), {})[s["variant"]] = s["change"]
    values = [v for d in series.values() for v in d.values() if not math.isnan(v)]
    top = max([REFERENCE] + values) * 1.08
    step = 0.25 if top <= 2 else 0.5 if top <= 4 else 1.0
    img = Image.new("RGB", (width, height), "white")
    plot = _Plot(ImageDraw.Draw(img), (_font(20), _font(15), _font(13)), 80, width - 190, 96,
                 height - 70, math.ceil(top / step) * step)
    _frame(plot, title, width, step)
    xs = _x_axis(plot, result)
    _series(plot, series, xs, result["variants"])
    buf = _io.BytesIO()
    img.save(buf, format="PNG", optimize=False)
    return buf.getvalue()


def _font(size):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _frame(plot: _Plot, title: str, width: int, step: float) -> None:
    """Title, subtitle, horizontal grid with its ticks, the reference line, the axes."""
    draw, (f_title, _, f_small) = plot.draw, plot.fonts
    left, right = plot.left, plot.right
    draw.text((left - 60, 16), _shorten(draw, title, f_title, width - 40), fill=(20, 20, 20),
              font=f_title)
    draw.text((left - 60, 44), "mean over detectors of ||moved - original|| / ||original|| "
              "(0 = unchanged, lower = more invariant)", fill=(90, 90, 90), font=f_small)
    tick = 0.0
    while tick <= plot.top + 1e-9:
        y = plot.y_of(tick)
        draw.line([(left, y), (right, y)], fill=(228, 228, 228), width=1)
        label = f"{tick:g}"
        tw = draw.textlength(label, font=f_small)
        draw.text((left - 8 - tw, y - 8), label, fill=(60, 60, 60), font=f_small)
        tick += step
    y = plot.y_of(REFERENCE)
    for x in range(left, right, 12):
        draw.line([(x, y), (min(x + 6, right), y)], fill=(150, 150, 150), width=1)
    draw.text((left + 6, y - 17), REFERENCE_LABEL, fill=(120, 120, 120), font=f_small)
    draw.line([(left, plot.upper), (left, plot.lower), (right, plot.lower)], fill=(40, 40, 40),
              width=2)
    draw.text((left - 60, plot.upper - 26), "change", fill=(60, 60, 60), font=f_small)


def _x_axis(plot: _Plot, result: dict) -> list[float]:
    """One labelled tick per moved copy, the caption, and a divider before the warps."""
    draw, (_, f_label, f_small) = plot.draw, plot.fonts
    variants = [v["label"] for v in result["variants"]]
    kinds = [v["kind"] for v in result["variants"]]
    n = len(variants)
    xs = [plot.left + (plot.right - plot.left) * (i + 0.5) / n for i in range(n)]
    for x, label in zip(xs, variants, strict=True):
        draw.line([(x, plot.lower), (x, plot.lower + 5)], fill=(40, 40, 40), width=1)
        tw = draw.textlength(label, font=f_label)
        draw.text((x - tw / 2, plot.lower + 9), label, fill=(30, 30, 30), font=f_label)
    axis = {"x": "to the right", "y": "down", "xy": "diagonally"}.get(result.get("axis"), "")
    moves = ([f"shifts {axis}"] if "shift" in kinds else []) + (
        ["rotation (clockwise)"] if "rotate" in kinds else []) + (
        ["scaling"] if "scale" in kinds else [])
    caption = "how the input was moved: " + ", ".join(moves)
    tw = draw.textlength(caption, font=f_small)
    draw.text(((plot.left + plot.right) / 2 - tw / 2, plot.lower + 34), caption,
              fill=(90, 90, 90), font=f_small)
    if "shift" in kinds and len(set(kinds)) > 1:  # warps are not points on the shift axis
        first_warp = kinds.index(next(k for k in kinds if k != "shift"))
        x_div = (xs[first_warp - 1] + xs[first_warp]) / 2
        for y in range(plot.upper, plot.lower, 10):
            draw.line([(x_div, y), (x_div, min(y + 5, plot.lower))], fill=(170, 170, 170),
                      width=1)
    return xs


def _series(plot: _Plot, series: dict, xs: list[float], variants: list[dict]) -> None:
    """A line (through the shifts) and markers per layer and stage, and the legend."""
    draw, f_label = plot.draw, plot.fonts[1]
    layers = sorted({key[0] for key in series})
    legend_y = plot.upper
    for (layer, stage), points in series.items():
        # one layer: a colour per stage; several: a colour per layer, the stage by its marker
        color = STAGE_COLOR[stage] if len(layers) == 1 else PALETTE[
            layers.index(layer) % len(PALETTE)]
        known = [(x, v) for x, v in zip(xs, variants, strict=True)
                 if not math.isnan(points.get(v["label"], math.nan))]
        line = [(x, plot.y_of(points[v["label"]])) for x, v in known if v["kind"] == "shift"]
        if len(line) > 1:
            draw.line(line, fill=color, width=3 if stage != "relu" else 2, joint="curve")
        for x, v in known:
            _marker(draw, stage, x, plot.y_of(points[v["label"]]), color)
        name = (f"layer {layer} " if len(layers) > 1 else "") + STAGE_LABEL[stage]
        draw.line([(plot.right + 20, legend_y + 9), (plot.right + 48, legend_y + 9)],
                  fill=color, width=3 if stage != "relu" else 2)
        _marker(draw, stage, plot.right + 34, legend_y + 9, color)
        draw.text((plot.right + 56, legend_y), name, fill=(30, 30, 30), font=f_label)
        legend_y += 24


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
