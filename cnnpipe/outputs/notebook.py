"""One image in memory for a notebook: :func:`run_image` and its :class:`RunResult`.

The result displays as the interactive report (``_repr_html_``): the same page
as ``report.html``, with the map pictures inlined as ``data:`` URIs and every
value in the page (a notebook's output cell has no folder beside it).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import numpy as np

from cnnpipe import io
from cnnpipe.outputs.report import render_fragment, render_page
from cnnpipe.outputs.report_data import Collector, page_data


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

    from cnnpipe.layer import Params
    from cnnpipe.outputs import RunConfig, write_outputs

    loaded = _loaded(image, color)
    kernels, network = _detectors(kernels, pipeline, color)
    config = RunConfig(params=Params(color=color, **layer_options), kernels=tuple(kernels),
                       npy=True, html=False, overview=False, threads=1, network=network)
    collector = Collector(sidecars=False)
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


def _loaded(image, color: str):
    """A path read as ``cnnpipe run`` reads it, or an array as a matrix input."""
    from cnnpipe.io.common import Loaded

    if isinstance(image, (str, os.PathLike)):
        loaded = io.load_image(image, color=color)
        loaded.info.setdefault("path", os.fspath(image))
        return loaded
    array = np.asarray(image, dtype=np.float32)
    return Loaded(array, {"path": "array", "format": "array", "mode": "matrix",
                          "width": array.shape[-1], "height": array.shape[-2]})


def _detectors(kernels, pipeline, color: str):
    """(kernels, network): from a pipeline file, kernel specs and objects, or the defaults."""
    from cnnpipe import kernels as K

    if pipeline is not None:
        from cnnpipe.network import load_network

        network = load_network(pipeline, in_channels=3 if color == "rgb" else 1)
        return network.all_kernels(), network
    if kernels is None:
        return [K.BUILTIN[name] for name in K.DEFAULT_KERNELS], None
    specs = [k for k in kernels if isinstance(k, str)]
    parsed = iter(K.parse_kernel_specs(specs))
    return [next(parsed) if isinstance(k, str) else k for k in kernels], None


__all__ = ["RunResult", "run_image"]
