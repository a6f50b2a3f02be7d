"""Stacked layers: a pipeline file read into layers, and an input run through all of them.

A pipeline file is TOML (read with the standard library's ``tomllib``) holding one
``[[layer]]`` table per conv -> activation -> pool layer. Each layer's detectors see
every map the previous layer produced:

- ``mode = "full"`` (the default, what a CNN layer does): each detector has one
  weight plane per incoming map, ``(C, kh, kw)``, and sums over them, giving one
  map. Random detectors are drawn with that shape; a ``weights`` file holds a
  whole ``(K, C, kh, kw)`` bank. A 2-D detector is accepted only when the layer
  sees a single map.
- ``mode = "per-map"``: each detector is 2-D and runs on every incoming map
  separately, giving ``C`` maps named ``<detector>-m1 ... -mC``.

The maps a layer hands on are its last stage (pool, else activation, else conv).

numpy only (plus ``tomllib``): no files are written, nothing is printed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cnnpipe import kernels as K
from cnnpipe import ops
from cnnpipe.errors import KernelError, ParameterError
from cnnpipe.layer import DetectorMaps, Params, iter_detectors
from cnnpipe.ops.args import as_choice

MODES = ("full", "per-map")
#: A layer may not produce more maps than this (per-map layers multiply quickly).
MAX_MAPS = 256

_PARAM_KEYS = ("conv_stride", "padding", "pad_mode", "dilation", "flip", "activation", "leak",
               "pool", "window", "stride", "edge")
KEYS = ("kernels", "random", "seed", "size", "weights", "mode", "conv_stride", "padding",
        "pad_mode", "dilation", "flip", "activation", "leak", "pool", "window", "stride", "edge")
TOP_KEYS = ("layer", "description")


@dataclass(frozen=True)
class Layer:
    """One conv -> activation -> pool layer of a network (picklable plain data).

    ``in_channels`` is the number of maps the layer sees; ``kernels`` are 2-D
    ``(kh, kw)`` or ``(in_channels, kh, kw)`` detectors.
    """

    number: int
    kernels: tuple
    params: Params
    mode: str = "full"
    in_channels: int = 1

    @property
    def out_channels(self) -> int:
        """Number of maps the layer hands on."""
        return len(self.kernels) * (self.in_channels if self.mode == "per-map" else 1)

    def detector_names(self) -> list[str]:
        """The names of the maps the layer makes, in order (``d-m1`` ... in per-map mode)."""
        names = [k.name for k in self.kernels]
        if self.mode == "per-map" and self.in_channels > 1:
            names = [f"{n}-m{j}" for n in names for j in range(1, self.in_channels + 1)]
        return names

    def to_dict(self) -> dict:
        """The layer as plain JSON-able values (without the weights)."""
        return {"layer": self.number, "mode": self.mode, "in_channels": self.in_channels,
                "out_channels": self.out_channels, "params": self.params.to_dict()}


@dataclass(frozen=True)
class Network:
    """Layers in order, and the file they were read from (``source``)."""

    layers: tuple
    source: str = ""
    description: str = ""

    def all_kernels(self) -> list:
        """Every layer's detectors, named ``L1 sobel-x`` ... (for tables)."""
        return [dataclasses.replace(k, name=f"L{layer.number} {k.name}")
                for layer in self.layers for k in layer.kernels]

    def digest_parts(self) -> list:
        """What decides the maps: per layer its settings and every detector's weights."""
        parts = []
        for layer in self.layers:
            parts.append(layer.to_dict())
            for k in layer.kernels:
                parts.append([k.name, list(k.weights.shape),
                              np.ascontiguousarray(k.weights, dtype=np.float32).tobytes().hex()])
        return parts


@dataclass
class LayerMaps:
    """One layer's detectors' maps and the stack it hands on, ``(K, H, W)``."""

    layer: Layer
    detectors: list
    output: np.ndarray


# --- reading a pipeline file ------------------------------------------------------------

def load_network(path, *, in_channels: int = 1) -> Network:
    """Read and validate a pipeline file.

    Parameters
    ----------
    path : str or Path
        A TOML file with one ``[[layer]]`` table per layer. Relative kernel files
        inside it are found next to the pipeline file.
    in_channels : int
        Maps the first layer sees: 1 for a gray image, 3 for ``--color rgb``.

    Returns
    -------
    Network

    Raises
    ------
    ParameterError
        A missing or unreadable file, a TOML syntax error, an unknown key, a wrong
        type or value, or channel counts that do not chain. The message is one
        line naming the file, the layer and the key.
    """
    import tomllib
    label = str(path)
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        raise ParameterError(f"pipeline file '{label}' not found; check the path") from None
    except IsADirectoryError:
        raise ParameterError(f"pipeline file '{label}' is a directory; give a .toml file") from None
    except OSError as exc:
        raise ParameterError(f"pipeline file '{label}' cannot be read "
                             f"({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ParameterError(f"{label}: not UTF-8 text; save the pipeline file as UTF-8") from None
    except tomllib.TOMLDecodeError as exc:
        raise ParameterError(f"{label}: TOML syntax error: {exc}") from None
    base = os.path.dirname(os.path.abspath(label))
    return parse_network(data, label=label, base_dir=base, in_channels=in_channels)


def _file_error(message: str) -> ParameterError:
    """A ParameterError whose names are a pipeline file's keys (see ParameterError)."""
    error = ParameterError(message)
    error.from_file = True
    return error


def parse_network(data: dict, *, label: str = "pipeline", base_dir: str = ".",
                  in_channels: int = 1) -> Network:
    """Build a :class:`Network` from an already parsed TOML document.

    See :func:`load_network`; ``label`` prefixes every error message and
    ``base_dir`` is where relative kernel files are looked for.
    """
    try:
        return _parse_network(data, label, base_dir, in_channels)
    except ParameterError as exc:
        exc.from_file = True  # its names are the file's keys, not command-line flags
        raise


def _parse_network(data: dict, label: str, base_dir: str, in_channels: int) -> Network:
    for key in data:
        if key not in TOP_KEYS:
            raise ParameterError(f"{label}: unknown top-level key {key!r}{_hint(key, TOP_KEYS)}; "
                                 "a pipeline file holds [[layer]] tables")
    tables = data.get("layer")
    if tables is None or tables == []:
        raise ParameterError(f"{label}: no [[layer]] tables; a pipeline needs at least one layer")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise ParameterError(f"{label}: `layer` must be an array of tables written [[layer]] "
                             f"(got {_type_name(tables)})")
    description = data.get("description", "")
    if not isinstance(description, str):
        raise ParameterError(f"{label}: `description` must be a string "
                             f"(got {_type_name(description)})")
    layers = []
    channels = in_channels
    for number, table in enumerate(tables, start=1):
        where = f"{label}: layer {number}"
        layer = _parse_layer(table, number, channels, where, base_dir)
        if layer.out_channels > MAX_MAPS:
            raise ParameterError(f"{where}: makes {layer.out_channels} maps; the limit is "
                                 f"{MAX_MAPS} (use fewer detectors or mode = \"full\")")
        if number < len(tables):
            _check_stackable(layer, where)
        layers.append(layer)
        channels = layer.out_channels
    return Network(tuple(layers), label, description)


def single_layer(kernels: Sequence, params: Params, *, in_channels: int = 1) -> Network:
    """A one-layer network from command-line detectors and options (mode "full")."""
    return Network((Layer(1, tuple(kernels), params, "full", in_channels),), "command line")


def _parse_layer(table: dict, number: int, channels: int, where: str, base_dir: str) -> Layer:
    for key in table:
        if key not in KEYS:
            raise ParameterError(f"{where}: unknown key {key!r}{_hint(key, KEYS)}")
    try:
        mode = as_choice(_get(table, "mode", str, "a string", where, "full"), MODES, "mode")
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None

    params = _params(table, where)
    specs = _get(table, "kernels", list, "a list of kernel specs", where, [])
    for i, spec in enumerate(specs, start=1):
        if not isinstance(spec, str):
            raise ParameterError(f"{where}: `kernels` item {i} must be a string kernel spec "
                                 f"(got {_type_name(spec)} {spec!r})")
    try:
        detectors = K.parse_kernel_specs([_resolve_spec(s, base_dir) for s in specs])
    except KernelError as exc:
        raise ParameterError(f"{where}: `kernels`: {exc}") from None
    detectors += _random(table, where, channels if mode == "full" else 1, number)
    detectors += _weights_bank(table, where, base_dir, channels, mode)
    if not detectors:
        raise ParameterError(f"{where}: no detectors; give `kernels`, `random` or `weights`")
    detectors = [_fit_channels(k, channels, mode, where, number) for k in detectors]
    return Layer(number, tuple(K.unique_names(detectors)), params, mode, channels)


def _params(table: dict, where: str) -> Params:
    """The layer's parameters, checked once, by :class:`Params` (its messages name the keys)."""
    values = {key: table[key] for key in _PARAM_KEYS if key in table}
    try:
        return Params(**values)
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None


def _random(table: dict, where: str, channels: int, number: int) -> list:
    n = _get(table, "random", int, "an integer", where, 0)
    seed = _get(table, "seed", int, "an integer", where, None)
    size = table.get("size", 3)
    if n < 0:
        raise ParameterError(f"{where}: `random` must be >= 0 (got {n})")
    if seed is not None and seed < 0:
        raise ParameterError(f"{where}: `seed` must be >= 0 (got {seed})")
    if n == 0:
        for key in ("seed", "size"):
            if key in table:
                raise ParameterError(f"{where}: `{key}` is set but `random` is 0; add "
                                     "`random = N` or remove it")
        return []
    if isinstance(size, bool) or not isinstance(size, int | str | list):
        raise ParameterError(f"{where}: `size` must be an integer, \"HxW\" or [rows, cols] "
                             f"(got {_type_name(size)})")
    try:
        kh, kw = ops.as_pair(tuple(size) if isinstance(size, list) else size, "size")
    except ParameterError as exc:
        raise ParameterError(f"{where}: {exc}") from None
    return random_bank(n, channels, (kh, kw), number if seed is None else seed)


def random_bank(n: int, channels: int, size: tuple[int, int], seed: int) -> list:
    """``n`` random multi-channel detectors ``(channels, kh, kw)``, named random-1..N.

    Notes
    -----
    He-uniform, as :func:`cnnpipe.kernels.random_kernels`: each weight uniform in
    ``[-b, b)``, ``b = sqrt(6 / fan_in)``, ``fan_in = channels * kh * kw``, drawn
    in float64 by ``Generator(PCG64(seed)).uniform(-b, b, (n, channels, kh, kw))``.
    With one channel the detectors are 2-D and equal those of ``--random n --seed
    seed`` on the command line.
    """
    kh, kw = size
    if max(kh, kw) > 64:
        raise ParameterError(f"`size` must be <= 64 (got {kh}x{kw})")
    bound = math.sqrt(6.0 / (channels * kh * kw))
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    draws = rng.uniform(-bound, bound, size=(n, channels, kh, kw))
    if channels == 1:
        draws = draws[:, 0]
    shape = f"{channels}x{kh}x{kw}" if channels > 1 else f"{kh}x{kw}"
    return [K.Kernel(f"random-{i + 1}", draws[i], f"random {shape}, He-uniform, seed {seed}",
                     "numpy PCG64", "") for i in range(n)]


def _weights_bank(table: dict, where: str, base_dir: str, channels: int, mode: str) -> list:
    path = _get(table, "weights", str, "a path to a .npy file", where, None)
    if path is None:
        return []
    if mode != "full":
        raise ParameterError(f"{where}: `weights` holds multi-channel detectors; it needs "
                             "mode = \"full\"")
    full = path if os.path.isabs(path) else os.path.join(base_dir, path)
    if not path.lower().endswith(".npy"):
        raise ParameterError(f"{where}: `weights` must be a .npy file (got '{path}')")
    try:
        with open(full, "rb") as fh:
            if fh.read(6) != b"\x93NUMPY":
                raise ParameterError(f"{where}: `weights` file '{path}' is not a .npy file")
            fh.seek(0)
            bank = np.load(fh, allow_pickle=False)
    except FileNotFoundError:
        raise ParameterError(f"{where}: `weights` file '{path}' not found (relative paths are "
                             "read next to the pipeline file)") from None
    except (OSError, ValueError, EOFError) as exc:
        raise ParameterError(f"{where}: `weights` file '{path}' cannot be read ({exc})") from None
    if bank.dtype.kind not in "biuf" or bank.ndim != 4 or bank.size == 0:
        raise ParameterError(f"{where}: `weights` file '{path}' must hold a (K, C, kh, kw) array "
                             f"of numbers (got {bank.dtype} {bank.shape})")
    if bank.shape[1] != channels:
        raise ParameterError(f"{where}: `weights` file '{path}' has {bank.shape[1]} channels "
                             f"but the layer sees {channels} maps")
    stem = K.slugify(os.path.splitext(os.path.basename(path))[0]) or "weights"
    return [K.Kernel(f"{stem}-{i + 1}", w[0] if channels == 1 else w,
                     f"from {os.path.basename(path)}[{i}]", path, path)
            for i, w in enumerate(bank)]


def _fit_channels(k, channels: int, mode: str, where: str, number: int):
    w = k.weights
    seen = f"the layer sees {channels} map{'s' if channels != 1 else ''}" + (
        f" (from layer {number - 1})" if number > 1 else " (the input image)")
    if w.ndim == 3 and w.shape[0] == 1 and channels == 1:
        return dataclasses.replace(k, weights=w[0])
    if mode == "per-map":
        if w.ndim != 2:
            raise ParameterError(f"{where}: kernel '{k.name}' has {w.shape[0]} channels; "
                                 "mode = \"per-map\" takes 2-D detectors")
        return k
    if w.ndim == 3 and w.shape[0] != channels:
        raise ParameterError(f"{where}: kernel '{k.name}' has {w.shape[0]} channels but {seen}")
    if w.ndim == 2 and channels != 1:
        raise ParameterError(f"{where}: kernel '{k.name}' is 2-D but {seen}; set mode = "
                             f"\"per-map\" to run it on each map, or give a ({channels}, kh, kw) "
                             ".npy")
    return k


def _check_stackable(layer: Layer, where: str) -> None:
    """Maps handed to the next layer are stacked, so they must share one size."""
    sizes = {tuple(k.weights.shape[-2:]) for k in layer.kernels}
    if len(sizes) > 1 and layer.params.padding != "same":
        listed = ", ".join(f"{h}x{w}" for h, w in sorted(sizes))
        raise ParameterError(f"{where}: detectors of different sizes ({listed}) give maps of "
                             "different sizes, which the next layer cannot stack; use "
                             "padding = \"same\" or detectors of one size")


def _resolve_spec(spec: str, base_dir: str) -> str:
    """Make a relative kernel file in ``spec`` (``F`` or ``NAME=F``) relative to the pipeline."""
    name, sep, rest = spec.rpartition("=") if "=" in spec else ("", "", spec)
    path = rest.strip()
    if path.lower().endswith(K.MATRIX_SUFFIXES) and not os.path.isabs(path):
        candidate = os.path.join(base_dir, path)
        if os.path.exists(candidate):
            return f"{name}{sep}{candidate}"
    return spec


def _get(table, key, kind, expected, where, default):
    if key not in table:
        return default
    value = table[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        raise ParameterError(f"{where}: `{key}` must be {expected} "
                             f"(got {_type_name(value)} {value!r})")
    return value


def _hint(word: str, choices: Sequence[str]) -> str:
    hits = difflib.get_close_matches(str(word), list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{hits[0]}'?" if hits else ""


def _type_name(value) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, numbers.Integral):
        return "an integer"
    if isinstance(value, float):
        return "a float"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


# --- running ------------------------------------------------------------------------------

def iter_layer(x: np.ndarray, layer: Layer, *, threads: int | None = None
               ) -> Iterator[DetectorMaps]:
    """Yield each detector's maps of one layer on its input ``x``.

    ``x`` is (H, W) for a single map or (C, H, W) for C maps. In per-map mode a
    detector named ``d`` yields one result per incoming map, named ``d-m1`` ...
    ``threads``: the thread budget (see :func:`cnnpipe.layer.iter_detectors`).
    """
    x = np.asarray(x, dtype=np.float32)
    if x.ndim == 3 and x.shape[0] == 1:
        x = x[0]
    channels = 1 if x.ndim == 2 else x.shape[0]
    if channels != layer.in_channels:
        raise ParameterError(f"layer {layer.number}: sees {channels} maps but was built for "
                             f"{layer.in_channels}")
    try:
        if layer.mode == "full":
            yield from iter_detectors(x, layer.kernels, layer.params, threads=threads)
            return
        planes = [x] if x.ndim == 2 else list(x)
        for k in layer.kernels:
            for j, plane in enumerate(planes, start=1):
                named = k if len(planes) == 1 else dataclasses.replace(k, name=f"{k.name}-m{j}")
                yield from iter_detectors(plane, [named], layer.params, threads=threads)
    except ParameterError as exc:
        raise _file_error(f"layer {layer.number}: {exc}") from None


def last_stage(det: DetectorMaps) -> np.ndarray:
    """The map a detector hands to the next layer: pool, else activation, else conv."""
    return det.items()[-1][1]


def run_network(image: np.ndarray, network: Network, *, threads: int | None = None
                ) -> list[LayerMaps]:
    """Every layer's maps for ``image`` (H, W) or (C, H, W), in order.

    Examples
    --------
    >>> net = single_layer([K.kernel("identity")], Params())
    >>> [lm.output.shape for lm in run_network(np.ones((7, 7)), net)]
    [(1, 3, 3)]
    """
    x = np.asarray(image, dtype=np.float32)
    results = []
    for layer in network.layers:
        dets = list(iter_layer(x, layer, threads=threads))
        x = np.stack([last_stage(d) for d in dets])
        results.append(LayerMaps(layer, dets, x))
    return results


def stage_stride(layer_params: Sequence[Params], stage: str) -> tuple[int, int]:
    """Input pixels per map cell after ``stage`` of the last of ``layer_params``.

    The product of every conv stride and pooling stride up to that stage, per axis.
    """
    sy = sx = 1
    for i, p in enumerate(layer_params):
        sy, sx = sy * p.conv_stride[0], sx * p.conv_stride[1]
        last = i == len(layer_params) - 1
        if (not last or stage == "pool") and p.pool != "none":
            sy, sx = sy * p.stride[0], sx * p.stride[1]
    return sy, sx


__all__ = ["Layer", "LayerMaps", "Network", "load_network", "parse_network", "random_bank",
           "run_network", "iter_layer", "single_layer", "stage_stride", "MODES", "KEYS"]
