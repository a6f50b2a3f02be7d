"""Property tests: cnnpipe.ops agrees with the slow loops of tests/reference.py."""

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from reference import ref_conv2d, ref_pool2d, ref_window_starts

from cnnpipe.errors import ParameterError
from cnnpipe.ops import conv2d, pool2d, pool_output_shape, pool_provenance, resolve_padding
from cnnpipe.ops import engines as _conv_fast
from cnnpipe.ops.args import as_padding, as_pair
from cnnpipe.ops.conv import convolve

SETTINGS = settings(max_examples=120, deadline=None)

sizes = st.integers(1, 12)
small = st.integers(1, 4)
pairs = st.one_of(small, st.tuples(small, small))
paddings = st.one_of(
    st.sampled_from(["valid", "same", "full"]),
    st.integers(0, 3),
    st.tuples(*[st.integers(0, 3)] * 4),
)


def _maps(draw, shape):
    seed = draw(st.integers(0, 2**32 - 1))
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


def _tolerance(x, k):
    # float32 sums of products: the error grows with the size of the terms
    return 1e-4 * max(1.0, float(np.abs(x).max() * np.abs(k).sum()))


@st.composite
def conv_cases(draw):
    h, w = draw(sizes), draw(sizes)
    kh, kw = draw(small), draw(small)
    channels, n_kernels = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    return {
        "x": _maps(draw, (channels, h, w)),
        "k": _maps(draw, (n_kernels, channels, kh, kw)),
        "stride": draw(pairs),
        "dilation": draw(pairs),
        "padding": draw(paddings),
        "pad_mode": draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"])),
        "flip": draw(st.booleans()),
    }


def _check_conv(case, threads=None):
    x, k = case["x"], case["k"]
    opts = {name: case[name] for name in ("stride", "dilation", "padding", "pad_mode", "flip")}
    try:
        if threads is None:
            out = conv2d(x, k, **opts)
        else:  # the engines' own entry, with a thread budget as `run -j` passes it
            out = convolve(x, k, as_pair(opts["stride"], "stride"), as_padding(opts["padding"]),
                           opts["pad_mode"], as_pair(opts["dilation"], "dilation"),
                           opts["flip"], threads=threads)
    except ParameterError:
        # only for the documented reasons: nothing left, or too much reflect/circular padding
        pad = resolve_padding(case["padding"], x.shape[1:], k.shape[2:], case["stride"],
                              case["dilation"])
        too_much = {"reflect": lambda p, n: p > n - 1, "circular": lambda p, n: p > n}
        rule = too_much.get(case["pad_mode"])
        over = rule is not None and (any(rule(p, x.shape[1]) for p in pad[:2])
                                     or any(rule(p, x.shape[2]) for p in pad[2:]))
        empty = ref_conv2d(x[0], k[0, 0], case["stride"], pad, "zeros",
                           case["dilation"]).size == 0
        assert over or empty
        return
    pad = resolve_padding(case["padding"], x.shape[1:], k.shape[2:], case["stride"],
                          case["dilation"])
    expected = np.stack([
        sum(ref_conv2d(x[c], k[o, c], case["stride"], pad, case["pad_mode"], case["dilation"],
                       case["flip"]) for c in range(x.shape[0]))
        for o in range(k.shape[0])
    ])
    assert out.dtype == np.float32
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-5, atol=_tolerance(x, k))


@SETTINGS
@given(conv_cases())
def test_conv2d_matches_reference(case):
    _check_conv(case)


@SETTINGS
@given(conv_cases(), st.sampled_from(["im2col", "fft"]))
def test_both_engines_match_reference(case, method):
    # force the engine and make tiles tiny, so tiling and the FFT are exercised on every case
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_conv_fast, "FFT_MIN_TAPS", 1 if method == "fft" else 10**9)
        mp.setattr(_conv_fast, "TILE_BYTES", 32)
        # the threaded bands of output rows too, on every case big enough for two
        mp.setattr(_conv_fast, "IM2COL_MIN_THREADED", 1)
        _check_conv(case, threads=2)


@SETTINGS
@given(st.data())
def test_2d_forms_match_reference(data):
    x = _maps(data.draw, (data.draw(sizes), data.draw(sizes)))
    k = _maps(data.draw, (data.draw(small), data.draw(small)))
    assume(k.shape[0] <= x.shape[0] and k.shape[1] <= x.shape[1])
    stride = data.draw(pairs)
    assert_allclose(conv2d(x, k, stride=stride), ref_conv2d(x, k, stride), rtol=1e-5,
                    atol=_tolerance(x, k))
    stacked = conv2d(x, np.stack([k, -k]), stride=stride)
    assert_allclose(stacked[1], -stacked[0], rtol=1e-5, atol=_tolerance(x, k))


@st.composite
def pool_cases(draw):
    return {
        "x": _maps(draw, (draw(sizes), draw(sizes))),
        "window": draw(pairs),
        "stride": draw(st.one_of(st.none(), pairs)),
        "mode": draw(st.sampled_from(["max", "mean", "avg", "sum", "min", "l2"])),
        "edge": draw(st.sampled_from(["keep", "drop"])),
    }


@SETTINGS
@given(pool_cases())
def test_pool2d_matches_reference(case):
    x = case["x"]
    args = (case["window"], case["stride"], case["mode"], case["edge"])
    expected = ref_pool2d(x, *args)
    if expected.size == 0:  # drop with a window larger than the map
        with pytest.raises(ParameterError, match="larger than the"):
            pool2d(x, *args)
        return
    out = pool2d(x, *args)
    assert out.shape == expected.shape == pool_output_shape(x.shape, *args[:2], args[3])
    assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


@SETTINGS
@given(pool_cases())
def test_provenance_points_at_the_winner(case):
    x, mode = case["x"], case["mode"]
    args = (case["window"], case["stride"], mode, case["edge"])
    assume(ref_pool2d(x, *args).size > 0)
    p = pool_provenance(x, *args)
    kh, kw = (case["window"],) * 2 if isinstance(case["window"], int) else case["window"]
    assert np.array_equal(p["count"], (p["row1"] - p["row0"]) * (p["col1"] - p["col0"]))
    assert np.array_equal(p["partial"], p["count"] < kh * kw)
    if mode in ("max", "min"):
        assert np.array_equal(x[p["winner_row"], p["winner_col"]], p["value"])
        assert (p["winner_row"] >= p["row0"]).all() and (p["winner_row"] < p["row1"]).all()
        assert (p["winner_col"] >= p["col0"]).all() and (p["winner_col"] < p["col1"]).all()


@SETTINGS
@given(sizes, small, small)
def test_keep_windows_cover_the_map(n, k, s):
    # with keep and stride <= window, every cell lies in some window
    assume(s <= k)
    starts = ref_window_starts(n, k, s, "keep")
    covered = set()
    for start in starts:
        covered.update(range(start, min(start + k, n)))
    assert covered == set(range(n))
    assert pool_output_shape((n, 1), (k, 1), (s, 1))[0] == len(starts)
