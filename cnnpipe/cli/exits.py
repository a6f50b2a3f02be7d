"""The one error funnel: every way a command can end becomes one line and one exit code.

Modelled on httpie's ``status.py``/``core.py``: commands raise, they never call
``sys.exit``; :func:`exit_code_for` turns whatever ended the command into an
:class:`~cnnpipe.errors.ExitCode` and says why on stderr, in one line, with a
traceback only under ``--debug`` (or ``CNNPIPE_DEBUG``).
"""

from __future__ import annotations

import os
import sys

import click

from cnnpipe.cli.options import as_flags
from cnnpipe.errors import CnnpipeError, ExitCode

#: Set on an exception raised by a command run with --debug: let its traceback through.
DEBUG_MARK = "_cnnpipe_debug"


def debug_requested(ctx: click.Context | None = None) -> bool:
    """True under ``cnnpipe --debug ...`` or with ``CNNPIPE_DEBUG`` set."""
    if os.environ.get("CNNPIPE_DEBUG"):
        return True
    ctx = ctx or click.get_current_context(silent=True)
    obj = ctx.find_root().obj if ctx is not None else None
    return bool(obj and obj.get("debug"))


def _say(message: str) -> None:
    from cnnpipe.render.text import printable

    click.echo(f"cnnpipe: {printable(message)}", err=True)


def exit_code_for(exc: BaseException) -> ExitCode | int:
    """Report ``exc`` (one line on stderr, or nothing if already reported) and return its code.

    Re-raises ``exc`` when it was marked for a traceback (``--debug``).
    """
    if getattr(exc, DEBUG_MARK, False):
        raise exc
    if isinstance(exc, click.exceptions.Exit):  # --help, --version, ctx.exit(N)
        return exc.exit_code
    if isinstance(exc, click.ClickException):  # usage errors: click's own two lines
        from cnnpipe.render.text import printable

        exc.message = printable(exc.message)  # an option value may hold escape sequences
        exc.show()
        return exc.exit_code
    if isinstance(exc, CnnpipeError):
        if str(exc):
            _say(str(exc) if getattr(exc, "from_file", True) else as_flags(str(exc)))
        return exc.exit_code
    if isinstance(exc, (KeyboardInterrupt, click.exceptions.Abort)):
        _say("interrupted")
        return ExitCode.INTERRUPTED
    if isinstance(exc, SystemExit):  # SIGTERM arrives as SystemExit(143)
        code = exc.code if isinstance(exc.code, int) else ExitCode.FAILED
        if code == ExitCode.TERMINATED:
            _say("terminated")
        return code
    if isinstance(exc, BrokenPipeError):  # `cnnpipe ... | head`: the reader went away
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - stops the flush at exit
        except OSError:
            pass
        return ExitCode.FAILED
    if isinstance(exc, Exception):  # the last line of defence
        _say(f"internal error: {type(exc).__name__}: {exc} (run with --debug for a traceback)")
        return ExitCode.FAILED
    raise exc  # GeneratorExit and other interpreter-level exits are not ours


def after_success(returned) -> ExitCode | int:
    """The code of a command that returned: 0, unless a signal's exception was swallowed."""
    from cnnpipe import interrupt

    if interrupt.pending():  # still stop as interrupted
        code = interrupt.exit_code()
        _say("terminated" if code == ExitCode.TERMINATED else "interrupted")
        return code
    return returned if isinstance(returned, int) else ExitCode.OK
