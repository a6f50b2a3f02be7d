"""The kernel library and every kernel spec form.

Expected matrices are written out by hand here (not read from cnnpipe), and
responses are checked with a slow, obviously correct correlation loop instead
of cnnpipe.ops.
"""


import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnpipe.errors import KernelError, ParameterError
from cnnpipe.kernels import (
    BUILTIN,
    DEFAULT_KERNELS,
    Kernel,
    describe_spec_forms,
    kernel,
    parse_kernel_specs,
    random_kernels,
    slugify,
    suggest,
)


def correlate(image, weights):
    """Valid cross-correlation, one output cell at a time."""
    image = np.asarray(image, dtype=np.float64)
    weights = np.asarray(weights, dtype=np.float64)
    kh, kw = weights.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for r in range(out.shape[0]):
        for c in range(out.shape[1]):
            total = 0.0
            for i in range(kh):
                for j in range(kw):
                    total += image[r + i, c + j] * weights[i, j]
            out[r, c] = total
    return out


HAND = {
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "box": [[1 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, 1 / 9], [1 / 9, 1 / 9, 1 / 9]],
    "gaussian": [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]],
    "gaussian-5x5": (np.array([[1, 4, 6, 4, 1],
                               [4, 16, 24, 16, 4],
                               [6, 24, 36, 24, 6],
                               [4, 16, 24, 16, 4],
                               [1, 4, 6, 4, 1]]) / 256).tolist(),
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
    "laplacian": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "laplacian-8": [[1, 1, 1], [1, -8, 1], [1, 1, 1]],
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "prewitt-x": [[-1, 0, 1], [-1, 0, 1], [-1, 0, 1]],
    "prewitt-y": [[-1, -1, -1], [0, 0, 0], [1, 1, 1]],
    "scharr-x": [[-3, 0, 3], [-10, 0, 10], [-3, 0, 3]],
    "scharr-y": [[-3, -10, -3], [0, 0, 0], [3, 10, 3]],
    "diagonal-45": [[-1, -1, 2], [-1, 2, -1], [2, -1, -1]],
    "diagonal-135": [[2, -1, -1], [-1, 2, -1], [-1, -1, 2]],
    "emboss": [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]],
    "outline": [[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]],
    "horizontal-lines": [[-1, -1, -1], [2, 2, 2], [-1, -1, -1]],
    "vertical-lines": [[-1, 2, -1], [-1, 2, -1], [-1, 2, -1]],
    "tutorial": [[1, -1, -1], [-1, 1, -1], [-1, -1, 1]],
}

BLURS = ["box", "gaussian", "gaussian-5x5"]
ZERO_SUM = ["laplacian", "laplacian-8", "sobel-x", "sobel-y", "prewitt-x", "prewitt-y",
            "scharr-x", "scharr-y", "diagonal-45", "diagonal-135", "outline",
            "horizontal-lines", "vertical-lines"]


# --- Built-ins ---------------------------------------------------------------

def test_builtin_names_are_exactly_the_spec_names_in_order():
    assert list(BUILTIN) == list(HAND)


@pytest.mark.parametrize("name", list(HAND))
def test_builtin_matrix_matches_hand_written(name):
    k = BUILTIN[name]
    assert k.name == name
    assert k.weights.dtype == np.float32
    np.testing.assert_allclose(k.weights, np.array(HAND[name], dtype=np.float32), rtol=0,
                               atol=1e-7)
    assert k.description and k.source


@pytest.mark.parametrize("name", BLURS + ["identity", "sharpen", "emboss"])
def test_blurs_and_image_keeping_kernels_sum_to_one(name):
    assert float(BUILTIN[name].weights.sum(dtype=np.float64)) == pytest.approx(1, abs=1e-6)


@pytest.mark.parametrize("name", ZERO_SUM)
def test_edge_and_line_detectors_sum_to_zero(name):
    assert float(BUILTIN[name].weights.sum()) == 0


@pytest.mark.parametrize("axis", ["x", "y"])
@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_gradient_pairs_are_transposes_and_antisymmetric(family, axis):
    kx = BUILTIN[f"{family}-x"].weights
    ky = BUILTIN[f"{family}-y"].weights
    np.testing.assert_array_equal(kx.T, ky)
    k = kx if axis == "x" else ky
    np.testing.assert_array_equal(k, -np.flip(k, axis=1 if axis == "x" else 0))


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_x_detectors_are_positive_on_dark_left_bright_right(family):
    step = np.zeros((5, 6))
    step[:, 3:] = 1.0  # dark left, bright right
    out = correlate(step, BUILTIN[f"{family}-x"].weights)
    assert out.max() > 0 and out.min() == 0
    assert correlate(step[:, ::-1], BUILTIN[f"{family}-x"].weights).max() == 0


@pytest.mark.parametrize("family", ["sobel", "prewitt", "scharr"])
def test_y_detectors_are_positive_on_dark_top_bright_bottom(family):
    step = np.zeros((6, 5))
    step[3:, :] = 1.0
    out = correlate(step, BUILTIN[f"{family}-y"].weights)
    assert out.max() > 0 and out.min() == 0


def test_line_detectors_find_their_own_line_best():
    def line_image(kind):
        img = np.zeros((7, 7))
        for i in range(7):
            if kind == "h":
                img[3, i] = 1
            elif kind == "v":
                img[i, 3] = 1
            elif kind == "/":
                img[6 - i, i] = 1
            else:
                img[i, i] = 1
        return img

    detectors = {"h": "horizontal-lines", "v": "vertical-lines", "/": "diagonal-45",
                 "\\": "diagonal-135"}
    for kind, name in detectors.items():
        scores = {other: correlate(line_image(other), BUILTIN[name].weights).max()
                  for other in detectors}
        assert max(scores, key=scores.get) == kind, (name, scores)


def test_tutorial_detector_on_the_worked_example_x():
    image = np.zeros((7, 7))
    for i in range(1, 6):
        image[i, i] = 1
        image[i, 6 - i] = 1
    fmap = correlate(image, BUILTIN["tutorial"].weights)
    assert fmap.shape == (5, 5)
    # a full "\" stroke under the detector scores +3: three +1 cells lit
    assert fmap[1, 1] == 3 and fmap[3, 3] == 3
    # a "/" stroke: only its middle cell meets a +1, its ends meet -1s
    assert fmap[1, 3] == -1 and fmap[3, 1] == -1
    # the centre sees the whole X: the diagonal (+3) and the two other arms (-2)
    assert fmap[2, 2] == 1


def test_default_kernels_are_builtins():
    assert 4 <= len(DEFAULT_KERNELS) <= 6
    assert all(name in BUILTIN for name in DEFAULT_KERNELS)


def test_weights_cannot_be_modified():
    with pytest.raises(ValueError):
        BUILTIN["sobel-x"].weights[0, 0] = 5
    raw = np.array([[1.0, 2.0]])
    k = Kernel("a", raw)
    raw[0, 0] = 9
    assert k.weights[0, 0] == 1  # a copy, not a view of the caller's array


def test_kernels_compare_by_value_and_can_go_in_sets():
    assert kernel("a=1,2;3,4") == kernel("a=1,2;3,4")
    assert kernel("a=1,2;3,4") != kernel("a=1,2;3,5")
    assert len({kernel("sobel-x"), kernel("sobel-x"), kernel("sobel-y")}) == 2


def test_kernel_refuses_bad_weights():
    with pytest.raises(KernelError, match="finite"):
        Kernel("a", [[1.0, np.nan]])
    with pytest.raises(KernelError, match="non-empty"):
        Kernel("a", np.zeros((0, 3)))
    with pytest.raises(KernelError, match="2-D"):
        Kernel("a", [1.0, 2.0])


# --- Names ---------------------------------------------------------------------

@pytest.mark.parametrize("spec", ["sobel-x", "SOBEL-X", "sobel_x", "  Sobel_X "])
def test_builtin_names_are_case_and_underscore_insensitive(spec):
    k = kernel(spec)
    assert k.name == "sobel-x"
    np.testing.assert_array_equal(k.weights, HAND["sobel-x"])


def test_unknown_name_suggests_the_closest_builtin():
    with pytest.raises(KernelError) as err:
        kernel("sobelx")
    assert str(err.value) == ("unknown kernel 'sobelx'; did you mean 'sobel-x'? "
                              "(see `cnnpipe kernels`)")


def test_unknown_name_without_a_close_match():
    with pytest.raises(KernelError) as err:
        kernel("zebra")
    assert str(err.value) == "unknown kernel 'zebra' (see `cnnpipe kernels`)"


def test_suggest():
    assert suggest("laplace") == "laplacian"
    assert suggest("GAUSIAN") == "gaussian"
    assert suggest("qqqqqq") is None


def test_slugify():
    assert slugify("My Edge_Detector!") == "my-edge-detector"
    assert slugify("Kanten-Ö") == "kanten-o"
    assert slugify("--a..b--") == "a-b"
    assert slugify("***") == ""


def test_describe_spec_forms_mentions_every_form():
    text = describe_spec_forms()
    for form in ["sobel-x", "1,0,-1;2,0,-2;1,0,-1", ".csv", ".txt", ".npy", ".mat", "3x3:",
                 "gaussian:SIGMA", "log:SIGMA", "dog:S1,S2", "gabor:THETA,SIGMA,LAMBDA",
                 "sobel:ANGLE", "box:N", "NAME=SPEC"]:
        assert form in text


# --- Inline matrices -------------------------------------------------------------

@pytest.mark.parametrize("spec", ["1,0,-1;2,0,-2;1,0,-1", "1 0 -1; 2 0 -2; 1 0 -1",
                                  "1,0,-1\n2,0,-2\n1,0,-1", "1, 0, -1;2 0 -2;1,0,-1;"])
def test_inline_matrix_forms(spec):
    k = kernel(spec)
    assert k.name == "k1"
    assert k.spec == spec
    np.testing.assert_array_equal(k.weights, [[1, 0, -1], [2, 0, -2], [1, 0, -1]])


def test_inline_non_square_even_and_single_value():
    np.testing.assert_array_equal(kernel("1,2;3,4").weights, [[1, 2], [3, 4]])
    np.testing.assert_array_equal(kernel("1 -1").weights, [[1, -1]])
    np.testing.assert_array_equal(kernel("1;-1").weights, [[1], [-1]])
    np.testing.assert_array_equal(kernel("2.5").weights, [[2.5]])
    assert kernel("0.1,1e-3").weights[0, 1] == np.float32(0.001)


def test_inline_ragged_rows():
    with pytest.raises(KernelError, match=r"^kernel row 2 has 2 values; expected 3 "):
        kernel("1,2,3;4,5;6,7,8")


@pytest.mark.parametrize("spec", ["1,nan;2,3", "1,inf", "-inf;1"])
def test_inline_non_finite(spec):
    with pytest.raises(KernelError, match="not finite"):
        kernel(spec)


def test_inline_not_a_number():
    with pytest.raises(KernelError, match=r"value 'x' in row 2, column 1 is not a number"):
        kernel("1,2;x,3")


@pytest.mark.parametrize("spec", ["", "   ", ";", ","])
def test_empty_spec(spec):
    with pytest.raises(KernelError, match="empty|no values"):
        kernel(spec)


# --- ImageMagick strings -------------------------------------------------------------

def test_imagemagick_square_and_rectangular():
    k = kernel("3x3: -1,0,1,-2,0,2,-1,0,1")
    assert k.name == "k1"
    np.testing.assert_array_equal(k.weights, HAND["sobel-x"])
    np.testing.assert_array_equal(kernel("3: 1 2 3 4 5 6 7 8 9").weights,
                                  [[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    # WxH: 3 wide, 2 high, row-major
    np.testing.assert_array_equal(kernel("3x2: 1,2,3,4,5,6").weights, [[1, 2, 3], [4, 5, 6]])


def test_imagemagick_wrong_value_count():
    with pytest.raises(KernelError) as err:
        kernel("3x3: 1,2,3,4,5,6,7,8")
    assert str(err.value) == "kernel '3x3: 1,2,3,4,5,6,7,8' has 8 values; expected 9 for 3x3"


# --- Families ------------------------------------------------------------------------------

def test_gaussian_family_size_sum_symmetry_and_name():
    k = kernel("gaussian:1.5")
    assert k.name == "gaussian-1p5"
    assert k.shape == (2 * math.ceil(4.5) + 1,) * 2 == (11, 11)
    w = k.weights.astype(np.float64)
    assert w.sum() == pytest.approx(1, abs=1e-6)
    np.testing.assert_allclose(w, w.T, atol=1e-9)
    np.testing.assert_allclose(w, w[::-1, ::-1], atol=1e-9)
    assert w.argmax() == w.size // 2
    # the ratio of neighbouring samples follows exp(-x^2 / 2 sigma^2)
    assert w[5, 6] / w[5, 5] == pytest.approx(math.exp(-1 / (2 * 1.5 ** 2)), rel=1e-5)


def test_log_family_is_zero_sum_with_a_positive_centre():
    k = kernel("log:2")
    assert k.name == "log-2"
    w = k.weights.astype(np.float64)
    assert abs(w.sum()) < 1e-6
    centre = w.shape[0] // 2
    assert w[centre, centre] == w.max() > 0
    assert w[centre, 0] < 0 or w[centre, centre + 4] < 0
    # a bright disc the size of the centre lobe gives a positive response
    yy, xx = np.mgrid[:w.shape[0], :w.shape[1]] - centre
    disc = ((xx ** 2 + yy ** 2) <= 2 * 2 ** 2).astype(float)
    assert correlate(disc, w)[0, 0] > 0


def test_dog_family_is_zero_sum():
    k = kernel("dog:1,2")
    assert k.name == "dog-1-2"
    assert k.shape == (13, 13)  # sized for the larger sigma
    w = k.weights.astype(np.float64)
    assert abs(w.sum()) < 1e-6
    assert w[6, 6] > 0


def test_sobel_family_matches_sobel_x_and_y():
    np.testing.assert_array_equal(kernel("sobel:0").weights, HAND["sobel-x"])
    np.testing.assert_array_equal(kernel("sobel:90").weights, HAND["sobel-y"])
    np.testing.assert_array_equal(kernel("sobel:180").weights, -np.array(HAND["sobel-x"]))
    k = kernel("sobel:45")
    assert k.name == "sobel-45"
    expected = (np.array(HAND["sobel-x"]) + np.array(HAND["sobel-y"])) * math.sqrt(0.5)
    np.testing.assert_allclose(k.weights, expected, atol=1e-6)
    assert kernel("sobel:-45").name == "sobel-m45"


def test_box_family():
    k = kernel("box:4")
    assert k.name == "box-4"
    np.testing.assert_allclose(k.weights, np.full((4, 4), 1 / 16))
    np.testing.assert_array_equal(kernel("box:1").weights, [[1]])


def test_gabor_family_responds_to_stripes_across_its_angle():
    size = 40
    cols = np.arange(size)
    vertical_stripes = np.tile(np.cos(2 * np.pi * cols / 6), (size, 1))
    horizontal_stripes = vertical_stripes.T
    g0 = kernel("gabor:0,2,6")
    g90 = kernel("gabor:90,2,6")
    assert g0.name == "gabor-0-2-6"
    assert abs(float(g0.weights.astype(np.float64).sum())) < 1e-6

    def energy(img, k):
        return float(np.abs(correlate(img, k.weights)).mean())

    assert energy(vertical_stripes, g0) > 10 * energy(horizontal_stripes, g0)
    assert energy(horizontal_stripes, g90) > 10 * energy(vertical_stripes, g90)


@pytest.mark.parametrize("spec, message", [
    ("gaussian:0", "sigma in gaussian:SIGMA must be > 0"),
    ("gaussian:x", "expected gaussian:SIGMA with 1 number"),
    ("gaussian:1,2", "expected gaussian:SIGMA with 1 number"),
    ("log:-1", "sigma in log:SIGMA must be > 0"),
    ("dog:1", "expected dog:S1,S2 with 2 numbers"),
    ("dog:2,2", "S1 and S2 in dog:S1,S2 must differ"),
    ("gabor:0,2", "expected gabor:THETA,SIGMA,LAMBDA with 3 numbers"),
    ("gabor:0,2,0", "SIGMA and LAMBDA in gabor:THETA,SIGMA,LAMBDA must be > 0"),
    ("sobel:", "expected sobel:ANGLE with 1 number"),
    ("sobel:nan", "expected sobel:ANGLE with 1 number"),
    ("box:0", "N in box:N must be a whole number >= 1"),
    ("box:2.5", "N in box:N must be a whole number >= 1"),
    ("gaussian:100", "would be 601x601; the largest gaussian kernel is 255x255"),
    ("gauss:2", "unknown kernel family 'gauss' in 'gauss:2'; did you mean 'gaussian:'?"),
])
def test_family_errors(spec, message):
    with pytest.raises(KernelError) as err:
        kernel(spec)
    assert message in str(err.value)


# --- Files ----------------------------------------------------------------------------------

def test_csv_and_txt_files(tmp_path):
    (tmp_path / "My Edge.csv").write_text("# a comment\n1,0,-1\n2,0,-2\n1,0,-1\n")
    k = kernel(str(tmp_path / "My Edge.csv"))
    assert k.name == "my-edge"
    np.testing.assert_array_equal(k.weights, [[1, 0, -1], [2, 0, -2], [1, 0, -1]])
    (tmp_path / "t.txt").write_text("1 2\n\n3 4\n")
    np.testing.assert_array_equal(kernel(str(tmp_path / "t.txt")).weights, [[1, 2], [3, 4]])


def test_text_file_errors(tmp_path):
    (tmp_path / "ragged.csv").write_text("1,2,3\n4,5\n")
    with pytest.raises(KernelError, match=r"kernel row 2 has 2 values; expected 3 \(in kernel "
                                          r"file '.*ragged.csv'\)"):
        kernel(str(tmp_path / "ragged.csv"))
    (tmp_path / "nan.csv").write_text("1,nan\n")
    with pytest.raises(KernelError, match="not finite"):
        kernel(str(tmp_path / "nan.csv"))
    (tmp_path / "empty.txt").write_text("\n# nothing\n")
    with pytest.raises(KernelError, match="no values"):
        kernel(str(tmp_path / "empty.txt"))
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(KernelError, match="not a text file"):
        kernel(str(tmp_path / "bin.csv"))


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(KernelError) as err:
        kernel(path)
    assert str(err.value) == f"kernel file '{path}' not found; check the path"


def test_unsupported_extension_of_an_existing_file(tmp_path):
    path = tmp_path / "k.dat"
    path.write_text("1,2\n")
    with pytest.raises(KernelError, match="unsupported extension"):
        kernel(str(path))


def test_npy_2d_and_3d(tmp_path):
    np.save(tmp_path / "two.npy", np.array([[1, 2], [3, 4]], dtype=np.int16))
    k = kernel(str(tmp_path / "two.npy"))
    assert k.name == "two" and k.weights.dtype == np.float32
    np.testing.assert_array_equal(k.weights, [[1, 2], [3, 4]])
    rgb = np.arange(27, dtype=np.float64).reshape(3, 3, 3) - 13
    np.save(tmp_path / "rgb.npy", rgb)
    k = kernel(str(tmp_path / "rgb.npy"))
    assert k.shape == (3, 3, 3)
    np.testing.assert_array_equal(k.weights, rgb)


def gabor_rgb_bank() -> np.ndarray:
    """A hand-made first-layer bank (K, 3, 5, 5): a luminance edge, a red-green stripe, a blob."""
    r = np.arange(5) - 2
    y, x = np.meshgrid(r, r, indexing="ij")
    stripe = np.exp(-(x ** 2 + y ** 2) / 4.0) * np.cos(np.pi * x / 2)
    blob = np.exp(-(x ** 2 + y ** 2) / 2.0)
    return np.array([[stripe, stripe, stripe], [stripe, -stripe, 0 * stripe],
                     [-blob / 2, -blob / 2, blob]])


def test_a_4d_npy_is_a_bank_of_detectors(tmp_path):
    bank = gabor_rgb_bank()
    np.save(tmp_path / "conv1.npy", bank)
    found = parse_kernel_specs([str(tmp_path / "conv1.npy"), "sobel-x"])
    assert [k.name for k in found] == ["conv1-1", "conv1-2", "conv1-3", "sobel-x"]
    for k, w in zip(found, bank, strict=False):
        assert k.shape == (3, 5, 5)
        np.testing.assert_allclose(k.weights, w, rtol=1e-6)
    assert "RGB 5×5 (W×H)" in found[1].description
    named = parse_kernel_specs([f"edge={tmp_path / 'conv1.npy'}"])
    assert [k.name for k in named] == ["edge-1", "edge-2", "edge-3"]
    with pytest.raises(KernelError, match="bank of 3 detectors"):
        kernel(str(tmp_path / "conv1.npy"))


def test_a_bank_of_one_channel_detectors_gives_2d_kernels(tmp_path):
    np.save(tmp_path / "gray.npy", np.arange(8.0).reshape(2, 1, 2, 2))
    found = parse_kernel_specs([str(tmp_path / "gray.npy")])
    assert [k.shape for k in found] == [(2, 2), (2, 2)]
    np.testing.assert_array_equal(found[1].weights, [[4, 5], [6, 7]])


@pytest.mark.parametrize("array, message", [
    (np.array([1.0, 2.0]), "1-D array"),
    (np.zeros((2, 2, 2, 2, 2)), "5-D array"),
    (np.zeros((0, 3)), "empty"),
    (np.array([[1 + 2j]]), "only real numbers"),
    (np.array([[1.0, np.inf]]), "NaN or infinite"),
])
def test_npy_refused(tmp_path, array, message):
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(KernelError, match=message):
        kernel(str(tmp_path / "bad.npy"))


def test_npy_object_arrays_are_refused_without_unpickling(tmp_path):
    np.save(tmp_path / "obj.npy", np.array([[{"a": 1}]], dtype=object), allow_pickle=True)
    with pytest.raises(KernelError, match="holds Python objects"):
        kernel(str(tmp_path / "obj.npy"))


def test_corrupt_npy(tmp_path):
    (tmp_path / "bad.npy").write_bytes(b"not an npy file at all")
    with pytest.raises(KernelError, match="not a valid .npy file"):
        kernel(str(tmp_path / "bad.npy"))


# --- libvips .mat ------------------------------------------------------------------------

def test_mat_file_divides_by_scale(tmp_path):
    (tmp_path / "blur.mat").write_text("3 3 16 0\n1 2 1\n2 4 2\n1 2 1\n")
    k = kernel(str(tmp_path / "blur.mat"))
    assert k.name == "blur"
    np.testing.assert_array_equal(k.weights, np.array(HAND["gaussian"], dtype=np.float32))


def test_mat_file_without_scale_and_with_offset(tmp_path):
    (tmp_path / "edge.mat").write_text("3 1\n-1 0 1\n")
    np.testing.assert_array_equal(kernel(str(tmp_path / "edge.mat")).weights, [[-1, 0, 1]])
    (tmp_path / "emb.mat").write_text("2 2 1 128\n-1 0\n0 1\n")
    k = kernel(str(tmp_path / "emb.mat"))
    np.testing.assert_array_equal(k.weights, [[-1, 0], [0, 1]])
    assert "offset 128 not applied" in k.description


@pytest.mark.parametrize("text, message", [
    ("", "is empty"),
    ("3\n1 2 3\n", "first line must be 'width height [scale [offset]]'"),
    ("3 2\n1 2 3\n", "has 1 rows; the header says 2"),
    ("3 1 0\n1 2 3\n", "scale must be a non-zero number"),
    ("2 1\n1 2 3\n", "kernel row 1 has 3 values; the header says 2"),
    ("2.5 1\n1 2\n", "width and height must be whole numbers >= 1"),
])
def test_mat_file_errors(tmp_path, text, message):
    (tmp_path / "m.mat").write_text(text)
    with pytest.raises(KernelError, match=message.replace("[", r"\[").replace("]", r"\]")):
        kernel(str(tmp_path / "m.mat"))


# --- NAME=SPEC, k1/k2, duplicates ----------------------------------------------------------

def test_name_equals_spec_for_every_form(tmp_path):
    (tmp_path / "f.csv").write_text("1,2\n")
    cases = {"edge=sobel-x": HAND["sobel-x"], "My Edge=1,0,-1": [[1, 0, -1]],
             f"from file={tmp_path / 'f.csv'}": [[1, 2]], "im=2x1: 5,6": [[5, 6]],
             "blur=box:2": [[0.25, 0.25], [0.25, 0.25]]}
    names = []
    for spec, expected in cases.items():
        k = kernel(spec)
        names.append(k.name)
        assert k.spec == spec
        np.testing.assert_allclose(k.weights, expected)
    assert names == ["edge", "my-edge", "from-file", "im", "blur"]


def test_name_without_letters_is_refused():
    with pytest.raises(KernelError, match="has no letters or digits"):
        kernel("!!=1,2")


def test_unnamed_inline_kernels_are_numbered_in_order():
    ks = parse_kernel_specs(["1,-1", "sobel-x", "3x1: 1,2,3", "named=5", "2;-2"])
    assert [k.name for k in ks] == ["k1", "sobel-x", "k2", "named", "k3"]
    np.testing.assert_array_equal(ks[4].weights, [[2], [-2]])


def test_duplicate_names_get_numbered_suffixes():
    ks = parse_kernel_specs(["sobel-x", "sobel-x", "SOBEL_X", "a=1", "a=2", "a-2=3"])
    assert [k.name for k in ks] == ["sobel-x", "sobel-x-2", "sobel-x-3", "a", "a-2", "a-2-2"]
    assert [float(k.weights[0, 0]) for k in ks[3:]] == [1, 2, 3]


def test_parse_kernel_specs_stops_at_the_first_bad_spec():
    with pytest.raises(KernelError, match="sobelx"):
        parse_kernel_specs(["sobel-x", "sobelx"])


# --- Random kernels ----------------------------------------------------------------------

def test_random_kernels_are_reproducible_and_he_uniform():
    a = random_kernels(4, seed=7, size=3)
    b = random_kernels(4, seed=7, size=3)
    assert [k.name for k in a] == ["random-1", "random-2", "random-3", "random-4"]
    for ka, kb in zip(a, b, strict=True):
        assert ka.weights.dtype == np.float32 and ka.shape == (3, 3)
        np.testing.assert_array_equal(ka.weights, kb.weights)
    assert not np.array_equal(a[0].weights, random_kernels(1, seed=8, size=3)[0].weights)
    bound = math.sqrt(6 / 9)
    assert all(np.abs(k.weights).max() <= bound for k in a)


def test_random_kernels_follow_the_pcg64_stream():
    # The first double of PCG64(0) is a published, version-stable value.
    first_double = 0.6369616873214543
    assert np.random.Generator(np.random.PCG64(0)).random() == first_double
    bound = math.sqrt(6 / 9)
    k = random_kernels(2, seed=0, size=3)
    assert k[0].weights[0, 0] == np.float32(-bound + 2 * bound * first_double)
    # every value, in order, from an independent generator
    draws = np.random.Generator(np.random.PCG64(0)).random(18)
    expected = (-bound + 2 * bound * draws).astype(np.float32).reshape(2, 3, 3)
    np.testing.assert_allclose(np.stack([x.weights for x in k]), expected, rtol=0, atol=1e-7)


def test_random_kernels_rectangular_size():
    k = random_kernels(1, seed=1, size=(2, 5))[0]
    assert k.shape == (2, 5)
    assert np.abs(k.weights).max() <= math.sqrt(6 / 10)


@pytest.mark.parametrize("args, message", [
    ((0, 1, 3), "`n` must be >= 1 (got 0)"),
    ((1, 1, 0), "`size` must be >= 1 (got 0)"),
    ((1, 1, (3, 0)), "`size` must be >= 1 (got 0)"),
    ((1, 1, (3, 3, 3)), "`size` must be K or (kh, kw)"),
    ((1, -1, 3), "`seed` must be a whole number >= 0 (got -1)"),
    ((1.5, 1, 3), "`n` must be a whole number >= 1 (got 1.5)"),
    ((1, 1, 300), "`size` must be <= 255"),
])
def test_random_kernels_bad_arguments(args, message):
    with pytest.raises(ParameterError) as err:
        random_kernels(*args)
    assert message in str(err.value)


# --- JSON form and layering ---------------------------------------------------------------

def test_to_dict_round_trips_float32_weights():
    d = BUILTIN["box"].to_dict()
    assert d["name"] == "box" and d["shape"] == [3, 3]
    assert np.array_equal(np.array(d["weights"], dtype=np.float32), BUILTIN["box"].weights)
    assert set(d) == {"name", "shape", "weights", "description", "source"}


def test_kernels_module_imports_only_numpy():
    code = ("import sys, cnnpipe.kernels\n"
            "print(','.join(m for m in ('click', 'rich', 'PIL') if m in sys.modules))")
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, cwd=root, env={**os.environ, "PYTHONPATH": str(root)})
    assert proc.stdout.strip() == ""


# --- Properties ------------------------------------------------------------------------------

finite32 = st.floats(-1e6, 1e6, allow_nan=False, width=32)


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 5), st.integers(1, 5)), elements=finite32))
def test_inline_matrix_round_trips(weights):
    spec = ";".join(",".join(repr(float(v)) for v in row) for row in weights)
    np.testing.assert_array_equal(kernel(spec).weights, weights)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=30))
def test_slugify_is_always_file_name_safe(text):
    slug = slugify(text)
    assert slug == "" or (
        all(c in "abcdefghijklmnopqrstuvwxyz0123456789-" for c in slug)
        and not slug.startswith("-") and not slug.endswith("-"))


@settings(max_examples=80, deadline=None)
@given(st.lists(st.sampled_from(["sobel-x", "box", "1,2", "3x1: 1,2,3", "a=1", "k1=2",
                                 "gaussian:1", "sobel-x-2=5"]), min_size=1, max_size=8))
def test_parsed_names_are_unique_slugs(specs):
    names = [k.name for k in parse_kernel_specs(specs)]
    assert len(set(names)) == len(names)
    assert all(name == slugify(name) for name in names)


def test_docstring_examples():
    import doctest

    import cnnpipe.kernels

    assert doctest.testmod(cnnpipe.kernels).failed == 0


def test_an_empty_value_in_an_inline_kernel_is_refused_not_skipped(invoke, tmp_path):
    # "1,,0" silently became the 1x2 kernel [1, 0]; image CSVs already refuse "1,,3".
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "1,,0", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "empty value" in result.stderr and "column 2" in result.stderr


def test_kernel_file_with_an_empty_cell_is_refused(invoke, tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("1,,-1\n2,,-2\n1,,-1\n")
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "empty value" in result.stderr


def test_kernel_values_separated_by_comma_and_spaces_still_parse():
    from cnnpipe.kernels import kernel

    assert kernel("1, 0 ,-1; 2 0 -2").weights.tolist() == [[1, 0, -1], [2, 0, -2]]


def test_a_cyrillic_kernel_name_is_not_said_to_have_no_letters(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "Жук=1", "-o", tmp_path / "out")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    # Ж is a letter: the message used to say the name had none.
    assert "has no letters or digits;" not in result.stderr
    assert "can keep (a-z, 0-9)" in result.stderr
