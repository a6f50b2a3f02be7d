"""The invariance experiment: hand-computed cases, the measures, and the command."""

import json
import math

import numpy as np
import pytest
from conftest import SAMPLES, write_png

from cnnpipe import kernels as K
from cnnpipe.errors import ParameterError
from cnnpipe.layer import Params
from cnnpipe.network import load_network, run_network, single_layer, stage_stride
from cnnpipe.teaching.invariance import (
    cells,
    compare,
    experiment,
    make_variants,
    pearson,
    verdicts,
    warp,
)

SQRT2 = math.sqrt(2)


def bright_pixel(col, shape=(6, 10), row=2):
    image = np.zeros(shape, dtype=np.float32)
    image[row, col] = 1.0
    return image


IDENTITY_NET = single_layer([K.BUILTIN["identity"]], Params())  # valid, relu, max 2x2/2


def test_variants_are_real_pixels_shifted_right_without_wraparound():
    image = np.arange(4 * 7, dtype=float).reshape(4, 7)
    ref, variants = make_variants(image, [1, 3])
    np.testing.assert_array_equal(ref, image[:, 3:])
    np.testing.assert_array_equal(variants[0].image, image[:, 2:6])
    np.testing.assert_array_equal(variants[1].image, image[:, 0:4])
    # content moves right: what is at column x of the reference is at x + s in the copy
    np.testing.assert_array_equal(variants[1].image[:, 3:], ref[:, :1])
    ref_y, down = make_variants(image, [2], axis="y")
    np.testing.assert_array_equal(ref_y, image[2:, :])
    np.testing.assert_array_equal(down[0].image, image[0:2, :])
    _, diag = make_variants(image, [1], axis="xy")
    assert diag[0].shift == (1, 1)


def test_bright_pixel_crossing_a_pooling_window_boundary():
    # the pixel sits in image column 5: column 4 of the reference, 5 of the copy;
    # identity 3x3 'valid' puts it at conv column 3 vs 4 -> pooling windows [2,4) vs [4,6)
    ref, (moved,) = make_variants(bright_pixel(5), [1])
    base, shifted = run_network(ref, IDENTITY_NET), run_network(moved.image, IDENTITY_NET)
    conv_a, conv_b = base[0].detectors[0].conv, shifted[0].detectors[0].conv
    expected_conv_a = np.zeros((4, 7))
    expected_conv_a[1, 3] = 1
    expected_conv_b = np.zeros((4, 7))
    expected_conv_b[1, 4] = 1
    np.testing.assert_array_equal(conv_a, expected_conv_a)
    np.testing.assert_array_equal(conv_b, expected_conv_b)
    np.testing.assert_array_equal(base[0].detectors[0].pool, [[0, 1, 0, 0], [0, 0, 0, 0]])
    np.testing.assert_array_equal(shifted[0].detectors[0].pool, [[0, 0, 1, 0], [0, 0, 0, 0]])

    result = experiment(bright_pixel(5), IDENTITY_NET, [1])
    rows = {row["stage"]: row for row in result["rows"]}
    assert rows["conv"]["change"] == pytest.approx(SQRT2)
    assert rows["conv"]["corr"] == pytest.approx(-1 / 27)  # two one-hots among 28 cells
    assert rows["conv"]["offset"] == [0, 1] and rows["conv"]["aligned"] == pytest.approx(1.0)
    assert rows["pool"]["change"] == pytest.approx(SQRT2)
    assert rows["pool"]["corr"] == pytest.approx(-1 / 7)
    # half a cell rounds up to one: undoing it lines the two pooled maps up again
    assert rows["pool"]["offset"] == [0, 1] and rows["pool"]["aligned"] == pytest.approx(1.0)


def test_bright_pixel_inside_one_pooling_window_leaves_the_pooled_map_unchanged():
    ref, (moved,) = make_variants(bright_pixel(6), [1])
    base, shifted = run_network(ref, IDENTITY_NET), run_network(moved.image, IDENTITY_NET)
    same = [[0, 0, 1, 0], [0, 0, 0, 0]]
    np.testing.assert_array_equal(base[0].detectors[0].pool, same)
    np.testing.assert_array_equal(shifted[0].detectors[0].pool, same)

    result = experiment(bright_pixel(6), IDENTITY_NET, [1])
    rows = {row["stage"]: row for row in result["rows"]}
    assert rows["conv"]["change"] == pytest.approx(SQRT2)
    assert rows["relu"]["change"] == pytest.approx(SQRT2)
    assert rows["pool"]["change"] == 0.0
    assert rows["pool"]["corr"] == pytest.approx(1.0)
    # undoing one cell now misaligns them: two one-hots among 2x3 cells
    assert rows["pool"]["aligned"] == pytest.approx(-1 / 5)
    (verdict,) = verdicts(result["summary"])
    assert verdict["pool_less"] == 1 and verdict["pool_mean"] == 0.0


def test_two_pixel_shift_is_one_whole_pooled_cell():
    result = experiment(bright_pixel(5, shape=(6, 12)), IDENTITY_NET, [2])
    rows = {row["stage"]: row for row in result["rows"]}
    assert rows["conv"]["offset"] == [0, 2] and rows["pool"]["offset"] == [0, 1]
    assert rows["conv"]["aligned"] == pytest.approx(1.0)
    assert rows["pool"]["aligned"] == pytest.approx(1.0)


def test_compare_on_hand_arrays():
    a = np.array([[1.0, 2.0, 0.0], [0.0, 0.0, 0.0]])
    b = np.array([[0.0, 1.0, 2.0], [0.0, 0.0, 0.0]])
    r = compare(a, b, (0, 1))
    assert r["change"] == pytest.approx(math.sqrt(1 + 1 + 4) / math.sqrt(5))
    assert r["aligned"] == pytest.approx(1.0)
    assert r["mean_change"] == 0.0
    assert compare(a, 2 * a, None)["change"] == pytest.approx(1.0)
    assert compare(a, 2 * a, None)["mean_change"] == pytest.approx(1.0)
    assert math.isnan(compare(a, a, None)["aligned"])
    assert compare(np.zeros((2, 2)), np.zeros((2, 2)), (0, 0))["change"] == 0.0
    assert math.isnan(pearson(np.ones(4), np.arange(4)))
    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)


def test_shift_in_cells_rounds_half_up():
    assert [cells(s, 2) for s in (1, 2, 3, 4, 5)] == [1, 1, 2, 2, 3]
    assert [cells(s, 4) for s in (1, 2, 3, 6)] == [0, 1, 1, 2]
    assert cells(3, 1) == 3


def test_stage_stride_multiplies_conv_and_pool_strides():
    p1 = Params(conv_stride=2, window=3, stride=2)
    p2 = Params(pool="none")
    assert stage_stride([p1], "conv") == (2, 2)
    assert stage_stride([p1], "relu") == (2, 2)
    assert stage_stride([p1], "pool") == (4, 4)
    assert stage_stride([p1, p2], "conv") == (4, 4)
    assert stage_stride([Params(window=(1, 2))], "pool") == (1, 2)


def test_warp_rotates_clockwise_and_scales_about_the_centre():
    a = np.arange(25, dtype=np.float32).reshape(5, 5)
    np.testing.assert_allclose(warp(a, 0, 1), a)
    # clockwise on screen: the left column becomes the top row, read bottom to top
    np.testing.assert_allclose(warp(a, 90, 1), np.rot90(a, k=-1), atol=1e-4)
    assert warp(a, 90, 1)[0].tolist() == pytest.approx(a[::-1, 0].tolist(), abs=1e-4)
    doubled = warp(a, 0, 2)
    assert doubled[2, 2] == a[2, 2]
    assert doubled[2, 3] == pytest.approx((a[2, 2] + a[2, 3]) / 2)


def test_rotate_and_sobel_angle_turn_the_same_way():
    # one convention everywhere: an edge that sobel:0 finds, rotated by +90, is found by
    # sobel:90 with the same sign (dark-left/bright-right becomes dark-above/bright-below)
    from cnnpipe import conv2d
    from cnnpipe.kernels import kernel

    step = np.zeros((9, 9), dtype=np.float32)
    step[:, 5:] = 1.0
    before = conv2d(step, kernel("sobel:0").weights)
    after = conv2d(warp(step, 90, 1), kernel("sobel:90").weights)
    np.testing.assert_allclose(after, np.rot90(before, k=-1), atol=1e-4)
    assert after.max() > 0 and before.max() > 0


def test_rotation_and_scaling_have_no_aligned_measure():
    image = np.random.default_rng(0).random((30, 30))
    result = experiment(image, IDENTITY_NET, [], rotate=3, scale_by=1.1)
    assert [v["kind"] for v in result["variants"]] == ["rotate", "scale"]
    assert all(math.isnan(row["aligned"]) and row["offset"] is None for row in result["rows"])
    assert all(row["change"] > 0 for row in result["rows"])


def test_multi_layer_experiment_measures_every_stage_of_every_layer():
    net = load_network(SAMPLES / "net.toml")
    image = np.random.default_rng(1).random((40, 44))
    result = experiment(image, net, [1, 2])
    # 3 + 4 + 4 detectors, 3 stages each, 2 shifts
    assert len(result["rows"]) == (3 + 4 + 4) * 3 * 2
    strides = {(r["layer"], r["stage"]): r["stride"] for r in result["rows"]}
    assert strides[(1, "conv")] == [1, 1] and strides[(1, "pool")] == [2, 2]
    assert strides[(2, "conv")] == [2, 2] and strides[(3, "pool")] == [8, 8]


@pytest.mark.parametrize("kwargs, message", [
    ({"shifts": [0]}, "every shift must be >= 1"),
    ({"shifts": [1, 1]}, "shifts must differ"),
    ({"shifts": []}, "nothing to compare"),
    ({"shifts": [9]}, "too small for shifts up to 9"),
    ({"shifts": [1], "rotate": 400.0}, "`rotate` must be between -180 and 180"),
    ({"shifts": [1], "scale_by": 0.0}, "`scale-by` must be between 0.25 and 4"),
])
def test_bad_experiment_arguments(kwargs, message):
    with pytest.raises(ParameterError, match=message):
        make_variants(np.zeros((10, 10)), **kwargs)


# --- the command ---------------------------------------------------------------------------

CHELSEA = SAMPLES / "chelsea.png"


def test_cli_prints_tables_verdict_and_writes_the_chart(invoke, tmp_path):
    chart = tmp_path / "inv.png"
    result = invoke("invariance", CHELSEA, "-k", "sobel-x", "-k", "sobel-y", "--chart", chart)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for text in ("1 px", "4 px", "sobel-x", "mean", "conv", "ReLU", "pool", "px/cell"):
        assert text in out
    assert "layer 1: pooled maps changed less than conv maps" in out
    from PIL import Image

    with Image.open(chart) as im:
        assert im.size == (960, 560)
        colours = im.convert("RGB").getcolors(maxcolors=1 << 16)
    assert colours is not None and len(colours) > 10


def test_cli_json_has_every_row_and_no_nan(invoke, tmp_path):
    result = invoke("invariance", CHELSEA, "-k", "sobel-x", "-k", "laplacian", "--shifts",
                    "1,2,3", "--rotate", "4", "--no-chart", "--json")
    assert result.exit_code == 0
    assert "NaN" not in result.stdout
    data = json.loads(result.stdout)
    assert len(data["rows"]) == 3 * 2 * 4
    rotated = [r for r in data["rows"] if r["kind"] == "rotate"]
    assert rotated and all(r["aligned"] is None for r in rotated)
    assert data["verdicts"][0]["layer"] == 1
    assert not (tmp_path / "invariance.png").exists()


def test_cli_with_a_pipeline_file(invoke, tmp_path):
    chart = tmp_path / "net.png"
    result = invoke("invariance", CHELSEA, "--pipeline", SAMPLES / "net.toml", "--shifts", "1,2",
                    "--chart", chart, "-q")
    assert result.exit_code == 0 and result.stdout == ""
    assert chart.stat().st_size > 1000


@pytest.mark.parametrize("args, code, text", [
    (["--shifts", "1,x"], 2, "is not a list of whole pixels"),
    (["--shifts", "0"], 2, "every shift must be >= 1"),
    (["--rotate", "500"], 2, "`rotate` must be between -180 and 180"),
    (["--pipeline", SAMPLES / "net.toml", "-k", "box"], 2, "cannot be combined with --pipeline"),
    (["-k", "nope-kernel"], 2, "unknown kernel"),
])
def test_cli_usage_errors(invoke, tmp_path, args, code, text):
    result = invoke("invariance", CHELSEA, *args, "--chart", tmp_path / "c.png")
    assert result.exit_code == code
    assert text in result.output
    assert not (tmp_path / "c.png").exists()


def test_cli_missing_image_exits_1(invoke, tmp_path):
    result = invoke("invariance", tmp_path / "nope.png", "--no-chart")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"cnnpipe: {tmp_path / 'nope.png'}: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_invariance_does_not_suggest_a_color_option_it_does_not_have(invoke, tmp_path):
    detector = tmp_path / "rgbdet.npy"
    np.save(detector, np.ones((3, 3, 3), dtype=np.float32))
    image = write_png(tmp_path / "x.png", np.arange(256).reshape(16, 16))
    result = invoke("invariance", image, "-k", detector, "--no-chart", "-q")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--color" not in result.stderr and "2-D" in result.stderr


def test_detectors_of_different_sizes_are_each_measured(invoke, tmp_path):
    # a 3x3 and a 5x5 detector give maps of different sizes; each is compared with itself
    result = invoke("invariance", CHELSEA, "-k", "box", "-k", "gaussian-5x5", "--shifts", "2",
                    "--no-chart", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["rows"]
    shapes = {(r["detector"], r["stage"]): r["shape"] for r in rows}
    box, gauss = shapes[("box", "conv")], shapes[("gaussian-5x5", "conv")]
    assert box[0] - gauss[0] == 2 and box[1] - gauss[1] == 2
    assert len(rows) == 2 * 3


def test_last_layer_with_mixed_sizes_hands_nothing_on():
    image = np.random.default_rng(0).random((12, 12)).astype(np.float32)
    net = single_layer([K.BUILTIN["box"], K.BUILTIN["gaussian-5x5"]], Params())
    (layer,) = run_network(image, net)
    assert layer.output is None
    assert [d.pool.shape for d in layer.detectors] == [(5, 5), (4, 4)]
