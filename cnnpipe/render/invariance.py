"""The invariance experiment's tables and verdict sentences (rich renderables, returned)."""

from __future__ import annotations

from cnnpipe.teaching.invariance import STAGE_LABEL


def _fmt(value: float) -> str:
    import math

    return "n/a" if value is None or math.isnan(value) else f"{value:.3f}"


def _table(result: dict, title: str):
    """(table with a layer column when there are several layers, then stage; several?)."""
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title_justify="left", title=title)
    many = len({row["layer"] for row in result["rows"]}) > 1
    if many:
        table.add_column("layer", justify="right")
    table.add_column("stage", no_wrap=True)
    return table, many


def change_table(result: dict):
    """Rich table: one row per layer, stage and detector; one column per moved copy."""
    from rich.text import Text

    variants = [v["label"] for v in result["variants"]]
    table, many = _table(result, "change = ||moved - original|| / ||original|| at the same "
                         "positions (0 = unchanged, 1 = a difference as large as the map itself)")
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
    shifts = [v for v in result["variants"] if v["kind"] == "shift"]
    table, many = _table(result, "aligned = correlation after undoing the shift, rounded half "
                         "up to whole cells of px/cell pixels (1 = the map just moved along)")
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
