"""PNG deflate: ISA-L (the ``isal`` package, what cnnpipe uses) against zlib, same data.

Run from the repository root::

    python benchmarks/bench_png.py [--size 2048] [--repeat 7]

The data is what ``cnnpipe run`` compresses: the Up-filtered scanlines of a
Sobel map of a photo, mapped to 8 bits. Both compressors run in this process
on the same bytes, so the ratio holds on a busy machine where absolute
times do not. Prints milliseconds, stream size and the ratio to zlib level 1.
"""

from __future__ import annotations

import argparse
import platform
import zlib
from pathlib import Path

import numpy as np
from _timing import median_ms
from PIL import Image

from cnnpipe import conv2d, kernel

ROOT = Path(__file__).resolve().parent.parent


def filtered_rows(size: int) -> bytes:
    photo = Image.open(ROOT / "samples" / "chelsea.png").convert("L").resize((size, size))
    x = np.asarray(photo, dtype=np.float32) / 255
    fmap = conv2d(x, np.asarray(kernel("sobel-x")))
    pixels = np.round((fmap - fmap.min()) / np.ptp(fmap) * 255).astype(np.uint8)
    lines = np.empty((pixels.shape[0], pixels.shape[1] + 1), np.uint8)
    lines[:, 0] = 2
    lines[0, 1:] = pixels[0]
    np.subtract(pixels[1:], pixels[:-1], out=lines[1:, 1:])
    return lines.tobytes()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    from isal import __version__ as isal_version
    from isal import isal_zlib

    data = filtered_rows(args.size)
    print(f"# {platform.processor() or platform.machine()}, zlib {zlib.ZLIB_RUNTIME_VERSION},"
          f" isal {isal_version}, numpy {np.__version__}; {args.size}x{args.size} map,"
          f" {len(data) / 1e6:.1f} MB of filtered rows")
    base = median_ms(lambda: zlib.compress(data, 1), args.repeat)
    print(f"{'compressor':<14}{'ms':>9}{'MB':>9}{'vs zlib-1':>11}")
    for name, compress in [("zlib level 1", lambda: zlib.compress(data, 1)),
                           ("zlib level 6", lambda: zlib.compress(data, 6)),
                           ("isal level 1", lambda: isal_zlib.compress(data, 1)),
                           ("isal level 2", lambda: isal_zlib.compress(data, 2))]:
        ms = median_ms(compress, args.repeat)
        stream = compress()
        assert zlib.decompress(stream) == data
        print(f"{name:<14}{ms:9.1f}{len(stream) / 1e6:9.2f}{base / ms:10.2f}x")


if __name__ == "__main__":
    main()
