"""The one error hierarchy of cnnpipe, and the exit codes the CLI maps it to.

This module is imported by everything, so it imports nothing heavy.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Every exit status of ``cnnpipe``; ``cnnpipe.cli.exits`` is the one place that picks one."""

    OK = 0
    FAILED = 1  # at least one input failed (the others were processed), or a wrong answer
    USAGE = 2  # bad option, bad kernel, no input
    INTERRUPTED = 130  # Ctrl-C (SIGINT)
    TERMINATED = 143  # SIGTERM (128 + 15)


class CnnpipeError(Exception):
    """Base class of every error cnnpipe raises on purpose."""

    exit_code = ExitCode.FAILED


class ParameterError(CnnpipeError, ValueError):
    """A bad argument or option value (stride 0, unknown mode, ...): a usage error.

    The message names parameters as the Python API does (`` `window` ``,
    `` `edge="keep"` ``); the command line shows its flags instead
    (``cnnpipe.cli.options.as_flags``), unless ``from_file`` is set: then the
    names are keys of a pipeline file and stay as they are.
    """

    exit_code = ExitCode.USAGE
    from_file = False


class KernelError(ParameterError):
    """A kernel spec that cannot be understood (unknown name, ragged rows, NaN...)."""


class InputError(CnnpipeError):
    """An input file that cannot be used (missing, truncated, too large, ...)."""

    exit_code = ExitCode.FAILED


class UnreadableInput(InputError):
    """An input that cannot even be opened (missing, unreadable, empty, a directory)."""


class OutputError(CnnpipeError):
    """An output that cannot be written (read-only folder, full disk, ...)."""

    exit_code = ExitCode.FAILED


class Reported(CnnpipeError):
    """An outcome already told to the user line by line; only its exit code is left.

    >>> Reported(ExitCode.USAGE).exit_code
    <ExitCode.USAGE: 2>
    """

    def __init__(self, exit_code: ExitCode = ExitCode.FAILED):
        super().__init__("")
        self.exit_code = ExitCode(exit_code)
