"""The interactive HTML report: ``report.html`` beside an input's maps (``run --html``).

The page is one self-contained file: hand-written CSS and JavaScript from
``report_assets/`` are copied into it, the map pictures are the PNG files of
the same folder (or ``data:`` URIs for a notebook), and the numbers it shows on
hover come from data embedded in the page:

- the input's values, always, exactly (float32, or 8/16-bit levels when the
  input is exactly ``level / 255`` or ``level / 65535``);
- every map of at most :data:`EXACT_CELLS` cells, exactly (float32), while the
  page holds at most :data:`EXACT_BUDGET` bytes of them;
- any larger map is computed in the page, for the one cell pointed at, from the
  exact input through the layer's own convolution, activation and pooling, in
  double precision: it agrees with the float32 ``.npy`` values to about six
  significant digits (the page says which maps are computed).

Nothing is fetched from the network: no fonts, no scripts, no styles.
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
from importlib import resources
from pathlib import Path

import numpy as np

from cnnpipe import io, ops
from cnnpipe.pictures.colormaps import lut

REPORT = "report.html"
INDEX = "index.html"
#: Maps with at most this many cells carry their exact float32 values in the page.
EXACT_CELLS = 65536
#: At most this many bytes of exact map values per page (the input excluded).
EXACT_BUDGET = 8 * 1024 * 1024


def _asset(name: str) -> str:
    return resources.files("cnnpipe.outputs").joinpath("report_assets", name).read_text("utf-8")


class Collector:
    """Keeps what the page needs while the writer runs: the input and small maps' values."""

    def __init__(self):
        self.input: dict | None = None
        self.values: dict[str, str] = {}  # map file name -> base64 float32
        self.budget = EXACT_BUDGET

    def add_input(self, array: np.ndarray) -> None:
        self.input = encode_input(array)

    def add_map(self, file: str, array: np.ndarray) -> None:
        nbytes = array.size * 4
        if array.size <= EXACT_CELLS and nbytes <= self.budget:
            self.budget -= nbytes
            self.values[file] = _b64(array)


def _b64(array: np.ndarray) -> str:
    data = np.ascontiguousarray(array, dtype="<f4").tobytes()
    return base64.b64encode(data).decode("ascii")


def encode_input(array: np.ndarray) -> dict:
    """The input's exact values, as compact as they stay exact."""
    a = np.asarray(array, dtype=np.float32)
    head = a.reshape(-1)[:4096]  # a photo's luminance fails on its first values: cheap
    for dtype, levels in ((np.uint8, 255), (np.uint16, 65535)):
        if _on_levels(head, levels) and a.min() >= 0 and a.max() <= 1:
            q = np.rint(a * np.float32(levels))
            if np.array_equal(q.astype(np.float32) / np.float32(levels), a):
                data = q.astype(np.dtype(dtype).newbyteorder("<"))
                return {"encoding": f"u{8 * np.dtype(dtype).itemsize}", "levels": levels,
                        "b64": base64.b64encode(data.tobytes()).decode("ascii")}
    return {"encoding": "f32", "levels": None, "b64": _b64(a)}


def _on_levels(a: np.ndarray, levels: int) -> bool:
    q = np.rint(a * np.float32(levels))
    return bool(np.array_equal(q.astype(np.float32) / np.float32(levels), a))


# --- the page's data ----------------------------------------------------------------------

def _fmt(x: float) -> str:
    return f"{x:g}"


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

    def map_ref(m):
        return {
            "file": m["file"], "src": image_src(m["file"]), "stage": m["stage"],
            "kernel": m["kernel"], "shape": m["shape"], "min": m["min"], "max": m["max"],
            "mean": m["mean"], "mapping": m["mapping"], "legend": legend(m["mapping"]),
            "values": collector.values.get(m["file"]),
        }

    input_entry = maps_by_key[(0, "input", None)]
    layers = []
    in_shape = list(manifest["input"]["shape"])
    for layer in config.layers():
        p = layer.params
        in_hw = in_shape[-2:]
        in_ch = in_shape[0] if len(in_shape) == 3 else 1
        kernels, detectors = [], []
        for ki, k in enumerate(layer.kernels):
            w = np.asarray(k.weights, dtype=np.float32)
            shown = w[..., ::-1, ::-1] if p.flip else w
            kh, kw = w.shape[-2:]
            pads = ops.resolve_padding(p.padding, in_hw, (kh, kw), p.conv_stride, p.dilation)
            kernels.append({"name": k.name, "shape": list(w.shape),
                            "weights": w.astype(float).tolist(),
                            "effective": shown.astype(float).ravel().tolist(),
                            "description": getattr(k, "description", "") or "",
                            "pads": list(pads)})
            if layer.mode == "per-map" and in_ch > 1:
                sources = [(f"{k.name}-m{j + 1}", j) for j in range(in_ch)]
            else:
                sources = [(k.name, None)]
            for name, channel in sources:
                maps = {}
                for stage in ("conv", "relu", "pool"):
                    m = maps_by_key.get((layer.number, stage, name))
                    if m is not None:
                        maps[stage] = map_ref(m)
                detectors.append({"name": name, "kernel": ki, "channel": channel,
                                  "maps": maps})
        first = detectors[0]["maps"]
        conv_shape = first["conv"]["shape"][-2:]
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
        last = detectors[0]["maps"]
        out_hw = (last.get("pool") or last.get("relu") or last["conv"])["shape"][-2:]
        layers.append({
            "number": layer.number, "mode": layer.mode, "in_channels": in_ch,
            "in_shape": in_shape, "params": p.to_dict(), "kernels": kernels,
            "detectors": detectors, "conv_shape": conv_shape, "sizes": sizes,
        })
        in_shape = [len(detectors), *out_hw] if len(detectors) > 1 or config.network else \
            list(out_hw)
    source = manifest["input"].get("path") or "input"
    return {
        "title": f"cnnpipe report: {os.path.basename(str(source)) or source}",
        "version": manifest.get("cnnpipe"),
        "input": {**{k: v for k, v in manifest["input"].items() if k != "fingerprint"},
                  "map": map_ref(input_entry), "values": collector.input},
        "color": config.params.color,
        "pipeline": manifest.get("pipeline"),
        "layers": layers,
        "exact_cells": EXACT_CELLS,
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


# --- the page -----------------------------------------------------------------------------

def _script_json(data) -> str:
    # inside <script>: "</" would end the element, "<!--" would start a comment
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("</", "<\\/").replace("<!--", "<\\!--")


def render_fragment(data: dict) -> str:
    """The report as one ``<div>`` with its style and script (for notebooks and pages).

    The input's values (base64: nothing to escape) sit in their own element, so a
    12-megapixel input is neither JSON-encoded here nor JSON-parsed in the page.
    """
    css = _asset("report.css")
    js = _asset("report.js")
    values = data["input"]["values"]
    light = {**data, "input": {**data["input"], "values": {**values, "b64": None}}}
    blobs = []  # exact map values: base64, nothing to escape, so kept out of the JSON
    layers = []
    for layer in data.get("layers", []):
        dets = []
        for det in layer["detectors"]:
            maps = {}
            for stage, m in det["maps"].items():
                if m.get("values"):
                    blobs.append(f'<script type="application/octet-stream" class="cnnpipe-values" '
                                 f'data-file="{html.escape(m["file"])}">{m["values"]}</script>')
                maps[stage] = {**m, "values": bool(m.get("values"))}
            dets.append({**det, "maps": maps})
        layers.append({**layer, "detectors": dets})
    light["layers"] = layers
    return (
        f'<div class="cnnpipe-report" lang="en">'
        f"<style>{css}</style>"
        f'<noscript>This report needs JavaScript for its maps and hover details.</noscript>'
        f'<script type="application/json" class="cnnpipe-data">{_script_json(light)}</script>'
        f'<script type="application/octet-stream" class="cnnpipe-input">{values["b64"]}'
        f"</script>{''.join(blobs)}<script>{js}</script></div>"
    )


def render_page(data: dict) -> str:
    """A complete HTML page for ``data``."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
        "img-src 'self' data: file:; style-src 'unsafe-inline'; script-src 'unsafe-inline'\">"
        f"<title>{html.escape(data['title'])}</title></head><body>"
        f"{render_fragment(data)}</body></html>\n"
    )


def report_bytes(manifest: dict, config, collector: Collector):
    """A callable giving ``report.html``'s bytes (for the writer's background threads)."""
    return lambda: render_page(page_data(manifest, config, collector)).encode("utf-8")


def write_report(folder: Path, manifest: dict, config, collector: Collector) -> str:
    """Write ``report.html`` into ``folder`` (atomically); return its name."""
    page = render_page(page_data(manifest, config, collector))
    io.atomic_write(Path(folder) / REPORT, page.encode("utf-8"), fsync_folder=False)
    return REPORT


# --- the batch index ----------------------------------------------------------------------

def write_index(out_root, reports: list[dict]) -> Path:
    """Write ``OUT/index.html``: every input's report with a thumbnail and its status."""
    root = Path(out_root)
    rows = []
    for r in sorted(reports, key=lambda r: str((r.get("input") or {}).get("path") or "")):
        path = (r.get("input") or {}).get("path") or r.get("path") or "?"
        status = r.get("status", "?")
        folder = r.get("output")
        rel = os.path.relpath(folder, root).replace(os.sep, "/") if folder else None
        has_report = rel is not None and status != "failed" and (
            Path(folder) / REPORT).is_file()
        thumb = ""
        if has_report:
            thumb = (f'<img src="{html.escape(rel)}/00-input.png" alt="" loading="lazy" '
                     'decoding="async">')
        name = html.escape(str(path))
        link = f'<a href="{html.escape(rel)}/{REPORT}">{name}</a>' if has_report else name
        reason = html.escape(str(r.get("error", ""))) if status == "failed" else ""
        rows.append(f'<li class="{html.escape(status)}"><span class="thumb">{thumb}</span>'
                    f'<span class="name">{link}</span><span class="status">{status}</span>'
                    f'<span class="reason">{reason}</span></li>')
    counts = {s: sum(1 for r in reports if r.get("status") == s)
              for s in ("ok", "skipped", "failed")}
    summary = ", ".join(f"{n} {s}" for s, n in counts.items())
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>cnnpipe batch</title><style>" + _asset("index.css") + "</style></head><body>"
        f"<h1>cnnpipe batch: {len(reports)} inputs</h1><p class=\"summary\">{summary}</p>"
        f'<ul class="inputs">{"".join(rows)}</ul></body></html>\n'
    )
    root.mkdir(parents=True, exist_ok=True)
    io.atomic_write(root / INDEX, page.encode("utf-8"))
    return root / INDEX




class RunResult:
    """One input run in memory (:func:`run_image`): its manifest, maps and report.

    In a notebook, the object displays as the interactive report (``_repr_html_``),
    with the map pictures inlined as ``data:`` URIs.

    Attributes
    ----------
    manifest : dict
        What ``manifest.json`` would hold for this run.
    maps : dict
        ``{file name: float32 array}`` for every map (``"01-conv-sobel-x.png"`` ...).
    """

    def __init__(self, manifest: dict, maps: dict, pictures: dict, config, collector):
        self.manifest = manifest
        self.maps = maps
        self._pictures = pictures
        self._config = config
        self._collector = collector

    def page_data(self) -> dict:
        return page_data(self.manifest, self._config, self._collector,
                         image_src=lambda name: self._pictures[name])

    def _repr_html_(self) -> str:
        return render_fragment(self.page_data())

    def html(self) -> str:
        """The report as a complete page (pictures inlined)."""
        return render_page(self.page_data())

    def __repr__(self) -> str:
        maps = len(self.manifest["maps"]) - 1
        return f"<cnnpipe RunResult {self.manifest['input'].get('path')!r}: {maps} maps>"


def run_image(image, kernels=None, *, pipeline=None, color: str = "gray", **layer_options):
    """Run one image (a path, or an array) and return a :class:`RunResult`.

    Parameters
    ----------
    image : str, Path or array_like
        An image or matrix file (as ``cnnpipe run`` reads it), or a 2-D array.
    kernels : list of str or Kernel, optional
        Kernel specs as ``-k`` takes them; default: the default detector set.
    pipeline : str or Path, optional
        A pipeline file (``run --pipeline``); then ``kernels`` and the layer options
        come from the file.
    color : {"gray", "rgb"}
    **layer_options
        :class:`cnnpipe.layer.Params` fields: ``conv_stride``, ``padding``, ``pool``,
        ``window`` ...

    Examples
    --------
    >>> result = run_image([[0, 1, 0], [1, 1, 1], [0, 1, 0]], ["box"], pool="none")
    >>> result.maps["01-conv-box.png"].tolist()
    [[0.5555555820465088]]
    """
    import tempfile

    from cnnpipe import kernels as K
    from cnnpipe.io.common import Loaded
    from cnnpipe.layer import Params
    from cnnpipe.outputs import RunConfig, write_outputs

    if isinstance(image, (str, os.PathLike)):
        loaded = io.load_image(image, color=color)
        loaded.info.setdefault("path", os.fspath(image))
    else:
        array = np.asarray(image, dtype=np.float32)
        loaded = Loaded(array, {"path": "array", "format": "array", "mode": "matrix",
                                "width": array.shape[-1], "height": array.shape[-2]})
    network = None
    if pipeline is not None:
        from cnnpipe.network import load_network

        network = load_network(pipeline, in_channels=3 if color == "rgb" else 1)
        kernels = network.all_kernels()
    elif kernels is None:
        kernels = [K.BUILTIN[name] for name in K.DEFAULT_KERNELS]
    else:
        specs = [k for k in kernels if isinstance(k, str)]
        parsed = iter(K.parse_kernel_specs(specs))
        kernels = [next(parsed) if isinstance(k, str) else k for k in kernels]
    config = RunConfig(params=Params(color=color, **layer_options), kernels=tuple(kernels),
                       npy=True, html=False, overview=False, threads=1, network=network)
    collector = Collector()
    with tempfile.TemporaryDirectory(prefix="cnnpipe-") as tmp:
        folder = Path(tmp) / "run"
        manifest = write_outputs(loaded, config, folder, loaded.info["path"])
        pictures, maps = {}, {}
        for entry in manifest["maps"]:
            png = (folder / entry["file"]).read_bytes()
            pictures[entry["file"]] = ("data:image/png;base64,"
                                       + base64.b64encode(png).decode("ascii"))
            values = np.load(folder / entry["npy"])
            maps[entry["file"]] = values
            if entry["stage"] == "input":
                collector.add_input(values)
            else:
                collector.add_map(entry["file"], values)
    return RunResult(manifest, maps, pictures, config, collector)


__all__ = ["Collector", "EXACT_BUDGET", "EXACT_CELLS", "INDEX", "REPORT", "RunResult", "legend",
           "page_data", "render_fragment", "render_page", "run_image", "write_index",
           "write_report"]
