"""The memory and disk budget of a run, checked from shapes before anything large exists.

Every size a run will reach follows from the input's shape and the options:
padding, strides and dilation give each feature map's shape; the number of
detectors (``--random N`` included) and layers give how many maps there are;
``--npy``, ``--color rgb``, ``--bit-depth`` and ``--provenance`` how many bytes
each one costs. :func:`estimate` adds these up (an upper estimate, see
docs/security.md) and :func:`check` refuses a run over the budget in one line
that names the largest cause and the option that raises the limit, before the
image is decoded and before a single map is allocated.

Also here: the limit on bytes read from standard input (:func:`read_stream`,
interruptible) and the check that a file named in an option is a plain file
(a FIFO would block its ``open``). Standard library only: the kernels and
network parsers import this module.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from types import SimpleNamespace

from cnnpipe.errors import InputError, ParameterError

#: Memory one run may use (one input at a time per worker), in bytes: a quarter of a
#: 16 GiB laptop, half of an 8 GiB one. ``--max-memory`` changes it.
DEFAULT_MAX_MEMORY = 4 << 30

#: Bytes one input's output folder may take: a 50 MP photo with the default
#: detectors writes about 0.5 GiB. ``--max-disk`` changes it.
DEFAULT_MAX_DISK = 4 << 30

#: Standard input may be at most this share of the memory budget (512 MiB by default:
#: an uncompressed 64-megapixel 16-bit RGB TIFF is 384 MiB).
INPUT_SHARE = 8

#: Interpreter, numpy, Pillow and thread stacks: present before any map.
BASE_BYTES = 160 << 20

#: Per map: its manifest entry, mapping and statistics as Python objects.
ENTRY_BYTES = 8 << 10

#: Background encoding queue of the writer (outputs.folder.PENDING_BYTES) and the
#: largest overview sheet (pictures.sheet.DEFAULT_MAX_PIXELS x 3 bytes).
WRITER_BYTES = 64 << 20
SHEET_BYTES = 120 << 20

#: Maps with at most this many rows and columns carry their values in the manifest.
SMALL_MAP = 32

#: Output maps of one detector group (layer.GROUP_BYTES) and detectors finished ahead.
GROUP_BYTES = 272 << 20
AHEAD = 3

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(i?b?)\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Budget:
    """Bytes a run may hold in memory and write per input folder."""

    memory: int = DEFAULT_MAX_MEMORY
    disk: int = DEFAULT_MAX_DISK

    @property
    def input_bytes(self) -> int:
        """Largest standard input read (a share of the memory budget)."""
        return self.memory // INPUT_SHARE


class OverBudget(InputError):
    """A run whose maps would not fit the memory or disk budget (refused before it starts)."""


def parse_size(text, what: str = "size") -> int:
    """``4G``, ``512M``, ``1.5GiB``, ``100000`` (bytes) -> bytes; units are powers of 1024."""
    if isinstance(text, int) and not isinstance(text, bool):
        value = text
    else:
        match = _SIZE.match(str(text))
        if not match:
            raise ParameterError(f"`{what}` must be a size such as 4G, 512M or 100000 "
                                 f"(got {text!r})")
        number, unit = float(match.group(1)), match.group(2).lower()
        value = int(number * (1 << (10 * " kmgt".index(unit or " "))))
    if value < 1:
        raise ParameterError(f"`{what}` must be at least 1 byte (got {text!r})")
    return value


def format_bytes(n: int | float) -> str:
    """``1.5 GiB``, ``64 MiB``, ``512 bytes``: sizes as the limits are given."""
    for unit, size in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= size:
            value = n / size
            if value >= 1000:
                return f"{value:,.0f} {unit}"
            return f"{value:.0f} {unit}" if value == int(value) else f"{value:.1f} {unit}"
    return f"{int(n)} bytes"


# --------------------------------------------------------------------------- reading within limits


def read_stream(stream, limit: int, what: str = "standard input",
                hint: str = "an eighth of --max-memory; raise --max-memory to read more"
                ) -> bytes:
    """Read ``stream`` to its end, refusing it as soon as it passes ``limit`` bytes.

    Reads in 1 MiB blocks, so memory stays within ``limit`` plus one block, and a
    Ctrl-C between two blocks stops the read at once (one ``read()`` of
    ``/dev/zero`` would never give the signal handler a chance).
    """
    read = getattr(stream, "read1", None) or stream.read
    chunks, size = [], 0
    while chunk := read(1 << 20):
        size += len(chunk)
        if size > limit:
            raise OverBudget(f"{what} is larger than {format_bytes(limit)}, the input limit "
                             f"({hint})")
        chunks.append(chunk)
    return b"".join(chunks)


def regular_file_problem(path) -> str | None:
    """Why ``path`` cannot be read as a plain file (missing, a FIFO, a device...), or None.

    For the files named in options (kernel files, pipeline files, weights): opening
    a FIFO blocks until something writes to it, and a device may never end.
    """
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "not found"
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if stat.S_ISDIR(st.st_mode):
        return "is a directory"
    if not stat.S_ISREG(st.st_mode):
        return f"is not a regular file (it is a {file_kind(st.st_mode)})"
    return None


def file_kind(mode: int) -> str:
    """Plain words for a non-regular file's type."""
    if stat.S_ISFIFO(mode):
        return "named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    if stat.S_ISSOCK(mode):
        return "socket"
    return "special file"


# --------------------------------------------------------------------------- detector counts


def check_detectors(n: int, channels: int, size: tuple[int, int], budget: Budget | None,
                    where: str = "--random") -> None:
    """Refuse ``n`` random detectors before drawing them when their weights and maps
    cannot fit: each costs its float64 draws, its float32 weights and at least one
    manifest entry per stage."""
    budget = budget or Budget()
    each = channels * size[0] * size[1] * 12 + 3 * ENTRY_BYTES
    if BASE_BYTES + n * each > budget.memory:
        raise ParameterError(
            f"{where} {n} asks for {n:,} detectors, about {format_bytes(n * each)} before any "
            f"map, over the memory budget of {format_bytes(budget.memory)} (use --max-memory "
            "to raise it)")


# --------------------------------------------------------------------------- estimates


@dataclass
class Estimate:
    """What a run will hold at its peak and write, in bytes, and the largest map."""

    memory: int
    disk: int
    maps: int
    largest: tuple  # (channels, rows, cols) of the largest map
    layer: int  # the layer it belongs to (1 for a one-layer run)


def _stages(params) -> list[str]:
    return ["conv"] + (["relu"] if params.activation != "none" else []) + (
        ["pool"] if params.pool != "none" else [])


def _pad_total(params, in_hw, kernel_hw) -> tuple[int, int]:
    from cnnpipe import ops

    top, bottom, left, right = ops.resolve_padding(params.padding, in_hw, kernel_hw,
                                                   params.conv_stride, params.dilation)
    return top + bottom, left + right


def _layer_maps(lay, channels: int, h: int, w: int) -> tuple[list, int]:
    """One layer's output maps as (map channels, conv (h, w), pooled (h, w)), and the
    bytes of its padded input."""
    from cnnpipe import ops

    params = lay.params
    per_map = getattr(lay, "mode", "full") == "per-map"
    detectors, padded = [], 0
    for kernel in lay.kernels:
        kshape = tuple(kernel.weights.shape)
        pad_h, pad_w = _pad_total(params, (h, w), kshape[-2:])
        conv_hw = ops.conv_output_shape((h, w), kshape[-2:], stride=params.conv_stride,
                                        padding=params.padding, dilation=params.dilation)
        pool_hw = conv_hw
        if params.pool != "none":
            pool_hw = ops.pool_output_shape(conv_hw, params.window, params.stride, params.edge)
        if per_map:  # each detector on each incoming map
            copies, map_channels = channels, 1
        else:  # a 2-D detector on a (C, H, W) image (--color rgb) runs on each channel
            copies, map_channels = 1, (channels if len(kshape) == 2 else 1)
        padded = max(padded, channels * (h + pad_h) * (w + pad_w) * 4)
        detectors += [(map_channels, conv_hw, pool_hw)] * copies
    return detectors, padded


class _Tally:
    """Bytes on disk, map count and the largest map, added up map by map."""

    def __init__(self, npy: bool, bit_depth: int):
        self.npy, self.bit_depth = npy, bit_depth
        self.disk, self.maps = 0, 0
        self.largest, self.layer = (0, 0, 0), 1

    def add(self, c: int, h: int, w: int, layer: int) -> None:
        self.disk += _png_bytes(c, h, w, self.bit_depth)
        if max(h, w) <= SMALL_MAP:  # the manifest lists a small map's values
            self.disk += c * h * w * 24
        if self.npy:
            self.disk += c * h * w * 4 + 128
        if c * h * w > self.largest[0] * self.largest[1] * self.largest[2]:
            self.largest, self.layer = (c, h, w), layer
        self.maps += 1


def estimate(in_shape, layers, *, npy=False, bit_depth=8, provenance=False, overview=True,
             source_bytes_per_pixel: int = 4) -> Estimate:
    """Peak memory and bytes written for an input of ``in_shape`` through ``layers``.

    ``in_shape`` is (H, W) or (C, H, W) as loaded; ``layers`` are objects with
    ``kernels``, ``params`` and, for a pipeline, ``mode`` (``full`` or ``per-map``).
    Raises ParameterError (naming the sizes) when a map would be empty, as the run would.
    """
    shape = tuple(int(n) for n in in_shape)
    channels, h, w = (1, *shape) if len(shape) == 2 else shape
    # decode: Pillow's buffer, float channels and the loaded array
    memory_peak = h * w * (source_bytes_per_pixel + 12) + channels * h * w * 4
    tally = _Tally(npy, bit_depth)
    tally.add(channels, h, w, 1)  # the input map
    held = channels * h * w * 4  # the current layer's input
    for number, lay in enumerate(layers, start=1):
        params = lay.params
        detectors, padded = _layer_maps(lay, channels, h, w)
        if not detectors:
            continue
        stages = _stages(params)
        biggest = max(c * hw[0] * hw[1] for c, hw, _ in detectors)
        group = max(1, min(len(detectors), GROUP_BYTES // max(1, biggest * 4)))
        # conv maps of one group, maps finishing ahead (relu + pool), the mapping's float
        # temporaries and PNG pixels of the map being written
        working = (group * biggest * 4 + AHEAD * biggest * 8 + biggest * 12
                   + 2 * padded + WRITER_BYTES + (SHEET_BYTES if overview else 0))
        last_hw = [last if params.pool != "none" else conv for _, conv, last in detectors]
        handed = 0 if number == len(layers) else sum(
            c * lh * lw * 4 for (c, _, _), (lh, lw) in zip(detectors, last_hw, strict=True))
        memory_peak = max(memory_peak, held + 2 * handed + working)
        for c, conv_hw, pool_hw in detectors:
            for stage in stages:
                tally.add(c, *(pool_hw if stage == "pool" else conv_hw), number)
            if provenance and params.pool != "none":
                tally.disk += c * pool_hw[0] * pool_hw[1] * 64
                # provenance lists stay in memory until the manifest is written
                memory_peak += c * pool_hw[0] * pool_hw[1] * 200
        if overview:
            tally.disk += min(SHEET_BYTES, (len(detectors) + 1) * len(stages) * 320 * 320 * 3)
        channels = len(detectors)
        h, w = max(hw[0] for hw in last_hw), max(hw[1] for hw in last_hw)
        held = channels * h * w * 4
    memory = BASE_BYTES + memory_peak + tally.maps * ENTRY_BYTES
    disk = tally.disk + tally.maps * ENTRY_BYTES // 4  # the manifest
    return Estimate(memory=memory, disk=disk, maps=tally.maps, largest=tally.largest,
                    layer=tally.layer)


def for_run(config):
    """The ``on_size`` check of :func:`cnnpipe.io.load_image` for a run with ``config``
    (a :class:`cnnpipe.outputs.RunConfig`; its budget in ``extra["budget"]``)."""
    budget = config.extra.get("budget") or Budget()
    layers = _layers(config)
    options = {"npy": config.npy, "bit_depth": config.bit_depth,
               "provenance": config.provenance, "overview": config.overview}

    def check_shape(shape):
        check(shape, layers, budget, **options)

    return check_shape


def _layers(config) -> tuple:
    if hasattr(config, "layers"):
        return tuple(config.layers())
    if getattr(config, "network", None) is not None:
        return tuple(config.network.layers)
    return (SimpleNamespace(kernels=tuple(config.kernels), params=config.params, mode="full"),)


def _png_bytes(channels: int, h: int, w: int, bit_depth: int) -> int:
    """An upper bound of one PNG's size: raw pixels, a filter byte a row, headers and text."""
    per_pixel = 3 if channels > 1 else (2 if bit_depth == 16 else 1)
    raw = (h * w * per_pixel + h) * (1 + 1 / 2000)  # deflate's worst case adds ~0.03%
    return int(raw) + 8192


def check(in_shape, layers, budget: Budget | None = None, **options) -> Estimate | None:
    """Raise :class:`OverBudget` when a run of ``layers`` on ``in_shape`` would not fit.

    The message names what needs the bytes (the largest map, its shape and the
    option behind it) and the option that raises the limit.
    """
    budget = budget or Budget()
    try:
        est = estimate(in_shape, layers, **options)
    except ParameterError:
        return None  # a map would be empty: the run itself says so, naming the layer
    if est.memory > budget.memory:
        raise OverBudget(f"needs about {format_bytes(est.memory)} of memory, over the budget "
                         f"of {format_bytes(budget.memory)}: {_cause(est, layers)} (use "
                         "--max-memory to raise the limit)")
    if est.disk > budget.disk:
        raise OverBudget(f"would write about {format_bytes(est.disk)}, over the disk budget "
                         f"of {format_bytes(budget.disk)} per input: {_cause(est, layers)} "
                         "(use --max-disk to raise the limit)")
    return est


def check_stage(in_shape, budget: Budget | None = None, kernels=(), params=None) -> None:
    """Raise :class:`OverBudget` when ``cnnpipe conv`` (with ``kernels``), ``relu`` or
    ``pool`` on maps of ``in_shape`` would not fit, before the result is allocated.

    conv holds its input, one padded copy, every result map and their stack; relu and
    pool at most their input, the result and the finite check's temporary.
    """
    budget = budget or Budget()
    shape = tuple(int(n) for n in in_shape)
    maps, h, w = (1, *shape) if len(shape) == 2 else shape
    need = BASE_BYTES + 3 * maps * h * w * 4
    cause = f"the input of {maps:,} map{'s' * (maps != 1)} of {w}x{h} (WxH)"
    if kernels:
        mode = "full" if all(k.weights.ndim == 3 for k in kernels) else "per-map"
        try:
            found, padded = _layer_maps(SimpleNamespace(kernels=tuple(kernels), params=params,
                                                        mode=mode), maps, h, w)
        except ParameterError:
            return  # a map would be empty: the stage itself says so
        out = sum(c * ch * cw * 4 for c, (ch, cw), _ in found)
        need = BASE_BYTES + maps * h * w * 4 + padded + 2 * out
        c, (ch, cw), _ = max(found, key=lambda d: d[0] * d[1][0] * d[1][1])
        why = "" if params.padding in ("valid", 0, (0, 0, 0, 0)) else (
            f", with padding {_padding_text(params.padding)}")
        cause = f"{len(found):,} maps, the largest {_map_text(c, ch, cw, c * ch * cw * 4, why)}"
    if need > budget.memory:
        raise OverBudget(f"needs about {format_bytes(need)} of memory, over the budget of "
                         f"{format_bytes(budget.memory)}: {cause} (use --max-memory to raise "
                         "the limit)")


def _cause(est: Estimate, layers) -> str:
    c, h, w = est.largest
    where = f" in layer {est.layer}" if len(layers) > 1 else ""
    params = layers[est.layer - 1].params if layers else None
    why = ""
    if params is not None and params.padding not in ("valid", 0, (0, 0, 0, 0)):
        why = f", with padding {_padding_text(params.padding)}"
    return f"{est.maps:,} maps, the largest{where} {_map_text(c, h, w, c * h * w * 4, why)}"


def _map_text(channels: int, h: int, w: int, nbytes: int, why: str) -> str:
    """``640x480 (WxH, 1.2 MiB as float32)``: sizes width first, as everywhere."""
    planes = "" if channels == 1 else f", {channels} channels"
    return f"{w}x{h} (WxH{planes}, {format_bytes(nbytes)} as float32{why})"


def _padding_text(padding) -> str:
    if isinstance(padding, tuple | list):
        return ",".join(str(p) for p in padding)
    return str(padding)


__all__ = ["Budget", "DEFAULT_MAX_DISK", "DEFAULT_MAX_MEMORY", "Estimate", "OverBudget",
           "check", "check_detectors", "check_stage", "estimate", "format_bytes", "parse_size",
           "read_stream", "regular_file_problem"]
