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

from cnnpipe.network.pipeline_file import KEYS, load_network, parse_network, random_bank
from cnnpipe.network.stack import (
    MAX_MAPS,
    MODES,
    Layer,
    LayerMaps,
    Network,
    iter_layer,
    last_stage,
    run_network,
    single_layer,
    stage_stride,
)

__all__ = ["Layer", "LayerMaps", "Network", "load_network", "parse_network", "random_bank",
           "run_network", "iter_layer", "last_stage", "single_layer", "stage_stride", "MODES",
           "MAX_MAPS", "KEYS"]
