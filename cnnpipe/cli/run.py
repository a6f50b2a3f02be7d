"""`cnnpipe run`: the conv -> activation -> pool pipeline on images and folders."""

from __future__ import annotations

import sys
import time

import click

from cnnpipe.cli.options import (
    activation_options,
    build_kernels,
    build_params,
    conv_options,
    kernel_options,
    pool_options,
)


@click.command()
@click.argument("inputs", nargs=-1, metavar="INPUT...")
@kernel_options
@conv_options
@activation_options
@pool_options
@click.option("--color", type=click.Choice(["gray", "rgb"]), default="gray", show_default=True,
              help="gray: luminance; rgb: each detector on each channel, colour PNGs.")
@click.option("--pipeline", "pipeline_file", default=None, metavar="FILE.toml",
              help="Run the stacked layers of a pipeline file (see samples/net.toml) instead "
                   "of one layer; the detector and layer options then come from the file.")
@click.option("-o", "--out", "out_root", default="cnnpipe-out", show_default=True,
              type=click.Path(file_okay=False), metavar="DIR",
              help="Output root; each input gets OUT/NAME/.")
@click.option("--npy", is_flag=True, help="Also save each map's exact float values as .npy.")
@click.option("--cmap", default="auto", show_default=True, metavar="NAME",
              help="Colour map of the map PNGs: auto (vik for signed maps, viridis for "
                   "non-negative ones, gray for the input), gray, viridis, magma, cividis, "
                   "or the diverging vik, berlin, coolwarm (zero in the middle).")
@click.option("--scale", default="map", show_default=True, metavar="map|detector|fixed:LO,HI",
              help="Value range of each PNG: per map, shared by one detector's stages, or fixed.")
@click.option("--bit-depth", type=click.Choice(["8", "16"]), default="8", show_default=True,
              help="Bits per grey level of the map PNGs (16: grey maps; not with a colour --cmap).")
@click.option("--no-overview", is_flag=True, help="Do not write overview.png.")
@click.option("--png-compression", type=click.IntRange(0, 9), default=1, show_default=True,
              help="zlib level of the PNGs: 1 is ~2x faster than 6 for files ~8% larger.")
@click.option("--provenance", is_flag=True,
              help="Record each pooled cell's window, count and winner in the manifest.")
@click.option("--max-pixels", type=click.IntRange(min=1), default=None,
              help="Refuse images with more pixels than this (decompression bombs).")
@click.option("--table-max", type=click.IntRange(min=0), default=16, show_default=True,
              help="Print whole maps as tables when both sides are at most this.")
@click.option("-r", "--recursive", is_flag=True, help="Descend into sub-directories.")
@click.option("-j", "--workers", type=click.IntRange(min=1), default=None,
              help="Cores to use: N inputs at once in separate processes, or one input on "
                   "N threads. -j 1 stays on one core. Default: all cores.")
@click.option("--skip-existing", is_flag=True,
              help="Skip inputs whose output folder is complete with the same settings.")
@click.option("--fail-fast", is_flag=True, help="Stop at the first input that fails.")
@click.option("-n", "--dry-run", is_flag=True, help="List what would be written; write nothing.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object per input (JSON Lines) on stdout, nothing else.")
@click.option("-q", "--quiet", is_flag=True, help="Nothing on stdout but --json output.")
def run(inputs, kernel_specs, random_n, seed, random_size, conv_stride, padding, pad_mode,
        dilation, flip, activation, leak, pool_mode, window, stride, edge, color, out_root, npy,
        cmap, scale, bit_depth, no_overview, png_compression, provenance, max_pixels, table_max,
        recursive, workers, skip_existing, fail_fast, dry_run, as_json, quiet,
        pipeline_file=None):
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
      cnnpipe run photos/ --json -q | jq -r 'select(.status=="failed") | .input.path'
      cat photo.png | cnnpipe run - -o out
      cnnpipe run photo.jpg --pipeline samples/net.toml
    """
    import os

    from rich.console import Console

    from cnnpipe import batch
    from cnnpipe.errors import ExitCode, ParameterError
    from cnnpipe.outputs import RunConfig, planned_files
    from cnnpipe.pictures import mapping

    err = Console(stderr=True, highlight=False)
    out = Console(highlight=False)
    if not out.is_terminal and "COLUMNS" not in os.environ:
        out = Console(highlight=False, width=120)  # pipes and files: room for file names

    if not inputs:
        raise click.UsageError("no input given; pass image files, matrix files, "
                               "directories, or - for standard input")
    if list(inputs).count("-") > 1:
        raise click.UsageError("standard input (-) can be given only once")

    kernels = build_kernels(kernel_specs, random_n, seed, random_size)
    params = build_params(conv_stride=conv_stride, padding=padding, pad_mode=pad_mode,
                          dilation=dilation, flip=flip, activation=activation, leak=leak,
                          pool_mode=pool_mode, window=window, stride=stride, edge=edge,
                          color=color)
    network = None
    if pipeline_file is not None:
        from cnnpipe.network import load_network

        _refuse_layer_options(click.get_current_context())
        network = load_network(pipeline_file, in_channels=3 if color == "rgb" else 1)
        kernels = network.all_kernels()

    mapping.parse_scale(scale)
    mapping.check_cmap(cmap)
    if bit_depth == "16" and cmap not in ("gray", "auto"):
        raise ParameterError(f"--bit-depth 16 needs --cmap gray (got --cmap {cmap})")
    if bit_depth == "16" and color == "rgb":
        raise ParameterError("--bit-depth 16 needs --color gray (colour PNGs have 8 bits "
                             "per channel)")

    def warn(message):
        err.print(f"cnnpipe: warning: {message}", markup=False, soft_wrap=True)

    jobs = batch.discover(inputs, recursive=recursive, on_warning=warn, out_root=out_root)
    if not jobs:
        raise click.UsageError("no supported input files found")
    stdin_jobs = [j for j in jobs if j.source == "-"]
    if stdin_jobs:
        data = sys.stdin.buffer.read()
        jobs = [batch.Job(j.source, j.name, data, j.found_in) if j.source == "-" else j
                for j in jobs]
    jobs = batch.claim_folders(jobs, out_root, on_warning=warn)

    workers = workers or os.cpu_count() or 1
    config = RunConfig(params=params, kernels=tuple(kernels), out_root=out_root, npy=npy,
                       cmap=cmap, scale=scale, bit_depth=int(bit_depth),
                       overview=not no_overview, png_compression=png_compression,
                       max_pixels=max_pixels, provenance=provenance,
                       extra={"skip_existing": skip_existing, "table_max": table_max,
                              "debug": _debug_requested()},
                       network=network)

    if dry_run:
        if network is not None:
            from cnnpipe.outputs.network import planned_files
        files = planned_files(config)
        for job in jobs:
            folder = os.path.join(out_root, *job.name.split("/"))
            if as_json:  # JSON Lines and nothing else, as for a real run
                out.file.write(_json_line({"input": {"path": job.source}, "status": "planned",
                                            "output": folder, "files": files}))
            elif not quiet:
                # one line per path however long: scripts read this
                out.print(f"{job.source} -> {folder}/", markup=False, highlight=False,
                          soft_wrap=True)
                for name in files:
                    out.print(f"  {name}", markup=False, highlight=False, soft_wrap=True)
        return

    from cnnpipe.render import tables

    started = time.perf_counter()
    progress = _progress(err, len(jobs))
    task = progress.add_task("cnnpipe", total=len(jobs), current="") if progress else None

    def on_start(job):
        if progress is not None:
            progress.update(task, current=job.source)

    def on_result(job, report):
        if as_json:
            out.file.write(_json_line(report))
            out.file.flush()
        if report["status"] == "failed":
            label = "stdin" if job.source == "-" else (job.source or "''")
            message = f"{label}: {report['error']}"
            if progress is not None:
                progress.console.print(message, markup=False, highlight=False, style="red",
                                       soft_wrap=True)
            else:
                err.print(message, markup=False, highlight=False, style="red", soft_wrap=True)
            if report.get("traceback"):
                sys.stderr.write(report["traceback"])
        if progress is not None:
            progress.advance(task)

    try:
        if progress is not None:
            progress.start()
        reports = batch.run_batch(jobs, config, workers=workers, on_start=on_start,
                                  on_result=on_result, fail_fast=fail_fast)
    finally:
        if progress is not None:
            progress.stop()
    elapsed = time.perf_counter() - started
    counts = batch.summarize(reports)

    if not quiet and not as_json:
        _show_results(out, kernels, reports, table_max, tables)
    if not quiet:
        not_run = len(jobs) - len(reports)
        extra = f", {not_run} not started (--fail-fast)" if not_run else ""
        err.print(f"cnnpipe: {counts['ok']} processed, {counts['failed']} failed, "
                  f"{counts['skipped']} skipped{extra} in {elapsed:.1f} s -> {out_root}",
                  markup=False, highlight=False, soft_wrap=True)
    if counts["failed"]:
        failed = [r for r in reports if r["status"] == "failed"]
        usage = all(r.get("usage_error") for r in failed) and counts["ok"] + counts[
            "skipped"] == 0
        raise SystemExit(int(ExitCode.USAGE if usage else ExitCode.FAILED))


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


def _debug_requested() -> bool:
    import os

    ctx = click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return bool(obj and obj.get("debug")) or bool(os.environ.get("CNNPIPE_DEBUG"))


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

    return json.dumps(report, ensure_ascii=False, separators=(",", ":")) + "\n"


def _show_results(out, kernels, reports, table_max, tables):
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
