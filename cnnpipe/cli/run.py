"""`cnnpipe run`: the conv -> activation -> pool pipeline on images and folders."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import click

from cnnpipe.cli import console
from cnnpipe.cli.applies import Rule, refuse_ignored
from cnnpipe.cli.options import (
    activation_options,
    as_flags,
    batch_options,
    build_kernels,
    build_params,
    conv_options,
    kernel_options,
    layer_source_options,
    limit_options,
    output_options,
    pool_options,
    report_options,
)
from cnnpipe.render.text import json_safe, printable

#: When run's own options act (the shared ones are in cli/applies.py).
RULES = (
    Rule("table_max", lambda p: not p["as_json"] and not p["quiet"],
         "has no effect with --json or -q (no tables are printed)"),
    Rule("stdin_name", lambda p: tuple(p["inputs"]) == ("-",),
         "names standard input's folder: it needs - as the only INPUT"),
)


def _folder_name(ctx, param, value):
    from cnnpipe.batch.discovery import check_folder_name

    problem = None if value is None else check_folder_name(value)
    if problem is not None:
        raise click.BadParameter(f"{value!r} {problem}", ctx=ctx, param=param)
    return value


@click.command()
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@click.option("--name", "stdin_name", default=None, metavar="NAME", callback=_folder_name,
              help="Folder name for standard input's results (OUT/NAME/; default stdin). "
                   "Needs - as the only INPUT.")
@kernel_options
@conv_options
@activation_options
@pool_options
@layer_source_options
@output_options
@limit_options
@batch_options
@report_options
def run(inputs, **options):
    """Run convolution -> ReLU -> pooling on images, matrices or folders.

    INPUT is an image (PNG, JPEG, BMP, TIFF, GIF, WebP), a matrix (.npy, .csv,
    .txt), a directory, or - for standard input. Each input gets a folder
    OUT/NAME/ with 00-input.png, 01-conv-*.png, 02-relu-*.png, 03-pool-*.png,
    overview.png and manifest.json.

    \b
    Examples:
      cnnpipe run samples/chelsea.png
      cnnpipe run photo.jpg -k sobel-x -k edges="1,0,-1;2,0,-2;1,0,-1" --stride 2
      cnnpipe run samples/tutorial.csv -k tutorial --window 2 --stride 2
      cnnpipe run photos/ -r -j 2 --skip-existing
      cnnpipe run photos/ -r --executor dask -j 2    # --scheduler URL: your cluster
      cnnpipe run photos/ --json -q | jq -r 'select(.status=="failed") | .input.path'
      cat photo.png | cnnpipe run - -o out --name photo
      cnnpipe run photo.jpg --pipeline samples/net.toml
    """
    from cnnpipe.budget import Budget

    opts = SimpleNamespace(inputs=inputs, **options)
    opts.budget = Budget(memory=opts.max_memory, disk=opts.max_disk)
    _check_inputs(inputs)
    _check_executor(opts)
    kernels, params, network = _layers(opts)  # --pipeline refuses the layer options first
    refuse_ignored(extra=RULES)
    _check_pictures(opts)
    jobs = _jobs(inputs, opts)
    config = _config(opts, kernels, params, network)
    if opts.dry_run:
        _dry_run(jobs, config, opts)
        return
    started = time.perf_counter()
    result, note = _execute(jobs, config, opts)
    _finish(result, kernels, opts, time.perf_counter() - started, note)


def _check_inputs(inputs) -> None:
    if not inputs:
        raise click.UsageError("no input given; pass image files, matrix files, "
                               "directories, or - for standard input")
    if list(inputs).count("-") > 1:
        raise click.UsageError("standard input (-) can be given only once")


def _check_executor(opts) -> None:
    from click.core import ParameterSource

    source = click.get_current_context().get_parameter_source("scheduler")
    if opts.executor != "dask" and opts.scheduler and source == ParameterSource.COMMANDLINE:
        raise click.UsageError("--scheduler needs --executor dask")


def _executor_options(opts, progress, err) -> dict:
    """run_batch's executor arguments: the process pool by default, or Dask's options."""
    if opts.executor != "dask":  # $DASK_SCHEDULER_ADDRESS alone never picks Dask
        return {}
    from cnnpipe.cli.exits import debug_requested

    def info(message):
        if not opts.quiet:
            (progress.console if progress is not None else err).print(
                f"cnnpipe: {message}", markup=False, highlight=False, soft_wrap=True)

    return {"executor": "dask",
            "executor_options": {"scheduler": opts.scheduler or None, "on_info": info,
                                 "on_warning": console.warn, "debug": debug_requested()}}


def _layers(opts):
    """(kernels, params, network or None) from the layer options or the --pipeline file."""
    kernels = build_kernels(opts.kernel_specs, opts.random_n, opts.seed, opts.random_size,
                            budget=opts.budget)
    params = build_params(conv_stride=opts.conv_stride, padding=opts.padding,
                          pad_mode=opts.pad_mode, dilation=opts.dilation, flip=opts.flip,
                          activation=opts.activation, leak=opts.leak, pool_mode=opts.pool_mode,
                          window=opts.window, stride=opts.stride, edge=opts.edge,
                          color=opts.color)
    if opts.pipeline_file is None:
        return kernels, params, None
    from cnnpipe.network import load_network

    _refuse_layer_options(click.get_current_context())
    network = load_network(opts.pipeline_file, in_channels=3 if opts.color == "rgb" else 1)
    return network.all_kernels(), params, network


def _check_pictures(opts) -> None:
    from cnnpipe.errors import ParameterError
    from cnnpipe.pictures import mapping

    mapping.parse_scale(opts.scale)
    mapping.check_cmap(opts.cmap)
    if opts.bit_depth == "16" and opts.cmap not in ("gray", "auto"):
        raise ParameterError(f"--bit-depth 16 needs --cmap gray (got --cmap {opts.cmap})")
    if opts.bit_depth == "16" and opts.color == "rgb":
        raise ParameterError("--bit-depth 16 needs --color gray (colour PNGs have 8 bits "
                             "per channel)")


def _jobs(inputs, opts):
    """The inputs found (standard input read once), each with its claimed output folder."""
    from cnnpipe import batch

    jobs = batch.discover(inputs, recursive=opts.recursive, on_warning=console.warn,
                          out_root=opts.out_root, stdin_name=opts.stdin_name or "stdin")
    if not jobs:
        raise click.UsageError("no supported input files found")
    if any(j.source == "-" for j in jobs):
        from cnnpipe.budget import read_stream

        # in 1 MiB blocks up to the input limit: /dev/zero is refused, Ctrl-C stops it
        data = read_stream(sys.stdin.buffer, opts.budget.input_bytes)
        jobs = [batch.Job(j.source, j.name, data, j.found_in) if j.source == "-" else j
                for j in jobs]
    return batch.claim_folders(jobs, opts.out_root, on_warning=console.warn)


def _config(opts, kernels, params, network):
    from cnnpipe.cli.exits import debug_requested
    from cnnpipe.outputs import RunConfig

    return RunConfig(params=params, kernels=tuple(kernels), out_root=opts.out_root,
                     npy=opts.npy, cmap=opts.cmap, scale=opts.scale,
                     bit_depth=int(opts.bit_depth), overview=not opts.no_overview,
                     png_compression=opts.png_compression, max_pixels=opts.max_pixels,
                     provenance=opts.provenance, html=opts.html,
                     extra={"skip_existing": opts.skip_existing, "debug": debug_requested(),
                            "budget": opts.budget},
                     network=network)


def _dry_run(jobs, config, opts) -> None:
    """What a run would do to each input, from a look at its first bytes; then the counts.

    Each input is sniffed as a run would read it, so a text file named .png is listed as
    failing, not as planned; with --skip-existing a complete folder is listed as up to date.
    """
    import os

    from cnnpipe.outputs import planned_files

    out = console.stdout(pipe_width=120)
    files = planned_files(config)
    counts = {"to process": 0, "not an image": 0, "unreadable": 0, "up to date": 0}
    for job in jobs:
        folder = os.path.join(opts.out_root, *job.name.split("/"))
        status, category, error = _plan(job, config, folder)
        counts[category] += 1
        if opts.as_json:  # JSON Lines and nothing else, as for a real run
            record = {"input": {"path": job.source}, "status": status, "output": folder}
            record.update({"error": error} if error else {"files": files} if
                          status == "planned" else {})
            out.file.write(_json_line(record))
        elif not opts.quiet:
            _print_plan(out, job, folder, error, status, files)
    if not opts.quiet:
        shown = [f"{n} {what}" for what, n in counts.items() if n or what == "to process"]
        console.say(f"dry run: {', '.join(shown)}; nothing written")


def _plan(job, config, folder):
    """(status as a run would report it, count category, the reason it would fail or None)."""
    from pathlib import Path

    from cnnpipe import batch, io, outputs
    from cnnpipe.errors import InputError, UnreadableInput

    if job.error:  # found failing while discovered (a folder -r could not read)
        return "failed", "unreadable", job.error
    if config.extra.get("skip_existing"):
        source_id = batch.fingerprint(job)
        if source_id is not None and outputs.is_complete(Path(folder), config, source_id):
            return "skipped", "up to date", None
    try:
        io.sniff(job.data if job.source == "-" else job.source)
    except UnreadableInput as exc:
        return "failed", "unreadable", str(exc)
    except InputError as exc:
        return "failed", "not an image", str(exc)
    return "planned", "to process", None


def _print_plan(out, job, folder, error, status, files) -> None:
    # one line per path however long: scripts read this
    def line(text):
        out.print(printable(text), markup=False, highlight=False, soft_wrap=True)

    label = "stdin" if job.source == "-" else job.source
    if error:
        line(f"{label}: would fail: {error}")
    elif status == "skipped":
        line(f"{label} -> {folder}/ (up to date: skipped by --skip-existing)")
    else:
        line(f"{label} -> {folder}/")
        for name in files:
            line(f"  {name}")


def _execute(jobs, config, opts):
    """Run every job with a progress bar on a terminal; print failures and --json records.

    Returns the batch result and the --edge keep note, found while the records
    stream by (they are not kept).
    """
    import os

    from cnnpipe import batch

    out, err = console.stdout(pipe_width=120), console.stderr()
    notes = []
    opts.index_rows = [] if opts.html else None  # --html: a light line per input for index.html
    progress = _progress(err, len(jobs))
    task = progress.add_task("cnnpipe", total=len(jobs), current="") if progress else None

    def on_start(job):
        if progress is not None:
            progress.update(task, current=printable(job.source))

    def on_result(job, report):
        if report["status"] == "failed" and config.network is None:  # not a pipeline file's
            report["error"] = as_flags(report["error"])
        if opts.as_json:
            out.file.write(_json_line(report))
            out.file.flush()
        _keep_for_index(opts.index_rows, report)
        if report["status"] == "failed":
            _say_failure(progress.console if progress is not None else err, job, report)
        elif not notes and not opts.quiet:
            notes.extend(filter(None, [_edge_keep_note([report], opts, config.network)]))
        if progress is not None:
            progress.advance(task)

    def on_stopping(running):
        (progress.console if progress is not None else err).print(
            f"cnnpipe: stopping: finishing {running} input{'s' * (running != 1)} "
            "(Ctrl-C again to abort)", markup=False, highlight=False, soft_wrap=True)

    try:
        if progress is not None:
            progress.start()
        result = batch.run_batch(jobs, config, workers=opts.workers or os.cpu_count() or 1,
                                 on_start=on_start, on_result=on_result,
                                 on_stopping=on_stopping, on_warning=console.warn,
                                 fail_fast=opts.fail_fast, retries=opts.retries,
                                 **_executor_options(opts, progress, err))
    finally:
        if progress is not None:
            progress.stop()
    return result, (notes[0] if notes else None)


def _say_failure(where, job, report) -> None:
    """One line on stderr for a failed input (and its traceback under --debug)."""
    label = "stdin" if job.source == "-" else (job.source or "''")
    where.print(printable(f"{label}: {report['error']}"), markup=False, highlight=False,
                style="red", soft_wrap=True)
    if report.get("traceback"):
        sys.stderr.write(report["traceback"])


def _finish(result, kernels, opts, elapsed, note=None) -> None:
    """Tables on stdout, the summary line on stderr, and the exit code of the batch.

    An interrupted batch still says what it did; the error funnel then says
    "interrupted" and exits 130 (143 for SIGTERM).
    """
    from cnnpipe.errors import ExitCode, Reported

    counts = result.counts
    if opts.html:
        _batch_index(result.total, opts.index_rows, opts)
    shown = result.rows and counts["ok"] and not result.interrupted  # no table about nothing
    if not opts.quiet and not opts.as_json and shown:
        _show_results(console.stdout(pipe_width=120), kernels, result.rows, opts.table_max)
    if not opts.quiet or result.interrupted:
        why = "interrupted" if result.interrupted else "--fail-fast"
        extra = f", {result.not_started} not started ({why})" if result.not_started else ""
        console.stderr().print(
            f"cnnpipe: {counts['ok']} processed, {counts['failed']} failed, "
            f"{counts['skipped']} skipped{extra} in {elapsed:.1f} s -> "
            f"{printable(opts.out_root)}",
            markup=False, highlight=False, soft_wrap=True)
        if note:
            console.say(f"note: {note}")
    if result.interrupted:
        return
    if counts["failed"]:
        raise Reported(ExitCode.USAGE if result.usage_only else ExitCode.FAILED)


def _edge_keep_note(reports, opts, network) -> str | None:
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


def _keep_for_index(rows, report) -> None:
    if rows is not None:
        rows.append({"input": {"path": (report.get("input") or {}).get("path")},
                     "status": report["status"], "output": report.get("output"),
                     **({"error": report["error"]} if "error" in report else {})})


def _batch_index(n_inputs, reports, opts) -> None:
    """--html on a batch (several inputs, or a directory): OUT/index.html links every report."""
    import os

    if n_inputs > 1 or any(os.path.isdir(i) for i in opts.inputs if i != "-"):
        from cnnpipe.outputs.report import write_index

        index = write_index(opts.out_root, reports)
        if not opts.quiet:
            console.stderr().print(f"cnnpipe: batch report {index}", markup=False,
                                   highlight=False, soft_wrap=True)


_LAYER_OPTIONS = ("kernel_specs", "random_n", "seed", "random_size", "conv_stride", "padding",
                  "pad_mode", "dilation", "flip", "activation", "leak", "pool_mode", "window",
                  "stride", "edge")


def _refuse_layer_options(ctx):
    """With --pipeline the file decides every layer; a layer option too would be ambiguous."""
    from click.core import ParameterSource

    for param in ctx.command.params:
        if param.name in _LAYER_OPTIONS and ctx.get_parameter_source(param.name) not in (
                ParameterSource.DEFAULT, None):
            raise click.UsageError(f"{param.opts[-1]} cannot be combined with --pipeline; set it "
                                   "per layer in the pipeline file")


def _progress(err, total):
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


def _json_line(report: dict) -> str:
    import json

    # json leaves DEL, C1 controls and U+2028 raw: escaped too, the value unchanged
    return json_safe(json.dumps(report, ensure_ascii=False, separators=(",", ":"))) + "\n"


def _show_results(out, kernels, reports, table_max):
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
