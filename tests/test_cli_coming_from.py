"""Issue #17 point 9: where a PyTorch or ImageMagick user would be surprised, the CLI says so."""

import numpy as np
from conftest import SAMPLES

from cnnpipe import conv2d

CEIL = "ceil_mode=True (PyTorch's default is False: use --edge drop)"


def one_line(text):
    return " ".join(text.split())


def test_shape_states_ceil_mode_and_pytorchs_size(invoke):
    # 5x5 map, 2x2 window, stride 2: 3x3 here, floor((5 - 2) / 2) + 1 = 2 in PyTorch's default
    result = invoke("shape", "--size", "5x5", "--pool-only")
    assert result.exit_code == 0, result.output
    text = one_line(result.stdout)
    assert CEIL in text
    assert "the default gives 2×2, not 3×3" in text


def test_shape_says_nothing_about_ceil_mode_with_edge_drop(invoke):
    result = invoke("shape", "--size", "5x5", "--pool-only", "--edge", "drop")
    assert result.exit_code == 0, result.output
    assert "PyTorch's default is False" not in one_line(result.stdout)


def test_run_summary_states_ceil_mode_when_keep_kept_a_partial_window(invoke, tmp_path):
    # tutorial.csv: 7x7 input, 3x3 detector -> 5x5 map -> 3x3 pooled (2x2 in PyTorch)
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    assert CEIL in result.stderr
    assert "pooled a 5×5 (W×H) map to 3×3, PyTorch's default 2×2" in result.stderr
    assert CEIL not in result.stdout  # a note, not part of the tables


def test_run_says_nothing_when_keep_and_drop_agree(invoke, tmp_path):
    # a 3x3 window on the 5x5 map with stride 1 has no partial window: both give 3x3
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path,
                    "--window", "3", "--stride", "1")
    assert result.exit_code == 0, result.output
    assert "ceil_mode" not in result.stderr
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path,
                    "--edge", "drop")
    assert "ceil_mode" not in result.stderr


def test_quiet_run_has_no_ceil_mode_note(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path, "-q")
    assert result.exit_code == 0
    assert result.stdout == "" and "ceil_mode" not in result.stderr


def test_help_names_the_conventions_of_other_tools(invoke):
    text = one_line(invoke("run", "--help").stdout)
    assert "ImageMagick's -morphology Convolve" in text  # --flip: the kernel rotated 180°
    assert "-morphology Correlate" in text
    assert "conv layer is --conv-stride" in text        # --stride is the pooling stride
    assert "(PyTorch ceil_mode=True)" in text            # --edge keep


def test_flip_is_the_imagemagick_convolve_convention(invoke, tmp_path):
    """What --flip claims: the kernel rotated 180°, checked against a hand-computed value."""
    image = np.zeros((3, 3), np.float32)
    image[0, 0] = 1.0  # one bright pixel at the top left
    kernel = np.arange(1, 10, dtype=np.float32).reshape(3, 3)
    # cross-correlation: the single output is sum(image * kernel) = kernel[0, 0] = 1;
    # convolution (ImageMagick Convolve) rotates the kernel: kernel[2, 2] = 9
    assert conv2d(image, kernel)[0, 0] == 1
    assert conv2d(image, kernel, flip=True)[0, 0] == 9
    np.save(tmp_path / "dot.npy", image)
    np.save(tmp_path / "k.npy", kernel)
    result = invoke("run", tmp_path / "dot.npy", "-k", tmp_path / "k.npy", "--flip",
                    "--pool", "none", "--npy", "-o", tmp_path / "out", "-q")
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "out" / "dot" / "01-conv-k.npy")[0, 0] == 9


def test_the_ceil_mode_note_gives_sizes_width_first_like_the_tables(invoke, tmp_path):
    # a 4 rows x 7 cols matrix, 3x3 box -> 2x5 map (W×H 5×2) -> keep 1x3 (3×1), drop 1x2 (2×1)
    matrix = tmp_path / "wide.csv"
    matrix.write_text("\n".join(",".join(str(r * 7 + c) for c in range(7)) for r in range(4)))
    result = invoke("run", matrix, "-k", "box", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "pooled a 5×2 (W×H) map to 3×1, PyTorch's default 2×1" in result.stderr
