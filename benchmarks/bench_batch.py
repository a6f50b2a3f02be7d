"""Batch throughput and the main process's memory.

Not a test: run it by hand on an idle machine and read the figures.

    python benchmarks/bench_batch.py [--count 200] [--size 512] [--repeat 1]
    python benchmarks/bench_batch.py --tiny [--tiny-count 2000]
    python benchmarks/bench_batch.py --against ../cnnpipe-old --repeat 3

The default compares `cnnpipe run DIR -j 2` with `-j 1` on 200 photos of
512x512 (crops of the sample photo: PNG decoding, 5 default detectors, every
PNG, overview and manifest written). ``--tiny`` runs 2,000 inputs of 16x16
against the 200 photos, both with ``-j 2 --json`` (every record streamed to a
pipe), and reports the time ratio and the peak memory of the main process:
records are streamed, not kept, so that memory must not grow with the number
of inputs (issue #15: the ratio under 5x, the main process under 100 MB).
``--against SRC`` times ``-j 2`` of this tree and of the checkout SRC (e.g. a
``git worktree`` of an older commit) in turns on the same photos.
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

# Runs cnnpipe's CLI; says which cnnpipe it imported and the peak resident memory of this
# (the main) process.
PEAK = ("import atexit, resource, sys\n"
        "import cnnpipe\n"
        "sys.stderr.write('cnnpipe-from %s\\n' % cnnpipe.__file__)\n"
        "atexit.register(lambda: sys.stderr.write('peak-kb %d\\n' % "
        "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))\n"
        "sys.argv[0] = 'cnnpipe'\n"
        "from cnnpipe.cli import main\n"
        "main()\n")


def make_photos(folder: Path, count: int, size: int) -> None:
    base = Image.open(ROOT / "samples" / "chelsea.png").convert("RGB")
    rng = np.random.default_rng(0)
    big = base.resize((size * 2, size * 2), Image.Resampling.BICUBIC)
    for i in range(count):
        top, left = (int(v) for v in rng.integers(0, size, 2))
        big.crop((left, top, left + size, top + size)).save(folder / f"photo{i:04d}.png")


def make_tiny(folder: Path, count: int, size: int = 16) -> None:
    rng = np.random.default_rng(1)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"tiny{i:05d}.png")


def timed_run(src: Path, out: Path, workers: int, *extra, code: Path = ROOT
              ) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (all processes) and the main process's peak MB of one run
    of the cnnpipe in the source tree ``code``."""
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-c", PEAK, "run", str(src), "-o", str(out), "-j", str(workers),
           *extra]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # Run in ``code``: `python -c` puts the working folder first on sys.path, before
    # PYTHONPATH, so run from another checkout it would time that checkout's code.
    done = subprocess.run(cmd, check=True, env={**os.environ, "PYTHONPATH": str(code)},
                          cwd=code, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    lines = done.stderr.splitlines()
    imported = [line.split(" ", 1)[1] for line in lines if line.startswith("cnnpipe-from ")]
    if not imported or Path(imported[0]).resolve().parent.parent != Path(code).resolve():
        sys.exit(f"the run meant for {code} imported cnnpipe from {imported or 'nowhere'}")
    peak = [int(line.split()[1]) for line in lines if line.startswith("peak-kb ")]
    return wall, cpu, (peak[-1] / 1024 if peak else float("nan"))


def compare_workers(args, tmp: str) -> None:
    src, out = Path(tmp, "in"), Path(tmp, "out")
    src.mkdir()
    make_photos(src, args.count, args.size)
    runs = {1: [], 2: []}
    for _ in range(args.repeat):
        for workers in (1, 2):
            runs[workers].append(timed_run(src, out, workers, "-q"))
    print(f"{args.count} photos {args.size}x{args.size}, {os.cpu_count()} cores")
    for workers in (1, 2):
        wall, cpu, peak = min(runs[workers])
        print(f"  -j {workers}: {wall:6.1f} s  ({args.count / wall:5.1f} photos/s, "
              f"{100 * cpu / wall:4.0f}% CPU, main process {peak:.0f} MB)   all runs: "
              + ", ".join(f"{w:.1f} s" for w, _, _ in runs[workers]))
    t1, t2 = min(runs[1])[0], min(runs[2])[0]
    pairs = ", ".join(f"{a[0] / b[0]:.2f}x" for a, b in zip(runs[1], runs[2], strict=True))
    print(f"  speed-up -j 2 / -j 1: {t1 / t2:.2f}x (best against best; each pair: {pairs})")


def against(args, tmp: str) -> None:
    """``-j 2`` of this tree against ``-j 2`` of another checkout, in turns, same photos."""
    src, out = Path(tmp, "in"), Path(tmp, "out")
    src.mkdir()
    make_photos(src, args.count, args.size)
    trees = {"this tree": ROOT, f"{args.against}": Path(args.against).resolve()}
    runs = {name: [] for name in trees}
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    for r in range(args.repeat):
        for name in (list(trees) if r % 2 == 0 else list(trees)[::-1]):
            runs[name].append(timed_run(src, out, 2, "-q", code=trees[name]))
    print(f"{args.count} photos {args.size}x{args.size}, -j 2, {os.cpu_count()} cores; runs in"
          " turns, median wall time")
    rates, cpus = {}, {}
    for name in trees:
        walls = sorted(w for w, _, _ in runs[name])
        wall = walls[len(walls) // 2]
        rates[name] = args.count / wall
        cpus[name] = sorted(c for _, c, _ in runs[name])[len(walls) // 2] / args.count
        print(f"  {name:>30}: {wall:6.1f} s  ({rates[name]:5.1f} photos/s, "
              f"{1000 * cpus[name]:5.1f} CPU ms a photo, all processes)   all runs: "
              + ", ".join(f"{w:.1f} s" for w, _, _ in runs[name]))
    first, second = list(trees)
    print(f"  this tree / {second}: {rates[first] / rates[second]:.2f}x photos/s, "
          f"{cpus[second] / cpus[first]:.2f}x less CPU a photo")
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


def tiny_against_photos(args, tmp: str) -> None:
    photos, tiny, out = Path(tmp, "photos"), Path(tmp, "tiny"), Path(tmp, "out")
    photos.mkdir()
    tiny.mkdir()
    make_photos(photos, args.count, args.size)
    make_tiny(tiny, args.tiny_count)
    results = {"photos": [], "tiny": []}
    for _ in range(args.repeat):
        results["photos"].append(timed_run(photos, out, 2, "--json"))
        results["tiny"].append(timed_run(tiny, out, 2, "--json"))
    labels = {"photos": f"{args.count} photos {args.size}x{args.size}",
              "tiny": f"{args.tiny_count} tiny 16x16"}
    print(f"-j 2 --json, {os.cpu_count()} cores")
    for key in ("photos", "tiny"):
        wall, cpu, peak = min(results[key])
        n = args.count if key == "photos" else args.tiny_count
        print(f"  {labels[key]:>24}: {wall:6.1f} s ({n / wall:6.1f} inputs/s, "
              f"{100 * cpu / wall:4.0f}% CPU), main process peak {peak:5.1f} MB")
    ratio = min(results["tiny"])[0] / min(results["photos"])[0]
    print(f"  time tiny / photos: {ratio:.2f}x (goal < 5x); main process peak goal < 100 MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--repeat", type=int, default=1,
                        help="runs of each kind; the best of each is compared")
    parser.add_argument("--tiny", action="store_true",
                        help="2,000 tiny inputs against the photos: time and main-process memory")
    parser.add_argument("--tiny-count", type=int, default=2000)
    parser.add_argument("--against", metavar="SRC",
                        help="a checkout of another commit: time -j 2 of both, in turns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.against:
            against(args, tmp)
        elif args.tiny:
            tiny_against_photos(args, tmp)
        else:
            compare_workers(args, tmp)


if __name__ == "__main__":
    main()
