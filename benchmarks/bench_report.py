"""What `run --html` adds to a default run, on the samples (issue #19: at most 10%).

Times the writer in-process (no interpreter start-up): a default run of each
sample with and without the report, alternating, N of each. Also prints the
page size. Medians and bests (the best is the least disturbed by other load).

    python benchmarks/bench_report.py [--repeat 15]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from cnnpipe import io
from cnnpipe.kernels import BUILTIN, DEFAULT_KERNELS
from cnnpipe.layer import Params
from cnnpipe.outputs import RunConfig, write_outputs

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "samples" / "chelsea.png", ROOT / "samples" / "tutorial.csv"]


def _once(sample: Path, html: bool, out: Path) -> float:
    config = RunConfig(params=Params(), kernels=tuple(BUILTIN[k] for k in DEFAULT_KERNELS),
                       html=html, threads=2)
    folder = out / f"{sample.stem}-{int(html)}"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    loaded = io.load_image(sample)
    write_outputs(loaded, config, folder, str(sample))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for sample in SAMPLES:
            plain, html = [], []
            _once(sample, False, out), _once(sample, True, out)  # warm-up
            for _ in range(args.repeat):
                plain.append(_once(sample, False, out))
                html.append(_once(sample, True, out))
            size = (out / f"{sample.stem}-1" / "report.html").stat().st_size
            for what, pick in (("median", statistics.median), ("best", min)):
                p, h = pick(plain), pick(html)
                print(f"{sample.name:14s} {what:6s} default {1000 * p:7.1f} ms   --html "
                      f"{1000 * h:7.1f} ms   {100 * (h - p) / p:+5.1f}%   report.html "
                      f"{size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
