"""What a Dask worker runs for cnnpipe: one input per task, and the batch's stop switches.

The client side is :mod:`cnnpipe.batch.executors.dask`; these functions travel to
the workers by reference (module and name), so a worker needs cnnpipe installed.
A local cluster also preloads this module for :func:`dask_setup`.
"""

from __future__ import annotations

import contextlib
import threading


class Stopped(BaseException):
    """Raised inside a running input by :meth:`DaskExecutor.abort` (the second Ctrl-C).

    A BaseException, so no ``except Exception`` on the way turns it into an input
    error, and not KeyboardInterrupt, which a Dask worker would take as its own end.
    """

_state = threading.Lock()
_stopped: set[str] = set()  # batches that start nothing more on this worker
_running: dict[str, tuple[str, int]] = {}  # dask key -> (batch, thread id)
_started: dict[str, set[str]] = {}  # batch -> keys of its inputs that started here


def run_task(batch: str, key: str, job, config) -> dict:
    """What a worker runs for one input: ``process(job, config)`` on one thread.

    Each worker thread is one core of the cluster's budget, as ``-j 1`` is on one
    machine, so an input is computed (and its files written) exactly as ``-j 1`` does.
    """
    from cnnpipe.batch.work import process
    from cnnpipe.ops import blas

    _undo_malloc_trim()
    with _state:
        if batch in _stopped:
            return {"status": "not-started"}
        _running[key] = (batch, threading.get_ident())
        _started.setdefault(batch, set()).add(key)
    try:
        with blas.threads(1):  # config.threads is 1 too (see DaskExecutor.start)
            return process(job, config)
    except Stopped:  # abort(): the writer has removed this input's files
        return {"status": "interrupted"}
    finally:
        with _state:
            _running.pop(key, None)


_malloc_checked = False


def _undo_malloc_trim() -> None:
    """Give numpy back glibc's large-block reuse, which a Dask nanny switches off.

    A nanny starts its worker with ``MALLOC_TRIM_THRESHOLD_`` set (Dask's
    ``distributed.nanny.pre-spawn-environ``); any such variable also stops glibc
    from raising its mmap threshold as large blocks are freed, so every map of
    an input is then a fresh ``mmap`` with its pages faulted in again: inputs ran
    about 40% slower than under ``-j 1``. Setting the two thresholds to the values
    glibc itself would reach restores the reuse (32 MiB blocks from the heap, heap
    trimmed above 64 MiB free). Once per worker process; nothing on other C libraries.
    """
    global _malloc_checked
    if _malloc_checked:
        return
    _malloc_checked = True
    import ctypes
    import os

    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
        libc.mallopt(-1, 64 << 20)  # M_TRIM_THRESHOLD


def stop_batch(batch: str, interrupt_running: bool) -> list[str]:
    """Run on each worker (``Client.run``): start nothing more of ``batch``; return the keys
    of its inputs that started here (running or finished), and with ``interrupt_running``
    raise :class:`Stopped` in the running ones (between two Python bytecodes: the
    writer's clean-up then removes the input's partial files)."""
    import ctypes

    with _state:
        _stopped.add(batch)
        if interrupt_running:
            for b, tid in _running.values():
                if b == batch:
                    ctypes.pythonapi.PyThreadState_SetAsyncExc(
                        ctypes.c_ulong(tid), ctypes.py_object(Stopped))
        return sorted(_started.get(batch, ()))


def forget_batch(batch: str) -> None:
    """Run on each worker when a batch is over: drop the keys it recorded there."""
    with _state:
        _started.pop(batch, None)


def running_tasks(batch: str) -> list[str]:
    """Run on each worker: the keys of ``batch``'s inputs running there."""
    with _state:
        return [k for k, (b, _) in _running.items() if b == batch]


def dask_setup(worker) -> None:
    """Dask preload hook, run in each worker process of a local cluster.

    A terminal's Ctrl-C (and a ``timeout``'s SIGTERM) reach the whole process
    group, but only the main process decides what a signal stops, as with the
    process pool: running inputs finish whole, or are interrupted and clean up.
    """
    import signal

    with contextlib.suppress(ValueError):  # not the main thread: nothing to do
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
