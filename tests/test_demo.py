"""`cnnpipe demo`: the tutorial's worked example, table by table, as a student reads it.

Tables are rendered through a pinned rich Console (fixed width, no colour) and
compared as text; the numbers in them are worked out by hand from the 7x7 X
and the tutorial detector.
"""

import io
import re

import numpy as np
import pytest
from conftest import SAMPLES, write_png
from rich.console import Console

from cnnpipe.kernels import BUILTIN
from cnnpipe.layer import Params, run_pipeline
from cnnpipe.ops import pool_provenance
from cnnpipe.render import teaching
from cnnpipe.render.tables import matrix_table

X = np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",", dtype=np.float32)

# The tutorial detector (+1 diagonal, -1 elsewhere) over the X, by hand: the
# diagonal patches match fully (3), the centre patch is a full X (1), ...
CONV = np.array([[3, -2, 0, -2, -1],
                 [-2, 3, -3, -1, -2],
                 [0, -3, 1, -3, 0],
                 [-2, -1, -3, 3, -2],
                 [-1, -2, 0, -2, 3]], dtype=np.float32)


def render(renderable, width=100):
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def tutorial_maps(**params):
    p = Params(**params)
    return p, run_pipeline(X, [BUILTIN["tutorial"]], p)[0]


def test_builtin_image_is_the_tutorial_sample():
    from cnnpipe.cli.demo import TUTORIAL_IMAGE

    assert np.array_equal(np.array(TUTORIAL_IMAGE, dtype=np.float32), X)


def test_feature_map_is_the_hand_computed_one():
    _, maps = tutorial_maps()
    assert np.array_equal(maps.conv, CONV)
    assert np.array_equal(maps.relu, np.maximum(CONV, 0))


def test_relu_table_marks_each_pooling_winner():
    # Winners of the 2x2 / stride 2 windows over relu(CONV), first in row-major order:
    # all-zero windows pick their top-left cell; window (1,1) holds 1 and 3 -> (3,3).
    relu = np.maximum(CONV, 0)
    marks = teaching.winners(pool_provenance(relu))
    assert marks == {(0, 0), (0, 2), (0, 4), (2, 0), (3, 3), (2, 4), (4, 0), (4, 2), (4, 4)}
    expected = """\
     0   1    2    3    4
─────────────────────────
0   *3   0   *0    0   *0
1    0   3    0    0    0
2   *0   0    1    0   *0
3    0   0    0   *3    0
4   *0   0   *0    0   *3"""
    assert render(matrix_table(relu, highlight=marks)) == expected


def test_pooled_table():
    _, maps = tutorial_maps()
    expected = """\
    0   1   2
─────────────
0   3   0   0
1   0   3   0
2   0   0   3"""
    assert render(matrix_table(maps.pool)) == expected


def test_captions_say_what_each_stage_did():
    p, maps = tutorial_maps()
    assert teaching.conv_caption((7, 7), (3, 3), (5, 5)) == (
        "The detector slid over the 7×7 image one cell at a time: 7×7 → 5×5 feature map "
        "(valid padding loses (3−1)=2 rows and columns). Each cell is the sum of a 3×3 patch "
        "times the detector: large where the patch looks like it.")
    # 16 of the 25 hand-computed cells are negative.
    assert teaching.activation_caption(maps.conv, maps.relu, "relu", 0.01) == (
        "ReLU replaced the 16 negative values with 0; the other 9 cells are unchanged. "
        "5×5 → 5×5: only the detector's positive matches remain.")
    prov = pool_provenance(maps.relu)
    assert teaching.pool_caption((5, 5), (3, 3), (2, 2), (2, 2), "max", "keep", prov,
                                 "ReLU map") == (
        "A 2×2 window slid over the 5×5 map in steps of 2 and kept the largest value of each "
        "window: 5×5 → 3×3. The last windows hang off the edge (rows 4..5 clipped to 4..4; "
        "columns 4..5 clipped to 4..4): they pool only the cells inside the map. The * cells "
        "in the ReLU map above are the winners.")
    assert teaching.invariance_caption(maps.relu, maps.pool, (2, 2), (2, 2)) == (
        "Invariance: the map shrank from 25 to 9 cells, yet its strongest response (3) is "
        "still there (3 in the pooled map). Each pooled cell says a feature was somewhere in "
        "its 2×2 window, not exactly where, so a feature that moves by up to 1 cell and stays "
        "inside its window leaves that pooled cell unchanged: pooling makes features robust "
        "to where they appear.")
    # window (1, 2): 1 row, 2 columns, written width first like every size
    assert teaching.invariance_caption(maps.relu, maps.pool, (1, 2), (1, 2), "sum") == (
        "Invariance: the map shrank from 25 to 9 cells; each pooled cell is the sum of its "
        "2×1 window, whatever the order of the cells in it, so a feature that moves by up to "
        "1 column and stays inside its window leaves that pooled cell unchanged: pooling "
        "makes features robust to where they appear.")


def test_conv_caption_for_other_settings():
    text = teaching.conv_caption((7, 9), (3, 5), (5, 5), stride=(1, 1))
    assert "valid padding loses (3−1)=2 rows and (5−1)=4 columns" in text
    text = teaching.conv_caption((8, 8), (3, 3), (4, 4), stride=(2, 2), padding="same")
    assert "in steps of 2: 8×8 → 4×4" in text and "same padding" in text


def test_mean_pooling_caption_mentions_the_divisor():
    relu = np.maximum(CONV, 0)
    prov = pool_provenance(relu, mode="mean")
    text = teaching.pool_caption((5, 5), (3, 3), (2, 2), (2, 2), "mean", "keep", prov)
    assert "took the average" in text and "the mean divides by that count" in text
    assert "winners" not in text


# ------------------------------------------------------------------ the command


def sections(stdout):
    return re.findall(r"^(\d)\. (.+)$", stdout, flags=re.MULTILINE)


def test_demo_out_of_the_box(invoke):
    result = invoke("demo")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert sections(out) == [("1", "The input · 7×7"), ("2", "The detector · tutorial · 3×3"),
                             ("3", "Convolution → feature map · 5×5"), ("4", "ReLU · 5×5"),
                             ("5", "Max pooling · 3×3")]
    # The provenance table is shown for a map this small; the corner is a 1-cell window.
    corner = [line.split() for line in out.splitlines() if line.startswith("(2,2)")]
    assert corner == [["(2,2)", "4..4", "(of", "4..5)", "4..4", "(of", "4..5)", "1", "yes",
                       "(4,4)", "3"]]
    assert "pooling makes features robust to where they appear" in " ".join(out.split())
    assert result.stderr == ""


def test_demo_lines_fit_80_columns(invoke):
    result = invoke("demo", "--window", "3", "--stride", "2", "--pool", "mean")
    assert result.exit_code == 0, result.stderr
    assert max(len(line) for line in result.stdout.splitlines()) <= 80


def test_demo_no_provenance_and_mean_pooling(invoke):
    result = invoke("demo", "--pool", "mean", "--no-provenance")
    assert result.exit_code == 0, result.stderr
    assert "Where each pooled cell came from" not in result.stdout
    assert "*" not in result.stdout  # no winners for a mean
    assert "Mean pooling · 3×3" in result.stdout


def test_demo_without_activation_marks_winners_in_the_feature_map(invoke):
    result = invoke("demo", "--activation", "none", "--no-provenance")
    assert result.exit_code == 0, result.stderr
    assert [s[1] for s in sections(result.stdout)][3] == "Max pooling · 3×3"
    # Window (1,1) of the raw feature map holds 3, -1, 1 ... its winner is (3,3) = 3.
    conv_rows = result.stdout.split("3. Convolution")[1].split("4. Max")[0]
    assert "*3" in conv_rows and "in the feature map above are the winners" in result.stdout


def test_demo_on_my_own_csv(invoke, tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("0,0,0,0\n0,1,1,0\n0,1,1,0\n0,0,0,0\n")
    result = invoke("demo", "--input", path, "-k", "box")
    assert result.exit_code == 0, result.stderr
    assert "Your input: 4×4 values" in result.stdout
    # A 3x3 box blur on a 4x4 input: 2x2 map, every cell sums the 2x2 block / 9 = 0.44.
    assert "The detector · box · 3×3" in result.stdout
    assert "0.44" in result.stdout
    assert "2×2 → 1×1" in result.stdout


@pytest.mark.parametrize("shape", [(40, 40), (16, 40)])
def test_demo_refuses_large_inputs_with_a_hint(invoke, tmp_path, shape):
    path = write_png(tmp_path / "big.png", np.zeros(shape))
    result = invoke("demo", "--input", path)
    assert result.exit_code == 2
    assert "cnnpipe run" in result.stderr and result.stderr.count("\n") == 1
    assert result.stdout == ""


def test_demo_reports_an_unreadable_input(invoke, tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,2\n3\n")
    result = invoke("demo", "--input", path)
    assert result.exit_code == 1
    assert "bad.csv" in result.stderr and result.stderr.count("\n") == 1


def test_demo_bad_kernel_is_a_usage_error(invoke):
    result = invoke("demo", "-k", "tutoral")
    assert result.exit_code == 2
    assert "tutorial" in result.stderr  # did you mean


def test_drop_names_the_ignored_cells_and_a_lost_peak():
    relu = np.maximum(CONV, 0)
    prov = pool_provenance(relu, edge="drop")
    text = teaching.pool_caption((5, 5), (2, 2), (2, 2), (2, 2), "max", "drop", prov)
    assert "No window covers row 4 or column 4: those cells are ignored." in text
    x = np.zeros((5, 5), dtype=np.float32)
    x[4, 4] = 9  # only the dropped corner holds a response
    pooled = np.zeros((2, 2), dtype=np.float32)
    text = teaching.invariance_caption(x, pooled, (2, 2), (2, 2))
    assert "its strongest response (9) lay in no window, so the pooled map's strongest is 0" \
        in text


def test_stride_larger_than_window_names_the_skipped_cells():
    relu = np.maximum(CONV, 0)
    prov = pool_provenance(relu, window=1, stride=2)
    text = teaching.pool_caption((5, 5), (3, 3), (1, 1), (2, 2), "max", "keep", prov)
    assert "No window covers rows 1, 3 or columns 1, 3" in text
