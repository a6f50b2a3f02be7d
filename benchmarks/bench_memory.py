"""Peak memory of `cnnpipe run` on a 12 MP photo with 4, 8 and 32 detectors.

Run from the repository root::

    python benchmarks/bench_memory.py

Each run is a fresh ``python -m cnnpipe run`` in a subprocess; its peak resident
set size is read with ``resource.getrusage(RUSAGE_CHILDREN)`` in a small
intermediate process (the children's maximum only ever grows, so each
measurement gets its own parent). Targets: 8 detectors <= 1 GB; 32 detectors at
most 30% above 4.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def child(cmd: list[str]) -> None:
    """Run ``cmd`` and print its peak RSS in bytes (Linux reports KiB)."""
    subprocess.run(cmd, check=True, capture_output=True)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    print(peak * (1 if sys.platform == "darwin" else 1024))


def peak_bytes(cmd: list[str]) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    out = subprocess.run([sys.executable, __file__, "--child", "--", *cmd], check=True,
                         capture_output=True, text=True, env=env)
    return int(out.stdout.strip())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, default=4000)
    parser.add_argument("--height", type=int, default=3000)
    parser.add_argument("cmd", nargs="*", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.cmd)
        return

    from PIL import Image

    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.png"
        Image.open(ROOT / "samples" / "chelsea.png").convert("RGB").resize(
            (args.width, args.height), Image.BICUBIC).save(photo)
        rows = []
        for n in (4, 8, 32):
            cmd = [sys.executable, "-m", "cnnpipe", "run", str(photo), "--random", str(n),
                   "-o", str(Path(tmp) / f"out-{n}"), "-q"]
            rows.append((n, peak_bytes(cmd)))
    base = rows[0][1]
    print(f"{args.width}x{args.height} photo ({args.width * args.height / 1e6:.0f} MP), "
          "random 3x3 detectors, every PNG + overview")
    print(f"{'detectors':>9} {'peak RSS':>10} {'vs 4':>7}")
    for n, peak in rows:
        print(f"{n:9d} {peak / 2**20:8.0f} MB {peak / base - 1:+6.0%}")
    print("targets: 8 detectors <= 1024 MB; 32 detectors <= +30% over 4")


if __name__ == "__main__":
    main()
