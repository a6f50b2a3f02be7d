"""What `cnnpipe run` shows: the progress bar, tables, --json lines, notes, the batch index."""

from __future__ import annotations

from cnnpipe.cli import console
from cnnpipe.cli.options import build_params
from cnnpipe.render.text import json_safe


def make_progress(err, total):
    if total <= 1 or not err.is_terminal:
        return None
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task):
            speed = task.finished_speed or task.speed
            return Text("   -/s" if speed is None else f"{speed:5.1f}/s", style="cyan")

    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    RateColumn(), TimeElapsedColumn(), TextColumn("eta"), TimeRemainingColumn(),
                    TextColumn("{task.fields[current]}", markup=False),
                    console=err, transient=True)


def json_line(report: dict) -> str:
    import json

    # json leaves DEL, C1 controls and U+2028 raw: escaped too, the value unchanged
    return json_safe(json.dumps(report, ensure_ascii=False, separators=(",", ":"))) + "\n"


def show_results(out, kernels, reports, table_max):
    from cnnpipe.render import tables

    out.print(tables.detectors_table(kernels))
    ok = [r for r in reports if r["status"] != "failed"]
    if len(reports) == 1 and ok:
        report = ok[0]
        small = [m for m in report["maps"] if "values" in m
                 and max(m["shape"][-2:]) <= table_max and len(m["shape"]) == 2]
        import numpy as np

        for entry in small:
            title = " · ".join([entry["stage"]] + ([entry["kernel"]] if entry["kernel"] else [])
                               + ["×".join(map(str, entry["shape"]))])
            out.print(tables.matrix_table(np.asarray(entry["values"]), title=title))
        out.print(tables.summary_table(report, title=f"{report['input'].get('path')} -> "
                                                     f"{report['output']}"))
    elif len(reports) > 1:
        out.print(tables.batch_table(reports))


def edge_keep_note(reports, opts, network) -> str | None:
    """Where --edge keep gave a larger pooled map than PyTorch's default would, say so once.

    A PyTorch user expects ``ceil_mode=False``: a 5x5 map pooled 2x2 is 2x2 there, 3x3 here.
    """
    from cnnpipe.numbers import SIZE_ORDER, shape_text
    from cnnpipe.ops import pool_output_shape
    from cnnpipe.render.shapes import CEIL_MODE_NOTE

    if network is not None:
        params_of = {layer.number: layer.params for layer in network.layers}
    else:
        params_of = {None: build_params(window=opts.window, stride=opts.stride, edge=opts.edge,
                                        pool_mode=opts.pool_mode)}
    for report in reports:
        if report["status"] != "ok":
            continue
        before = {}
        for entry in report.get("maps", ()):
            key = (entry.get("layer"), entry["kernel"])
            params = params_of.get(entry.get("layer"))
            if entry["stage"] != "pool" or params is None:
                before[key] = entry["shape"][-2:]
                continue
            if params.edge != "keep" or key not in before:
                continue
            n_hw, out_hw = tuple(before[key]), tuple(entry["shape"][-2:])
            try:
                floor_hw = pool_output_shape(n_hw, params.window, params.stride, "drop")
            except ValueError:
                floor_hw = None
            if floor_hw != out_hw:
                theirs = ("refused (no whole window)" if floor_hw is None
                          else shape_text(floor_hw))
                return (f"--edge keep pooled a {shape_text(n_hw)} ({SIZE_ORDER}) map to "
                        f"{shape_text(out_hw)}, PyTorch's default {theirs}: --edge keep is "
                        f"{CEIL_MODE_NOTE}")
    return None


def keep_for_index(rows, report) -> None:
    if rows is not None:
        rows.append({"input": {"path": (report.get("input") or {}).get("path")},
                     "status": report["status"], "output": report.get("output"),
                     **({"error": report["error"]} if "error" in report else {})})


def batch_index(n_inputs, reports, opts) -> None:
    """--html on a batch (several inputs, or a directory): OUT/index.html links every report."""
    import os

    if n_inputs > 1 or any(os.path.isdir(i) for i in opts.inputs if i != "-"):
        from cnnpipe.outputs.report import write_index

        index = write_index(opts.out_root, reports)
        # said even with -q: -q silences progress, never the path of a file written
        console.stderr().print(f"cnnpipe: batch report {index}", markup=False,
                               highlight=False, soft_wrap=True)
