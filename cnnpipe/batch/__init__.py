"""Batches: find inputs, name their output folders, and run them through an executor.

Never prints, never exits: records come back through callbacks.

- :mod:`~cnnpipe.batch.discovery`: inputs (files, folders, ``-``) into
  :class:`Job` objects with unique output folder names, decided in the main
  process before anything runs; cnnpipe's own output is never an input.
- :mod:`~cnnpipe.batch.work`: ``process(job, config) -> record``, the work for
  one input (never raises for a bad input), under a per-folder lock.
- :mod:`~cnnpipe.batch.runner`: :func:`run_batch`, which keeps every batch
  guarantee (streamed records, ``--fail-fast``, ``--retries``, signals,
  clean-up) above one executor seam.
- :mod:`~cnnpipe.batch.executors`: where jobs run (``inline``, ``process``;
  one module per engine), and the interface an engine implements.
"""

from __future__ import annotations

from cnnpipe.batch.discovery import (
    SUPPORTED_EXTENSIONS,
    Job,
    claim_folders,
    discover,
    fingerprint,
)
from cnnpipe.batch.runner import BatchResult, run_batch, summarize, threads_per_input
from cnnpipe.batch.work import process
from cnnpipe.errors import InputError

__all__ = ["SUPPORTED_EXTENSIONS", "BatchResult", "InputError", "Job", "claim_folders",
           "discover", "fingerprint", "process", "run_batch", "summarize",
           "threads_per_input"]
