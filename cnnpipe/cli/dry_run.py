"""`cnnpipe run -n`: what a run would do to each input, from a look at its first bytes."""

from __future__ import annotations

from cnnpipe.cli import console
from cnnpipe.cli.run_output import json_line
from cnnpipe.render.text import printable


def dry_run(jobs, config, opts) -> None:
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
            out.file.write(json_line(record))
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
