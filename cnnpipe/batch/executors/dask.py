"""The ``dask`` executor: a batch's inputs as tasks on a Dask cluster.

``cnnpipe run --executor dask`` starts a local cluster of ``-j`` single-threaded
worker processes; ``--scheduler tcp://HOST:PORT`` (or Dask's own
``DASK_SCHEDULER_ADDRESS``) uses a running cluster instead. Every batch
guarantee lives above this seam, in :mod:`cnnpipe.batch.runner`; this module
only runs ``process(job, config)`` on the workers and hands the records back.

Data path: shared filesystem. A worker reads its input and writes its output
folder itself, at the same paths as this process sees them, so every worker
must mount the inputs and the output root at those paths (docs/dask.md).
Only a job (a path and a folder name, or standard input's bytes) goes to a
worker and only its record (the manifest) comes back.

Workers lost mid-input: Dask runs the task again on another worker (its
``distributed.scheduler.allowed-failures``), which rewrites the whole folder;
when Dask gives up, the input comes back as ``worker died`` for the runner to
clean up and report. Stopping: each task registers itself on its worker when it
starts, so :meth:`DaskExecutor.cancel_queued` knows exactly which inputs never
started; :meth:`DaskExecutor.abort` interrupts the running ones, and they remove
their own partial files, as an interrupted input does on this machine.

Dask (``dask[distributed]``) is an optional extra: ``pip install "cnnpipe[dask]"``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import queue
import time
import uuid

from cnnpipe.batch.executors import lost
from cnnpipe.batch.executors.dask_tasks import forget_batch, run_task, running_tasks, stop_batch
from cnnpipe.batch.work import failure
from cnnpipe.errors import ParameterError

EXTRA = 'pip install "cnnpipe[dask]"'

#: Seconds to wait for a scheduler that does not answer before giving up with one line.
CONNECT_TIMEOUT = 5.0
#: Seconds a local cluster gets to start its workers.
START_TIMEOUT = 60.0
#: Inputs queued ahead on each worker thread, so a worker never waits for a round trip
#: to the client between two inputs (see docs/dask.md, per-task overhead).
QUEUE_AHEAD = 1
#: Seconds without a single worker before a warning says the batch is waiting for one.
NO_WORKERS_WARNING = 10.0
#: Seconds that stopping waits for interrupted inputs to clean up after themselves.
ABORT_SECONDS = 10.0


def _import_distributed():
    try:
        import distributed
    except ImportError as exc:
        raise ParameterError(f"--executor dask needs Dask, which is not installed here; "
                             f"install the extra: {EXTRA}") from exc
    return distributed


class DaskExecutor:
    """Submit inputs to a Dask cluster (see the module docstring)."""

    def __init__(self, workers: int = 1, threads: int = 1, scheduler: str | None = None,
                 on_info=None, on_warning=None, debug: bool = False):
        self.workers = max(1, workers)
        self.scheduler = scheduler or None
        self.say = on_info or (lambda message: None)
        self.warn = on_warning or (lambda message: None)
        self.debug = debug
        self.batch = uuid.uuid4().hex  # names this batch's tasks on shared workers
        self.client = None
        self.cluster = None
        self.config = None
        self.futures: dict[str, tuple] = {}  # dask key -> (runner key, job, future)
        self.done: queue.SimpleQueue = queue.SimpleQueue()
        self._threads = 1
        self._threads_at = 0.0
        self._nworkers = 1
        self._no_workers_since: float | None = None

    # -- the seam ---------------------------------------------------------------------------

    def start(self, config) -> None:
        distributed = _import_distributed()
        if not self.debug:
            for name in ("distributed", "tornado", "bokeh"):
                logging.getLogger(name).setLevel(logging.CRITICAL)
        if self.scheduler:
            self.client = _connect(distributed, self.scheduler)
        else:
            self.cluster = _local_cluster(distributed, self.workers, self.debug)
            self.client = distributed.Client(self.cluster, set_as_default=False)
        # one thread per input, as -j 1: each worker thread is one core of the budget
        self.config = dataclasses.replace(config, threads=1) if hasattr(config, "threads") \
            else config
        self.say(self.describe())

    def describe(self) -> str:
        """One line for the user: which cluster, how big, where its dashboard is."""
        link = _dashboard_link(self.client, self.cluster)
        where = self.client.scheduler.address
        if self.cluster is not None:
            n = self.workers
            text = f"local Dask cluster of {n} worker{'s' * (n != 1)} (scheduler {where}"
        else:
            threads = self.capacity // (1 + QUEUE_AHEAD)
            text = f"Dask cluster at {where} ({threads} worker threads"
        return text + (f", dashboard {link})" if link else ")")

    @property
    def capacity(self) -> int:
        """Worker threads in the cluster now, plus the inputs queued ahead on them."""
        now = time.monotonic()
        if now - self._threads_at > 1.0 and self.client is not None:
            self._threads_at = now
            with contextlib.suppress(Exception):  # keep the last count while the scheduler is away
                info = _scheduler_info(self.client)
                self._nworkers = len(info["workers"])
                self._threads = max(1, sum(w.get("nthreads", 1)
                                           for w in info["workers"].values()))
        return self._threads * (1 + QUEUE_AHEAD)

    def submit(self, key, job) -> None:
        dask_key = f"cnnpipe-{uuid.uuid4().hex}"
        future = self.client.submit(run_task, self.batch, dask_key, job, self.config,
                                    key=dask_key, pure=False)
        self.futures[dask_key] = (key, job, future)
        future.add_done_callback(lambda f: self.done.put(f.key))

    def wait(self, timeout: float) -> list:
        self._watch_workers()
        finished = []
        try:
            keys = [self.done.get(timeout=timeout)]
        except queue.Empty:
            return finished
        while True:
            try:
                keys.append(self.done.get_nowait())
            except queue.Empty:
                break
        for dask_key in keys:
            entry = self.futures.pop(dask_key, None)
            if entry is None:
                continue  # cancelled by us: the runner no longer waits for it
            key, job, future = entry
            if future.status not in ("finished", "cancelled", "error"):
                # its result was lost with a worker after the callback fired (status
                # "lost"): Dask computes it again, so wait for it again
                self.futures[dask_key] = entry
                future.add_done_callback(lambda f: self.done.put(f.key))
                continue
            record = self._record(job, future)
            if record is not None:
                finished.append((key, record))
        return finished

    def cancel_queued(self) -> list:
        """Cancel the inputs that no worker has started; return their runner keys."""
        started = self._stop_batch(interrupt_running=False)
        return self._cancel_all_but(started)

    def abort(self) -> None:
        """Interrupt the running inputs (each removes its partial files) and cancel the rest."""
        started = self._stop_batch(interrupt_running=True)
        self._cancel_all_but(started)
        deadline = time.monotonic() + ABORT_SECONDS
        while self.futures and time.monotonic() < deadline:
            self.wait(0.1)
        self.close()

    def close(self) -> None:
        client, cluster = self.client, self.cluster
        self.client = self.cluster = None
        try:
            if client is not None:
                if cluster is not None:
                    # nothing of ours runs now, unless a cancelled task started meanwhile:
                    # it finishes whole before its worker stops
                    self._wait_idle(client)
                with contextlib.suppress(Exception):
                    client.run(forget_batch, self.batch, on_error="return")
                client.close()
        finally:
            if cluster is not None:
                cluster.close()

    # -- helpers ----------------------------------------------------------------------------

    def _watch_workers(self) -> None:
        """Say once when the batch waits for a cluster without workers (Dask waits for
        workers to join; a worker that cannot load cnnpipe dies at its first task)."""
        if self._nworkers or not self.futures:
            self._no_workers_since = None
            return
        now = time.monotonic()
        if self._no_workers_since is None:
            self._no_workers_since = now
        elif now - self._no_workers_since > NO_WORKERS_WARNING:
            self._no_workers_since = float("inf")  # once
            self.warn(f"the Dask cluster at {self.client.scheduler.address} has no workers; "
                      "waiting for some to join (is cnnpipe installed where they run? "
                      "Ctrl-C to stop)")

    def _record(self, job, future) -> dict | None:
        """The record a finished task stands for; None for one stopped before it started."""
        status = future.status
        if status == "finished":
            try:
                record = future.result()
            except Exception as exc:  # noqa: BLE001 - the result could not be fetched
                return lost(f"its result was lost ({_one_line(exc)})")
            return None if record.get("status") == "not-started" else record
        if status == "cancelled":  # not by us: the scheduler went away or forgot the task
            return lost("the connection to the Dask scheduler was lost")
        exc = future.exception()
        if type(exc).__name__ == "KilledWorker":
            return lost("Dask lost every worker that ran it")
        # the task itself failed on the worker: cnnpipe missing there, another version...
        return failure(job, self.config, f"on a Dask worker: {_one_line(exc)}")

    def _stop_batch(self, interrupt_running: bool) -> set[str]:
        """Tell every worker that this batch starts nothing more; the keys it has started."""
        if self.client is None:
            return set()
        try:
            answers = self.client.run(stop_batch, self.batch, interrupt_running,
                                      on_error="return")
        except Exception:  # noqa: BLE001 - the scheduler is gone: nothing runs for us any more
            return set()
        started: set[str] = set()
        for answer in answers.values():
            if isinstance(answer, list):
                started.update(answer)
        return started

    def _cancel_all_but(self, started: set[str]) -> list:
        """Cancel the tasks that never started (a finished one is reported by wait)."""
        cancelled = [(k, entry) for k, entry in self.futures.items()
                     if k not in started and entry[2].status == "pending"]
        for dask_key, _ in cancelled:
            del self.futures[dask_key]
        if cancelled and self.client is not None:
            with contextlib.suppress(Exception):
                self.client.cancel([entry[2] for _, entry in cancelled])
        return [entry[0] for _, entry in cancelled]

    def _wait_idle(self, client, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                answers = client.run(running_tasks, self.batch, on_error="return")
            except Exception:  # noqa: BLE001
                return
            if not any(isinstance(a, list) and a for a in answers.values()):
                return
            time.sleep(0.05)


def create(*, workers: int, threads: int, scheduler: str | None = None, on_info=None,
           on_warning=None, debug: bool = False) -> DaskExecutor:
    return DaskExecutor(workers, threads, scheduler, on_info, on_warning, debug)




def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _connect(distributed, address: str):
    if "://" not in address:
        address = f"tcp://{address}"
    try:
        return distributed.Client(address, timeout=CONNECT_TIMEOUT, set_as_default=False)
    except ValueError as exc:
        raise ParameterError(f"--scheduler {address!r} is not a Dask scheduler address "
                             "(expected tcp://HOST:PORT)") from exc
    except (OSError, TimeoutError) as exc:
        raise ParameterError(f"cannot reach the Dask scheduler at {address}: no answer "
                             f"within {CONNECT_TIMEOUT:g} s (is `dask scheduler` running "
                             "there, and its port reachable from here?)") from exc


#: Dask settings of a local cluster (never of a user's own cluster): its event-loop
#: watchdog (every 20 ms), statistical profiler (10 ms) and memory poll (100 ms) wake a
#: thread in every worker that must take the GIL from the input being computed; once a
#: second is plenty here. Measured on 200 photos of 512x512, -j 2: 139 -> 133 ms a photo.
LOCAL_CONFIG = {
    "distributed.admin.tick.interval": "1s",
    "distributed.worker.profile.enabled": False,
    "distributed.worker.memory.monitor-interval": "1s",
}


def _local_cluster(distributed, workers: int, debug: bool):
    import dask

    with dask.config.set(LOCAL_CONFIG):  # the workers get the config they start with
        return distributed.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
            dashboard_address="127.0.0.1:0" if _has_bokeh() else None,
            silence_logs=logging.WARNING if debug else logging.CRITICAL,
            preload=["cnnpipe.batch.executors.dask_tasks"], timeout=START_TIMEOUT)


def _scheduler_info(client) -> dict:
    """The scheduler's description with every worker (older Dask: no ``n_workers``)."""
    try:
        return client.scheduler_info(n_workers=-1)
    except TypeError:  # pragma: no cover - distributed before 2025
        return client.scheduler_info()


def _has_bokeh() -> bool:
    try:
        import bokeh  # noqa: F401  - Dask's dashboard needs it
    except ImportError:
        return False
    return True


def _dashboard_link(client, cluster) -> str | None:
    """The dashboard's address, when the scheduler serves one (it needs bokeh there)."""
    if cluster is not None and not _has_bokeh():
        return None
    with contextlib.suppress(Exception):
        if "dashboard" in _scheduler_info(client).get("services", {}):
            return client.dashboard_link
    return None


__all__ = ["DaskExecutor", "EXTRA", "create", "run_task"]
