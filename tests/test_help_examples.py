"""Every example in every `--help` runs (issue #17 point 2).

The Examples block of the group and of each command is parsed from the help text
(the click command tree is walked, so a new command's examples are run too) and
each line is run as a shell would, in a fresh folder that holds the files the
examples name (samples/, photo.jpg, photos/, small.csv, conv.csv...): cnnpipe
in-process through its real entry point, `cat`/`printf` as standard input, `> FILE`
as a redirect, and `| jq`/`| python -m json.tool` as a check that cnnpipe's output
is the JSON they would read. Each must exit 0, or the code its help documents.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import click
import numpy as np
import pytest
from conftest import ROOT, SAMPLES

from cnnpipe.cli import cli
from cnnpipe.io import save_matrix
from cnnpipe.teaching.exercises import answer, make_task

#: Examples whose help documents a code other than 0, and that code (with where it says so).
DOCUMENTED_CODES = {
    # check --help: "Exit status: 0 all right, 1 some cells wrong"; one cell is wrong here
    "printf '4 0 4\\n2 0 4\\n2 2 4\\n' | cnnpipe check - --seed 3 --stage pool": 1,
}


def _examples(command: click.Command) -> list[str]:
    """The lines of the command's `Examples:` block (up to the first blank line)."""
    lines, inside = [], False
    for line in (command.help or "").splitlines():
        if line.strip() == "Examples:":
            inside = True
        elif inside and not line.strip():
            break
        elif inside:
            lines.append(line.strip())
    return lines


def _walk(group: click.Group) -> list[tuple[str, str]]:
    """(command name, example) for the group and every command under it."""
    ctx = click.Context(group)
    found = [("cnnpipe", example) for example in _examples(group)]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        found += [(name, example) for example in _examples(command)]
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", ex) for sub, ex in _walk(command)[1:]]
    return found


EXAMPLES = _walk(cli)


def test_every_command_has_examples_and_they_are_found():
    named = {name for name, _ in EXAMPLES}
    ctx = click.Context(cli)
    assert named == {"cnnpipe", *cli.list_commands(ctx)}
    assert all(example.startswith(("cnnpipe ", "cat ", "printf ")) for _, example in EXAMPLES)


@pytest.fixture(scope="module")
def fixtures(tmp_path_factory):
    """A folder with every file the examples name, copied into each example's own folder."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("example-files")
    shutil.copytree(SAMPLES, folder / "samples")
    cat = Image.open(SAMPLES / "chelsea.png").convert("RGB")
    small = cat.resize((64, 43))
    small.save(folder / "photo.jpg", quality=90)
    small.save(folder / "photo.png")
    (folder / "photos").mkdir()
    small.save(folder / "photos" / "cat.jpg", quality=90)
    cat.resize((40, 27)).convert("L").save(folder / "photos" / "gray.png")
    task = make_task(3)
    save_matrix(folder / "conv.csv", answer(task, "conv"))  # right answers: check exits 0
    save_matrix(folder / "pool.csv", answer(task, "pool"))
    save_matrix(folder / "relu.npy", answer(task, "relu"))
    drawing = np.zeros((6, 6), dtype=np.float32)
    drawing[1:5, 2:4] = 1
    save_matrix(folder / "small.csv", drawing)
    save_matrix(folder / "my-drawing.csv", drawing)
    return folder


def _segments(example: str) -> list[tuple[str, list[str]]]:
    """The example as (joiner, argv) pieces: joiner is '' (first), '|' or '&&';
    a `> FILE` redirect becomes the argv item ('>', FILE)."""
    lexer = shlex.shlex(example, posix=True, punctuation_chars="|&>")
    lexer.whitespace_split = True
    pieces, joiner, argv = [], "", []
    for token in lexer:
        if token in ("|", "&&"):
            pieces.append((joiner, argv))
            joiner, argv = token, []
        else:
            argv.append(token)
    pieces.append((joiner, argv))
    return pieces


def _printf(fmt: str) -> bytes:
    return fmt.encode().decode("unicode_escape").encode()


def _run_cnnpipe(invoke, args, stdin):
    if "--executor" in args and "dask" in args:  # a real local cluster: its own process
        done = subprocess.run([sys.executable, "-m", "cnnpipe", *args], input=stdin,
                              capture_output=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        return done.returncode, done.stdout, done.stderr.decode(errors="replace")
    result = invoke(*args, input=stdin)
    return result.exit_code, result.stdout_bytes, result.stderr


def _run_example(invoke, example: str):
    """Run one example line as a shell would; return (cnnpipe's last exit code, log)."""
    stdin, code, log = None, 0, []
    for joiner, argv in _segments(example):
        if joiner == "&&" and code != 0:
            break
        program, args = argv[0], argv[1:]
        if program == "cat":
            stdin = b"".join(Path(name).read_bytes() for name in args)
        elif program == "printf":
            stdin = _printf(args[0])
        elif program == "jq":  # jq reads JSON Lines: each line of stdout must be JSON
            assert stdin and all(json.loads(line) for line in stdin.splitlines()), example
        elif program == "python" and args[:2] == ["-m", "json.tool"]:
            json.loads(stdin)
        elif program == "echo":
            continue
        else:
            assert program == "cnnpipe", f"unknown program in an example: {example}"
            redirect = args[args.index(">") + 1] if ">" in args else None
            args = args[:args.index(">")] if redirect else args
            code, out, err = _run_cnnpipe(invoke, args, stdin)
            log.append(f"$ cnnpipe {shlex.join(args)}\n-> {code}\n{err}")
            if redirect:
                with open(redirect, "wb") as file:
                    file.write(out)
                out = b""
            stdin = out
    return code, "\n".join(log)


def _stage_outputs(example: str) -> list[str]:
    """The -o files of the stage commands in ``example``: some exist among the fixtures
    (as other examples' inputs), and a stage never replaces a file without --force."""
    words = shlex.split(example)
    return [words[i + 1] for i, word in enumerate(words[:-1])
            if word in ("-o", "--out") and words[i + 1] != "-"
            and any(stage in words for stage in ("conv", "relu", "pool"))]


@pytest.mark.parametrize("command, example", EXAMPLES,
                         ids=[f"{name}: {example}" for name, example in EXAMPLES])
def test_every_help_example_runs(invoke, fixtures, tmp_path, monkeypatch, command, example):
    work = tmp_path / "work"
    shutil.copytree(fixtures, work, symlinks=True)
    for written in _stage_outputs(example):  # a user runs `conv -o conv.csv` before reading it
        (work / written).unlink(missing_ok=True)
    before = sorted(p.relative_to(work) for p in work.rglob("*"))
    monkeypatch.chdir(work)
    code, log = _run_example(invoke, example)
    assert code == DOCUMENTED_CODES.get(example, 0), log
    # it wrote into its own folder only (the repository's samples are untouched)
    after = sorted(p.relative_to(work) for p in work.rglob("*"))
    assert set(before) <= set(after)
    assert not any(p.is_relative_to("samples") and p not in before for p in after), after
