"""Timing helpers shared by the benchmark scripts (standard library only)."""

from __future__ import annotations

import statistics
import subprocess
import time


def median_ms(fn, repeat):
    """Median wall time of ``fn()`` in milliseconds, after one warm-up call
    (first-touch page faults, thread pools, lazy imports, the file cache)."""
    fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def command_ms(cmd, repeat, env=None):
    """Median wall time of running the command ``cmd`` (a list), in milliseconds."""
    return median_ms(lambda: subprocess.run(cmd, check=True, capture_output=True, env=env),
                     repeat)
