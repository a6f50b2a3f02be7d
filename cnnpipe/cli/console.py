"""The two rich consoles of the command line: tables on stdout, everything else on stderr.

Every command gets its consoles here, so colour, width and highlighting are
decided once. A console is made once per command invocation (kept in the
click context), and rich resolves ``sys.stdout`` / ``sys.stderr`` when it
writes, so ``CliRunner`` captures what a user would see.
"""

from __future__ import annotations

import os

import click

from cnnpipe.render.text import printable


def _cached(key: str, make):
    ctx = click.get_current_context(silent=True)
    if ctx is None:
        return make()
    meta = ctx.find_root().meta
    if key not in meta:
        meta[key] = make()
    return meta[key]


def stdout(*, pipe_width: int | None = None):
    """The stdout console (no highlighting of numbers in plain text).

    ``pipe_width``: the width to use when stdout is a pipe or a file and
    ``COLUMNS`` is not set (rich would otherwise assume 80 columns).
    """

    def make():
        from rich.console import Console

        console = Console(highlight=False, file=_TrimmedStdout())
        if pipe_width and not console.is_terminal and "COLUMNS" not in os.environ:
            console = Console(highlight=False, width=pipe_width, file=_TrimmedStdout())
        return console

    return _cached(f"cnnpipe.stdout.{pipe_width}", make)


class _TrimmedStdout:
    """``sys.stdout`` (looked up at each write) without the spaces rich pads lines with,
    when it is not a terminal: piped tables carry no trailing spaces."""

    def __init__(self):
        self._pending = ""

    @staticmethod
    def _target():
        import sys

        return sys.stdout

    def isatty(self) -> bool:
        isatty = getattr(self._target(), "isatty", None)
        return bool(isatty and isatty())

    @property
    def encoding(self):
        return getattr(self._target(), "encoding", "utf-8") or "utf-8"

    def fileno(self) -> int:
        return self._target().fileno()

    def write(self, text: str) -> int:
        if self.isatty():
            return self._target().write(text)
        lines = (self._pending + text).split("\n")
        self._pending = lines.pop()
        if lines:
            self._target().write("".join(line.rstrip(" ") + "\n" for line in lines))
        return len(text)

    def flush(self) -> None:
        if self._pending:
            self._target().write(self._pending)
            self._pending = ""
        self._target().flush()


def stderr():
    """The stderr console: progress, warnings, the summary line."""

    def make():
        from rich.console import Console

        return Console(stderr=True, highlight=False)

    return _cached("cnnpipe.stderr", make)


def say(message: str) -> None:
    """One plain line on stderr (``cnnpipe: ...``): where a file went, what was done."""
    click.echo(f"cnnpipe: {printable(message)}", err=True)


class Deferred:
    """A console made on first use, so a run that prints nothing (``-q``, one input)
    never imports rich (~15 ms of its start-up)."""

    def __init__(self, make):
        self._make, self._console = make, None

    def __getattr__(self, name):
        if self._console is None:
            self._console = self._make()
        return getattr(self._console, name)


def warn(message: str) -> None:
    """One ``cnnpipe: warning: ...`` line on stderr, never wrapped."""
    stderr().print(f"cnnpipe: warning: {printable(message)}", markup=False, highlight=False,
                   soft_wrap=True)
