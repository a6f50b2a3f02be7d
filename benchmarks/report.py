"""The one performance table of docs/performance.md, measured in one run.

    python benchmarks/report.py                                  # print the table
    python benchmarks/report.py --write docs/performance.md      # and put it in the docs
    python benchmarks/report.py --against ../cnnpipe-old          # batch against a checkout

Runs, in this order: the core (conv -> ReLU -> pool, 8 detectors 3x3) at 2048^2
and 4096^2 against OpenCV, PyTorch and a NumPy copy of the maps' bytes; ``cnnpipe
run`` end to end against ImageMagick, with the time split by phase; a batch of
200 photos with ``-j 2`` (against the checkout given with ``--against``, in
turns); ``cnnpipe --help`` against ``import click``; the peak memory of a 12 MP
photo with 8 detectors. Contenders are timed in turns and medians are kept; the
table notes the date, the CPU, the library versions and the load average before
and after, because the machine may be shared. A few minutes on an idle 2-core
machine. Peers are benchmark-only (``pip install opencv-python-headless torch
scipy``; ``apt-get install imagemagick``); a missing one gives "—".
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import bench_compare as compare
from bench_batch import make_photos, timed_run
from bench_memory import peak_bytes
from bench_startup import command_ms, regular_install

ROOT = Path(__file__).resolve().parent.parent
START, END = "<!-- perf-table:start -->", "<!-- perf-table:end -->"


def _find(rows, prefix):
    for label, ms in rows:
        if label.startswith(prefix) and not isinstance(ms, str):
            return ms
    return None


def _ratio(peer, ours):
    return "—" if peer is None or ours is None else f"{peer / ours:.2f}×"


def _ms(value, unit="ms"):
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if unit == "s" else f"{value:.0f} ms"


def core_lines(repeat):
    lines = []
    for size in (2048, 4096):
        _, rows, ops = compare.core_rows(size, repeat)
        pipe = _find(rows, "cnnpipe pipeline")
        cv, torch = _find(rows, "OpenCV"), _find(rows, "PyTorch default")
        copy = _find(rows, "NumPy copy")
        mib = compare.map_bytes(8, size) / 2**20
        for label, ours in (("`conv2d` → `relu` → `pool2d`", ops),
                            ("as `run` computes it (`iter_detectors`)", pipe)):
            lines.append(f"| core {size}², {label} | {_ms(ours)} | OpenCV `filter2D` + NumPy "
                         f"{_ms(cv)} | {_ratio(cv, ours)} | ≥ 1.3× |")
        lines.append(f"| core {size}², `conv2d` → `relu` → `pool2d` | {_ms(ops)} | PyTorch "
                     f"default {_ms(torch)} | {_ratio(torch, ops)} | ≥ 5× |")
        gbs = compare.map_bytes(8, size) / copy / 1e6 if copy else 0
        lines.append(f"| core {size}² against memory: writing the maps' {mib:.0f} MiB once "
                     f"| {_ms(ops)} | NumPy copy {_ms(copy)} ({gbs:.1f} GB/s) "
                     f"| {_ratio(ops, copy)} of the copy | — |")
    return lines


def e2e_lines(repeat, workdir):
    _, rows, ours = compare.end_to_end_rows(2048, repeat, workdir, False)
    magick = _find(rows, "ImageMagick")
    lines = [f"| `cnnpipe run` 2048² photo, 8 detectors, every file | {_ms(ours, 's')} | "
             f"ImageMagick `convert` {_ms(magick, 's')} | {_ratio(magick, ours)} | ≥ 10× |"]
    split = {label.split(":")[1].split("(")[0].strip(): ms for label, ms in rows
             if label.strip().startswith("split:") and "sum" not in label}
    parts = ", ".join(f"{name} {ms:.0f}" for name, ms in split.items())
    lines.append(f"| its split, ms (start-up wall; the rest CPU, one thread) | {parts} "
                 "| — | — | — |")
    return lines


def batch_lines(against, workdir):
    src = workdir / "batch"
    src.mkdir()
    make_photos(src, 200, 512)
    trees = [("this tree", ROOT)] + ([(_commit(Path(against)), Path(against))] if against
                                      else [])
    walls = {name: [] for name, _ in trees}
    for r in range(3):
        for name, code in (trees if r % 2 == 0 else trees[::-1]):
            walls[name].append(timed_run(src, workdir / "batch-out", 2, "-q", code=code)[0])
    ours = 200 / min(walls["this tree"])
    if not against:
        return [f"| batch, 200 photos 512², `-j 2` | {ours:.1f} photos/s | — | — | — |"]
    name = trees[1][0]
    theirs = 200 / min(walls[name])
    return [f"| batch, 200 photos 512², `-j 2` (best of 3) | {ours:.1f} photos/s | `{name}` "
            f"{theirs:.1f} photos/s | {ours / theirs:.2f}× | ≥ 1.5× |"]


def _commit(tree: Path) -> str:
    """``commit abc1234`` of a checkout (its folder name when git cannot say)."""
    found = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short", "HEAD"],
                           capture_output=True, text=True).stdout.strip()
    return f"commit {found}" if found else tree.name


def startup_lines(workdir):
    env = regular_install(workdir / "site")
    here = os.getcwd()
    os.chdir(workdir)  # `python -m cnnpipe` must find the installed copy, not this tree
    try:
        click = command_ms([sys.executable, "-c", "import click"], 15, env)
        helps = command_ms([sys.executable, "-m", "cnnpipe", "--help"], 15, env)
    finally:
        os.chdir(here)
    return [f"| start-up, `cnnpipe --help`, regular install | {_ms(helps)} | `import click` "
            f"{_ms(click)} | {helps / click:.2f}× of click | ≤ 1.5× |"]


def memory_lines(workdir):
    from PIL import Image

    photo = workdir / "12mp.png"
    Image.open(ROOT / "samples" / "chelsea.png").convert("RGB").resize(
        (4000, 3000), Image.BICUBIC).save(photo)
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(photo), "--random", "8", "-o",
           str(workdir / "mem-out"), "-q"]
    peak = peak_bytes(cmd) / 2**20
    return [f"| peak memory, 12 MP photo, 8 detectors | {peak:.0f} MB | — | — | ≤ 1024 MB |"]


def versions() -> str:
    found = [f"Python {sys.version.split()[0]}"]
    for module, name in (("numpy", "numpy"), ("PIL", "Pillow"), ("isal", "isal"),
                         ("cv2", "OpenCV"), ("torch", "PyTorch"), ("scipy", "SciPy")):
        try:
            found.append(f"{name} {__import__(module).__version__}")
        except ImportError:
            found.append(f"{name} not installed")
    magick = compare.find_imagemagick()
    found.append(f"ImageMagick {magick[1]}" if magick else "ImageMagick not installed")
    return ", ".join(found)


def load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def table(args) -> str:
    before = load()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = core_lines(args.repeat) + e2e_lines(args.repeat, work)
        rows += batch_lines(args.against, work) + startup_lines(work) + memory_lines(work)
    commit = _commit(ROOT)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    head = [f"Measured {when} at {commit} by `python benchmarks/report.py"
            + (" --against …" if args.against else "") + "`, medians of "
            f"{args.repeat} runs timed in turns with their peers.",
            "",
            f"Machine: {compare.machine()}.  ",
            f"Libraries: {versions()}.  ",
            f"Load average (1, 5, 15 min) before: {before}; after: {load()}.",
            "",
            "| what | cnnpipe | peer | ratio (peer / cnnpipe) | goal |",
            "|---|---:|---:|---:|---:|"]
    return "\n".join(head + rows) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--against", metavar="SRC",
                        help="a checkout of an older commit: its -j 2 batch is timed too")
    parser.add_argument("--write", metavar="DOC", type=Path,
                        help=f"replace the text between {START} and {END} in DOC")
    args = parser.parse_args()
    text = table(args)
    print(text)
    if args.write:
        doc = args.write.read_text(encoding="utf-8")
        pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.S)
        if not pattern.search(doc):
            raise SystemExit(f"{args.write} has no {START} ... {END} block")
        args.write.write_text(pattern.sub(lambda _: f"{START}\n{text}{END}", doc),
                              encoding="utf-8")


if __name__ == "__main__":
    main()
