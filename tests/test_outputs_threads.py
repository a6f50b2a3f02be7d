"""The writer's thread budget changes how fast a folder is written, never what is in it.

With more than one thread, the next detectors' mappings, PNG pixels and sheet
pictures are made in threads while the current one is handed to the writer
(cnnpipe/outputs/maps.py); with one thread everything runs in order. Both must
give the same bytes in every file and the same manifest, maps in kernel order.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from cnnpipe import io
from cnnpipe import kernels as K
from cnnpipe.layer import Params
from cnnpipe.outputs import RunConfig, write_outputs

NAMES = ("box", "sobel-x", "sobel-y", "laplacian", "sharpen", "gaussian")


def folder_bytes(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("ahead_bytes", [64 << 20, 0], ids=["ahead", "large-maps-in-turn"])
@pytest.mark.parametrize("pool", ["max", "mean"])
def test_one_thread_and_three_threads_write_the_same_bytes(tmp_path, monkeypatch, pool,
                                                           ahead_bytes):
    # ahead_bytes 0: every detector counts as large, so none is prepared ahead
    from cnnpipe.outputs import maps

    monkeypatch.setattr(maps, "AHEAD_BYTES", ahead_bytes)
    rng = np.random.default_rng(3)
    image = rng.random((97, 131)).astype(np.float32)
    path = tmp_path / "img.npy"
    np.save(path, image)
    loaded = io.load_image(str(path))
    written = {}
    for threads in (1, 3):
        config = RunConfig(params=Params(pool=pool), kernels=tuple(K.kernel(n) for n in NAMES),
                           threads=threads, out_root=str(tmp_path / f"out{threads}"))
        folder = tmp_path / f"out{threads}" / "img"
        manifest = write_outputs(loaded, config, folder)
        assert [m["kernel"] for m in manifest["maps"][1::3]] == list(NAMES)
        written[threads] = folder_bytes(folder)
    assert written[1].keys() == written[3].keys()
    assert len(written[1]) == 1 + 3 * len(NAMES) + 2  # input, maps, overview, manifest
    for name, data in written[1].items():
        if name == "manifest.json":
            assert json.loads(data) == json.loads(written[3][name])
        else:
            assert data == written[3][name], name
