"""The per-input driver: grouped and one-at-a-time detectors give the reference maps."""

import numpy as np
import pytest
from conftest import SAMPLES
from numpy.testing import assert_allclose
from reference import ref_conv2d, ref_pool2d

from cnnpipe import layer
from cnnpipe.errors import ParameterError
from cnnpipe.kernels import Kernel
from cnnpipe.layer import Params, iter_detectors
from cnnpipe.ops import engines as _conv_fast


def _kernels(rng, shapes):
    return [Kernel(name=f"k{i}", weights=rng.standard_normal(shape).astype(np.float32))
            for i, shape in enumerate(shapes)]


def _expected(image, kernel, params):
    conv = ref_conv2d(image, kernel.weights, stride=params.conv_stride)
    if params.activation == "relu":
        act = np.maximum(conv, 0)
    elif params.activation == "leaky":
        act = np.where(conv > 0, conv, params.leak * conv)
    else:
        act = None
    source = conv if act is None else act
    pooled = None if params.pool == "none" else ref_pool2d(
        source, params.window, params.stride, params.pool, params.edge)
    return conv, act, pooled


# sizes that mix: a run of 3x3, a 2x4, more 3x3 (a new group), a 1x1
SHAPES = [(3, 3), (3, 3), (3, 3), (2, 4), (3, 3), (3, 3), (1, 1)]


@pytest.mark.parametrize("workers", [1, 3])
@pytest.mark.parametrize("group_bytes", [1, 10**9])
@pytest.mark.parametrize("params", [
    Params(),
    Params(activation="leaky", leak=0.1, pool="mean", window=3, stride=2),
    Params(conv_stride=2, activation="none", pool="max", window=2, edge="drop"),
    Params(pool="none"),
])
def test_every_detector_matches_the_reference_grouped_or_not(monkeypatch, workers, group_bytes,
                                                             params):
    # group_bytes=1: each detector alone; 10**9: every same-size run in one conv2d call;
    # workers: activation and pooling inline, or several detectors ahead in threads
    monkeypatch.setattr(layer, "GROUP_BYTES", group_bytes)
    rng = np.random.default_rng(3)
    image = rng.random((23, 19)).astype(np.float32)
    kernels = _kernels(rng, SHAPES)
    maps = list(iter_detectors(image, kernels, params, threads=workers))
    assert [m.kernel.name for m in maps] == [k.name for k in kernels]
    for det, kernel in zip(maps, kernels, strict=True):
        conv, act, pooled = _expected(image, kernel, params)
        assert det.conv.dtype == np.float32 and det.conv.flags.c_contiguous
        assert_allclose(det.conv, conv, rtol=1e-5, atol=1e-5)
        if act is None:
            assert det.relu is None
        else:
            assert_allclose(det.relu, act, rtol=1e-5, atol=1e-5)
        if pooled is None:
            assert det.pool is None
        else:
            assert_allclose(det.pool, pooled, rtol=1e-5, atol=1e-5)


def test_large_image_takes_the_threaded_tiled_engine_and_still_matches(monkeypatch):
    # what a real photo goes through: bands on 2 threads, many small tiles
    monkeypatch.setattr(_conv_fast, "IM2COL_MIN_THREADED", 1)
    monkeypatch.setattr(_conv_fast, "TILE_BYTES", 512)
    rng = np.random.default_rng(5)
    image = rng.random((61, 47)).astype(np.float32)
    kernels = _kernels(rng, [(3, 3)] * 4)
    for det, kernel in zip(iter_detectors(image, kernels, Params(), threads=2), kernels,
                           strict=True):
        conv, act, pooled = _expected(image, kernel, Params())
        assert_allclose(det.conv, conv, rtol=1e-5, atol=1e-5)
        assert_allclose(det.pool, pooled, rtol=1e-5, atol=1e-5)


def test_grouped_maps_do_not_share_memory(monkeypatch):
    # a consumer may keep or edit one detector's maps; the others must not change
    monkeypatch.setattr(layer, "GROUP_BYTES", 10**9)
    rng = np.random.default_rng(6)
    image = rng.random((12, 12)).astype(np.float32)
    maps = list(iter_detectors(image, _kernels(rng, [(3, 3)] * 3), Params()))
    before = maps[1].conv.copy()
    maps[0].conv[...] = 123.0
    assert_allclose(maps[1].conv, before)


def test_rgb_image_with_2d_detectors_gives_one_map_per_channel():
    rng = np.random.default_rng(7)
    image = rng.random((3, 10, 9)).astype(np.float32)
    kernels = _kernels(rng, [(3, 3), (2, 2)])
    params = Params(color="rgb")
    for det, kernel in zip(iter_detectors(image, kernels, params), kernels, strict=True):
        assert det.conv.shape[0] == 3
        for c in range(3):
            conv, act, pooled = _expected(image[c], kernel, params)
            assert_allclose(det.conv[c], conv, rtol=1e-5, atol=1e-5)
            assert_allclose(det.pool[c], pooled, rtol=1e-5, atol=1e-5)


def test_group_size_is_capped_by_bytes(monkeypatch):
    # 40 detectors on a 100x100 image: each conv map is 98*98*4 bytes; a cap of
    # three maps must give groups of at most three, in order
    monkeypatch.setattr(layer, "GROUP_BYTES", 3 * 98 * 98 * 4)
    rng = np.random.default_rng(8)
    image = rng.random((100, 100)).astype(np.float32)
    kernels = _kernels(rng, [(3, 3)] * 40)
    groups = layer._groups(image, kernels, Params())
    assert max(len(g) for g in groups) == 3
    assert [k.name for g in groups for k in g] == [k.name for k in kernels]


def test_blas_thread_limit_applies_inside_the_block_and_is_undone_after():
    # -j 1 must be one core: OpenBLAS's own threads would break that budget.
    from cnnpipe.ops import blas as _blas

    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]["name"]
    before = _blas.get_threads()
    if "openblas" in blas.lower():
        assert before is not None  # numpy's OpenBLAS was found, so it can be limited
    with _blas.threads(1):
        inside = _blas.get_threads()
    assert inside == (None if before is None else 1)
    assert _blas.get_threads() == before


# --- parameters: checked once, where they enter, in the parameters' own names ------------

@pytest.mark.parametrize("kwargs, start", [
    ({"stride": 0}, "`stride` must be >= 1"),
    ({"window": "2x0"}, "`window` must be >= 1"),
    ({"conv_stride": -1}, "`conv_stride` must be >= 1"),
    ({"padding": "wide"}, "`padding` must be valid, same, full"),
    ({"pool": "maxx"}, "`pool` must be one of max, mean"),
    ({"edge": "cut"}, "`edge` must be one of keep, drop"),
    ({"flip": "yes"}, "`flip` must be true or false"),
    ({"leak": float("nan")}, "`leak` must be a finite number"),
])
def test_params_refuse_a_bad_value_naming_the_parameter(kwargs, start):
    with pytest.raises(ParameterError) as info:
        Params(**kwargs)
    assert str(info.value).startswith(start)
    assert "--" not in str(info.value)


def test_params_are_read_once_into_plain_values():
    p = Params(window="3x2", padding=" SAME ", pool="avg", stride=None, conv_stride=[2, 1])
    assert (p.window, p.stride, p.padding, p.pool, p.conv_stride) == (
        (3, 2), (3, 2), "same", "mean", (2, 1))
    assert Params(padding="1,2,3,4").padding == (1, 2, 3, 4)


def test_core_errors_name_parameters_and_the_command_line_names_its_flags(invoke, tmp_path):
    from cnnpipe import pool2d

    with pytest.raises(ParameterError) as info:
        pool2d(np.ones((4, 4)), window=5, edge="drop")
    assert str(info.value).endswith('use a smaller `window` or `edge="keep"`')
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "--window", "6",
                    "--edge", "drop", "-o", tmp_path)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[0].endswith("use a smaller --window or --edge keep")
