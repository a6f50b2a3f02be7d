"""cnnpipe against its peers, on the same generated inputs, in one run.

Run from the repository root (peers are optional, benchmark-only; a missing one
prints a "not installed" row)::

    python benchmarks/bench_compare.py              # core + end to end (a few minutes)
    python benchmarks/bench_compare.py --quick      # small sizes, a smoke test
    python benchmarks/bench_compare.py --png-levels # also: zlib level 1 / 6 / 9 trade-off

Part 1, the core: conv (8 detectors 3x3, valid) -> ReLU -> max pool 2x2/2 on a
grayscale float32 image, keeping the conv, ReLU and pooled maps (the maps the
product writes). Peers: PyTorch (default settings, and oneDNN off; both with
torch.set_num_threads(cores)), OpenCV filter2D per detector + NumPy, SciPy
ndimage.correlate per detector, and a plain NumPy im2col. Every peer's pooled
maps are checked against cnnpipe's before it is timed.

Part 2, end to end: ``cnnpipe run`` on a 2048x2048 photo with 8 detectors
(every PNG, overview.png, manifest.json) against one ImageMagick ``convert``
command doing the same 8 convolutions and writing the conv and pooled PNGs
(fewer files than cnnpipe writes).

Figures are medians of several runs in milliseconds; ratio = peer / cnnpipe,
above 1 means cnnpipe is faster. The machine may be shared: the load average
is printed with the table. OPENBLAS_* variables are left as they are (the
same for every library in the run).
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from _split import split
from _timing import command_ms, interleaved_ms

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cnnpipe.kernels import BUILTIN  # noqa: E402
from cnnpipe.layer import Params, iter_detectors  # noqa: E402
from cnnpipe.ops import conv2d, pool2d, relu  # noqa: E402

DETECTORS = ("box", "gaussian", "sharpen", "laplacian", "laplacian-8", "sobel-x", "sobel-y",
             "prewitt-x")
CORES = os.cpu_count() or 1
NOTES: list[str] = []  # lines printed under the tables




def pool_views(r):
    """Max pool 2x2/2 (partial windows kept) via four strided phase views."""
    h, w = r.shape[-2:]
    out = r[..., ::2, ::2].copy()
    for dy, dx in ((0, 1), (1, 0), (1, 1)):
        view = r[..., dy::2, dx::2]
        target = out[..., : view.shape[-2], : view.shape[-1]]
        np.maximum(target, view, out=target)
    return out


# --- the contenders: each returns (conv, relu, pool) for all detectors ------------------

def ours_ops(x, k):
    c = conv2d(x, k)
    r = relu(c)
    return c, r, pool2d(r, 2)


def ours_pipeline(x, kernels):
    maps = [(d.conv, d.relu, d.pool) for d in iter_detectors(x, kernels, Params())]
    return [m[0] for m in maps], [m[1] for m in maps], np.stack([m[2] for m in maps])


def numpy_im2col(x, k):
    kh, kw = k.shape[1:]
    windows = np.lib.stride_tricks.sliding_window_view(x, (kh, kw))
    c = np.tensordot(k, windows, axes=((1, 2), (2, 3))).astype(np.float32, copy=False)
    r = np.maximum(c, 0)
    return c, r, pool_views(r)


def per_detector(correlate_same):
    """A peer that filters one detector at a time with a centred, zero-padded
    ``correlate_same(x, weights)`` and crops the result to the valid region."""

    def run(x, k):
        kh, kw = k.shape[1:]
        oh, ow = x.shape[0] - kh + 1, x.shape[1] - kw + 1
        convs, relus, pools = [], [], []
        for weights in k:
            c = correlate_same(x, weights)[kh // 2 : kh // 2 + oh, kw // 2 : kw // 2 + ow]
            r = np.maximum(c, 0)
            convs.append(c)
            relus.append(r)
            pools.append(pool_views(r))
        return convs, relus, np.stack(pools)

    return run


def make_scipy():
    try:
        from scipy import ndimage
    except ImportError:
        return None

    return per_detector(lambda x, weights: ndimage.correlate(x, weights, mode="constant"))


def make_opencv():
    try:
        import cv2
    except ImportError:
        return None
    cv2.setNumThreads(CORES)

    # filter2D correlates, anchored at the kernel centre
    return per_detector(lambda x, weights: cv2.filter2D(
        x, cv2.CV_32F, weights, borderType=cv2.BORDER_CONSTANT)), cv2.__version__


def make_torch(onednn):
    try:
        import torch
        import torch.nn.functional as F
    except ImportError:
        return None
    torch.set_num_threads(CORES)

    def run(x, k):
        previous = torch.backends.mkldnn.enabled
        torch.backends.mkldnn.enabled = onednn
        try:
            with torch.no_grad():
                c = F.conv2d(torch.from_numpy(x)[None, None], torch.from_numpy(k)[:, None])
                r = F.relu(c)
                p = F.max_pool2d(r, 2, ceil_mode=True)
        finally:
            torch.backends.mkldnn.enabled = previous
        return c, r, p[0].numpy()
    return run, torch.__version__


def core_rows(size, repeat):
    rng = np.random.default_rng(0)
    # a smooth random "photo": realistic value statistics, no wasted edge cases
    x = rng.random((size, size), dtype=np.float32)
    kernels = [BUILTIN[name] for name in DETECTORS]
    k = np.stack([kern.weights for kern in kernels]).astype(np.float32)
    expected = ours_ops(x, k)[2]

    contenders = [("cnnpipe ops (conv2d, relu, pool2d)", lambda: ours_ops(x, k)),
                  ("cnnpipe pipeline (iter_detectors)", lambda: ours_pipeline(x, kernels))]
    rows = []
    peers = [("NumPy im2col (sliding_window_view)", (numpy_im2col, None))]
    peers.append(("PyTorch default", make_torch(True)))
    peers.append(("PyTorch oneDNN off", make_torch(False)))
    peers.append(("OpenCV filter2D per detector + NumPy", make_opencv()))
    scipy_run = make_scipy()
    peers.append(("SciPy ndimage.correlate per detector", scipy_run and (scipy_run, None)))
    for label, entry in peers:
        if entry is None:
            rows.append((label, "not installed"))
            continue
        fn, version = entry
        got = fn(x, k)[2]
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-4):
            raise SystemExit(f"{label} disagrees with cnnpipe on the pooled maps")
        contenders.append((label + (f" {version}" if version else ""),
                           lambda fn=fn: fn(x, k)))
    copy_label, copy = copy_row(k.shape[0], size)
    contenders.append((copy_label, copy))
    times = interleaved_ms([fn for _, fn in contenders], repeat)
    rows = [(label, ms) for (label, _), ms in zip(contenders, times, strict=True)] + rows
    ours = times[0]
    copy_ms = times[-1]
    gbs = map_bytes(k.shape[0], size) / copy_ms / 1e6
    NOTES.append(f"{size}x{size}: the maps occupy {map_bytes(k.shape[0], size) / 2**20:.0f} MiB;"
                 f" a NumPy copy writes that many in {copy_ms:.0f} ms ({gbs:.1f} GB/s), so the"
                 f" ops take {ours / copy_ms:.2f}x and the pipeline {times[1] / copy_ms:.2f}x"
                 " the time of writing the maps once")
    return f"core {size}x{size}, 8 detectors 3x3, ReLU, max pool 2x2/2", rows, ours


def map_bytes(n_kernels, size):
    """Bytes of the conv, ReLU and pooled maps of the core case (3x3 valid, pool 2x2 keep)."""
    side = size - 2
    return 4 * n_kernels * (2 * side * side + (-(-side // 2)) ** 2)


def copy_row(n_kernels, size):
    """A NumPy copy of as many bytes as the maps occupy, into a new array as the ops write
    theirs: how long merely writing the maps once takes on this machine."""
    nbytes = map_bytes(n_kernels, size)
    src = np.ones(nbytes // 4, dtype=np.float32)
    return f"NumPy copy of the maps' bytes ({nbytes / 2**20:.0f} MiB)", src.copy


# --- end to end ------------------------------------------------------------------------

def make_photo(path: Path, size: int) -> None:
    from PIL import Image

    Image.open(ROOT / "samples" / "chelsea.png").convert("RGB").resize(
        (size, size), Image.BICUBIC).save(path)


def find_imagemagick():
    for name in ("convert", "magick"):
        for folder in ("/usr/bin", "/usr/local/bin", "/opt/homebrew/bin"):
            exe = Path(folder) / name
            if exe.is_file():
                probe = subprocess.run([str(exe), "-version"], capture_output=True, text=True)
                if probe.stdout.startswith("Version: ImageMagick"):
                    return str(exe), probe.stdout.split()[2]
    return None


def imagemagick_command(exe, photo: Path, out: Path) -> list[str]:
    cmd = [exe, str(photo), "-colorspace", "Gray"]
    for name in DETECTORS:
        w = BUILTIN[name].weights
        spec = f"{w.shape[1]}x{w.shape[0]}: " + ",".join(f"{v:g}" for v in w.ravel())
        cmd += ["(", "+clone", "-morphology", "Convolve", spec,
                "-write", str(out / f"conv-{name}.png"),
                "-morphology", "Dilate", "Rectangle:2x2+0+0", "-sample", "50%",
                "-write", str(out / f"pool-{name}.png"), "+delete", ")"]
    return cmd + ["null:"]




def cnnpipe_command(photo, out, *extra):
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(photo), "-o", str(out), "-q", *extra]
    for name in DETECTORS:
        cmd += ["-k", name]
    return cmd


def end_to_end_rows(size, repeat, workdir: Path, png_levels: bool):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    photo = workdir / f"photo-{size}.png"
    make_photo(photo, size)
    out = workdir / "cnnpipe-out"
    contenders = [("cnnpipe run", cnnpipe_command(photo, out), env)]
    magick = find_imagemagick()
    if magick is not None:
        exe, version = magick
        im_out = workdir / "magick-out"
        im_out.mkdir(exist_ok=True)
        contenders.append((f"ImageMagick {version} convert", imagemagick_command(exe, photo,
                                                                                 im_out), None))
    times = interleaved_ms([lambda c=c, e=e: subprocess.run(c, check=True, capture_output=True,
                                                            env=e)
                            for _, c, e in contenders], repeat)
    files = sorted(p for p in out.rglob("*") if p.is_file())
    rows = [(f"cnnpipe run ({len(files)} files, PNG level 1)", times[0])]
    if magick is None:
        rows.append(("ImageMagick convert", "not installed"))
    else:
        rows.append((f"{contenders[1][0]} ({len(list(im_out.iterdir()))} files)", times[1]))
    ours = times[0]
    phases = split(photo, DETECTORS, max(3, repeat // 2), env)
    for phase, ms in phases.items():
        rows.append((f"  split: {phase}" + (" (wall)" if phase == "start-up" else " (CPU)"),
                     ms))
    rows.append(("  split: sum of the phases", sum(phases.values())))
    if png_levels:
        for level in (1, 6, 9):
            level_out = workdir / f"level-{level}"
            ms = command_ms(cnnpipe_command(photo, level_out, "--png-compression",
                                              str(level)), max(1, repeat // 2), env)
            total = sum(p.stat().st_size for p in level_out.rglob("*.png"))
            rows.append((f"cnnpipe run --png-compression {level} ({total / 1e6:.1f} MB of PNG)",
                         ms))
    NOTES.append("split: each phase of one run in-process on one thread, as CPU ms"
                 " (start-up: wall ms of a fresh interpreter importing what run imports);"
                 " the run overlaps phases in threads, so its wall time is below the sum")
    return f"end to end {size}x{size} photo, 8 detectors, every file", rows, ours


def print_table(title, rows, ours):
    print(f"\n{title}")
    print(f"  {'':60} {'ms':>9} {'ratio':>7}")
    for label, ms in rows:
        if isinstance(ms, str):
            print(f"  {label:60} {ms:>17}")
        else:
            print(f"  {label:60} {ms:9.1f} {ms / ours:6.1f}x")


def machine() -> str:
    model = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    blas = {k: v for k, v in os.environ.items() if k.startswith("OPENBLAS")}
    return (f"{CORES} cores, {model}; Python {platform.python_version()}, numpy {np.__version__}"
            f"; {' '.join(f'{k}={v}' for k, v in sorted(blas.items())) or 'no OPENBLAS_* set'}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    parser.add_argument("--png-levels", action="store_true",
                        help="also time cnnpipe run at zlib levels 1, 6 and 9")
    parser.add_argument("--skip-core", action="store_true")
    parser.add_argument("--skip-e2e", action="store_true")
    args = parser.parse_args()

    print(machine())
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    tables = []
    if not args.skip_core:
        for size in (256,) if args.quick else (2048, 4096):
            tables.append(core_rows(size, args.repeat))
    if not args.skip_e2e:
        with tempfile.TemporaryDirectory() as tmp:
            tables.append(end_to_end_rows(256 if args.quick else 2048, args.repeat, Path(tmp),
                                          args.png_levels))
    for table in tables:
        print_table(*table)
    for note in NOTES:
        print(note)
    print(f"\nload average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print("ms = median wall time; ratio = row / first cnnpipe row (above 1: cnnpipe is faster)")


if __name__ == "__main__":
    main()
