"""Write a multi-layer run (``cnnpipe run --pipeline net.toml``) into an input's folder.

The layout follows the one-layer run with a layer prefix on every map::

    00-input.png
    L1-01-conv-<kernel>.png   L1-02-relu-<kernel>.png   L1-03-pool-<kernel>.png
    L1-overview.png
    L2-01-conv-...            ...                       L2-overview.png
    manifest.json             one manifest with a "layers" list

Files are written atomically, the manifest last, and a re-run removes the maps
an earlier run wrote and this one did not, exactly as :mod:`cnnpipe.outputs` does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from cnnpipe import io
from cnnpipe import outputs as O
from cnnpipe.errors import OutputError
from cnnpipe.network import Network, iter_layer, last_stage
from cnnpipe.pictures import mapping


def layer_filename(number: int, stage: str, kernel_name: str, ext: str = ".png") -> str:
    """``L2-01-conv-random-1.png``: the SPEC map name with a layer prefix."""
    return f"L{number}-" + O.map_filename(stage, kernel_name, ext)


def overview_filename(number: int) -> str:
    """``L2-overview.png``."""
    return f"L{number}-overview.png"


def planned_files(config) -> list[str]:
    """The files a ``--pipeline`` run with ``config`` writes (for ``--dry-run``)."""
    network: Network = config.network
    files = [O.map_filename("input", None)] + (
        [O.map_filename("input", None, ".npy")] if config.npy else [])
    for layer in network.layers:
        p = layer.params
        stages = ["conv"] + (["relu"] if p.activation != "none" else []) + (
            ["pool"] if p.pool != "none" else [])
        names = [k.name for k in layer.kernels]
        if layer.mode == "per-map" and layer.in_channels > 1:
            names = [f"{n}-m{j}" for n in names for j in range(1, layer.in_channels + 1)]
        for name in names:
            for stage in stages:
                files.append(layer_filename(layer.number, stage, name))
                if config.npy:
                    files.append(layer_filename(layer.number, stage, name, ".npy"))
        if config.overview:
            files.append(overview_filename(layer.number))
    files.append(O.MANIFEST)
    return files


def write_network_outputs(loaded, config, folder: Path, source_label: str) -> dict:
    """Run every layer of ``config.network`` on ``loaded`` and write the folder.

    Returns the manifest: the one-layer manifest's keys (``maps`` lists every map
    of every layer, each with its ``layer``) plus ``layers``, one entry per layer
    with its parameters, kernels, maps and overview file.
    """
    from cnnpipe import __version__

    network: Network = config.network
    image = loaded.array
    scale_kind, fixed_range = mapping.parse_scale(config.scale)
    created = not folder.exists()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
    old_files = O._previous_files(folder, loaded.info.get("fingerprint"))

    writer = O._Writer(folder, config.threads)
    all_maps: list[dict] = []
    layers_meta: list[dict] = []
    try:
        try:
            input_map = mapping.choose_mapping(image, stage="input", scale="map", cmap=config.cmap,
                                               bit_depth=config.bit_depth)
            input_pixels, input_palette = mapping.to_png_pixels(image, input_map)
            name = O.map_filename("input", None)
            writer.png(name, input_pixels, mapping.png_text(input_map), config.png_compression,
                       input_palette)
            input_pixels = mapping.palette_to_rgb(input_pixels, input_palette)
            entry = {"layer": 0, "stage": "input", "kernel": None, "file": name, **O._stats(image),
                     "mapping": input_map}
            if config.npy:
                entry["npy"] = O.map_filename("input", None, ".npy")
                writer.npy(entry["npy"], image)
            all_maps.append(entry)
            display = input_pixels if input_pixels.dtype == np.uint8 else (
                input_pixels >> 8).astype(np.uint8)

            x = image
            for layer in network.layers:
                sheet = _sheet(config, layer, network, source_label, display, input_map)
                maps_meta, handed_on, names = [], [], []
                for det in iter_layer(x, layer):
                    names.append(det.kernel.name)
                    maps_meta += _write_detector(writer, config, layer.number, det, sheet,
                                                 scale_kind, fixed_range)
                    handed_on.append(last_stage(det))
                    del det
                x = np.stack(handed_on)
                del handed_on
                overview = None
                if sheet is not None:
                    overview = overview_filename(layer.number)
                    writer.raw(overview, _png_of(sheet, config.png_compression))
                layers_meta.append({**layer.to_dict(),
                                    "kernels": [O._kernel_meta(k) for k in layer.kernels],
                                    "detectors": names, "maps": maps_meta, "overview": overview,
                                    "output_shape": list(x.shape)})
                all_maps += maps_meta
        finally:
            writer.finish()

        manifest = {
            "cnnpipe": __version__,
            "input": {**loaded.info, "shape": list(image.shape)},
            "pipeline": {"file": network.source, "description": network.description,
                         "layers": len(network.layers)},
            "params": {"color": config.params.color, **config.options()},
            "kernels": [{**O._kernel_meta(k), "layer": layer.number}
                        for layer in network.layers for k in layer.kernels],
            "layers": layers_meta,
            "maps": all_maps,
            "overview": [m["overview"] for m in layers_meta if m["overview"]],
            "files": sorted(set(writer.written) | {O.MANIFEST}),
            "digest": config.digest(),
        }
        io.atomic_write(folder / O.MANIFEST,
                        (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    except BaseException:
        # Complete or absent, as for one layer: a failed input (a later layer that
        # cannot run, an overflow) leaves none of this run's files.
        writer.abort()
        if not (folder / O.MANIFEST).exists():
            O._discard(folder, writer.written, created)
        raise
    O._remove_stale(folder, old_files, set(manifest["files"]))
    return manifest


def _write_detector(writer, config, number, det, sheet, scale_kind, fixed_range) -> list[dict]:
    items = det.items()
    shared = None
    if scale_kind == "detector":
        shared = (min(float(a.min()) for _, a in items), max(float(a.max()) for _, a in items))
    elif scale_kind == "fixed":
        shared = fixed_range
    entries = []
    for stage, array in items:
        m = mapping.choose_mapping(array, stage=stage, scale=config.scale, cmap=config.cmap,
                                   value_range=shared, bit_depth=config.bit_depth)
        name = layer_filename(number, stage, det.kernel.name)
        pixels, palette = mapping.to_png_pixels(array, m)
        writer.png(name, pixels, mapping.png_text(m), config.png_compression, palette)
        entry = {"layer": number, "stage": stage, "kernel": det.kernel.name, "file": name,
                 **O._stats(array, f"layer {number} {stage} map of detector {det.kernel.name!r}"),
                 "mapping": m}
        if config.npy:
            entry["npy"] = layer_filename(number, stage, det.kernel.name, ".npy")
            writer.npy(entry["npy"], array)
        entries.append(entry)
        if sheet is not None:
            sheet.add(det.kernel.name, stage, array, m, pixels=pixels, palette=palette)
    return entries


def _sheet(config, layer, network, source_label, display, input_map):
    if not config.overview:
        return None
    from cnnpipe.pictures.sheet import OverviewSheet

    summary = O.params_summary(layer.params)
    base = os.path.basename(source_label) or source_label
    sees = "the input" if layer.number == 1 else (
        f"the {layer.in_channels} maps of layer {layer.number - 1}")
    title = (f"{base}: layer {layer.number} of {len(network.layers)} ({layer.mode}, sees {sees}): "
             + summary)
    label = "image" if layer.number == 1 else "original (reference)"
    return OverviewSheet(title, display, label, input_mapping=input_map)


def _png_of(sheet, compression):
    return lambda: sheet.to_png_bytes(compression=compression)


__all__ = ["layer_filename", "overview_filename", "planned_files", "write_network_outputs"]
