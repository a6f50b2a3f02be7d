"""cnnpipe.ops against arrays worked out by hand and against tests/reference.py."""

import subprocess
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from reference import ref_conv2d, ref_pool2d

from cnnpipe.errors import ParameterError
from cnnpipe.ops import (
    as_pair,
    conv2d,
    conv_output_shape,
    pool2d,
    pool_output_shape,
    pool_output_size,
    pool_provenance,
    pool_windows,
    relu,
    resolve_padding,
)
from cnnpipe.ops import engines as _conv_fast
from cnnpipe.ops.args import as_padding
from cnnpipe.ops.conv import convolve

# The SPEC's pooling anchor: a 5x5 feature map, 2x2 windows, stride 2.
ANCHOR = np.array(
    [
        [1, 2, 0, 4, 1],
        [3, 0, 1, 1, 0],
        [0, 5, 2, 0, 2],
        [1, 1, 0, 3, 1],
        [2, 0, 4, 1, 7],
    ],
    dtype=np.float32,
)

# 2x3 map used to show each padding mode (a 1x1 identity kernel returns the
# padded map itself).
SMALL = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)


# --------------------------------------------------------------------- conv2d


def test_seven_by_seven_and_three_by_three_give_five_by_five():
    x = np.arange(49, dtype=np.float32).reshape(7, 7)
    out = conv2d(x, np.ones((3, 3)))
    assert out.shape == (5, 5)
    # a 3x3 box over a linear ramp is 9 times the centre value
    assert_array_equal(out, 9 * x[1:6, 1:6])
    assert out.dtype == np.float32


def test_kernel_is_not_flipped_and_flip_rotates_it():
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32)
    right = np.array([[0, 1], [0, 0]])  # correlation reads the right neighbour
    assert_array_equal(conv2d(x, right), [[2, 3], [5, 6]])
    # rotated by 180 degrees it reads the lower neighbour
    assert_array_equal(conv2d(x, right, flip=True), [[4, 5], [7, 8]])


def test_asymmetric_kernel_by_hand():
    x = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], dtype=np.float32)
    k = np.array([[1, 2], [3, 4]])
    assert_array_equal(conv2d(x, k), [[37, 47], [67, 77]])
    assert_array_equal(conv2d(x, k, flip=True), [[23, 33], [53, 63]])


@pytest.mark.parametrize(
    "pad_mode, expected",
    [
        ("zeros", [[0, 0, 0, 0, 0], [0, 1, 2, 3, 0], [0, 4, 5, 6, 0], [0, 0, 0, 0, 0]]),
        ("replicate", [[1, 1, 2, 3, 3], [1, 1, 2, 3, 3], [4, 4, 5, 6, 6], [4, 4, 5, 6, 6]]),
        ("reflect", [[5, 4, 5, 6, 5], [2, 1, 2, 3, 2], [5, 4, 5, 6, 5], [2, 1, 2, 3, 2]]),
        ("circular", [[6, 4, 5, 6, 4], [3, 1, 2, 3, 1], [6, 4, 5, 6, 4], [3, 1, 2, 3, 1]]),
    ],
)
def test_each_pad_mode_by_hand(pad_mode, expected):
    assert_array_equal(conv2d(SMALL, [[1]], padding=1, pad_mode=pad_mode), expected)


@pytest.mark.parametrize("padding", [(1, 0, 0, 2), [1, 0, 0, 2], "1,0,0,2", "1 0 0 2"])
def test_four_int_padding_is_top_bottom_left_right(padding):
    assert_array_equal(
        conv2d(SMALL, [[1]], padding=padding),
        [[0, 0, 0, 0, 0], [1, 2, 3, 0, 0], [4, 5, 6, 0, 0]],
    )


def test_int_padding_as_string():
    assert_array_equal(conv2d(SMALL, [[1]], padding="1"), conv2d(SMALL, [[1]], padding=1))


def test_same_padding_sizes():
    x = np.ones((7, 7), np.float32)
    assert conv2d(x, np.ones((3, 3)), padding="same").shape == (7, 7)
    assert conv2d(x, np.ones((3, 3)), padding="same", stride=2).shape == (4, 4)
    # an even kernel: the smaller half before, the larger after
    assert resolve_padding("same", (5, 5), (4, 4)) == (1, 2, 1, 2)
    assert resolve_padding("same", (7, 7), (3, 3), stride=2) == (1, 1, 1, 1)
    assert resolve_padding("same", (8, 8), (3, 3), stride=2) == (0, 1, 0, 1)


def test_same_padding_with_even_kernel_by_hand():
    x = np.array([[1, 2], [3, 4]], dtype=np.float32)
    # total padding 1 per axis, all of it after: out[i, j] = sum of x[i:i+2, j:j+2]
    assert_array_equal(conv2d(x, np.ones((2, 2)), padding="same"), [[10, 6], [7, 4]])


def test_full_padding_sizes():
    assert resolve_padding("full", (5, 5), (3, 3)) == (2, 2, 2, 2)
    assert resolve_padding("full", (5, 5), (3, 3), dilation=2) == (4, 4, 4, 4)
    assert conv2d(np.ones((5, 5)), np.ones((3, 3)), padding="full").shape == (7, 7)
    # the corner of a full convolution sees a single pixel
    assert conv2d(np.ones((5, 5)), np.ones((3, 3)), padding="full")[0, 0] == 1


def test_stride_and_dilation_by_hand():
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    assert_array_equal(conv2d(x, [[1]], stride=2), x[::2, ::2])
    assert_array_equal(conv2d(x, [[1]], stride=(1, 3)), x[:, ::3])
    # taps two columns apart: x[i, j] - x[i, j + 2] == -2 on this ramp
    out = conv2d(x, [[1, -1]], dilation=2)
    assert out.shape == (5, 3)
    assert_array_equal(out, np.full((5, 3), -2))


def test_several_detectors_on_one_map():
    x = np.arange(16, dtype=np.float32).reshape(4, 4)
    out = conv2d(x, [[[1, 0], [0, 0]], [[0, 0], [0, 1]]])
    assert out.shape == (2, 3, 3)
    assert_array_equal(out[0], x[:3, :3])
    assert_array_equal(out[1], x[1:, 1:])


def test_multichannel_sums_over_channels():
    x = np.stack([np.ones((3, 3)), 2 * np.ones((3, 3))]).astype(np.float32)
    k = np.array([[[[1, 1], [1, 1]], [[1, 0], [0, 0]]]])  # (K=1, C=2, 2, 2)
    out = conv2d(x, k)
    assert out.shape == (1, 2, 2)
    assert_array_equal(out, np.full((1, 2, 2), 4 * 1 + 2))


def test_non_square_kernel_against_reference():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((9, 11))
    k = rng.standard_normal((2, 5))
    assert_allclose(conv2d(x, k), ref_conv2d(x, k), rtol=1e-5, atol=1e-5)


def test_output_too_small_names_the_sizes():
    with pytest.raises(ParameterError) as info:
        conv2d(np.ones((2, 5)), np.ones((3, 3)))
    message = str(info.value)
    # 2 rows, 5 columns: written width first, with the order said
    assert "3x0 (WxH)" in message and "input 5x2" in message and "kernel 3x3" in message
    assert '`padding="same"`' in message and "--padding" not in message  # the API's words


@pytest.mark.parametrize(
    "x_shape, k_shape",
    [((3, 5, 5), (3, 3)), ((3, 5, 5), (2, 3, 3)), ((2, 5, 5), (4, 3, 3, 3)),
     ((5, 5), (2, 3, 3, 3)), ((5,), (3,)), ((1, 1, 5, 5), (1, 1, 3, 3))],
)
def test_shape_mismatch_names_the_shapes(x_shape, k_shape):
    with pytest.raises(ParameterError) as info:
        conv2d(np.ones(x_shape), np.ones(k_shape))
    assert str(x_shape) in str(info.value) or str(k_shape) in str(info.value)


def test_reflect_padding_larger_than_the_map_is_refused():
    with pytest.raises(ParameterError, match="reflect padding of 2"):
        conv2d(SMALL, [[1]], padding=2, pad_mode="reflect")
    with pytest.raises(ParameterError, match="wrap around"):
        conv2d(SMALL, [[1]], padding=3, pad_mode="circular")
    # replicate and zeros have no such limit
    assert conv2d(SMALL, [[1]], padding=5, pad_mode="replicate").shape == (12, 13)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"stride": 0}, "`stride` must be >= 1 (got 0)"),
        ({"dilation": -1}, "`dilation` must be >= 1"),
        ({"stride": 1.5}, "`stride` must be an int"),
        ({"padding": "sometimes"}, "`padding` must be valid, same, full"),
        ({"padding": -1}, "`padding` must be >= 0"),
        ({"padding": (1, 2, 3)}, "`padding`"),
        ({"pad_mode": "mirror"},
         "`pad_mode` must be one of zeros, reflect, replicate, circular (got 'mirror')"),
        ({"flip": "yes"}, "`flip` must be True or False"),
    ],
)
def test_bad_conv_arguments_are_named(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        conv2d(np.ones((5, 5)), np.ones((3, 3)), **kwargs)
    assert fragment in str(info.value)


def test_parameter_error_is_a_value_error():
    with pytest.raises(ValueError):
        conv2d(np.ones((5, 5)), np.ones((3, 3)), stride=0)


def test_non_finite_values_stay_local():
    x = np.ones((6, 6), np.float32)
    x[0, 0] = np.nan
    for k in (np.ones((2, 2)), np.ones((5, 5))):
        out = conv2d(x, k)
        assert np.isnan(out[0, 0])
        assert np.isfinite(out[1:, 1:]).all()
    # also on the FFT path, which must not smear the NaN across the map
    out = conv2d(np.pad(x, ((0, 20), (0, 20)), constant_values=1), np.ones((13, 13)))
    assert np.isnan(out[0, 0]) and np.isfinite(out[1:, 1:]).all()


def test_inputs_are_not_modified():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 8, 8)).astype(np.float32)
    k = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    x0, k0 = x.copy(), k.copy()
    for mode in ("zeros", "reflect", "replicate", "circular"):
        conv2d(x, k, padding="same", pad_mode=mode, flip=True)
    y = relu(x, leak=0.1)
    y += 1  # the result is a new array, not a view of x
    relu(x)
    for pool_mode in ("max", "mean", "sum", "min", "l2"):
        pool2d(x, 3, 2, mode=pool_mode)
    assert_array_equal(x, x0)
    assert_array_equal(k, k0)


def _random_case(seed, x_shape, k_shape):
    rng = np.random.default_rng(seed)
    return rng.standard_normal(x_shape), rng.standard_normal(k_shape)


def _ref_multichannel(x, k, **kwargs):
    return np.stack([sum(ref_conv2d(x[c], k[o, c], **kwargs) for c in range(x.shape[0]))
                     for o in range(k.shape[0])])


@pytest.mark.parametrize("method", ["im2col", "fft"])
@pytest.mark.parametrize(
    "stride, dilation, padding, pad_mode",
    [(1, 1, "valid", "zeros"), (2, 1, "same", "reflect"), ((1, 2), 2, "full", "zeros"),
     (3, (2, 1), (1, 2, 0, 3), "circular"), (1, 3, 2, "replicate")],
)
def test_fft_and_tiled_paths_match_reference(monkeypatch, method, stride, dilation, padding,
                                             pad_mode):
    if method == "fft":
        monkeypatch.setattr(_conv_fast, "FFT_MIN_TAPS", 1)
    # tiny tiles: many tiles and a short last one; bands of rows on 3 threads
    monkeypatch.setattr(_conv_fast, "TILE_BYTES", 64)
    monkeypatch.setattr(_conv_fast, "IM2COL_MIN_THREADED", 1)
    x, k = _random_case(3, (2, 13, 11), (3, 2, 3, 4))
    out = convolve(x, k, as_pair(stride, "stride"), as_padding(padding), pad_mode,
                   as_pair(dilation, "dilation"), False, threads=3)
    pad = resolve_padding(padding, (13, 11), (3, 4), stride, dilation)
    expected = _ref_multichannel(x, k, stride=stride, pad=pad, pad_mode=pad_mode,
                                 dilation=dilation)
    assert out.shape == expected.shape
    assert_allclose(out, expected, rtol=1e-5, atol=1e-4)


def test_fft_path_is_the_default_for_large_kernels():
    x, k = _random_case(4, (40, 37), (2, 15, 14))
    assert 15 * 14 >= _conv_fast.FFT_MIN_TAPS
    out = conv2d(x, k, flip=True)
    for i in range(2):
        assert_allclose(out[i], ref_conv2d(x, k[i], flip=True), rtol=1e-5, atol=1e-4)


def test_conv_output_shape_matches_conv2d():
    assert conv_output_shape((7, 7), (3, 3)) == (5, 5)
    assert conv_output_shape((10, 9), (3, 2), stride=(2, 3), padding=1, dilation=2) == (4, 3)
    assert conv2d(np.ones((10, 9)), np.ones((3, 2)), stride=(2, 3), padding=1,
                  dilation=2).shape == (4, 3)


# ----------------------------------------------------------------------- relu


def test_relu_and_leaky_relu_by_hand():
    x = np.array([-2.0, -0.5, 0.0, 3.0])
    assert_array_equal(relu(x), [0, 0, 0, 3])
    assert_allclose(relu(x, leak=0.1), [-0.2, -0.05, 0, 3], rtol=1e-6)
    assert_array_equal(relu(x, leak=2.0), [-4, -1, 0, 3])
    assert_array_equal(relu(x, leak=-1.0), [2, 0.5, 0, 3])
    assert relu(np.array([[1, -1]], dtype=np.int64)).dtype == np.float32
    assert np.isnan(relu([np.nan])[0]) and np.isnan(relu([np.nan], leak=0.01)[0])


@pytest.mark.parametrize("leak", [float("nan"), float("inf"), "0.1", None, True])
def test_relu_rejects_bad_leak(leak):
    with pytest.raises(ParameterError, match="`leak` must be a finite number"):
        relu(np.ones(3), leak=leak)


# -------------------------------------------------------------------- pooling


def test_pooling_anchor_five_by_five_to_three_by_three():
    out = pool2d(ANCHOR)
    assert out.shape == (3, 3)
    assert out[0, 0] == ANCHOR[:2, :2].max()
    assert out[2, 2] == ANCHOR[4, 4]
    assert_array_equal(out, [[3, 4, 1], [5, 3, 2], [2, 4, 7]])


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("max", [[3, 4, 1], [5, 3, 2], [2, 4, 7]]),
        ("min", [[0, 0, 0], [0, 0, 1], [0, 1, 7]]),
        ("sum", [[6, 6, 1], [7, 5, 3], [2, 5, 7]]),
        # partial windows divide by the cells inside the map: 2 at the edges, 1 in the corner
        ("mean", [[1.5, 1.5, 0.5], [1.75, 1.25, 1.5], [1, 2.5, 7]]),
        ("avg", [[1.5, 1.5, 0.5], [1.75, 1.25, 1.5], [1, 2.5, 7]]),
        ("l2", np.sqrt([[14, 18, 1], [27, 13, 5], [4, 17, 49]])),
    ],
)
def test_every_pooling_mode_with_partial_windows(mode, expected):
    assert_allclose(pool2d(ANCHOR, mode=mode), expected, rtol=1e-6)


def test_drop_keeps_whole_windows_only():
    assert_array_equal(pool2d(ANCHOR, edge="drop"), [[3, 4], [5, 3]])
    assert_array_equal(pool2d(ANCHOR, edge="drop", mode="mean"), [[1.5, 1.5], [1.75, 1.25]])


def test_mean_divisor_with_overlapping_partial_windows():
    x = np.array([[1, 2, 3, 10]], dtype=np.float32)
    # windows of 3 at stride 2 start at 0 and 2; the second holds 3 and 10 only
    assert_array_equal(pool2d(x, window=(1, 3), stride=(1, 2), mode="mean"), [[2, 6.5]])


def test_window_larger_than_the_map():
    x = np.array([[1, 5], [3, 2]], dtype=np.float32)
    assert_array_equal(pool2d(x, window=3), [[5]])  # keep: one partial window
    assert_array_equal(pool2d(x, window=3, mode="mean"), [[2.75]])
    with pytest.raises(ParameterError, match="pooling window 3x3 is larger than the 2x2"):
        pool2d(x, window=3, edge="drop")


def test_stride_larger_than_window_skips_cells():
    x = np.array([[5, 6, 7, 8, 9]], dtype=np.float32)
    assert_array_equal(pool2d(x, window=1, stride=3), [[5, 8]])


def test_pooling_keeps_leading_axes():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 3, 7, 6)).astype(np.float32)
    out = pool2d(x, window="3x2", stride=(2, 1), mode="l2")
    assert out.shape == (2, 3, 3, 5)
    for a in range(2):
        for b in range(3):
            expected = ref_pool2d(x[a, b], (3, 2), (2, 1), "l2", "keep")
            assert_allclose(out[a, b], expected, rtol=1e-5)


def test_overlapping_three_by_three_stride_two_against_reference():
    rng = np.random.default_rng(6)
    x = rng.standard_normal((12, 9))
    for mode in ("max", "mean", "sum", "min", "l2"):
        for edge in ("keep", "drop"):
            assert_allclose(pool2d(x, 3, 2, mode, edge), ref_pool2d(x, 3, 2, mode, edge),
                            rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "kwargs, fragment",
    [
        ({"mode": "mx"},
         "`mode` must be one of max, mean, avg, sum, min, l2 (got 'mx'); did you mean 'max'?"),
        ({"edge": "pad"}, "`edge` must be one of keep, drop (got 'pad')"),
        ({"window": 0}, "`window` must be >= 1 (got 0)"),
        ({"stride": 0}, "`stride` must be >= 1 (got 0)"),
        ({"window": "2y3"}, "`window` must be an int or a pair of ints"),
    ],
)
def test_bad_pool_arguments_are_named(kwargs, fragment):
    with pytest.raises(ParameterError) as info:
        pool2d(ANCHOR, **kwargs)
    assert fragment in str(info.value)


def test_pool_needs_two_axes():
    with pytest.raises(ParameterError, match="at least 2 axes"):
        pool2d(np.ones(5))


def test_pool_output_sizes():
    assert pool_output_size(5, 2, 2, "keep") == 3
    assert pool_output_size(5, 2, 2, "drop") == 2
    assert pool_output_size(6, 3, 2, "keep") == 3  # starts 0, 2, 4; the last is partial
    assert pool_output_size(7, 3, 2, "keep") == 3  # starts 0, 2, 4; the last ends at 7
    assert pool_output_size(5, 1, 3, "keep") == 2  # a start at 6 would be past the map
    assert pool_output_size(2, 3, 1, "keep") == 1
    with pytest.raises(ParameterError, match="longer than the feature map"):
        pool_output_size(2, 3, 1, "drop")
    assert pool_output_shape((5, 7), (2, 3), edge="drop") == (2, 2)


def test_pool_windows_are_clipped():
    assert pool_windows(5, 2, 2) == [(0, 2), (2, 4), (4, 5)]
    assert pool_windows(5, 2, 2, "drop") == [(0, 2), (2, 4)]
    assert pool_windows(6, 3, 2) == [(0, 3), (2, 5), (4, 6)]


def test_provenance_of_the_anchor():
    p = pool_provenance(ANCHOR)
    assert_array_equal(p["value"], [[3, 4, 1], [5, 3, 2], [2, 4, 7]])
    assert_array_equal(p["winner_row"], [[1, 0, 0], [2, 3, 2], [4, 4, 4]])
    assert_array_equal(p["winner_col"], [[0, 3, 4], [1, 3, 4], [0, 2, 4]])
    assert_array_equal(p["row0"], [[0, 0, 0], [2, 2, 2], [4, 4, 4]])
    assert_array_equal(p["row1"], [[2, 2, 2], [4, 4, 4], [5, 5, 5]])
    assert_array_equal(p["col1"], [[2, 4, 5], [2, 4, 5], [2, 4, 5]])
    assert_array_equal(p["count"], [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    assert_array_equal(p["partial"], [[0, 0, 1], [0, 0, 1], [1, 1, 1]])


def test_provenance_winner_is_first_in_row_major_order():
    x = np.array([[0, 2], [2, 2]], dtype=np.float32)
    p = pool_provenance(x)
    assert (p["winner_row"][0, 0], p["winner_col"][0, 0]) == (0, 1)
    p = pool_provenance(np.array([[3, 1], [1, 0]]), mode="min")
    assert (p["winner_row"][0, 0], p["winner_col"][0, 0]) == (1, 1)


def test_provenance_without_winner_for_mean():
    p = pool_provenance(ANCHOR, mode="mean")
    assert "winner_row" not in p
    assert_allclose(p["value"], pool2d(ANCHOR, mode="mean"))
    with pytest.raises(ParameterError, match="2-D"):
        pool_provenance(np.ones((2, 4, 4)))


# -------------------------------------------------------------------- helpers


@pytest.mark.parametrize(
    "value, expected",
    [(3, (3, 3)), ((2, 3), (2, 3)), ([2, 3], (2, 3)), ("2x3", (2, 3)), ("2,3", (2, 3)),
     ("4", (4, 4)), (np.int64(2), (2, 2))],
)
def test_as_pair_accepts(value, expected):
    assert as_pair(value, "window") == expected


@pytest.mark.parametrize("value", [0, -1, "a", 1.5, True, (1, 2, 3), "2x", (2, 0)])
def test_as_pair_rejects(value):
    with pytest.raises(ParameterError, match="`window`"):
        as_pair(value, "window")


def test_ops_imports_numpy_only():
    code = ("import sys, cnnpipe.ops; "
            "print(sorted(m for m in ('click', 'rich', 'PIL') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert proc.stdout.strip() == "[]"


def test_arguments_are_checked_before_the_arrays():
    # a bad padding is reported even when the arrays would not fit either
    with pytest.raises(ParameterError, match="`padding`"):
        conv2d(np.ones(5), np.ones((3, 3)), padding="bogus")
    with pytest.raises(ParameterError, match="`mode` must be one of"):
        pool2d(np.ones(5), mode="bogus")


@pytest.mark.parametrize("module", ["cnnpipe.ops.conv", "cnnpipe.ops.pool", "cnnpipe.ops.args"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize("mode", ["max", "mean", "sum", "min", "l2"])
@pytest.mark.parametrize("window, stride, edge", [(2, 2, "keep"), (3, 2, "keep"), (3, 2, "drop")])
def test_pool_and_relu_in_bands_on_threads_match_the_reference(monkeypatch, mode, window, stride,
                                                               edge):
    # Large maps are pooled a band of rows at a time, and relu'd, on several threads; force
    # that on a small stack of maps (bands of one or two output rows, odd sizes, partial
    # windows at the bottom edge) and check every cell against the slow loops.
    from cnnpipe.ops import pool as pool_module

    monkeypatch.setattr(pool_module, "PARALLEL_MIN_CELLS", 1)
    monkeypatch.setattr(pool_module, "POOL_BAND_BYTES", 4 * 13 * 2)
    monkeypatch.setattr(pool_module, "CORES", 3)
    rng = np.random.default_rng(11)
    maps = rng.normal(size=(3, 11, 13)).astype(np.float32)
    rectified = relu(maps)
    assert_array_equal(rectified, np.where(maps > 0, maps, 0))
    assert_allclose(relu(maps, leak=0.1), np.where(maps > 0, maps, 0.1 * maps), rtol=1e-6)
    pooled = pool2d(rectified, window, stride=stride, mode=mode, edge=edge)
    for m in range(3):
        expected = ref_pool2d(rectified[m].astype(np.float64), window, stride, mode, edge)
        assert_allclose(pooled[m], expected, rtol=1e-5, atol=1e-6)
