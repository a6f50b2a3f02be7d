"""Where a batch's inputs are worked on: the executor seam.

The runner (:mod:`cnnpipe.batch.runner`) keeps every batch guarantee (folder
names decided first, records streamed, ``--fail-fast``, ``--retries``,
signals, clean-up, exit codes); an executor only runs
``process(job, config)`` somewhere and hands back the records. Adding an
engine is one module here with a ``create(workers, threads, **options)``
function returning an :class:`Executor`.

The interface, in the order the runner calls it::

    executor.start(config)          # once; config is picklable, send it to workers once
    executor.capacity               # how many jobs may be in flight now (read every round)
    executor.submit(key, job)       # start process(job, config) now (key: any hashable)
    executor.wait(timeout)          # -> [(key, record), ...] finished since the last call,
                                    #    [] after `timeout` seconds
    executor.abort()                # the second Ctrl-C: kill running work at once
    executor.close()                # the end: release workers (nothing is running)

Rules an executor keeps:

- ``submit`` starts the job at once, or as soon as a worker frees up: the
  runner never submits more than ``capacity``, so after a stop (Ctrl-C,
  ``--fail-fast``) nothing submitted is left to start later. An executor that
  queues ahead (a cluster with per-task latency) reports those jobs back from
  ``cancel_queued()`` (optional method) when the runner asks.
- ``wait`` returns each submitted key exactly once. A job whose worker died
  comes back as :func:`lost` (``worker died: signal 9``), never as an
  exception; the runner retries it or reports it, and removes its partial
  output. ``wait`` never raises for a job's sake and returns within about
  ``timeout`` seconds, so the runner can react to signals.
- Workers ignore SIGINT and SIGTERM (the main process decides what a
  signal means) and exit on their own when the main process dies.
- ``threads`` is the number of threads one input may use in a worker.
"""

from __future__ import annotations

import importlib
from collections.abc import Hashable
from typing import Any, Protocol

from cnnpipe.batch.discovery import Job

#: Executors that come with cnnpipe; others are found as modules of this package.
NAMES = ("inline", "process")


class Executor(Protocol):
    capacity: int

    def start(self, config: Any) -> None: ...

    def submit(self, key: Hashable, job: Job) -> None: ...

    def wait(self, timeout: float) -> list[tuple[Hashable, dict]]: ...

    def abort(self) -> None: ...

    def close(self) -> None: ...


def create(name: str, *, workers: int, threads: int, **options) -> Executor:
    """The executor called ``name`` (a module of this package), sized for ``workers``."""
    if not name.isidentifier():
        raise ValueError(f"unknown executor {name!r}")
    try:
        module = importlib.import_module(f"{__name__}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{name}":
            raise ValueError(f"unknown executor {name!r} (known: {', '.join(NAMES)})") from None
        raise
    return module.create(workers=workers, threads=threads, **options)


def lost(reason: str) -> dict:
    """The record of a job whose worker went away while it ran (``reason``: what happened).

    The runner fills in the input's path and output folder.
    """
    return {"status": "failed", "error": f"worker died: {reason}", "exit_code": 1,
            "usage_error": False, "lost": True}


def death_reason(exitcode: int | None) -> str:
    """``signal 9`` for a process killed by SIGKILL, ``exit status 3`` otherwise."""
    if exitcode is None:
        return "connection lost"
    if exitcode < 0:
        return f"signal {-exitcode}"
    return f"exit status {exitcode}"
