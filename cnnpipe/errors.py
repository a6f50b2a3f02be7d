"""The one error hierarchy of cnnpipe, and the exit codes the CLI maps it to.

This module is imported by everything, so it imports nothing heavy.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    FAILED = 1  # at least one input failed; the others were processed
    USAGE = 2  # bad option, bad kernel, no input
    INTERRUPTED = 130


class CnnpipeError(Exception):
    """Base class of every error cnnpipe raises on purpose."""

    exit_code = ExitCode.FAILED


class ParameterError(CnnpipeError, ValueError):
    """A bad argument or option value (stride 0, unknown mode, ...): a usage error."""

    exit_code = ExitCode.USAGE


class KernelError(ParameterError):
    """A kernel spec that cannot be understood (unknown name, ragged rows, NaN...)."""


class InputError(CnnpipeError):
    """An input file that cannot be used (missing, truncated, too large, ...)."""

    exit_code = ExitCode.FAILED


class OutputError(CnnpipeError):
    """An output that cannot be written (read-only folder, full disk, ...)."""

    exit_code = ExitCode.FAILED
