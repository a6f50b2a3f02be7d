"""What `run --html` adds to a default run, on the samples (issue #19: at most 10%).

Times the writer in-process (no interpreter start-up): a default run of each
sample with and without the report, alternating, N of each. Also prints the
page size. Medians and bests (the best is the least disturbed by other load).
``--large N`` also times N runs of each on a 4000x3000 photo (made here), whose
input's values go beside the page in report-input-NN.js files.

    python benchmarks/bench_report.py [--repeat 15] [--large 3]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from cnnpipe import io
from cnnpipe.kernels import BUILTIN, DEFAULT_KERNELS
from cnnpipe.layer import Params
from cnnpipe.outputs import RunConfig, write_outputs
from cnnpipe.outputs.report import report_bytes
from cnnpipe.outputs.report_data import Collector

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = [ROOT / "samples" / "chelsea.png", ROOT / "samples" / "tutorial.csv"]


def _config(html: bool) -> RunConfig:
    return RunConfig(params=Params(), kernels=tuple(BUILTIN[k] for k in DEFAULT_KERNELS),
                     html=html, threads=2)


def _once(sample: Path, html: bool, out: Path) -> float:
    config = _config(html)
    folder = out / f"{sample.stem}-{int(html)}"
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    loaded = io.load_image(sample)
    write_outputs(loaded, config, folder, str(sample))
    return time.perf_counter() - start


def _report_work(sample: Path, out: Path) -> float:
    """The report's own work, alone on this thread: every value it keeps, the page and the
    files beside it, encoded and written (fsynced) as the writer does; in a run it shares
    the background threads with the PNGs."""
    loaded = io.load_image(sample)
    manifest = json.loads((out / f"{sample.stem}-1" / "manifest.json").read_text())
    scratch = out / "report-work"
    scratch.mkdir(exist_ok=True)
    maps = [(m["file"], np.zeros(m["shape"], np.float32)) for m in manifest["maps"]
            if m["stage"] != "input"]
    start = time.perf_counter()
    collector = Collector()
    collector.add_input(loaded.array)
    for name, array in maps:
        collector.add_map(name, array)
    io.atomic_write(scratch / "report.html", report_bytes(manifest, _config(True), collector)(),
                    fsync_folder=False)
    for name, make in collector.sidecar_files():
        io.atomic_write(scratch / name, make(), fsync_folder=False)
    return time.perf_counter() - start


def _photo(folder: Path) -> Path:
    """A 4000x3000 RGB photo whose gray luminance is not on 8-bit levels (float32 values)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:3000, 0:4000]
    gray = ((x / 4000 * 180 + y / 3000 * 60 + rng.integers(0, 16, x.shape)) % 256)
    gray = gray.astype(np.uint8)
    path = folder / "photo-12mp.png"
    Image.fromarray(np.stack([gray, gray[::-1], gray[:, ::-1]], axis=-1)).save(path)
    return path


def _compare(sample: Path, repeat: int, out: Path) -> None:
    plain, html = [], []
    _once(sample, False, out), _once(sample, True, out)  # warm-up
    for _ in range(repeat):
        plain.append(_once(sample, False, out))
        html.append(_once(sample, True, out))
    folder = out / f"{sample.stem}-1"
    size = (folder / "report.html").stat().st_size
    beside = sum(f.stat().st_size for f in folder.glob("report-input-*.js"))
    for what, pick in (("median", statistics.median), ("best", min)):
        p, h = pick(plain), pick(html)
        print(f"{sample.name:14s} {what:6s} default {1000 * p:7.1f} ms   --html "
              f"{1000 * h:7.1f} ms   {100 * (h - p) / p:+5.1f}%   report.html "
              f"{size / 1e6:.2f} MB" + (f" + {beside / 1e6:.1f} MB beside" if beside else ""))
    work = min(_report_work(sample, out) for _ in range(max(3, min(repeat, 9))))
    print(f"{sample.name:14s} report work alone (best) {1000 * work:7.1f} ms = "
          f"{100 * work / min(plain):.1f}% of the best default run, "
          f"{100 * work / statistics.median(plain):.1f}% of its median")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--large", type=int, default=0, help="runs of a 12 MP photo (0: none)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for sample in SAMPLES:
            _compare(sample, args.repeat, out)
        if args.large:
            _compare(_photo(out), args.large, out)


if __name__ == "__main__":
    main()
