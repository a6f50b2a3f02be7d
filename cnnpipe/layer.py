"""One input through convolution -> activation -> pooling.

numpy only: no files, no printing. The maps come out one detector at a time
(``iter_detectors``) so that memory grows with the size of the image, not with
the number of detectors.
"""

from __future__ import annotations

import numbers
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.ops import conv as _conv
from cnnpipe.ops import engines as _conv_fast
from cnnpipe.ops import pool as _pool
from cnnpipe.ops.args import as_choice, as_padding, as_pair, pool_args

ACTIVATIONS = ("relu", "leaky", "none")
POOL_MODES = ("max", "mean", "avg", "sum", "min", "l2", "none")
EDGES = ("keep", "drop")
COLORS = ("gray", "rgb")
PAD_MODES = ("zeros", "reflect", "replicate", "circular")

# Detectors are convolved in groups; a group's conv maps are alive at once, so
# the group is capped by bytes: going from 4 to 32 detectors must not multiply
# the peak memory. 272 MiB: 8 maps of 2048^2 in one pass over the image, 4 at
# 4096^2 (273 ms for 8 detectors, against 361 ms in pairs at 136 MiB and 344 ms
# at 544 MiB, whose maps no longer fit the caches), 5 on a 12 MP photo (peak
# ~760 MB with 8 detectors, +17% with 32: benchmarks/bench_memory.py); every
# detector in a group shares one im2col.
GROUP_BYTES = 272 * 1024 * 1024


@dataclass(frozen=True)
class Params:
    """Every effective option of one conv -> activation -> pool layer."""

    conv_stride: tuple[int, int] = (1, 1)
    padding: str | int | tuple[int, int, int, int] = "valid"
    pad_mode: str = "zeros"
    dilation: tuple[int, int] = (1, 1)
    flip: bool = False
    activation: str = "relu"
    leak: float = 0.01
    pool: str = "max"
    window: tuple[int, int] = (2, 2)
    stride: tuple[int, int] | None = None
    edge: str = "keep"
    color: str = "gray"

    def __post_init__(self):
        # The one place a layer's values are checked; below this nothing checks them again.
        def put(name, value):
            object.__setattr__(self, name, value)

        put("conv_stride", as_pair(self.conv_stride, "conv_stride"))
        put("dilation", as_pair(self.dilation, "dilation"))
        put("padding", as_padding(self.padding))
        put("pad_mode", as_choice(self.pad_mode, PAD_MODES, "pad_mode"))
        put("activation", as_choice(self.activation, ACTIVATIONS, "activation"))
        put("edge", as_choice(self.edge, EDGES, "edge"))
        put("color", as_choice(self.color, COLORS, "color"))
        pool = as_choice(self.pool, POOL_MODES, "pool")
        window, stride, mode, _ = pool_args(self.window, self.stride,
                                            "max" if pool == "none" else pool, self.edge)
        put("window", window)
        put("stride", stride)
        put("pool", "none" if pool == "none" else mode)
        if not isinstance(self.flip, (bool, np.bool_)):
            raise ParameterError(f"`flip` must be true or false (got {self.flip!r})")
        put("flip", bool(self.flip))
        if isinstance(self.leak, bool) or not isinstance(self.leak, numbers.Real) \
                or not np.isfinite(self.leak):
            raise ParameterError(f"`leak` must be a finite number (got {self.leak!r})")
        put("leak", float(self.leak))

    def to_dict(self) -> dict:
        """The parameters as plain JSON-able values."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, tuple):
                out[key] = list(value)
        return out


@dataclass
class DetectorMaps:
    """The maps one detector produced. ``relu``/``pool`` are None when skipped."""

    kernel: object  # cnnpipe.kernels.Kernel
    conv: np.ndarray
    relu: np.ndarray | None = None
    pool: np.ndarray | None = None
    stages: dict = field(default_factory=dict)

    def items(self):
        """``(stage, array)`` pairs in pipeline order, skipped stages left out."""
        pairs = [("conv", self.conv), ("relu", self.relu), ("pool", self.pool)]
        return [(stage, array) for stage, array in pairs if array is not None]


def check_kernel_fits(image: np.ndarray, kernel, params: Params) -> None:
    """Raise ParameterError when ``kernel`` cannot be applied to ``image``."""
    weights = kernel.weights
    if weights.ndim == 3:
        channels = image.shape[0] if image.ndim == 3 else 1
        if weights.shape[0] != channels:
            hint = " (use `color=\"rgb\"` for a 3-channel detector)" if channels == 1 else ""
            raise ParameterError(
                f"kernel {kernel.name!r} has {weights.shape[0]} channels but the input has "
                f"{channels}{hint}")


def check_shapes(image_shape: tuple, kernels: Sequence, params: Params) -> None:
    """Raise ParameterError, before anything is computed or written, if a stage cannot run.

    Checks every detector's feature-map size and the pooled size (a window
    larger than the map with ``edge="drop"``), with messages naming the sizes.
    """
    in_hw = tuple(image_shape[-2:])
    for kernel in kernels:
        out_hw = _conv.output_shape(in_hw, kernel.weights.shape[-2:], params.conv_stride,
                                    params.padding, params.dilation)
        if params.pool != "none":
            _pool.output_shape(out_hw, params.window, params.stride, params.edge)


def convolve(image: np.ndarray, weights: np.ndarray, params: Params,
             threads: int | None = None) -> np.ndarray:
    """Apply one or several detectors with the layer's convolution options.

    ``image`` is (H, W) or (C, H, W). On a 2-D image ``weights`` is (kh, kw) or
    (K, kh, kw) for K detectors; on a (C, H, W) image a (C, kh, kw) ``weights``
    is one multi-channel detector summed over channels, as a CNN layer does. A 2-D
    detector on a (C, H, W) image runs on each channel separately (``--color
    rgb``), giving (C, H', W') per detector. ``threads``: the most threads the
    convolution uses (None: every core).
    """
    args = (params.conv_stride, params.padding, params.pad_mode, params.dilation, params.flip,
            threads)
    if image.ndim == 3 and weights.ndim == 3:
        return _conv.convolve(image, weights[None], *args)[0]
    if image.ndim == 3:
        return np.stack([_conv.convolve(channel, weights, *args) for channel in image], axis=-3)
    return _conv.convolve(image, weights, *args)


def activate(conv: np.ndarray, params: Params) -> np.ndarray | None:
    if params.activation == "none":
        return None
    return _conv.rectify(conv, params.leak if params.activation == "leaky" else 0.0)


def pool(x: np.ndarray, params: Params) -> np.ndarray | None:
    if params.pool == "none":
        return None
    # l2 can overflow to inf: reported by the caller in one line, not by numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        return _pool.pool(x, params.window, params.stride, params.pool, params.edge)


def iter_detectors(image: np.ndarray, kernels: Sequence, params: Params, *,
                   threads: int | None = None) -> Iterator[DetectorMaps]:
    """Yield each detector's conv, activation and pooled maps, in kernel order.

    Consecutive 2-D detectors of one size on a gray image are convolved
    together (one pass over the image), in groups capped at ``GROUP_BYTES`` of
    output so that the peak memory does not grow with the number of detectors.
    Within a group, the activation and pooling of the next detectors run in
    background threads (numpy releases the GIL) while the caller works on the
    current one; at most ``min(AHEAD, threads)`` detectors are computed ahead.

    ``threads`` is this input's thread budget (``cnnpipe run -j``; None: every
    core): the convolution's bands or FFT blocks and the detectors ahead each
    use at most that many threads.
    """
    threads = _conv_fast.CORES if threads is None else max(1, int(threads))
    image = np.asarray(image, dtype=np.float32)
    for kernel in kernels:
        check_kernel_fits(image, kernel, params)
    groups = _groups(image, kernels, params)
    workers = min(AHEAD, threads, max(len(g) for g in groups)) if groups else 0
    if workers <= 1:
        for group in groups:
            for kernel, conv in zip(group, _convolve_group(image, group, params, threads),
                                    strict=True):
                yield _finish(kernel, conv, params)
        return
    with ThreadPoolExecutor(workers) as pool_threads:
        for group in groups:
            convs = _convolve_group(image, group, params, threads)
            ahead: deque = deque()
            for kernel, conv in zip(group, convs, strict=True):
                ahead.append(pool_threads.submit(_finish, kernel, conv, params))
                if len(ahead) > workers:
                    yield ahead.popleft().result()
            while ahead:
                yield ahead.popleft().result()
            del convs


#: Detectors whose activation and pooling run ahead in threads, at most. Measured on
#: 2 cores, 8 detectors on 2048^2: ReLU + max pool 61 ms on one thread, 33 ms on two.
AHEAD = 2


def _convolve_group(image, group, params, threads):
    # Overflow to inf is reported by the output writer, in one line, not by numpy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        if len(group) > 1:
            return convolve(image, np.stack([k.weights for k in group]), params, threads)
        return [convolve(image, group[0].weights, params, threads)]


def _finish(kernel, conv, params) -> DetectorMaps:
    activated = activate(conv, params)
    pooled = pool(conv if activated is None else activated, params)
    return DetectorMaps(kernel=kernel, conv=np.ascontiguousarray(conv), relu=activated,
                        pool=pooled)


def _groups(image: np.ndarray, kernels: Sequence, params: Params) -> list[list]:
    if image.ndim != 2:
        return [[k] for k in kernels]
    hw = image.shape
    groups: list[list] = []
    for kernel in kernels:
        w = kernel.weights
        if w.ndim != 2:
            groups.append([kernel])
            continue
        out_h, out_w = _conv.output_shape(hw, w.shape, params.conv_stride, params.padding,
                                          params.dilation)
        cap = max(1, GROUP_BYTES // max(1, out_h * out_w * 4))
        last = groups[-1] if groups else None
        if (last and last[0].weights.ndim == 2 and last[0].weights.shape == w.shape
                and len(last) < cap):
            last.append(kernel)
        else:
            groups.append([kernel])
    return groups


def run_pipeline(image: np.ndarray, kernels: Sequence, params: Params, *,
                 threads: int | None = None) -> list[DetectorMaps]:
    """All detectors' maps at once (convenient for small inputs and tests)."""
    return list(iter_detectors(image, kernels, params, threads=threads))
