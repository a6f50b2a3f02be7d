"""Batch throughput on Dask: a local cluster of two single-threaded workers against `-j 2`.

Not a test: run it by hand on an idle machine (needs the dask extra).

    python benchmarks/bench_dask.py [--count 200] [--size 512] [--repeat 1] [--tasks 2000]

The same 200 photos of 512x512 as benchmarks/bench_batch.py go through
`cnnpipe run DIR -j 2` (the process executor) and `cnnpipe run DIR -j 2
--executor dask` (a local cluster of two single-threaded worker processes).
For each run it prints the whole command's time and the throughput between
the first and the last record (`--json` lines, timed as they arrive), which
leaves out start-up: Python, and for Dask the cluster. Then it measures
Dask's own per-task cost with tasks that do nothing, and prints what that
means on paper for 1,000,000 photos on 100 workers.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_batch import ROOT, make_photos  # noqa: E402


def timed_run(src: Path, out: Path, *extra: str) -> dict:
    """Wall seconds of the command, and of its records from the first to the last."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(src), "-o", str(out), "-j", "2",
           "--json", *extra]
    started = time.perf_counter()
    errors = tempfile.TemporaryFile("w+")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=errors,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    arrivals, seconds = [], []
    import json

    for line in proc.stdout:
        arrivals.append(time.perf_counter())
        seconds.append(json.loads(line).get("seconds", 0.0))
    if proc.wait() != 0:
        errors.seek(0)
        raise SystemExit(f"{' '.join(cmd)} failed with exit status {proc.returncode}:\n"
                         + errors.read()[-2000:])
    wall = time.perf_counter() - started
    steady = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    return {"wall": wall, "steady": steady, "first": arrivals[0] - started,
            "per_photo": statistics.median(seconds)}


def task_overhead(tasks: int) -> tuple[float, float]:
    """Dask's cost of one task that does nothing, on a local cluster of two workers:
    (milliseconds of a lone round trip, milliseconds per task when many are in flight)."""
    from distributed import Client, LocalCluster

    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=50) as cluster, \
            Client(cluster) as client:
        client.submit(int, 0, pure=False).result()  # warm up
        trips = []
        for _ in range(50):
            started = time.perf_counter()
            client.submit(int, 0, pure=False).result()
            trips.append(time.perf_counter() - started)
        started = time.perf_counter()
        futures = [client.submit(int, i, pure=False) for i in range(tasks)]
        client.gather(futures)
        many = (time.perf_counter() - started) / tasks
    return 1000 * statistics.median(trips), 1000 * many


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1,
                        help="pairs of runs (process, then dask); the best of each is compared")
    parser.add_argument("--tasks", type=int, default=2000, help="no-op tasks for the overhead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        make_photos(src, args.count, args.size)
        runs = {"process": [], "dask": []}
        for _ in range(args.repeat):
            runs["process"].append(timed_run(src, out))
            runs["dask"].append(timed_run(src, out, "--executor", "dask"))
    print(f"{args.count} photos {args.size}x{args.size}, {os.cpu_count()} cores, -j 2")
    best = {}
    for name, results in runs.items():
        best[name] = max(results, key=lambda r: r["steady"])
        r = best[name]
        print(f"  {name:8s} whole command {r['wall']:6.1f} s ({args.count / r['wall']:5.1f} "
              f"photos/s), first record after {r['first']:4.1f} s, steady "
              f"{r['steady']:5.1f} photos/s, {1000 * r['per_photo']:.0f} ms per photo   "
              "all runs steady: " + ", ".join(f"{x['steady']:.1f}" for x in results))
    ratio = best["dask"]["steady"] / best["process"]["steady"]
    whole = best["process"]["wall"] / best["dask"]["wall"]
    print(f"  dask / process throughput: {ratio:.2f}x steady, {whole:.2f}x whole command")

    trip, per_task = task_overhead(args.tasks)
    print(f"  Dask per-task cost (no-op tasks): {trip:.1f} ms for a lone round trip, "
          f"{per_task:.2f} ms per task with {args.tasks} in flight "
          f"(~{1000 / per_task:.0f} tasks/s through this scheduler)")
    photo = best["dask"]["per_photo"]
    rate = 100 / photo
    print(f"  on paper, 1,000,000 photos on 100 single-threaded workers at "
          f"{1000 * photo:.0f} ms each: {rate:.0f} photos/s, {1e6 / rate / 3600:.1f} h; "
          f"the scheduler then handles {rate:.0f} tasks/s, "
          f"{100 * rate * per_task / 1000:.0f}% of what it managed here with no-op tasks")


if __name__ == "__main__":
    main()
