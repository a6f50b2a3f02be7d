"""One way to write numbers and sizes: tables, sheets, GIFs and the terminal animation agree."""

import re

import numpy as np
import pytest

from cnnpipe.numbers import format_number, format_sum, shape_text, size_text


@pytest.mark.parametrize(("value", "text"), [
    (0.0, "0"), (-0.0, "0"), (3.0, "3"), (-12.0, "-12"), (999999.0, "999999"),
    (0.39632, "0.396"), (0.4, "0.4"), (-1.4666, "-1.47"), (12.34, "12.3"),
    (1234.56, "1235"), (-0.001, "-0.001"), (0.000447, "4.47e-4"), (-0.0004, "-4e-4"),
    (1.5e7, "1.5e7"), (2.63, "2.63"), (0.1, "0.1"),
    (float(np.float32(0.1)), "0.1"),  # float32 noise does not leak into the text
])
def test_format_number_by_hand(value, text):
    assert format_number(value) == text


def test_no_negative_zero_ever():
    for value in (-1e-300, -0.0, -4e-9, -0.00049999):
        text = format_number(value)
        assert text != "-0" and not re.fullmatch(r"-0\.?0*", text), text


def test_sums_within_a_millionth_of_zero_are_zero():
    assert format_sum(1.788e-07) == "0"
    assert format_sum(-5e-7) == "0"
    assert format_sum(1 + 3e-8) == "1"
    assert format_sum(0.25) == "0.25"


def test_sizes_are_width_first():
    assert size_text(500, 741) == "741×500"
    assert shape_text((500, 741)) == "741×500"
    assert shape_text((3, 5, 7)) == "3 × 7×5"


def crop_walk():
    from cnnpipe.teaching.animation import walk

    rng = np.random.default_rng(7)
    crop = np.round(rng.uniform(0, 1, size=(12, 12)), 4).astype(np.float32)
    weights = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    return walk(crop, weights)


def test_animation_arithmetic_uses_the_numbers_its_grid_shows():
    w = crop_walk()
    for step in w.conv_steps[:20]:
        text = step.arithmetic(ascii_only=True)
        terms, result = text.split(" = ")
        inputs = [t.split("*")[0] for t in terms.split(" + ")]
        assert inputs == [format_number(v) for v in step.inputs.ravel()]
        assert result == format_number(w.conv[step.out_row, step.out_col])
    for step in w.pool_steps:
        inside = step.arithmetic().split("(", 1)[1].split(")")[0].split(", ")
        assert inside == [format_number(v) for v in step.inputs.ravel()]


def test_terminal_animation_shows_grid_numbers_like_the_gif_and_never_minus_zero():
    from rich.console import Console

    from cnnpipe.cli.animate import _render
    from cnnpipe.pictures import gif

    w = crop_walk()
    console = Console(width=200, color_system=None, record=True)
    for step in (w.conv_steps[0], w.pool_steps[-1]):
        console.print(_render(w, step, "sobel-x", 200))
    text = console.export_text()
    tokens = re.findall(r"-?\d[\d.e-]*", text)
    assert not any(re.fullmatch(r"-0(\.0*)?", t) for t in tokens)
    assert not any(re.fullmatch(r"-?\d+\.\d*0", t) for t in tokens)  # no padded zeros
    for v in w.padded.ravel()[:30]:
        assert gif._num(v) == format_number(v)
        assert format_number(v) in tokens


def test_gif_cells_grow_to_fit_their_numbers():
    from cnnpipe.pictures.gif import CELL, _font, cell_size

    w = crop_walk()
    widest = max(_font(16).getlength(format_number(v)) for v in w.conv.ravel())
    assert cell_size(w) >= widest + 10 and cell_size(w) >= CELL


def test_run_summary_at_80_columns_never_cuts_a_file_name_and_has_no_trailing_spaces(
        invoke, tmp_path, monkeypatch):
    from conftest import SAMPLES

    monkeypatch.setenv("COLUMNS", "80")
    result = invoke("run", SAMPLES / "chelsea.png", "-k", "gabor:45,2,6", "-k", "sobel-x",
                    "-o", tmp_path)
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert all(len(line) <= 80 for line in lines)
    assert all(line == line.rstrip() for line in lines)  # piped: no padding spaces
    for name in ("01-conv-gabor-45-2-6.png", "03-pool-gabor-45-2-6.png", "02-relu-sobel-x.png"):
        assert any(line.endswith(name) for line in lines), name
    assert "…" not in result.stdout
    assert "size (W×H)" in result.stdout and "451×300" in result.stdout  # width first


def test_zero_sum_kernels_show_a_sum_of_zero(invoke):
    result = invoke("kernels", "log:1", "sobel-x")
    assert result.exit_code == 0
    rows = [line for line in result.stdout.splitlines()
            if line.startswith(("│ log-1 ", "│ sobel-x "))]
    assert len(rows) == 2 and all("│   0 │" in row for row in rows)
    assert "e-0" not in result.stdout
