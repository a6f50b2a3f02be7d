"""Run a batch's jobs through an executor, keeping every batch guarantee once, here.

- Records are streamed: each goes to ``on_result`` as its input finishes and is
  then dropped (only counts and a short table are kept), so the main process's
  memory does not grow with the number of inputs.
- Never more jobs in flight than the executor's capacity: after a stop nothing
  is left queued to start later.
- ``fail_fast``: nothing starts once a failure is known.
- A dead worker costs only its input: its partial output is removed and it is
  retried ``retries`` times, then reported (``worker died: signal 9``).
- First SIGINT / SIGTERM: nothing new starts, ``on_stopping(n)`` says how many
  inputs are finishing; second: running work is killed and its partial output
  removed. The result then carries the exit code (130, or 143 for SIGTERM).
"""

from __future__ import annotations

import dataclasses
import os
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from cnnpipe import interrupt
from cnnpipe.batch import executors
from cnnpipe.batch.discovery import Job
from cnnpipe.batch.work import failure, remove_partial

#: Rows of the final table kept in memory; a larger batch keeps counts only.
TABLE_ROWS = 200
POLL_SECONDS = 0.1  # how often the runner looks at signals while workers are busy


@dataclass
class BatchResult:
    """What is left of a batch once its records were streamed: counts and a short table."""

    total: int
    counts: dict = field(default_factory=lambda: {"ok": 0, "failed": 0, "skipped": 0})
    rows: list[dict] | None = field(default_factory=list)  # None when too many to keep
    usage_errors: int = 0  # failures that were usage errors (a detector that cannot fit)
    interrupted: int | None = None  # 130 / 143 when a signal stopped the batch

    @property
    def finished(self) -> int:
        return sum(self.counts.values())

    @property
    def not_started(self) -> int:
        return self.total - self.finished

    @property
    def usage_only(self) -> bool:
        """Every input failed, each with a usage error: the command line was wrong."""
        failed = self.counts["failed"]
        return failed > 0 and self.usage_errors == failed and failed == self.finished

    def add(self, record: dict) -> None:
        status = record["status"]
        self.counts[status] = self.counts.get(status, 0) + 1
        if status == "failed" and record.get("usage_error"):
            self.usage_errors += 1
        if self.total == 1:
            self.rows = [record]  # one input: its whole record, for the detailed tables
        elif self.rows is not None:
            if len(self.rows) >= TABLE_ROWS:
                self.rows = None
            else:
                self.rows.append(_row(record))


def _row(record: dict) -> dict:
    info = record.get("input") or {}
    keep = {k: info[k] for k in ("path", "width", "height") if k in info}
    row = {"input": keep, "status": record["status"], "output": record.get("output", "")}
    if "error" in record:
        row["error"] = record["error"]
    return row


def run_batch(jobs: Sequence[Job], config, *, workers: int = 1,
              executor: str | executors.Executor | None = None,
              executor_options: dict | None = None,
              on_start: Callable[[Job], None] | None = None,
              on_result: Callable[[Job, dict], None] | None = None,
              on_stopping: Callable[[int], None] | None = None,
              on_warning: Callable[[str], None] | None = None,
              fail_fast: bool = False, retries: int = 0) -> BatchResult:
    """Process ``jobs``, calling ``on_result(job, record)`` as each finishes.

    ``workers`` is a budget of cores (:func:`threads_per_input`). ``executor``
    is a name (``inline``, ``process``, or a module of
    :mod:`cnnpipe.batch.executors`) or an executor object; by default
    ``inline`` for one job or one worker, else ``process``. An output root that
    cannot be written is a ParameterError before any job starts.
    """
    from cnnpipe.outputs.folder import check_out_root

    check_out_root(config.out_root)  # a read-only -o: one line before any input is decoded
    threads = threads_per_input(workers, len(jobs))
    if getattr(config, "threads", threads) != threads:
        config = dataclasses.replace(config, threads=threads)
    if executor is None:
        executor = "inline" if workers <= 1 or len(jobs) <= 1 else "process"
    if isinstance(executor, str):
        executor = executors.create(executor, workers=max(1, min(workers, len(jobs))),
                                    threads=threads, **(executor_options or {}))
    run = _Run(jobs, config, executor, fail_fast, retries,
               on_start, on_result, on_stopping, on_warning)
    with interrupt.deferred():
        try:
            executor.start(config)
            run.loop()
        except BaseException:  # a callback failed (a closed pipe...): stop the work too
            if not run.aborted:
                run.abort()
            raise
        if not run.aborted:
            executor.close()
        if run.signals() and run.result.interrupted is None:  # arrived while closing
            run.result.interrupted = interrupt.exit_code()
    return run.result


class _Run:
    def __init__(self, jobs, config, executor, fail_fast, retries,
                 on_start, on_result, on_stopping, on_warning):
        self.jobs, self.config, self.executor = jobs, config, executor
        self.fail_fast, self.retries = fail_fast, max(0, retries)
        self.on_start, self.on_result = on_start, on_result
        self.on_stopping, self.on_warning = on_stopping, on_warning
        self.result = BatchResult(total=len(jobs))
        self.queue = deque(range(len(jobs)))
        self.attempts: dict[int, int] = {}
        self.in_flight: set[int] = set()
        self.stopping = False
        self.aborted = False

    def signals(self) -> int:
        """Signals so far; one that came before the batch started means: start nothing."""
        return interrupt.count()

    def loop(self) -> None:
        while True:
            if self.react_to_signals():
                return
            while not self.stopping and self.queue and len(self.in_flight) < max(
                    1, self.executor.capacity):
                self.start(self.queue.popleft())
                if self.signals():  # an inline job saw the signal: look before starting more
                    break
            if not self.in_flight:
                if not self.queue or self.stopping:
                    return
                continue
            for key, record in self.executor.wait(POLL_SECONDS):
                self.finish(key, record)

    def react_to_signals(self) -> bool:
        """Stop at the first signal, abort at the second; True when nothing is left to wait for."""
        count = self.signals()
        if count and self.result.interrupted is None:
            self.result.interrupted = interrupt.exit_code()
        if count and not self.stopping:
            self.stopping = True
            self.cancel_queued()
            if self.in_flight and self.on_stopping:
                self.on_stopping(len(self.in_flight))
        if count >= 2 and self.in_flight:
            self.abort()
            return True
        return False

    def abort(self) -> None:
        self.aborted = True
        self.executor.abort()
        for index in sorted(self.in_flight):
            remove_partial(self.jobs[index], self.config)
        self.in_flight.clear()

    def cancel_queued(self) -> None:
        cancel = getattr(self.executor, "cancel_queued", None)
        if cancel is not None:
            for key in cancel():
                self.in_flight.discard(key)

    def start(self, index: int) -> None:
        job = self.jobs[index]
        if self.on_start:
            self.on_start(job)
        self.in_flight.add(index)
        self.executor.submit(index, job)

    def finish(self, index: int, record: dict) -> None:
        if index not in self.in_flight:
            return  # cancelled meanwhile, or reported twice by a faulty executor
        self.in_flight.discard(index)
        job = self.jobs[index]
        if record.get("status") == "interrupted":  # stopped by a signal in this process:
            remove_partial(job, self.config)  # a temporary file the signal cut short, too
            return
        if record.pop("lost", False):
            remove_partial(job, self.config)
            tries = self.attempts.get(index, 0) + 1
            self.attempts[index] = tries
            if tries <= self.retries and not self.stopping:
                if self.on_warning:
                    self.on_warning(f"{_label(job)}: {record['error']}; trying again "
                                    f"({tries} of {self.retries})")
                self.queue.appendleft(index)
                return
            base = failure(job, self.config, record["error"])
            if tries > 1:
                base["error"] += f" ({tries} attempts)"
            record = base
        self.result.add(record)
        if self.on_result:
            self.on_result(job, record)
        if self.fail_fast and record["status"] == "failed" and not self.stopping:
            self.stopping = True
            self.cancel_queued()


def _label(job: Job) -> str:
    return "stdin" if job.source == "-" else job.source


def threads_per_input(workers: int, n_jobs: int) -> int:
    """Threads for one input when ``workers`` cores are shared by ``n_jobs`` inputs.

    ``-j N`` means N cores: N inputs at once in separate processes on one
    thread each, or one input on N threads (at most the machine's cores).
    ``-j 1`` is one core, so a script may run ``xargs -P 4 cnnpipe run -j 1``
    without oversubscribing.
    """
    inputs_at_once = max(1, min(workers, n_jobs))
    return max(1, min(os.cpu_count() or 1, workers // inputs_at_once))


def summarize(records) -> dict:
    """Counts of ok / failed / skipped records."""
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for record in records:
        counts[record["status"]] = counts.get(record["status"], 0) + 1
    return counts


__all__ = ["BatchResult", "run_batch", "summarize", "threads_per_input", "TABLE_ROWS"]
