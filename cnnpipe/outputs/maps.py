"""One input's maps, layer by layer: PNGs, ``.npy`` files, manifest entries, overview sheets.

A one-layer run is a network of one layer written without layer prefixes
(``01-conv-sobel-x.png``, ``overview.png``); a ``--pipeline`` run prefixes every
map and overview with its layer (``L2-01-conv-random-1.png``, ``L2-overview.png``).
Everything else (mappings, statistics, provenance, sheets) is the same code.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from cnnpipe import interrupt
from cnnpipe.errors import InputError
from cnnpipe.layer import Params, iter_detectors
from cnnpipe.network import Layer, iter_layer, last_stage
from cnnpipe.pictures import mapping
from cnnpipe.pictures.ranges import Summary, summarize

STAGE_PREFIX = {"input": "00", "conv": "01", "relu": "02", "pool": "03"}
SMALL_MAP = 32  # maps at most this many rows and columns carry their values in the manifest


def map_filename(stage: str, kernel_name: str | None, ext: str = ".png",
                 layer: int | None = None) -> str:
    """``01-conv-sobel-x.png``; the input map is ``00-input.png``; ``layer=2`` prefixes ``L2-``."""
    if stage == "input":
        return f"00-input{ext}"
    name = f"{STAGE_PREFIX[stage]}-{stage}-{kernel_name}{ext}"
    return name if layer is None else f"L{layer}-{name}"


def overview_filename(layer: int | None = None) -> str:
    """``overview.png``, or ``L2-overview.png`` for layer 2 of a stack."""
    return "overview.png" if layer is None else f"L{layer}-overview.png"


def stages(p: Params) -> list[str]:
    """The stages a layer with parameters ``p`` writes, in order."""
    return ["conv"] + (["relu"] if p.activation != "none" else []) + (
        ["pool"] if p.pool != "none" else [])


def stats(array: np.ndarray, what: str = "a map", summary: Summary | None = None) -> dict:
    """Shape, min, max, mean and zero fraction of a map (and its values when small);
    ``summary``: the map's :func:`~cnnpipe.pictures.ranges.summarize`, when made already."""
    summary = summary or summarize(array)
    if not summary.finite:
        raise InputError(f"{what} overflowed float32 (values beyond ±3.4e38); scale the input "
                         "or the detector weights down")
    lo, hi = summary.bounds
    out = {
        "shape": list(array.shape),
        "min": lo,
        "max": hi,
        "mean": summary.mean,
        "zero_fraction": summary.zeros / array.size,
    }
    if array.ndim == 2 and max(array.shape) <= SMALL_MAP:
        out["values"] = array.astype(float).tolist()
    return out


def kernel_meta(k) -> dict:
    """A detector as the manifest records it."""
    return {"name": k.name, "spec": getattr(k, "spec", "") or k.name,
            "shape": list(k.weights.shape), "weights": k.weights.astype(float).tolist(),
            "description": getattr(k, "description", "")}


@dataclass
class InputMap:
    """The written input map: its manifest entry, its mapping and its 8-bit RGB pixels."""

    entry: dict
    mapping: dict
    display: np.ndarray


def write_input(writer, image: np.ndarray, config, stacked: bool) -> InputMap:
    """Write ``00-input.png`` (and ``.npy``); the pixels come back for the overview sheets."""
    input_map = mapping.choose_mapping(image, stage="input", scale="map", cmap=config.cmap,
                                       bit_depth=config.bit_depth)
    pixels, palette = mapping.to_png_pixels(image, input_map)
    name = map_filename("input", None)
    writer.png(name, pixels, mapping.png_text(input_map), config.png_compression, palette)
    display = mapping.palette_to_rgb(pixels, palette)
    if display.dtype != np.uint8:  # a 16-bit input map: show it at 8 bits
        display = (display >> 8).astype(np.uint8)
    entry = {**({"layer": 0} if stacked else {}), "stage": "input", "kernel": None,
             "file": name, **stats(image), "mapping": input_map}
    if config.npy:
        entry["npy"] = map_filename("input", None, ".npy")
        writer.npy(entry["npy"], image)
    return InputMap(entry, input_map, display)


@dataclass
class LayerResult:
    """What writing one layer gave: its manifest entries and the maps it hands on."""

    maps: list
    detectors: list
    output: np.ndarray | None  # (K, H, W), only when another layer follows
    output_shape: tuple


def write_layer(writer, x: np.ndarray, layer: Layer, config, *, stacked: bool, sheet,
                keep_output: bool) -> LayerResult:
    """Run ``layer`` on ``x`` one detector at a time and write its maps as they come.

    Checks for a pending interrupt between detectors. Only with ``keep_output``
    are the handed-on maps kept (stacked for the next layer); otherwise a
    detector's maps are released once written, so memory does not grow with the
    number of detectors. With more than one thread, the next detectors'
    statistics, mappings, pixels and sheet pictures are made in that many
    threads (numpy and Pillow release the GIL) while this one's are handed to
    the writer.
    """
    number = layer.number if stacked else None
    dets = (iter_layer(x, layer, threads=config.threads) if stacked
            else iter_detectors(x, layer.kernels, layer.params, threads=config.threads))
    entries, names, handed_on, shape = [], [], [], ()

    def write(prepared):
        nonlocal shape
        det = prepared.det
        names.append(det.kernel.name)
        for piece in prepared.maps:
            entries.append(_write_map(writer, config, det, layer.params, number, sheet, piece))
        out = last_stage(det)
        shape = out.shape
        if keep_output:
            handed_on.append(out)

    if config.threads <= 1:
        for det in dets:
            interrupt.check()
            write(_prepare(det, layer.params, config, number, sheet))
            del det
    else:
        with ThreadPoolExecutor(config.threads) as pool:
            ahead: deque = deque()
            for det in dets:
                interrupt.check()
                if sum(array.nbytes for _, array in det.items()) > AHEAD_BYTES:
                    while ahead:  # a large photo: one detector's maps at a time
                        write(ahead.popleft().result())
                    write(_prepare(det, layer.params, config, number, sheet))
                else:
                    ahead.append(pool.submit(_prepare, det, layer.params, config, number,
                                             sheet))
                del det
                while len(ahead) > config.threads:
                    write(ahead.popleft().result())
            while ahead:
                interrupt.check()
                write(ahead.popleft().result())
    output = np.stack(handed_on) if keep_output else None
    return LayerResult(entries, names, output, (len(names), *shape))


#: A detector whose maps hold more bytes than this is prepared on the calling thread,
#: not ahead: on a 12 MP photo one detector's maps are ~110 MB, and holding a second
#: one would raise the peak memory by that much (benchmarks/bench_memory.py).
AHEAD_BYTES = 64 * 1024 * 1024


@dataclass
class _Prepared:
    """One detector's maps, each as ``(stage, array, mapping, stats, pixels, palette,
    sheet picture or None)``: everything but the writing."""

    det: object
    maps: list


def _prepare(det, params: Params, config, number, sheet) -> _Prepared:
    items = det.items()
    kernel = det.kernel.name
    where = "" if number is None else f" in layer {number}"
    summaries = [summarize(array) for _, array in items]  # one read of each map for all
    entries = [stats(array, f"the {stage} map of detector {kernel!r}{where}", summary)
               for (stage, array), summary in zip(items, summaries, strict=True)]
    # one display rule: the pooled map is drawn on the range of the map it pooled
    chosen = mapping.detector_mappings(items, scale=config.scale, cmap=config.cmap,
                                       bit_depth=config.bit_depth, pool=params.pool,
                                       bounds=[s.bounds for s in summaries])
    pieces = []
    for (stage, array), m, entry_stats in zip(items, chosen, entries, strict=True):
        pixels, palette = mapping.to_png_pixels(array, m)
        picture = sheet.picture(pixels, palette) if sheet is not None else None
        pieces.append((stage, array, m, entry_stats, pixels, palette, picture))
    return _Prepared(det, pieces)


def _write_map(writer, config, det, params, number, sheet, piece) -> dict:
    stage, array, m, entry_stats, pixels, palette, picture = piece
    kernel = det.kernel.name
    name = map_filename(stage, kernel, layer=number)
    writer.png(name, pixels, mapping.png_text(m), config.png_compression, palette)
    if writer.report is not None:
        writer.report.add_map(name, array)
    entry = {**({"layer": number} if number is not None else {}), "stage": stage,
             "kernel": kernel, "file": name, **entry_stats, "mapping": m}
    if config.npy:
        entry["npy"] = map_filename(stage, kernel, ".npy", layer=number)
        writer.npy(entry["npy"], array)
    if config.provenance and stage == "pool":
        entry["provenance"] = provenance(det, params)
    if sheet is not None:
        sheet.add(kernel, stage, array, m, pixels=pixels, palette=palette,
                  title=_stage_title(stage, params), weights=det.kernel.weights,
                  picture=picture, value_range=(entry_stats["min"], entry_stats["max"]))
    return entry


def new_sheet(config, source_label: str, inp: InputMap, layer: Layer, n_layers: int,
              stacked: bool, in_hw=None):
    """The overview sheet of one layer (None with ``--no-overview``); ``in_hw``: the size
    of the maps the layer takes in (a deeper layer's maps are drawn at their own scale)."""
    if not config.overview:
        return None
    from cnnpipe.pictures.sheet import OverviewSheet

    base = os.path.basename(source_label) or source_label
    summary = params_summary(layer.params, config)
    values = inp.entry.get("values")  # small inputs only: the sheet writes them in the cells
    if not stacked:
        return OverviewSheet(f"{base}: {summary}", inp.display,
                             os.path.basename(source_label) or "input", input_mapping=inp.mapping,
                             input_values=values)
    sees = "the input" if layer.number == 1 else (
        f"the {layer.in_channels} maps of layer {layer.number - 1}")
    title = (f"{base}: layer {layer.number} of {n_layers} ({layer.mode}, sees {sees}): "
             + summary)
    label = "image" if layer.number == 1 else "original (reference)"
    return OverviewSheet(title, inp.display, label, input_mapping=inp.mapping,
                         input_values=values,
                         maps_hw=None if layer.number == 1 else tuple(in_hw)[-2:])


def params_summary(p: Params, config=None) -> str:
    """A sheet title's settings: the layer in brief, then every setting that differs
    from its default ("conv stride 1, padding valid, relu, max pool 2 stride 2 (keep);
    dilation 2, pad-mode reflect")."""
    parts = [f"conv stride {_pair(p.conv_stride)}, padding {p.padding}"]
    if p.activation != "none":
        parts.append(p.activation if p.activation != "leaky" else f"leaky {p.leak:g}")
    if p.pool != "none":
        parts.append(f"{p.pool} pool {_pair(p.window)} stride {_pair(p.stride)} ({p.edge})")
    else:
        parts.append("no pool")
    extra = []
    if p.pad_mode != "zeros":
        extra.append(f"pad-mode {p.pad_mode}")
    if tuple(p.dilation) != (1, 1):
        extra.append(f"dilation {_pair(p.dilation)}")
    if p.flip:
        extra.append("flip (true convolution)")
    if p.color != "gray":
        extra.append(f"color {p.color}")
    defaults = {"scale": "robust", "cmap": "auto", "bit_depth": 8}
    for name, default in defaults.items():
        value = getattr(config, name, default)
        if value != default:
            extra.append(f"{name.replace('_', '-')} {value}")
    return ", ".join(parts) + (f"; {', '.join(extra)}" if extra else "")


def _stage_title(stage: str, p: Params) -> str | None:
    """The overview's caption for a stage when it is not the plain default."""
    if stage == "relu" and p.activation == "leaky":
        return "leaky ReLU"
    if stage == "pool":
        return f"{p.pool} pool"
    return None


def _pair(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def provenance(det, params: Params) -> list | dict:
    """Where each pooled cell of ``det`` came from (one dict per channel for a 3-D map)."""
    source = det.relu if det.relu is not None else det.conv
    if source.ndim != 2:
        return [_provenance_2d(c, params) for c in source]
    return _provenance_2d(source, params)


def _provenance_2d(source, params):
    from cnnpipe import ops

    prov = ops.pool_provenance(source, window=params.window, stride=params.stride,
                               mode=params.pool, edge=params.edge)
    return {key: np.asarray(value).tolist() for key, value in prov.items()}
