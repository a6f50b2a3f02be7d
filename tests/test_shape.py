"""`cnnpipe shape`: sizes against the SPEC formulas, real runs, known PyTorch/TensorFlow sizes.

The PyTorch and TensorFlow numbers are written by hand from their
documentation and from well-known networks (GoogLeNet's ceil-mode pooling,
ResNet's stem); neither framework is installed.
"""

import json
import math
import re

import numpy as np
import pytest
from conftest import write_png
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnpipe import conv2d, pool2d
from cnnpipe.teaching.shapes import plan, pool_axis, tf_pool_size, torch_pool_size


def spec_keep(n, k, s):
    """SPEC §1 keep: ceil((n - k) / s) + 1, minus one if the last window starts at or past n."""
    if k > n:
        return 1
    out = math.ceil((n - k) / s) + 1
    return out - 1 if (out - 1) * s >= n else out


def spec_drop(n, k, s):
    return (n - k) // s + 1


# ---------------------------------------------------------------- peer frameworks


@pytest.mark.parametrize("n, k, s, p, floor_out, ceil_out", [
    (5, 2, 2, 0, 2, 3),        # the tutorial's 5x5 map
    (5, 3, 2, 0, 2, 2),
    (112, 3, 2, 0, 55, 56),    # GoogLeNet maxpool1 (ceil_mode=True): 112 -> 56
    (56, 3, 2, 0, 27, 28),     # GoogLeNet maxpool2: 56 -> 28
    (112, 3, 2, 1, 56, 57),    # ResNet stem pooling (padding 1, floor): 112 -> 56
    (6, 1, 2, 0, 3, 3),        # ceil would give 4, but that window would start at 6 >= 6
    (4, 2, 3, 1, 2, 2),        # ceil: 3 windows, the last would start at 6 >= 4 + 1
])
def test_pytorch_pool_sizes(n, k, s, p, floor_out, ceil_out):
    assert torch_pool_size(n, k, s, p) == floor_out
    assert torch_pool_size(n, k, s, p, ceil_mode=True) == ceil_out


def test_pytorch_refuses_a_window_larger_than_the_padded_map():
    assert torch_pool_size(2, 3, 1) is None
    assert torch_pool_size(2, 3, 1, padding=1) == 2


@pytest.mark.parametrize("n, k, s, valid, same", [
    (5, 3, 2, 2, 3),     # the example: 2x2 here, 3x3 in TensorFlow SAME
    (5, 2, 2, 2, 3),
    (28, 2, 2, 14, 14),  # MNIST LeNet pooling
    (7, 2, 2, 3, 4),
    (10, 3, 3, 3, 4),
    (2, 3, 1, None, 2),  # VALID has no window that fits
])
def test_tensorflow_pool_sizes(n, k, s, valid, same):
    assert tf_pool_size(n, k, s, "VALID") == valid
    assert tf_pool_size(n, k, s, "SAME") == same


@given(n=st.integers(1, 60), k=st.integers(1, 8), s=st.integers(1, 8))
@settings(max_examples=120, deadline=None)
def test_keep_is_pytorch_ceil_mode_and_drop_is_floor(n, k, s):
    axis = pool_axis(n, k, s, "keep")
    assert axis["out"] == spec_keep(n, k, s)
    if k <= n:
        assert axis["out"] == axis["peers"]["pytorch_ceil"]
        drop = pool_axis(n, k, s, "drop")
        assert drop["out"] == spec_drop(n, k, s) == drop["peers"]["pytorch_floor"]
        assert drop["peers"]["tf_valid"] == spec_drop(n, k, s)  # TF VALID is the same count


# ---------------------------------------------------------------- plan vs a real run


@given(h=st.integers(3, 20), w=st.integers(3, 20), k=st.integers(1, 4), cs=st.integers(1, 3),
       pad=st.sampled_from(["valid", "same", "full", 1]), win=st.integers(1, 4),
       ps=st.integers(1, 4), edge=st.sampled_from(["keep", "drop"]))
@settings(max_examples=80, deadline=None)
def test_plan_matches_the_arrays_a_real_run_produces(h, w, k, cs, pad, win, ps, edge):
    from cnnpipe.errors import ParameterError

    x = np.zeros((h, w), dtype=np.float32)
    try:
        conv = conv2d(x, np.ones((k, k)), stride=cs, padding=pad)
        pooled = pool2d(conv, win, ps, edge=edge)
    except ParameterError:
        with pytest.raises(ParameterError):
            plan((h, w), (k, k), conv_stride=cs, padding=pad, window=win, stride=ps, edge=edge)
        return
    result = plan((h, w), (k, k), conv_stride=cs, padding=pad, window=win, stride=ps, edge=edge)
    assert [s["out"] for s in result["stages"]] == [list(conv.shape), list(conv.shape),
                                                    list(pooled.shape)]


def test_conv_formula_is_filled_in():
    conv = plan((7, 7), (3, 3))["stages"][0]
    assert conv["out"] == [5, 5]
    assert conv["axes"][0]["formula"] == "floor((7 + 0 + 0 - 3) / 1) + 1 = 5"
    same = plan((7, 8), (3, 3), conv_stride=2, padding="same")["stages"][0]
    assert same["out"] == [4, 4]  # ceil(7 / 2), ceil(8 / 2)
    # rows: total padding (4-1)*2 + 3 - 7 = 2 -> 1 + 1; cols: (4-1)*2 + 3 - 8 = 1 -> 0 + 1
    assert same["axes"][0]["pad"] == [1, 1] and same["axes"][1]["pad"] == [0, 1]
    dilated = plan((9, 9), (3, 3), dilation=2)["stages"][0]
    assert dilated["axes"][0]["formula"] == "floor((9 + 0 + 0 - 5) / 1) + 1 = 5"


def test_partial_and_uncovered_cells():
    keep = pool_axis(5, 2, 2, "keep")
    assert keep["windows"] == [[0, 2], [2, 4], [4, 5]]
    assert keep["partial"] == [2] and keep["uncovered"] == []
    drop = pool_axis(5, 2, 2, "drop")
    assert drop["windows"] == [[0, 2], [2, 4]] and drop["uncovered"] == [4]
    gaps = pool_axis(9, 1, 3, "drop")
    assert gaps["uncovered"] == [1, 2, 4, 5, 7, 8]
    assert gaps["uncovered_text"] == "1..2, 4..5, 7..8"


# ---------------------------------------------------------------- the command


def test_shape_5x5_window_3_stride_2_json(invoke):
    result = invoke("shape", "--size", "5x5", "--pool-only", "--window", "3", "--stride", "2",
                    "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    pool = data["stages"][-1]
    assert pool["out"] == [2, 2]
    assert pool["axes"][0]["peers"] == {"pytorch_floor": 2, "pytorch_ceil": 2, "tf_valid": 2,
                                        "tf_same": 3}


def test_shape_text_explains_why_7x7_becomes_3x3(invoke):
    result = invoke("shape", "--size", "7x7", "--kernel-size", "3")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "rows: floor((7 + 0 + 0 - 3) / 1) + 1 = 5" in out
    assert "rows: ceil((5 - 2) / 2) + 1 = 3" in out
    assert "pooled row 2: window 4..5 clipped to 4..4 (1 of 2 rows)" in out
    rows = [re.split(r"\s{2,}", line.strip()) for line in out.splitlines()
            if line.startswith(("PyTorch", "TensorFlow"))]
    assert rows == [
        ["PyTorch", "ceil_mode=False (floor)", "2×2", "differs"],
        ["PyTorch", "ceil_mode=True", "3×3", "same"],
        ["TensorFlow", "padding='VALID'", "2×2", "differs"],
        ["TensorFlow", "padding='SAME'", "3×3", "same"],
    ]


def test_shape_groups_detectors_by_size(invoke):
    result = invoke("shape", "--size", "12x10", "-k", "sobel-x", "-k", "gaussian-5x5",
                    "-k", "box", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    by_kernel = {tuple(r["stages"][0]["kernel"]): r for r in data}
    assert set(by_kernel) == {(3, 3), (5, 5)}
    assert by_kernel[(3, 3)]["detectors"] == ["sobel-x", "box"]
    assert by_kernel[(5, 5)]["stages"][-1]["out"] == [3, 4]  # 10 rows, 12 cols: conv 6x8 -> 3x4


def test_shape_reads_only_the_npy_header(invoke, tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((40, 30), dtype=np.float32))
    data = path.read_bytes()
    path.write_bytes(data[:128])  # header only: the values are gone
    result = invoke("shape", "--input", path, "--kernel-size", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["input"] == [40, 30]


def test_shape_sizes_an_image(invoke, tmp_path):
    path = write_png(tmp_path / "wide.png", np.zeros((6, 9, 3)))
    result = invoke("shape", "--input", path, "--kernel-size", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["stages"][0]["out"] == [4, 7]


@pytest.mark.parametrize("args, message", [
    ([], "--size WxH or --input FILE"),
    (["--size", "5", "--input", "x.npy"], "--size WxH or --input FILE"),
    (["--size", "2", "--pool-only", "--window", "3", "--edge", "drop"],
     "pooling window 3x3 is larger than the 2x2 feature map"),
    (["--size", "2", "--kernel-size", "3"], "convolution output would be 0x0"),
    (["--size", "0x5"], "must be >= 1"),
])
def test_shape_usage_errors(invoke, args, message):
    result = invoke("shape", *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_shape_missing_file_fails_with_one_line(invoke, tmp_path):
    result = invoke("shape", "--input", tmp_path / "nope.png")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "nope.png" in result.stderr


def test_shape_text_names_dropped_and_skipped_cells(invoke):
    result = invoke("shape", "--size", "5", "--pool-only", "--edge", "drop")
    assert result.exit_code == 0, result.output
    assert "map row 4: dropped at the edge" in result.stdout
    assert "map col 4: dropped at the edge" in result.stdout
    result = invoke("shape", "--size", "7", "--pool-only", "--window", "2", "--stride", "3")
    assert result.exit_code == 0, result.output
    # windows [0,2), [3,5), [6,7): rows 2 and 5 are in no window
    assert "map rows 2, 5: skipped: the stride is larger than the window" in result.stdout


@pytest.mark.parametrize("option", [["--padding", "same"], ["--conv-stride", "2"],
                                    ["--activation", "leaky"]])
def test_shape_pool_only_refuses_options_it_would_ignore(invoke, option):
    result = invoke("shape", "--size", "10x10", "--pool-only", *option)
    assert result.exit_code == 2
    assert f"{option[0]} has no effect with --pool-only" in result.stderr


def test_shape_with_an_absurd_size_refuses_at_once_instead_of_hanging(invoke):
    # pool_axis listed every window and every covered cell: 10^8 per side took
    # minutes and tens of GB before printing anything.
    import time

    started = time.perf_counter()
    result = invoke("shape", "--size", "100000000x100000000")
    assert time.perf_counter() - started < 5
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "100000000x100000000" in result.stderr


def test_shape_still_explains_a_large_photo(invoke):
    result = invoke("shape", "--size", "6000x4000", "--kernel-size", "3", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["stages"][-1]["out"] == [1999, 2999]


def test_shape_size_is_width_first_like_every_other_size(invoke):
    # --size 741x500: a photo 741 pixels wide and 500 tall, as `run` prints it
    result = invoke("shape", "--size", "741x500", "--kernel-size", "3", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["input"] == [500, 741]  # JSON shapes stay [rows, cols], as numpy's
    assert body["stages"][0]["out"] == [498, 739]
    text = invoke("shape", "--size", "741x500", "--kernel-size", "3").stdout
    assert text.splitlines()[0].startswith("741×500 (W×H) input, 741 wide and 500 tall")
    table = {}
    for line in text.splitlines()[3:7]:  # the stages table, below its header
        table[line.split()[0]] = line.split()[-1]
    assert table == {"input": "741×500", "conv": "739×498", "relu": "739×498",
                     "pool": "370×249"}


def test_shape_agrees_with_run_on_an_image_of_the_same_size(invoke, tmp_path):
    # the size `run` prints for a photo, typed into `shape --size`, gives run's pooled size
    path = write_png(tmp_path / "wide.png", np.zeros((6, 9, 3)))
    by_file = json.loads(invoke("shape", "--input", path, "--kernel-size", "3", "--json").stdout)
    by_size = json.loads(invoke("shape", "--size", "9x6", "--kernel-size", "3", "--json").stdout)
    assert by_size == by_file


def test_an_old_rows_first_size_is_visible_in_the_first_line(invoke):
    result = invoke("shape", "--size", "500x741", "--pool-only")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[0].startswith("500×741 (W×H) feature map, 500 wide and "
                                                    "741 tall")


def test_shape_with_huge_padding_refuses_instead_of_exhausting_memory(invoke):
    result = invoke("shape", "--size", "7", "--kernel-size", "3", "--padding", "100000000000")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "too large" in result.stderr
