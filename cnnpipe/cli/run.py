"""`cnnpipe run`: the conv -> activation -> pool pipeline on images and folders."""

from __future__ import annotations

import sys
import time
from types import SimpleNamespace

import click

from cnnpipe.cli import console
from cnnpipe.cli.applies import Rule, refuse_ignored, refuse_layer_options
from cnnpipe.cli.dry_run import dry_run
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
from cnnpipe.cli.run_output import (
    batch_index,
    edge_keep_note,
    json_line,
    keep_for_index,
    make_progress,
    show_results,
)
from cnnpipe.render.text import printable

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
@kernel_options
@conv_options
@activation_options
@pool_options
@layer_source_options
@output_options
@click.option("--name", "stdin_name", default=None, metavar="NAME", callback=_folder_name,
              help="Folder name for standard input's results (OUT/NAME/; default stdin). "
                   "Needs - as the only INPUT.")
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
        dry_run(jobs, config, opts)
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

    refuse_layer_options(click.get_current_context())
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


def _execute(jobs, config, opts):
    """Run every job with a progress bar on a terminal; print failures and --json records.

    Returns the batch result and the --edge keep note, found while the records
    stream by (they are not kept).
    """
    import os

    from cnnpipe import batch

    out = console.Deferred(lambda: console.stdout(pipe_width=120))
    # a progress bar (several inputs) needs the console itself; otherwise made when used
    err = console.stderr() if len(jobs) > 1 else console.Deferred(console.stderr)
    notes = []
    opts.index_rows = [] if opts.html else None  # --html: a light line per input for index.html
    progress = make_progress(err, len(jobs))
    task = progress.add_task("cnnpipe", total=len(jobs), current="") if progress else None

    def on_start(job):
        if progress is not None:
            progress.update(task, current=printable(job.source))

    def on_result(job, report):
        if report["status"] == "failed" and config.network is None:  # not a pipeline file's
            report["error"] = as_flags(report["error"])
        if opts.as_json:
            out.file.write(json_line(report))
            out.file.flush()
        keep_for_index(opts.index_rows, report)
        if report["status"] == "failed":
            _say_failure(progress.console if progress is not None else err, job, report)
        elif not notes and not opts.quiet:
            notes.extend(filter(None, [edge_keep_note([report], opts, config.network)]))
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
        batch_index(result.total, opts.index_rows, opts)
    shown = result.rows and counts["ok"] and not result.interrupted  # no table about nothing
    if not opts.quiet and not opts.as_json and shown:
        show_results(console.stdout(pipe_width=120), kernels, result.rows, opts.table_max)
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
