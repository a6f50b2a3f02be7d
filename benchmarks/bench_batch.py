"""Batch throughput: `cnnpipe run DIR -j 2` against `-j 1` on 200 photos of 512x512.

Not a test: run it by hand on an idle machine and read the ratio.

    python benchmarks/bench_batch.py [--count 200] [--size 512] [--repeat 1]

The photos are crops of the sample photo (resized), so the work is realistic
(PNG decoding, 5 default detectors, every PNG, overview and manifest written).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent


def make_photos(folder: Path, count: int, size: int) -> None:
    base = Image.open(ROOT / "samples" / "chelsea.png").convert("RGB")
    rng = np.random.default_rng(0)
    big = base.resize((size * 2, size * 2), Image.Resampling.BICUBIC)
    for i in range(count):
        top, left = (int(v) for v in rng.integers(0, size, 2))
        big.crop((left, top, left + size, top + size)).save(folder / f"photo{i:04d}.png")


def timed_run(src: Path, out: Path, workers: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (user + system, all processes) of one run."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(src), "-o", str(out), "-j", str(workers),
           "-q"]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1,
                        help="pairs of runs (-j 1 then -j 2); the best of each is compared")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        src, out = Path(tmp, "in"), Path(tmp, "out")
        src.mkdir()
        make_photos(src, args.count, args.size)
        runs = {1: [], 2: []}
        for _ in range(args.repeat):
            for workers in (1, 2):
                runs[workers].append(timed_run(src, out, workers))
        print(f"{args.count} photos {args.size}x{args.size}, {os.cpu_count()} cores")
        for workers in (1, 2):
            wall, cpu = min(runs[workers])
            print(f"  -j {workers}: {wall:6.1f} s  ({args.count / wall:5.1f} photos/s, "
                  f"{100 * cpu / wall:4.0f}% CPU)   all runs: "
                  + ", ".join(f"{w:.1f} s" for w, _ in runs[workers]))
        t1, t2 = min(runs[1])[0], min(runs[2])[0]
        pairs = ", ".join(f"{a[0] / b[0]:.2f}x" for a, b in zip(runs[1], runs[2], strict=True))
        print(f"  speed-up -j 2 / -j 1: {t1 / t2:.2f}x (best against best; each pair: {pairs})")


if __name__ == "__main__":
    main()
