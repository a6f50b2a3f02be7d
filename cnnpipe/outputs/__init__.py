"""Write one input's maps, overviews and manifest into its output folder: one writer
for a one-layer run and for a stack of layers (``run --pipeline``).

The entry point is :func:`write_outputs` ``(loaded, config, folder)``. Every file
is written atomically (temporary name, then rename) into a hidden staging folder
beside the input's folder, the manifest last; the complete staging folder then
replaces the input's folder all at once (:mod:`.swap`), so a failed re-run leaves
the previous result whole, and a re-run with fewer detectors leaves no stale map.
The pieces: :mod:`.folder` (atomic background writes, where folders go),
:mod:`.swap` (staging, swap, recovery after a kill), :mod:`.maps` (file names,
map entries, overview sheets, provenance).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnpipe import interrupt, io, layer
from cnnpipe.io.jsonfile import load_json
from cnnpipe.layer import Params
from cnnpipe.network import Layer
from cnnpipe.outputs import maps, swap
from cnnpipe.outputs.folder import Writer, make_parent
from cnnpipe.outputs.maps import map_filename, overview_filename, params_summary
from cnnpipe.outputs.swap import MANIFEST, PREVIOUS, recover

STAGE_PREFIX = maps.STAGE_PREFIX


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what is written for one input (picklable).

    ``network`` is a :class:`cnnpipe.network.Network` for ``run --pipeline``;
    without it the run is one layer of ``kernels`` with ``params``.
    """

    params: Params
    kernels: tuple
    out_root: str = "cnnpipe-out"
    npy: bool = False
    cmap: str = "auto"
    scale: str = "robust"  # pictures.mapping.DEFAULT_SCALE
    bit_depth: int = 8
    overview: bool = True
    png_compression: int = 1
    max_pixels: int | None = None
    provenance: bool = False
    threads: int = 2
    extra: dict = field(default_factory=dict)
    network: object = None
    html: bool = False  # also write report.html (cnnpipe.outputs.report)

    @property
    def stacked(self) -> bool:
        """True for a ``--pipeline`` run: files carry layer prefixes, the manifest ``layers``."""
        return self.network is not None

    def layers(self) -> tuple:
        """The layers to run: the network's, or one layer of ``kernels`` with ``params``."""
        if self.network is not None:
            return tuple(self.network.layers)
        return (Layer(1, tuple(self.kernels), self.params),)

    def options(self) -> dict:
        """The output options, as recorded in the manifest."""
        options = {"npy": self.npy, "cmap": self.cmap, "scale": self.scale,
                   "bit_depth": self.bit_depth, "overview": self.overview,
                   "png_compression": self.png_compression, "provenance": self.provenance}
        if self.html:
            options["html"] = True
        return options

    def digest(self) -> str:
        """A fingerprint of the parameters, detectors and output options."""
        h = hashlib.sha256()
        h.update(json.dumps([self.params.to_dict(), self.options()], sort_keys=True).encode())
        for k in self.kernels:
            h.update(k.name.encode())
            h.update(str(k.weights.shape).encode())
            h.update(np.ascontiguousarray(k.weights, dtype=np.float32).tobytes())
        if self.network is not None:
            h.update(json.dumps(self.network.digest_parts(), sort_keys=True).encode())
        return h.hexdigest()


def planned_files(config: RunConfig) -> list[str]:
    """The files a run with ``config`` writes into an input's folder (for --dry-run)."""
    files = [map_filename("input", None)] + (
        [map_filename("input", None, ".npy")] if config.npy else [])
    for lay in config.layers():
        number = lay.number if config.stacked else None
        for name in lay.detector_names():
            for stage in maps.stages(lay.params):
                files.append(map_filename(stage, name, layer=number))
                if config.npy:
                    files.append(map_filename(stage, name, ".npy", layer=number))
        if config.overview:
            files.append(overview_filename(number))
    if config.html:
        files.append("report.html")
    files.append(MANIFEST)
    return files


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a completed earlier run, or None."""
    data = load_json(folder / MANIFEST)
    return data if isinstance(data, dict) else None


def is_complete(folder: Path, config: RunConfig, fingerprint: str | None = None) -> bool:
    """True when ``folder`` holds a finished run with these exact settings.

    With ``fingerprint``, the run must also have been of that input (see
    :func:`cnnpipe.batch.fingerprint`): another file with the same folder name,
    a changed file or other standard input is not done yet.
    """
    manifest = read_manifest(folder)
    if not manifest or manifest.get("digest") != config.digest():
        return False
    if fingerprint is not None:
        recorded = manifest.get("input")
        if not isinstance(recorded, dict) or recorded.get("fingerprint") != fingerprint:
            return False
    return all((folder / name).is_file() for name in manifest.get("files", []))


def check_shapes(image: np.ndarray, config: RunConfig) -> None:
    """Raise ParameterError (naming the sizes) when a detector or the pooling window of
    the first layer cannot fit; later layers fail, leaving no file, when they run."""
    first = config.layers()[0]
    for kernel in first.kernels:
        layer.check_kernel_fits(image, kernel, first.params)
    if not config.stacked:
        layer.check_shapes(image.shape, first.kernels, first.params)


def write_outputs(loaded, config: RunConfig, folder: Path, source_label: str | None = None
                  ) -> dict:
    """Run every layer on ``loaded`` and write ``folder``; return the manifest.

    Parameters
    ----------
    loaded : cnnpipe.io.Loaded
        The input as loaded (``array`` and ``info``; ``info["fingerprint"]``, when
        set, names the input in the folder's records).
    config : RunConfig
        Parameters, detectors or network, and output options.
    folder : Path
        The input's own output folder (made when missing).
    source_label : str, optional
        The input's name in sheet titles (default: ``info["path"]``, ``stdin`` for ``-``).

    The folder is replaced all at once or not at all: the run writes into a
    staging folder beside it (:func:`cnnpipe.outputs.swap.start`), which takes
    ``folder``'s place only once complete; on any error or interrupt the staging
    folder is removed, ``folder`` untouched, and the exception propagates. The
    caller holds the folder's lock (:func:`cnnpipe.batch.folder_lock`) or is its
    only writer: what dead runs left beside ``folder`` is cleaned up first.
    """
    if source_label is None:
        path = str(loaded.info.get("path", "input"))
        source_label = "stdin" if path == "-" else path
    check_shapes(loaded.array, config)  # a detector that cannot fit fails before any file exists
    make_parent(folder, Path(config.out_root))
    recover(folder)
    staging = swap.start(folder)
    writer = Writer(staging, config.threads)
    try:
        swap.mark(staging)
        manifest = _write_all(loaded, config, staging, source_label, writer)
        swap.swap(staging, folder)
    except BaseException:
        writer.abort()
        swap.abandon(staging, ours=True)  # nothing of this run stays; the previous is in place
        raise
    return manifest


def _write_all(loaded, config: RunConfig, folder: Path, source_label: str, writer) -> dict:
    layers = config.layers()
    layers_meta = []
    if config.html:  # report.html needs the input's values and the small maps' values
        from cnnpipe.outputs.report import Collector

        writer.report = Collector()
        writer.report.add_input(loaded.array)
    try:
        inp = maps.write_input(writer, loaded.array, config, config.stacked)
        x = loaded.array
        for lay in layers:
            sheet = maps.new_sheet(config, source_label, inp, lay, len(layers), config.stacked,
                                   x.shape[-2:])
            result = maps.write_layer(writer, x, lay, config, stacked=config.stacked,
                                      sheet=sheet, keep_output=lay is not layers[-1])
            x = result.output
            overview = None
            if sheet is not None:
                overview = overview_filename(lay.number if config.stacked else None)
                # drawn here, while the writer's threads encode the last maps: the
                # calling thread would otherwise only wait, and the sheet is the tail
                sheet_png = sheet.to_png_bytes(compression=config.png_compression)
                writer.raw(overview, lambda data=sheet_png: data)
            layers_meta.append({"layer": lay, "result": result, "overview": overview})
            del sheet, result
        if writer.report is not None:  # in the background beside the last PNGs; in "files"
            from cnnpipe.outputs.report import REPORT, report_bytes

            for name, make_bytes in writer.report.sidecar_files():  # a large input's values
                writer.raw(name, make_bytes)
            draft = _manifest(loaded, config, inp.entry, layers_meta, writer.written + [REPORT])
            writer.raw(REPORT, report_bytes(draft, config, writer.report))
    finally:
        writer.finish()
    interrupt.check()  # an interrupt swallowed during the last maps: no manifest, no folder
    manifest = _manifest(loaded, config, inp.entry, layers_meta, writer.written)
    io.atomic_write(folder / MANIFEST,
                    (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    return manifest


def _manifest(loaded, config: RunConfig, input_entry: dict, layers_meta: list,
              written: list) -> dict:
    from cnnpipe import __version__

    all_maps = [input_entry] + [m for meta in layers_meta for m in meta["result"].maps]
    head = {"cnnpipe": __version__,
            "input": {**loaded.info, "shape": list(loaded.array.shape)}}
    tail = {"maps": all_maps, "files": sorted(set(written) | {MANIFEST}),
            "digest": config.digest()}
    if not config.stacked:
        return {**head, "params": {**config.params.to_dict(), **config.options()},
                "kernels": [maps.kernel_meta(k) for k in config.kernels],
                "maps": all_maps, "overview": layers_meta[0]["overview"], **tail}
    network = config.network
    layers = [{**meta["layer"].to_dict(),
               "kernels": [maps.kernel_meta(k) for k in meta["layer"].kernels],
               "detectors": meta["result"].detectors, "maps": meta["result"].maps,
               "overview": meta["overview"], "output_shape": list(meta["result"].output_shape)}
              for meta in layers_meta]
    return {**head,
            "pipeline": {"file": network.source, "description": network.description,
                         "layers": len(network.layers)},
            "params": {"color": config.params.color, **config.options()},
            "kernels": [{**maps.kernel_meta(k), "layer": lay.number}
                        for lay in network.layers for k in lay.kernels],
            "layers": layers, "maps": all_maps,
            "overview": [meta["overview"] for meta in layers_meta if meta["overview"]], **tail}


__all__ = ["MANIFEST", "PREVIOUS", "STAGE_PREFIX", "RunConfig", "check_shapes", "is_complete",
           "map_filename", "overview_filename", "params_summary", "planned_files",
           "read_manifest", "recover", "write_outputs"]
