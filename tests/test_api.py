"""The Python API of SPEC §2, used the way the README shows it."""

import numpy as np
import pytest
from conftest import SAMPLES
from reference import ref_conv2d, ref_pool2d

import cnnpipe
from cnnpipe import conv2d, kernel, load_image, pool2d, relu


def test_public_names_are_importable_from_the_package():
    assert set(cnnpipe.__all__) >= {"conv2d", "relu", "pool2d", "load_image", "kernel"}


def test_load_image_and_kernel_feed_the_ops_directly():
    image = load_image(SAMPLES / "tutorial.csv")
    sobel = kernel("sobel-x")
    pooled = pool2d(relu(conv2d(image, sobel)), 2)
    x = np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",")
    w = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=float)  # by hand
    expected = ref_pool2d(np.maximum(ref_conv2d(x, w, (1, 1), (0, 0, 0, 0), "zeros", (1, 1),
                                                False), 0), (2, 2), (2, 2), "max", "keep")
    np.testing.assert_allclose(pooled, expected, atol=1e-6)
    assert pooled.shape == (3, 3)


def test_a_photo_loads_as_grey_values_in_0_1():
    image = load_image(SAMPLES / "chelsea.png")
    array = np.asarray(image)
    assert array.shape == (300, 451) and array.dtype == np.float32
    assert 0.0 <= array.min() and array.max() <= 1.0
    assert image.info["width"] == 451 and image.info["height"] == 300


def test_bad_arguments_raise_value_error_with_the_value():
    with pytest.raises(ValueError, match="stride"):
        conv2d(np.zeros((5, 5)), np.ones((3, 3)), stride=0)
    with pytest.raises(ValueError, match="mx"):
        pool2d(np.zeros((4, 4)), mode="mx")
    with pytest.raises(ValueError, match="sobelx"):
        kernel("sobelx")
