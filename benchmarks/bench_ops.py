"""Time cnnpipe.ops against SciPy and PyTorch in the same process.

Run from the repository root::

    python benchmarks/bench_ops.py            # full run (a minute or two)
    python benchmarks/bench_ops.py --quick    # small sizes, a few seconds

Each figure is the median wall time of several runs, in milliseconds. A ratio
above 1 means cnnpipe is faster. SciPy and PyTorch are optional: a missing one
is reported as "not installed". All libraries use their default threading.
"""

from __future__ import annotations

import argparse

import numpy as np
from _timing import median_ms

from cnnpipe.ops import conv2d, pool2d, relu

try:
    from scipy import ndimage
except ImportError:  # pragma: no cover - optional
    ndimage = None

try:
    import torch
    import torch.nn.functional as F
except ImportError:  # pragma: no cover - optional
    torch = None




def ours_pipeline(x, k):
    return pool2d(relu(conv2d(x, k)), 2)


def scipy_pipeline(x, k):
    kh, kw = k.shape[1:]
    maps = []
    for weights in k:
        full = ndimage.correlate(x, weights, mode="constant")
        # ndimage centres the kernel; keep the 'valid' part
        top, left = kh // 2, kw // 2
        valid = full[top : top + x.shape[0] - kh + 1, left : left + x.shape[1] - kw + 1]
        rel = np.maximum(valid, 0)
        oh, ow = rel.shape[0] // 2 * 2, rel.shape[1] // 2 * 2
        maps.append(rel[:oh, :ow].reshape(oh // 2, 2, ow // 2, 2).max(axis=(1, 3)))
    return np.stack(maps)


def torch_pipeline(xt, kt):
    return F.max_pool2d(F.relu(F.conv2d(xt, kt)), 2, ceil_mode=True)


def ratio(theirs, ours):
    return f"{theirs / ours:6.1f}x" if isinstance(theirs, float) else ""


def fmt(ms):
    return f"{ms:9.1f}" if isinstance(ms, float) else f"{ms:>9}"


def run(size, ksize, n_kernels, repeat, rows):
    rng = np.random.default_rng(0)
    x = rng.random((size, size), dtype=np.float32)
    k = rng.standard_normal((n_kernels, ksize, ksize)).astype(np.float32)
    label = f"{size}^2, {n_kernels}x{ksize}x{ksize}, conv+relu+pool"
    ours = median_ms(lambda: ours_pipeline(x, k), repeat)

    scipy_ms, torch_ms = "n/a", "not installed"
    if ndimage is not None:
        check = scipy_pipeline(x[:64, :64], k)
        assert np.allclose(check, ours_pipeline(x[:64, :64], k)[..., : check.shape[1],
                                                              : check.shape[2]],
                           rtol=1e-4, atol=1e-3), "cnnpipe and SciPy disagree"
        if ksize * ksize * size * size * n_kernels > 4e9:
            # a direct 31x31 sum over 8 large maps takes minutes: time one detector
            one = median_ms(lambda: scipy_pipeline(x, k[:1]), 1)
            scipy_ms = one * n_kernels
            label += " (SciPy: 1 detector x n)"
        else:
            scipy_ms = median_ms(lambda: scipy_pipeline(x, k), max(1, repeat // 2))
    else:
        scipy_ms = "not installed"
    if torch is not None:
        xt = torch.from_numpy(x)[None, None]
        kt = torch.from_numpy(k)[:, None]
        with torch.no_grad():
            torch_ms = median_ms(lambda: torch_pipeline(xt, kt), repeat)
    rows.append((label, ours, scipy_ms, torch_ms))


def run_pool(size, n_maps, repeat, rows):
    rng = np.random.default_rng(1)
    maps = rng.random((n_maps, size, size), dtype=np.float32)
    label = f"{n_maps}x{size}^2 max pool 3x3 stride 2 (overlapping)"
    ours = median_ms(lambda: pool2d(maps, 3, 2), repeat)
    scipy_ms, torch_ms = "not installed", "not installed"
    if ndimage is not None:
        def scipy_pool():
            # max filter anchored at the window's top-left, then every 2nd cell
            filtered = ndimage.maximum_filter(maps, size=(1, 3, 3), origin=(0, -1, -1),
                                              mode="nearest")
            return filtered[:, ::2, ::2]
        assert np.array_equal(scipy_pool(), pool2d(maps, 3, 2)), "SciPy pool disagrees"
        scipy_ms = median_ms(scipy_pool, repeat)
    if torch is not None:
        mt = torch.from_numpy(maps)[None]
        torch_ms = median_ms(lambda: F.max_pool2d(mt, 3, 2, ceil_mode=True), repeat)
    rows.append((label, ours, scipy_ms, torch_ms))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke test")
    parser.add_argument("--repeat", type=int, default=5, help="runs per figure (median)")
    args = parser.parse_args()

    rows = []
    sizes = (256,) if args.quick else (2048, 4096)
    for size in sizes:
        run(size, 3, 8, args.repeat, rows)
    big = 256 if args.quick else 2048
    for ksize in (15, 31):
        run(big, ksize, 8, max(1, args.repeat // 2), rows)
    run_pool(big - 2, 8, args.repeat, rows)

    print(f"numpy {np.__version__}; SciPy "
          f"{'not installed' if ndimage is None else __import__('scipy').__version__}; "
          f"PyTorch {'not installed' if torch is None else torch.__version__}")
    print(f"{'case':58} {'cnnpipe':>9} {'SciPy':>9} {'ratio':>7} {'PyTorch':>13} {'ratio':>7}")
    for label, ours, scipy_ms, torch_ms in rows:
        print(f"{label:58} {fmt(ours)} {fmt(scipy_ms)} {ratio(scipy_ms, ours):>7} "
              f"{torch_ms if isinstance(torch_ms, str) else f'{torch_ms:13.1f}':>13} "
              f"{ratio(torch_ms, ours):>7}")
    print("times in ms (median); ratio = other / cnnpipe, above 1 means cnnpipe is faster")


if __name__ == "__main__":
    main()
