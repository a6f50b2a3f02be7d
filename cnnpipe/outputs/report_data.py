"""What ``report.html`` knows: the values it embeds and the page's data (JSON-able).

- The input's values, always, exactly (float32, or 8/16-bit levels when the
  input is exactly ``level / 255`` or ``level / 65535``). Up to
  :data:`INLINE_INPUT_BYTES` they are in the page itself; a larger input's
  values go into sidecar files beside the page (``report-input-01.js`` ...),
  bands of whole rows of at most :data:`BAND_BYTES` each, which the page loads
  with ``<script src>`` only when a hover needs their rows. Opening the page
  reads none of them.
- Every map of at most :data:`EXACT_CELLS` cells, exactly (float32), while the
  page holds at most :data:`EXACT_BUDGET` bytes of them.
- Any larger map is computed in the page, for the one cell pointed at, from the
  exact input through the layer's own convolution, activation and pooling, in
  double precision.

Sizes are written width first (:func:`cnnpipe.numbers.shape_text`), the order
stated on the page.
"""

from __future__ import annotations

import base64
import math
import os
import re

import numpy as np

from cnnpipe import ops
from cnnpipe.numbers import SIZE_ORDER, shape_text, size_text
from cnnpipe.pictures.colormaps import lut

#: Maps with at most this many cells carry their exact float32 values in the page.
EXACT_CELLS = 65536
#: At most this many bytes of exact map values per page (the input excluded).
EXACT_BUDGET = 8 * 1024 * 1024
#: An input whose encoded values take more bytes than this is kept beside the page.
INLINE_INPUT_BYTES = 4 * 1024 * 1024
#: Each sidecar file holds whole rows of the input, at most this many bytes of them.
BAND_BYTES = 4 * 1024 * 1024
#: Sidecar file names: ``report-input-01.js`` ...
BAND_PREFIX = "report-input-"


class Collector:
    """Keeps what the page needs while the writer runs: the input and small maps' values.

    ``sidecars=False`` keeps every value in the page (a notebook has no folder).
    """

    def __init__(self, sidecars: bool = True):
        self.input: dict | None = None
        self.values: dict[str, str] = {}  # map file name -> base64 float32
        self.budget = EXACT_BUDGET
        self.sidecars = sidecars
        self._bands: list[tuple[str, np.ndarray]] = []

    def add_input(self, array: np.ndarray) -> None:
        data, encoding, levels = input_levels(array)
        self.input = {"encoding": encoding, "levels": levels, "b64": None}
        if not self.sidecars or data.nbytes <= INLINE_INPUT_BYTES:
            self.input["b64"] = base64.b64encode(data.tobytes()).decode("ascii")
            return
        height, row_bytes = data.shape[-2], data.nbytes // data.shape[-2]
        rows = max(1, BAND_BYTES // row_bytes)
        count = math.ceil(height / rows)
        digits = max(2, len(str(count)))
        self._bands = [(f"{BAND_PREFIX}{k + 1:0{digits}d}.js",
                         data[..., k * rows:(k + 1) * rows, :]) for k in range(count)]
        self.input.update(bands=[name for name, _ in self._bands], band_rows=rows)

    def add_map(self, file: str, array: np.ndarray) -> None:
        nbytes = array.size * 4
        if array.size <= EXACT_CELLS and nbytes <= self.budget:
            self.budget -= nbytes
            self.values[file] = _b64(array)

    def sidecar_files(self) -> list[tuple[str, object]]:
        """``[(file name, callable giving its bytes)]`` for the input's sidecar files."""
        return [(name, lambda name=name, band=band: band_script(name, band))
                for name, band in self._bands]


def sidecars_in(folder) -> list[str]:
    """The input-values sidecar files in ``folder`` (for clean-up after a killed run)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(n for n in names if re.fullmatch(re.escape(BAND_PREFIX) + r"\d+\.js", n))


def band_script(name: str, band: np.ndarray) -> bytes:
    """A sidecar file: one band of the input's values, base64, under its own file name."""
    b64 = base64.b64encode(np.ascontiguousarray(band).tobytes()).decode("ascii")
    return (f'(window.cnnpipeBands = window.cnnpipeBands || {{}})["{name}"] = "{b64}";\n'
            ).encode("ascii")


def _b64(array: np.ndarray) -> str:
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return base64.b64encode(data).decode("ascii")


def input_levels(array: np.ndarray) -> tuple[np.ndarray, str, int | None]:
    """The input's exact values as compact as they stay exact: (little-endian array,
    ``"u8"``/``"u16"``/``"f32"``, levels or None)."""
    a = np.asarray(array, dtype=np.float32)
    head = a.reshape(-1)[:4096]  # a photo's luminance fails on its first values: cheap
    for dtype, levels in ((np.uint8, 255), (np.uint16, 65535)):
        if _on_levels(head, levels) and a.min() >= 0 and a.max() <= 1:
            q = np.rint(a * np.float32(levels))
            if np.array_equal(q.astype(np.float32) / np.float32(levels), a):
                data = q.astype(np.dtype(dtype).newbyteorder("<"))
                return data, f"u{8 * np.dtype(dtype).itemsize}", levels
    return np.ascontiguousarray(a, dtype="<f4"), "f32", None


def encode_input(array: np.ndarray) -> dict:
    """The input's exact values in the page: ``{"encoding", "levels", "b64"}``."""
    data, encoding, levels = input_levels(array)
    return {"encoding": encoding, "levels": levels,
            "b64": base64.b64encode(data.tobytes()).decode("ascii")}


def _on_levels(a: np.ndarray, levels: int) -> bool:
    q = np.rint(a * np.float32(levels))
    return bool(np.array_equal(q.astype(np.float32) / np.float32(levels), a))


# --- the page's data ----------------------------------------------------------------------

def conv_size_text(n: int, k: int, s: int, d: int, before: int, after: int, out: int) -> str:
    """The SPEC's output-size formula with this axis's numbers filled in."""
    return (f"floor(({n} + {before} + {after} − {d}·({k}−1) − 1) / {s}) + 1 = {out}")


def pool_size_text(n: int, k: int, s: int, edge: str, out: int) -> str:
    if edge == "drop":
        return f"floor(({n} − {k}) / {s}) + 1 = {out}"
    text = f"ceil(({n} − {k}) / {s}) + 1"
    raw = max(math.ceil((n - k) / s), 0) + 1
    if raw != out:
        text += " − 1 (the last window would start past the map)"
    return f"{text} = {out}"


def _map_ref(m: dict, collector: Collector, image_src) -> dict:
    return {
        "file": m["file"], "src": image_src(m["file"]), "stage": m["stage"],
        "kernel": m["kernel"], "shape": m["shape"], "size": shape_text(m["shape"]),
        "min": m["min"], "max": m["max"], "mean": m["mean"], "mapping": m["mapping"],
        "legend": legend(m["mapping"]), "values": collector.values.get(m["file"]),
    }


def _kernel_data(k, p, in_hw) -> dict:
    w = np.asarray(k.weights, dtype=np.float32)
    shown = w[..., ::-1, ::-1] if p.flip else w
    kh, kw = w.shape[-2:]
    pads = ops.resolve_padding(p.padding, in_hw, (kh, kw), p.conv_stride, p.dilation)
    return {"name": k.name, "shape": list(w.shape), "size": shape_text(w.shape),
            "weights": w.astype(float).tolist(), "effective": shown.astype(float).ravel().tolist(),
            "description": getattr(k, "description", "") or "", "pads": list(pads)}


def _sizes(kernels: list, detectors: list, in_hw, p) -> list[dict]:
    """Per kernel, the conv (and pool) size formula of each axis, rows then columns."""
    sizes = []
    for ki, k in enumerate(kernels):
        kh, kw = k["shape"][-2:]
        t, b, left, right = k["pads"]
        d = [det for det in detectors if det["kernel"] == ki][0]["maps"]
        ch, cw = d["conv"]["shape"][-2:]
        row = {"kernel": k["name"],
               "conv": [conv_size_text(in_hw[0], kh, p.conv_stride[0], p.dilation[0], t, b, ch),
                        conv_size_text(in_hw[1], kw, p.conv_stride[1], p.dilation[1], left,
                                       right, cw)]}
        if "pool" in d:
            ph, pw = d["pool"]["shape"][-2:]
            row["pool"] = [pool_size_text(ch, p.window[0], p.stride[0], p.edge, ph),
                           pool_size_text(cw, p.window[1], p.stride[1], p.edge, pw)]
        sizes.append(row)
    return sizes


def _layer_data(layer, in_shape: list, map_of) -> dict:
    p = layer.params
    in_hw = in_shape[-2:]
    in_ch = in_shape[0] if len(in_shape) == 3 else 1
    kernels, detectors = [], []
    for ki, k in enumerate(layer.kernels):
        kernels.append(_kernel_data(k, p, in_hw))
        if layer.mode == "per-map" and in_ch > 1:
            sources = [(f"{k.name}-m{j + 1}", j) for j in range(in_ch)]
        else:
            sources = [(k.name, None)]
        for name, channel in sources:
            maps = {stage: map_of(layer.number, stage, name) for stage in ("conv", "relu", "pool")}
            detectors.append({"name": name, "kernel": ki, "channel": channel,
                              "maps": {s: m for s, m in maps.items() if m is not None}})
    conv_shape = detectors[0]["maps"]["conv"]["shape"][-2:]
    return {"number": layer.number, "mode": layer.mode, "in_channels": in_ch,
            "in_shape": in_shape, "in_size": shape_text(in_shape), "params": p.to_dict(),
            "kernels": kernels, "detectors": detectors, "conv_shape": conv_shape,
            "conv_size": size_text(*conv_shape), "sizes": _sizes(kernels, detectors, in_hw, p)}


def page_data(manifest: dict, config, collector: Collector, image_src=None) -> dict:
    """Everything the page's script needs, JSON-able.

    ``image_src(file)`` gives the ``src`` of a map picture (default: the file name,
    beside the page).
    """
    image_src = image_src or (lambda name: name)
    maps_by_key = {}
    for m in manifest["maps"]:
        maps_by_key[(m.get("layer", 1 if m["stage"] != "input" else 0), m["stage"],
                     m["kernel"])] = m

    def map_of(number, stage, name):
        m = maps_by_key.get((number, stage, name))
        return None if m is None else _map_ref(m, collector, image_src)

    layers = []
    in_shape = list(manifest["input"]["shape"])
    for layer in config.layers():
        data = _layer_data(layer, in_shape, map_of)
        layers.append(data)
        last = data["detectors"][0]["maps"]
        out_hw = (last.get("pool") or last.get("relu") or last["conv"])["shape"][-2:]
        count = len(data["detectors"])
        in_shape = [count, *out_hw] if count > 1 or config.network else list(out_hw)
    source = manifest["input"].get("path") or "input"
    return {
        "title": f"cnnpipe report: {os.path.basename(str(source)) or source}",
        "version": manifest.get("cnnpipe"),
        "input": {**{k: v for k, v in manifest["input"].items() if k != "fingerprint"},
                  "size": shape_text(manifest["input"]["shape"]),
                  "map": map_of(0, "input", None), "values": collector.input},
        "color": config.params.color,
        "pipeline": manifest.get("pipeline"),
        "layers": layers,
        "exact_cells": EXACT_CELLS,
        "size_order": SIZE_ORDER,
        "overview": manifest.get("overview"),
    }


def legend(m: dict) -> dict:
    """A CSS gradient and tick labels for a mapping's colour bar."""
    lo, hi = float(m["lo"]), float(m["hi"])
    if m.get("channels") == "rgb":
        stops = "#000 0%, #fff 100%"
        note = "each of R, G, B: dark = lo, bright = hi"
    else:
        table = lut(m["cmap"])
        idx = np.linspace(0, 255, 17).round().astype(int)
        stops = ", ".join(f"rgb({r},{g},{b}) {100 * i / 255:.1f}%"
                          for i, (r, g, b) in zip(idx, table[idx].tolist(), strict=True))
        note = m["cmap"]
    ticks = [lo, hi] if not (lo < 0 < hi) else [lo, 0.0, hi]
    step = (hi - lo) / int(m["levels"])
    return {"gradient": f"linear-gradient(to right, {stops})", "ticks": ticks, "note": note,
            "step": step}
