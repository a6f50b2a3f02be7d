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


def interleaved_ms(fns, repeat):
    """Median wall time in milliseconds of each of ``fns``, timed in turns: each round runs
    every function once (in an order that rotates from round to round), so load from
    elsewhere on a shared machine falls on all of them alike rather than on whichever
    ran during a busy spell. One warm-up call each first."""
    for fn in fns:
        fn()
    times = [[] for _ in fns]
    for r in range(repeat):
        for i in range(len(fns)):
            j = (i + r) % len(fns)
            start = time.perf_counter()
            fns[j]()
            times[j].append(time.perf_counter() - start)
    return [1000 * statistics.median(t) for t in times]
