"""Ctrl-C and SIGTERM that cannot be lost.

Python raises a signal's exception wherever the main thread happens to be; if
that is inside a ``__del__`` or a weakref callback, the exception is printed
as "ignored" and the program carries on. The handlers here also remember the
signal, and long loops call :func:`check` at safe points, so an interrupted
run always stops (exit 130, or 143 for SIGTERM) instead of finishing as if
nothing happened.

Two modes. By default a signal raises at once (``KeyboardInterrupt``, or
``SystemExit(143)`` for SIGTERM), so one input being computed in this process
stops and cleans up. Inside :func:`deferred` (the batch runner, while workers
do the computing) a signal is only counted: the runner polls :func:`count`,
stops starting inputs at the first and aborts at the second, and no exception
can land in the middle of its bookkeeping. :func:`raising` switches back for
a stretch of work done in this process. Standard library only.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator

_pending: list[BaseException] = []
_raise = [True]  # a list, so the handlers see changes without `global`


def _on_sigint(signum, frame):
    _pending.append(KeyboardInterrupt())
    if _raise[0] and not _swallowed_at(frame):
        raise KeyboardInterrupt


def _on_sigterm(signum, frame):
    _pending.append(SystemExit(128 + signum))
    if _raise[0] and not _swallowed_at(frame):
        raise SystemExit(128 + signum)


def _swallowed_at(frame) -> bool:
    """True where Python would print the exception as "Exception ignored" and carry on:
    a ``__del__``, or the weakref callback of an import lock. There the signal is only
    counted; the next :func:`check` (or the end of the command) acts on it."""
    code = getattr(frame, "f_code", None)
    if code is None:
        return False
    return code.co_name == "__del__" or (
        code.co_name == "cb" and code.co_filename.startswith("<frozen importlib"))


def install() -> None:
    """Install the handlers (main thread only; elsewhere this does nothing)."""
    try:
        signal.signal(signal.SIGINT, _on_sigint)
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):  # not the main thread, or no signals here
        pass


def check() -> None:
    """Raise again a signal's exception that was swallowed where it first landed."""
    if _pending:
        raise type(_pending[0])(*_pending[0].args)


def pending() -> bool:
    """True once SIGINT or SIGTERM has arrived."""
    return bool(_pending)


def count() -> int:
    """How many SIGINT / SIGTERM have arrived so far."""
    return len(_pending)


def exit_code() -> int:
    """The exit status for the signal that arrived: 130 for SIGINT, 128 + N for SIGTERM."""
    first = _pending[0] if _pending else KeyboardInterrupt()
    return first.code if isinstance(first, SystemExit) else 130


@contextlib.contextmanager
def _mode(raise_now: bool) -> Iterator[None]:
    before = _raise[0]
    _raise[0] = raise_now
    try:
        yield
    finally:
        _raise[0] = before


@contextlib.contextmanager
def deferred(*, final: bool = False) -> Iterator[None]:
    """Within this block a signal is counted (see :func:`count`), not raised.

    Installs the handlers for the block if they are not installed (a library
    caller who never ran the CLI's ``main``), so the first Ctrl-C cannot kill
    the runner through Python's default handler in the middle of its
    bookkeeping; the caller's handlers come back afterwards. With ``final``
    (the script's last words) nothing comes back: :func:`hold` takes over, so
    no signal can slip in between the exit status and the exit.
    """
    if final:
        try:
            with _mode(False):
                yield
        finally:
            hold()
        return
    try:
        before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    except (ValueError, OSError):  # pragma: no cover - platforms without these signals
        before = None
    installed = before is not None and before[0] is not _on_sigint
    if installed:
        install()
    try:
        with _mode(False):
            yield
    finally:
        if installed:
            try:
                signal.signal(signal.SIGINT, before[0])
                signal.signal(signal.SIGTERM, before[1])
            except (ValueError, OSError, TypeError):  # not the main thread: nothing installed
                pass


def hold() -> None:
    """The process is on its way out, its exit status decided: ignore further signals.

    A late Ctrl-C must neither print a traceback from an exit handler nor, once
    Python has put the default handlers back while finalizing, kill the process
    by the signal instead of letting it exit with the status it chose.
    """
    _raise[0] = False
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except (ValueError, OSError):  # not the main thread
        pass
    if _pending:
        _forget_unhandled_keyboard_interrupt()


def _forget_unhandled_keyboard_interrupt() -> None:
    """CPython remembers a KeyboardInterrupt that went through ``exec()`` of a string
    (``dataclasses`` does that while a module is imported) as "unhandled", even once
    caught, and then kills itself with SIGINT at exit instead of exiting with the
    status the program chose. The status is decided: clear that flag."""
    try:
        import ctypes

        ctypes.c_int.in_dll(ctypes.pythonapi, "_Py_UnhandledKeyboardInterrupt").value = 0
    except (ImportError, ValueError, AttributeError, OSError):  # not CPython, or renamed
        pass


def raising():
    """Within this block a signal raises at once (the default mode)."""
    return _mode(True)
