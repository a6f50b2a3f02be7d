"""The ``process`` executor: a pool of spawned worker processes on this machine.

A small pool of its own rather than ``concurrent.futures.ProcessPoolExecutor``,
whose pool breaks as a whole when one worker dies (every input in flight is
lost and the other workers are killed mid-write). Here each worker has its own
pipe and holds at most one job, so the pool always knows which input a dead
worker held: that input alone comes back as ``worker died: signal 9``, and a
new worker takes the dead one's place at the next submit.

The configuration is pickled once and sent to each worker as it starts; a job
message is only the :class:`~cnnpipe.batch.discovery.Job` (a path and a name).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
from multiprocessing.connection import wait as wait_for

from cnnpipe.batch.executors import death_reason, lost

JOIN_SECONDS = 5.0  # how long `close` lets an idle worker exit before killing it


_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class _Worker:
    def __init__(self, context, config_bytes: bytes, threads: int):
        self.conn, child = context.Pipe(duplex=True)
        self.proc = context.Process(target=worker_main, name="cnnpipe-worker", daemon=True,
                                    args=(child, config_bytes, threads, os.getpid()))
        # The worker is born with SIGINT and SIGTERM blocked (a child inherits the mask), so
        # a Ctrl-C to the process group while it starts up can neither kill it nor print a
        # traceback; it ignores both before unblocking them. Here they wait a moment.
        # multiprocessing starts its resource tracker inside the first start() and unblocks
        # both signals afterwards: start it first, so the mask below holds.
        from multiprocessing import resource_tracker

        resource_tracker.ensure_running()
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGNALS)
        try:
            self.proc.start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
        child.close()
        self.key = None  # the job it holds

    def kill(self) -> None:
        try:
            self.proc.kill()
        except (OSError, ValueError):
            pass
        self.proc.join()
        self.conn.close()


class ProcessExecutor:
    def __init__(self, workers: int, threads: int = 1):
        self.capacity = max(1, workers)
        self.threads = threads
        self.context = multiprocessing.get_context("spawn")
        self.workers: list[_Worker] = []
        self.config_bytes = b""

    def start(self, config) -> None:
        self.config_bytes = pickle.dumps(config, protocol=pickle.HIGHEST_PROTOCOL)

    def submit(self, key, job) -> None:
        while True:
            worker = self._idle_worker()
            try:
                worker.conn.send((key, job))
            except (BrokenPipeError, ConnectionError, EOFError, OSError):
                self._drop(worker)  # it died while idle: start another, the job is not lost
                continue
            worker.key = key
            return

    def _idle_worker(self) -> _Worker:
        for worker in self.workers:
            if worker.key is None:
                if worker.proc.is_alive():
                    return worker
                self._drop(worker)
                break
        worker = _Worker(self.context, self.config_bytes, self.threads)
        self.workers.append(worker)
        return worker

    def _drop(self, worker: _Worker) -> None:
        worker.kill()
        self.workers.remove(worker)

    def wait(self, timeout: float) -> list:
        busy = [w for w in self.workers if w.key is not None]
        if not busy:
            return []
        ready = set(wait_for([w.conn for w in busy] + [w.proc.sentinel for w in busy],
                             timeout))
        finished = []
        for worker in busy:
            if worker.conn not in ready and worker.proc.sentinel not in ready:
                continue
            key, record = worker.key, None
            try:
                if worker.conn.poll():
                    record = worker.conn.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                record = None  # it died while sending
            if record is None:
                if worker.proc.sentinel not in ready and worker.proc.is_alive():
                    continue  # not finished after all
                worker.proc.join()
                finished.append((key, lost(death_reason(worker.proc.exitcode))))
                self._drop(worker)
                continue
            worker.key = None
            finished.append((key, record))
        return finished

    def abort(self) -> None:
        for worker in self.workers:
            try:
                worker.proc.kill()
            except (OSError, ValueError):
                pass
        for worker in self.workers:
            worker.proc.join()
            worker.conn.close()
        self.workers = []

    def close(self) -> None:
        for worker in self.workers:
            try:
                worker.conn.send(None)  # "no more jobs": it exits
            except OSError:
                pass
        for worker in self.workers:
            worker.proc.join(JOIN_SECONDS)
            if worker.proc.is_alive():
                worker.kill()
            else:
                worker.conn.close()
        self.workers = []


def create(*, workers: int, threads: int) -> ProcessExecutor:
    return ProcessExecutor(workers, threads)


def worker_main(conn, config_bytes: bytes, threads: int, parent: int) -> None:
    """A worker: take jobs from ``conn`` one at a time until told to stop.

    Signals belong to the main process: a terminal's Ctrl-C and a ``timeout``'s
    SIGTERM reach the whole process group, but only the main process decides
    whether running inputs finish or are killed, so workers ignore both. A
    worker whose main process is gone exits at once (it would never be asked
    for anything again).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGNALS)
    _die_with(parent)
    # One BLAS thread: the workers already share the cores between them. Set before
    # numpy is imported (spawned workers import nothing before this).
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from cnnpipe.batch.work import process

    config = pickle.loads(config_bytes)
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return
        if message is None:
            return
        key, job = message
        record = process(job, config)
        try:
            conn.send(record)
        except (BrokenPipeError, OSError):
            return


def _die_with(parent: int) -> None:
    """Exit when process ``parent`` dies: at once on Linux (PR_SET_PDEATHSIG), and
    everywhere through a thread that checks every half second."""
    import sys
    import threading
    import time

    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass

    def watch():
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    if os.getppid() != parent:
        os._exit(1)
    threading.Thread(target=watch, name="cnnpipe-parent-watch", daemon=True).start()
