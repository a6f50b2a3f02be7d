"""A stack of layers and an input run through all of them (numpy only).

:class:`Layer` and :class:`Network` are plain picklable data; a pipeline file
(:mod:`cnnpipe.network.pipeline_file`) or :func:`single_layer` makes one.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from cnnpipe.errors import ParameterError
from cnnpipe.layer import DetectorMaps, Params, iter_detectors

MODES = ("full", "per-map")
#: A layer may not produce more maps than this (per-map layers multiply quickly).
MAX_MAPS = 256


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
    """One layer's detectors' maps and the stack it hands on, ``(K, H, W)``.

    ``output`` is None for the last layer when its detectors' maps differ in
    size (``-k box -k gaussian-5x5``): nothing is handed on, so nothing is stacked.
    """

    layer: Layer
    detectors: list
    output: np.ndarray | None


def single_layer(kernels: Sequence, params: Params, *, in_channels: int = 1) -> Network:
    """A one-layer network from command-line detectors and options (mode "full")."""
    return Network((Layer(1, tuple(kernels), params, "full", in_channels),), "command line")


def _file_error(message: str) -> ParameterError:
    """A ParameterError whose names are a pipeline file's keys (see ParameterError)."""
    error = ParameterError(message)
    error.from_file = True
    return error



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
    >>> from cnnpipe.kernels import kernel
    >>> net = single_layer([kernel("identity")], Params())
    >>> [lm.output.shape for lm in run_network(np.ones((7, 7)), net)]
    [(1, 3, 3)]
    """
    x = np.asarray(image, dtype=np.float32)
    results = []
    for number, layer in enumerate(network.layers, start=1):
        dets = list(iter_layer(x, layer, threads=threads))
        maps = [last_stage(d) for d in dets]
        last = number == len(network.layers)
        # a pipeline file's inner layers are checked stackable when read
        x = np.stack(maps) if not last or len({m.shape for m in maps}) == 1 else None
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
