"""`cnnpipe animate`: the steps, the plain-text fallback and the GIF."""


import re
import time

import numpy as np
from conftest import SAMPLES
from PIL import Image, ImageSequence
from reference import ref_conv2d, ref_pool2d

from cnnpipe.layer import Params
from cnnpipe.teaching.animation import TUTORIAL_X, walk

TUTORIAL_K = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float32)


def documented_size(in_rows, in_cols, out_rows, out_cols):
    """The frame size formula of the README and cnnpipe/gif.py."""
    width = max(480, 2 * 20 + 40 * (in_cols + out_cols) + 40)
    height = 2 * 20 + 28 + 40 * max(in_rows, out_rows) + 60
    return width, height


def test_default_input_is_the_tutorial_x():
    expected = np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",")
    np.testing.assert_array_equal(TUTORIAL_X, expected)


def test_conv_steps_cover_every_cell_and_their_products_sum_to_the_map():
    w = walk(TUTORIAL_X, TUTORIAL_K)
    reference = ref_conv2d(TUTORIAL_X, TUTORIAL_K)
    assert len(w.conv_steps) == 25
    for step in w.conv_steps:
        assert (step.row0, step.col0) == (step.out_row, step.out_col)
        assert (step.row1 - step.row0, step.col1 - step.col0) == (3, 3)
        np.testing.assert_array_equal(step.inputs, TUTORIAL_X[step.row0:step.row1,
                                                               step.col0:step.col1])
        assert step.products.sum() == step.value == reference[step.out_row, step.out_col]


def test_pool_steps_follow_the_windows_and_partial_ones_hang_off_the_edge():
    w = walk(TUTORIAL_X, TUTORIAL_K)
    activated = np.maximum(ref_conv2d(TUTORIAL_X, TUTORIAL_K), 0)
    pooled = ref_pool2d(activated)
    steps = w.pool_steps
    assert len(steps) == 9
    assert [s.value for s in steps] == pooled.ravel().tolist()
    last = steps[-1]
    assert (last.row0, last.row1, last.col0, last.col1) == (4, 6, 4, 6)  # past the 5x5 map
    assert last.partial and last.inputs.shape == (1, 1)
    assert not steps[0].partial
    assert steps[0].arithmetic() == "max(3, 0, 0, 3) = 3"


def test_arithmetic_shows_products_and_has_an_ascii_form():
    step = walk(TUTORIAL_X, TUTORIAL_K).steps[0]
    assert step.arithmetic() == ("1·1 + 0·(−1) + 0·(−1) + 0·(−1) + 1·1 + 0·(−1) + 0·(−1) + "
                                 "0·(−1) + 1·1 = 3")
    short = step.arithmetic(ascii_only=True, max_terms=3)
    assert short == "1*1 + 0*(-1) + ... + 1*1 = 3"


def test_padding_and_dilation_windows_read_the_padded_grid():
    image = np.arange(16, dtype=np.float32).reshape(4, 4)
    params = Params(padding=1, dilation=(2, 2), pool="none")
    w = walk(image, np.ones((2, 2), np.float32), params)
    padded = np.pad(image, 1)
    reference = ref_conv2d(image, np.ones((2, 2)), pad=(1, 1, 1, 1), dilation=2)
    assert len(w.steps) == reference.size
    for step in w.steps:
        np.testing.assert_array_equal(step.inputs, padded[step.row0:step.row1:2,
                                                          step.col0:step.col1:2])
        assert step.value == reference[step.out_row, step.out_col]


def test_gif_has_one_frame_per_window_position_of_the_documented_size(invoke, tmp_path):
    out = tmp_path / "steps.gif"
    result = invoke("animate", "--gif", out)
    assert result.exit_code == 0, result.output
    with Image.open(out) as gif:
        frames = [frame.convert("RGB") for frame in ImageSequence.Iterator(gif)]
    # 7x7 input, 3x3 detector: 5x5 feature map; 2x2 pooling, stride 2, keep: 3x3.
    assert len(frames) == 25 + 9
    # input grid 7x7 (the pooled windows reach row/col 5 of the 5x5 map: 6 < 7), output 5x5.
    assert {f.size for f in frames} == {documented_size(7, 7, 5, 5)}
    assert "34 frames" in result.stderr


def test_gif_with_padding_and_mean_pooling_counts_every_step(invoke, tmp_path):
    out = tmp_path / "steps.gif"
    assert invoke("animate", "--gif", out, "--padding", "1", "--pool", "mean").exit_code == 0
    with Image.open(out) as gif:
        sizes = [frame.size for frame in ImageSequence.Iterator(gif)]
    # padded 9x9 -> 7x7 feature map -> pooled 4x4 (last windows hang one cell past the map,
    # 8 < 9); the output panel fits the larger 7x7 map.
    assert len(sizes) == 49 + 16
    assert set(sizes) == {documented_size(9, 9, 7, 7)}


def test_gif_frames_show_the_window_box_moving(tmp_path):
    from cnnpipe.pictures.gif import CELL, MARGIN, TITLE, render_frame

    w = walk(TUTORIAL_X, TUTORIAL_K)

    def is_red(pixel):
        r, g, b = pixel
        return r > 180 and g < 90 and b < 90

    top = MARGIN + TITLE
    first, second = render_frame(w, w.steps[0]), render_frame(w, w.steps[1])
    left_edge = (MARGIN + 1, top + CELL + CELL // 2)      # left side of a box at column 0
    moved_edge = (MARGIN + CELL + 1, top + CELL + CELL // 2)  # ... at column 1
    assert is_red(first.getpixel(left_edge)) and not is_red(first.getpixel(moved_edge))
    assert is_red(second.getpixel(moved_edge)) and not is_red(second.getpixel(left_edge))


def test_plain_fallback_prints_every_step_fast_and_ignores_speed(invoke):
    start = time.monotonic()
    result = invoke("animate", "--speed", "5")
    assert time.monotonic() - start < 5
    assert result.exit_code == 0
    assert result.stdout.count("Convolution step") == 25
    assert result.stdout.count("Pooling step") == 9
    assert "Pooling step 9/9: window rows 4-5, cols 4-5 → cell (2, 2), partial window" \
        in result.stdout
    assert "[3][·]" in result.stdout  # the partial window, marked without colour


def test_animate_refuses_big_inputs_and_several_detectors(invoke, tmp_path):
    big = tmp_path / "big.csv"
    np.savetxt(big, np.zeros((17, 5)), delimiter=",")
    result = invoke("animate", "--input", big)
    assert result.exit_code == 2  # as `demo --input` of a big picture
    assert "17x5" in result.stderr and "16x16" in result.stderr
    several = invoke("animate", "-k", "sobel-x", "-k", "sobel-y")
    assert several.exit_code == 2
    assert "one detector" in several.stderr


def test_animate_reads_a_small_matrix_file(invoke, tmp_path):
    small = tmp_path / "m.csv"
    np.savetxt(small, [[1, 2, 3], [4, 5, 6], [7, 8, 9]], delimiter=",", fmt="%d")
    result = invoke("animate", "--input", small, "-k", "1,1;1,1", "--steps")
    assert result.exit_code == 0, result.output
    # 2x2 ones on 3x3: 2x2 map [[12, 16], [24, 28]]; one 2x2 max window -> 28.
    assert "1·1 + 2·1 + 4·1 + 5·1 = 12" in result.stdout
    assert "max(12, 16, 24, 28) = 28" in result.stdout


def test_live_mode_only_on_a_terminal_and_not_with_no_live():
    import io

    from cnnpipe.cli.animate import wants_live

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert wants_live(False, Terminal())
    assert not wants_live(True, Terminal())
    assert not wants_live(False, io.StringIO())


def test_live_mode_runs_every_step_to_the_last(invoke, monkeypatch):
    import cnnpipe.cli.animate as animate_cli

    monkeypatch.setattr(animate_cli, "wants_live", lambda no_live, stdout: True)
    result = invoke("animate", "--speed", "0")
    assert result.exit_code == 0, result.output
    assert "Pooling step 9/9" in result.stdout and "max(3) = 3" in result.stdout


def test_a_grid_wider_than_the_terminal_scrolls_with_the_window(runner, tmp_path):
    from cnnpipe.cli import cli

    values = np.random.default_rng(0).standard_normal((16, 16)).round(2)
    path = tmp_path / "wide.csv"
    np.savetxt(path, values, delimiter=",", fmt="%.2f")
    result = runner.invoke(cli, ["animate", "--input", str(path), "--steps"],
                           env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    # the last window of the first row of steps: columns 13-15 are on screen, bracketed
    start = lines.index(next(line for line in lines if line.startswith("Convolution step 14/")))
    assert "cols 13-15" in lines[start]
    assert lines[start + 1].endswith("of 16")  # the title says which columns are shown
    first_row = lines[start + 2]
    assert first_row.startswith("…")  # columns on the left are hidden, and marked
    marked = [float(v) for v in re.findall(r"\[\s*(-?[\d.]+)\]", first_row)]
    assert marked == list(values[0, 13:16])


def test_animate_a_16x16_input_keeps_one_line_per_row_at_80_columns(invoke, tmp_path):
    # The input and feature-map grids sat side by side in 40 columns each, so
    # every 16-value row wrapped over four lines and the window was unreadable.
    source = tmp_path / "m.csv"
    np.savetxt(source, np.random.RandomState(1).rand(16, 16).round(2), delimiter=",",
               fmt="%.2f")
    result = invoke("animate", "--input", source, "--pool", "none")
    assert result.exit_code == 0
    frame = result.stdout.split("\n\n")[0].splitlines()
    assert all(len(line) <= 80 for line in frame)
    start = next(i for i, line in enumerate(frame) if line.startswith("input 16×16 (W×H)"))
    end = next(i for i, line in enumerate(frame) if line.startswith("feature map"))
    assert end - start - 1 == 16  # one line per input row
    assert frame[start + 1].count("[") == 3  # the 3x3 window's top row, on row 0


def test_animate_gif_refuses_a_file_name_that_is_not_gif(invoke, tmp_path):
    # --gif steps.png wrote GIF bytes into a .png file (viewers then refuse it).
    result = invoke("animate", "--gif", tmp_path / "steps.png")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert ".gif" in result.stderr
    assert not (tmp_path / "steps.png").exists()
    assert invoke("animate", "--gif", tmp_path / "STEPS.GIF").exit_code == 0
