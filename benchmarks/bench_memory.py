"""Peak memory (max RSS) of `cnnpipe run` on one 12-megapixel photo, by number of detectors.

A one-off measurement, not a test: ``python benchmarks/bench_memory.py [--side 4000x3000]``.
Each run is a fresh process; its peak resident set size is read with
``resource.getrusage(RUSAGE_CHILDREN)`` in a wrapper process that runs only it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

WRAPPER = """
import resource, subprocess, sys, time
started = time.perf_counter()
code = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL).returncode
print(code, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, time.perf_counter() - started)
"""


def make_photo(path: Path, width: int, height: int) -> None:
    import numpy as np
    from PIL import Image

    with Image.open(ROOT / "samples" / "chelsea.png") as im:
        big = im.convert("RGB").resize((width, height), Image.Resampling.BICUBIC)
    noise = np.random.default_rng(0).normal(0, 6, (height, width, 1))
    pixels = np.clip(np.asarray(big, dtype=np.float32) + noise, 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path, compress_level=1)


def peak(photo: Path, out: Path, detectors: int, extra: list[str]) -> tuple[int, float]:
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(photo), "-o", str(out), "-j", "1", "-q",
           "--random", str(detectors), "--seed", "1", "--size", "3", *extra]
    done = subprocess.run([sys.executable, "-c", WRAPPER, *cmd], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True)
    code, kib, seconds = done.stdout.split()
    if code != "0":
        raise SystemExit(f"cnnpipe failed ({code}): {done.stderr}")
    return int(kib), float(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", default="4000x3000", help="WIDTHxHEIGHT of the test photo")
    parser.add_argument("--detectors", default="4,8,32", help="comma-separated counts")
    parser.add_argument("--extra", default="", help="more `cnnpipe run` options, space-separated")
    args = parser.parse_args()
    width, height = (int(v) for v in args.side.lower().split("x"))
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        make_photo(photo, width, height)
        rows = []
        for n in (int(v) for v in args.detectors.split(",")):
            kib, seconds = peak(photo, Path(tmp) / f"out{n}", n, args.extra.split())
            rows.append({"detectors": n, "peak_mib": round(kib / 1024),
                         "seconds": round(seconds, 1)})
            print(json.dumps(rows[-1]), flush=True)
    base = rows[0]["peak_mib"]
    for row in rows[1:]:
        print(f"{row['detectors']} detectors: {100 * (row['peak_mib'] - base) / base:+.0f}% "
              f"vs {rows[0]['detectors']}")


if __name__ == "__main__":
    main()
