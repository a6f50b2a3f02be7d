"""The ``inline`` executor: each job runs in this process, one after the other (``-j 1``).

``submit`` does the work; a signal raises inside it (the input being written
is cleaned up by the writer) and comes back as an ``interrupted`` record.
"""

from __future__ import annotations

from cnnpipe import interrupt
from cnnpipe.batch.work import process


class InlineExecutor:
    capacity = 1

    def __init__(self, threads: int = 1):
        self.threads = threads
        self.config = None
        self.done: list = []

    def start(self, config) -> None:
        self.config = config

    def submit(self, key, job) -> None:
        from cnnpipe.ops import blas

        # The budget reaches the engines as config.threads; OpenBLAS gets one thread
        # meanwhile, as our own threads already share it (on 2 cores, 12 detectors on a
        # 1600^2 photo: 110% CPU at -j 1 with its threads, 97% without, and no slower).
        try:
            with interrupt.raising(), blas.threads(1):
                interrupt.check()
                record = process(job, self.config)
        except (KeyboardInterrupt, SystemExit):
            record = {"status": "interrupted"}
        self.done.append((key, record))

    def wait(self, timeout: float) -> list:
        done, self.done = self.done, []
        return done

    def abort(self) -> None:
        pass

    def close(self) -> None:
        pass


def create(*, workers: int, threads: int) -> InlineExecutor:
    return InlineExecutor(threads)
