"""Ctrl-C and SIGTERM that cannot be lost.

Python raises a signal's exception wherever the main thread happens to be; if
that is inside a ``__del__`` or a weakref callback, the exception is printed
as "ignored" and the program carries on. The handlers here also remember the
signal, and long loops call :func:`check` at safe points, so an interrupted
run always stops (exit 130, or 143 for SIGTERM) instead of finishing as if
nothing happened. Standard library only.
"""

from __future__ import annotations

import signal

_pending: list[BaseException] = []


def _on_sigint(signum, frame):
    _pending.append(KeyboardInterrupt())
    raise KeyboardInterrupt


def _on_sigterm(signum, frame):
    _pending.append(SystemExit(128 + signum))
    raise SystemExit(128 + signum)


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


def exit_code() -> int:
    """The exit status for the signal that arrived: 130 for SIGINT, 128 + N for SIGTERM."""
    first = _pending[0] if _pending else KeyboardInterrupt()
    return first.code if isinstance(first, SystemExit) else 130
