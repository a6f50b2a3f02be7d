"""Matrices printed as tables: every number readable, none elided."""


import numpy as np


def _render(renderable, width):
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_wide_matrix_tables_wrap_into_column_blocks_instead_of_eliding_numbers():
    # rich squeezed a 16-column table into 80 columns: every cell became "0…",
    # and 0.0039 printed as "3…" (read as 3).
    from cnnpipe.render.tables import matrix_table

    values = (0.05 + 0.9 * np.random.RandomState(0).rand(16, 16)).round(2)  # never "0" or "1"
    values[3, 3] = 0.0039
    text = _render(matrix_table(values, title="input · 16×16"), 80)
    assert "…" not in text
    assert "0.0039" in text  # written as everywhere (cnnpipe.numbers), never cut
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count("input · 16×16") == 1
    for row in range(16):  # every row label appears once per block, every value somewhere
        assert sum(line.split()[:1] == [str(row)] for line in text.splitlines()) >= 2
    shown = {float(cell) for line in text.splitlines()[1:] for cell in line.split()[1:]
             if "." in cell}
    assert {float(f"{v:.3g}") for v in values.ravel()} <= shown


def test_run_prints_a_16x16_map_without_eliding_a_small_value(invoke, tmp_path):
    values = np.random.RandomState(0).rand(16, 16).round(2) + 0.01
    values[6, 3], values[10, 6] = 0.0039, 0.0078
    source = tmp_path / "m.csv"
    np.savetxt(source, values, delimiter=",", fmt="%.4f")
    result = invoke("run", source, "-k", "1", "--pool", "none", "--activation", "none",
                    "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert result.stdout.count(" 0.0039 ") >= 2  # the input and the 1x1 feature map
    assert result.stdout.count(" 0.0078 ") >= 2
