"""Text matrices read the same way everywhere (issue #17 point 5).

Commas, spaces or tabs (and mixed runs of blanks), in a .csv or .txt file or on
standard input, give the same numbers to `run`, `conv` and `check`, and as kernel
files to `-k`: the rule is cnnpipe.numbers.separator, in one place.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from reference import ref_conv2d

from cnnpipe.io import load_matrix
from cnnpipe.teaching.exercises import answer, make_task

VALUES = np.array([[1, -2.5, 3, 0, 4],
                   [0.25, 6, -1, 2, 2],
                   [3, 3, 1e-3, -7, 1],
                   [0, 1, 2, 3, 4]], dtype=np.float32)

#: the same rows, written the ways people write them
STYLES = {
    "commas": lambda row: ",".join(row),
    "commas and spaces": lambda row: ", ".join(row),
    "spaces": lambda row: " ".join(row),
    "runs of spaces": lambda row: "   ".join(row) + "  ",
    "tabs": lambda row: "\t".join(row),
    "tabs and spaces": lambda row: " \t ".join(row),
}


def text(array, style, comment=True) -> bytes:
    rows = [STYLES[style]([f"{v:g}" for v in row]) for row in array]
    return (("# written by hand\n\n" if comment else "") + "\n".join(rows) + "\n").encode()


@pytest.mark.parametrize("ext", [".csv", ".txt"])
@pytest.mark.parametrize("style", list(STYLES))
def test_every_separator_reads_the_same_numbers_in_either_extension(style, ext):
    assert np.array_equal(load_matrix(text(VALUES, style), ext=ext), VALUES)


def _sources(tmp_path, style):
    """(how the matrix is given, its bytes on stdin or None): a .csv file, a .txt file, stdin."""
    data = text(VALUES, style)
    for ext in (".csv", ".txt"):
        path = tmp_path / f"{style.replace(' ', '-')}{ext}"
        path.write_bytes(data)
        yield str(path), None
    yield "-", data


@pytest.mark.parametrize("style", list(STYLES))
def test_conv_gives_the_same_map_from_every_separator_file_or_stdin(invoke, tmp_path, style):
    kernel = np.array([[1, 0], [-1, 2]], dtype=np.float32)
    want = ref_conv2d(VALUES.astype(np.float64), kernel.astype(np.float64))
    for number, (source, data) in enumerate(_sources(tmp_path, style)):
        out = tmp_path / f"conv{number}.npy"
        result = invoke("conv", source, "-k", "1,0;-1,2", "-o", out, input=data)
        assert result.exit_code == 0, (source, result.output)
        np.testing.assert_allclose(np.load(out), want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("style", ["commas", "runs of spaces", "tabs"])
def test_run_gives_the_same_maps_from_every_separator_file_or_stdin(invoke, tmp_path, style):
    records = []
    for number, (source, data) in enumerate(_sources(tmp_path, style)):
        result = invoke("run", source, "-k", "1,0;-1,2", "--window", "2", "-o",
                        tmp_path / f"out{number}", "--json", "-q", input=data)
        assert result.exit_code == 0, (source, result.output)
        record = json.loads(result.stdout)
        assert np.array_equal(np.array(record["maps"][0]["values"], dtype=np.float32), VALUES)
        records.append([(m["stage"], m["values"]) for m in record["maps"]])
    assert records[0] == records[1] == records[2]


def _answer_text(stage, style):
    return text(answer(make_task(3), stage), style, comment=False)


@pytest.mark.parametrize("style", list(STYLES))
def test_check_grades_a_right_answer_right_whatever_the_separator(invoke, tmp_path, style):
    data = _answer_text("conv", style)
    for ext in (".csv", ".txt"):
        (tmp_path / f"a{ext}").write_bytes(data)
        result = invoke("check", tmp_path / f"a{ext}", "--seed", 3, "--stage", "conv")
        assert result.exit_code == 0, result.output
        assert "all correct" in result.stdout
    result = invoke("check", "-", "--seed", 3, "--stage", "conv", input=data)
    assert result.exit_code == 0, result.output
    assert "all correct" in result.stdout


def test_check_reads_the_issue_reproduction_from_stdin_and_grades_it(invoke):
    # `printf '4 0 4\n0 4 0\n4 0 4\n' | cnnpipe check - ...` was refused as comma-only
    result = invoke("check", "-", "--seed", 3, "--stage", "pool", input=b"4 0 4\n0 4 0\n4 0 4\n")
    right = answer(make_task(3), "pool")
    wrong = int(np.sum(np.abs(right - np.array([[4, 0, 4], [0, 4, 0], [4, 0, 4]])) > 0.01))
    assert wrong > 0  # so the answer is graded, not refused
    assert result.exit_code == 1
    assert result.stdout.count("wrong: row") == wrong
    assert "non-numeric" not in result.stderr


@pytest.mark.parametrize("rows, hint", [
    (b"1,2,3\n4 5 6\n", "commas, as its first row does"),
    (b"1 2 3\n4,5,6\n", "spaces or tabs, as its first row does"),
    (b"1;2;3\n4;5;6\n", "commas, spaces or tabs"),
])
def test_a_row_that_changes_separator_is_refused_naming_the_rule(invoke, tmp_path, rows, hint):
    path = tmp_path / "m.csv"
    path.write_bytes(rows)
    for args, data in (([path], None), (["-"], rows)):
        result = invoke("check", *args, "--seed", 3, "--stage", "pool", input=data)
        assert result.exit_code == 1, result.output
        line = result.stderr.strip().splitlines()[-1]
        assert "non-numeric value" in line and hint in line, line


@pytest.mark.parametrize("ext", [".csv", ".txt"])
@pytest.mark.parametrize("style", list(STYLES))
def test_a_kernel_file_reads_the_same_weights_whatever_the_separator(tmp_path, style, ext):
    from cnnpipe.kernels import parse_kernel_specs

    path = tmp_path / f"k{ext}"
    path.write_bytes(text(VALUES, style))
    (kernel,) = parse_kernel_specs([str(path)])
    assert np.array_equal(kernel.weights, VALUES.astype(np.float64))


@pytest.mark.parametrize("rows, first", [(b"1,2,3\n4 5 6\n", "commas"),
                                         (b"1 2 3\n4,5,6\n", "spaces or tabs")])
def test_a_kernel_file_that_changes_separator_is_refused_naming_the_rule(invoke, tmp_path,
                                                                       rows, first):
    path = tmp_path / "k.csv"
    path.write_bytes(rows)
    result = invoke("kernels", path)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert "row 2" in line and f"the first row uses {first}" in line, line
