"""`cnnpipe exercise` and `cnnpipe check`: compute a small pipeline by hand, get it graded."""

from __future__ import annotations

import click

from cnnpipe.cli import console

_STAGE_WORDS = {
    "conv": "the feature map (valid convolution, stride 1, detector not flipped)",
    "relu": "the feature map after ReLU (negatives become 0)",
    "pool": "the pooled map",
}


@click.command()
@click.option("--seed", type=click.IntRange(min=0), default=None,
              help="Which exercise: the same seed gives the same task everywhere. "
                   "Default: a new random one (its seed is printed).")
@click.option("--json", "as_json", is_flag=True, help="Print the task as one JSON object.")
def exercise(seed, as_json):
    """Print a small task to compute by hand: an input, a detector, pooling settings.

    Compute the feature map, ReLU and pooling on paper, write each map as a
    CSV (one row per line, values separated by commas, spaces or tabs) and grade it with
    `cnnpipe check`.

    \b
    Examples:
      cnnpipe exercise --seed 3
      cnnpipe check conv.csv --seed 3 --stage conv
      cnnpipe exercise --seed 3 --json
    """
    import json
    import secrets

    from cnnpipe.render.tables import matrix_table
    from cnnpipe.teaching.exercises import answer, make_task

    if seed is None:
        seed = secrets.randbelow(10_000)
    task = make_task(seed)
    if as_json:
        click.echo(json.dumps(task.to_dict()))
        return
    out = console.stdout()
    out.print(f"[bold]Exercise, seed {seed}[/bold]")
    out.print(matrix_table(task.image, "input"))
    out.print(matrix_table(task.kernel, "detector (3x3)"))
    stride_note = "windows overlap" if task.stride < task.window else "windows side by side"
    out.print(f"pooling: [bold]{task.mode}[/bold], window {task.window}x{task.window}, "
              f"stride {task.stride} ({stride_note}); a window that hangs off the right or "
              "bottom edge uses only the cells inside the map", markup=True)
    out.print()
    out.print("Compute each map by hand, save it as CSV, then grade it:")
    for number, stage in enumerate(("conv", "relu", "pool"), start=1):
        shape = "x".join(str(n) for n in answer(task, stage).shape)
        out.print(f"  {number}. {_STAGE_WORDS[stage]}, {shape}:", markup=False)
        out.print(f"       cnnpipe check {stage}.csv --seed {seed} --stage {stage}",
                  markup=False, soft_wrap=True)
    if task.mode == "mean":
        out.print("  Means may be rounded to two decimals.", markup=False)


@click.command()
@click.argument("answer_path", metavar="ANSWER.csv")
@click.option("--seed", type=click.IntRange(min=0), required=True,
              help="The seed of the exercise (as given to `cnnpipe exercise`).")
@click.option("--stage", type=click.Choice(["conv", "relu", "pool"]), required=True,
              help="Which map ANSWER.csv holds.")
def check(answer_path, seed, stage):
    """Grade a hand-computed map cell by cell; exit 0 only when every cell is right.

    ANSWER.csv holds one row per line, values separated by commas, spaces or
    tabs (any extension; .npy works too; - reads the answer from standard
    input). Wrong
    cells are shown next to the right values and listed by row and column
    (counted from 0, as in the tables). Exit
    status: 0 all right, 1 some cells wrong (or the file cannot be read),
    2 usage error.

    \b
    Examples:
      cnnpipe check conv.csv --seed 3 --stage conv
      cnnpipe check pool.csv --seed 3 --stage pool && echo "well done"
      printf '4 0 4\\n2 0 4\\n2 2 4\\n' | cnnpipe check - --seed 3 --stage pool
    """
    import sys
    from pathlib import Path

    from cnnpipe import io
    from cnnpipe.errors import ExitCode, InputError, Reported
    from cnnpipe.teaching.exercises import TOLERANCE, grade, make_task

    ext = Path(answer_path).suffix.lower()
    if ext not in (".csv", ".txt", ".npy"):
        ext = ".csv"
    source = answer_path
    if answer_path == "-":  # typed or piped in: `cnnpipe check - --seed 3 --stage pool`
        from cnnpipe.budget import Budget, read_stream

        # in 1 MiB blocks up to run's input limit: /dev/zero is refused, Ctrl-C stops it
        source = read_stream(sys.stdin.buffer, Budget().input_bytes,
                             hint="the answer to check is one small map")
        ext = ".npy" if source.startswith(b"\x93NUMPY") else ".csv"
    try:
        submitted = io.load_matrix(source, ext=ext)
    except InputError as exc:
        raise InputError(f"{answer_path}: {exc}") from None
    if submitted.ndim != 2:
        raise InputError(f"{answer_path}: holds shape {submitted.shape}; the answer is one 2-D map")
    result = grade(make_task(seed), stage, submitted)

    out = console.stdout()
    out.print(_result_table(result, f"your {stage} map (seed {seed})"))
    if result.passed:
        out.print(f"[bold green]{result.right}/{result.total} cells right: all correct[/]")
        return
    for row, col, got, want in result.wrong_cells():
        out.print(f"  wrong: row {row}, col {col}: you wrote {_num(got)}, right is {_num(want)}",
                  markup=False)
    out.print(f"[bold red]{result.right}/{result.total} cells right[/] "
              f"(a cell counts as right within {TOLERANCE})")
    raise Reported(ExitCode.FAILED)  # the table above said why


def _result_table(result, title):
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", show_edge=False,
                  min_width=len(title) + 1)
    table.add_column("", justify="right", style="dim")
    for col in range(result.expected.shape[1]):
        table.add_column(str(col), justify="right")
    for row in range(result.expected.shape[0]):
        cells = []
        for col in range(result.expected.shape[1]):
            got = _num(result.submitted[row, col])
            if result.wrong[row, col]:
                want = _num(result.expected[row, col])
                cells.append(Text(f"✗ {got} → {want}", style="bold red"))
            else:
                cells.append(Text(got))
        table.add_row(str(row), *cells)
    return table


def _num(value) -> str:
    from cnnpipe.numbers import format_number

    return format_number(value)
