"""A pipeline file: TOML with one ``[[layer]]`` table per layer, read into a
:class:`~cnnpipe.network.Network` (numpy and the standard library's ``tomllib``).

Every error is one line naming the file, the layer and the key; its
``from_file`` is set, so the command line leaves the key names as they are.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import numbers
import os
from collections.abc import Sequence

import numpy as np

from cnnpipe import kernels as K
from cnnpipe import ops
from cnnpipe.budget import regular_file_problem
from cnnpipe.errors import KernelError, ParameterError
from cnnpipe.layer import Params
from cnnpipe.network.stack import MAX_MAPS, MODES, Layer, Network
from cnnpipe.ops.args import as_choice

#: A pipeline file larger than this is refused before it is parsed.
MAX_FILE_BYTES = 1 << 20

_PARAM_KEYS = ("conv_stride", "padding", "pad_mode", "dilation", "flip", "activation", "leak",
               "pool", "window", "stride", "edge")
KEYS = ("kernels", "random", "seed", "size", "weights", "mode", "conv_stride", "padding",
        "pad_mode", "dilation", "flip", "activation", "leak", "pool", "window", "stride", "edge")
TOP_KEYS = ("layer", "description")



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
    problem = regular_file_problem(path)  # a FIFO would block the open below
    if problem is not None and problem not in ("not found", "is a directory"):
        raise ParameterError(f"pipeline file '{label}' {problem}; give a .toml file")
    try:
        with open(path, "rb") as fh:
            if os.fstat(fh.fileno()).st_size > MAX_FILE_BYTES:
                raise ParameterError(f"pipeline file '{label}' is larger than "
                                     f"{MAX_FILE_BYTES >> 20} MiB; a pipeline file is a few "
                                     "lines of TOML")
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
    except RecursionError:
        raise ParameterError(f"{label}: arrays or tables nested too deeply; a pipeline file "
                             "needs two levels") from None
    base = os.path.dirname(os.path.abspath(label))
    return parse_network(data, label=label, base_dir=base, in_channels=in_channels)


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
    if n > MAX_MAPS:  # refused before they are drawn
        raise ParameterError(f"{where}: `random` = {n} makes more maps than the limit of "
                             f"{MAX_MAPS} per layer")
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
    problem = regular_file_problem(full)
    if problem is not None and problem != "not found":
        raise ParameterError(f"{where}: `weights` file '{path}' {problem}")
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
