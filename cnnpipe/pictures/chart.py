"""The invariance chart: mean change per layer and stage against each moved copy (Pillow)."""

from __future__ import annotations

from cnnpipe.teaching.invariance import STAGE_LABEL

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
