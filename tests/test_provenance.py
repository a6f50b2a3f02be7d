"""Pooling provenance: where each pooled cell came from, in the library, the manifest and the demo.

Every expected window below is worked out by hand from SPEC §1 (windows start
at 0, s, 2s, ...; `keep` keeps the first window that reaches the end, clipped
to the map; `drop` only whole windows).
"""

import io

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png
from numpy.testing import assert_allclose, assert_array_equal
from rich.console import Console

from cnnpipe.ops import pool2d, pool_provenance
from cnnpipe.render import teaching


def render(renderable, width=100):
    console = Console(file=io.StringIO(), width=width, color_system=None, legacy_windows=False)
    console.print(renderable)
    return "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())


def loop_windows(n, k, s, edge):
    """(start, stop) of each window along one axis, by walking the map."""
    out, start = [], 0
    while start < n:
        if start + k <= n:
            out.append((start, start + k))
        elif edge == "keep":
            out.append((start, n))
        if start + k >= n:
            break
        start += s
    return out


def test_loop_windows_agree_with_the_hand_worked_examples():
    # The helper itself, against the SPEC anchor and two hand cases.
    assert loop_windows(5, 2, 2, "keep") == [(0, 2), (2, 4), (4, 5)]
    assert loop_windows(5, 2, 2, "drop") == [(0, 2), (2, 4)]
    assert loop_windows(7, 2, 3, "keep") == [(0, 2), (3, 5), (6, 7)]


def test_partial_edge_windows_of_a_5x5_map():
    x = np.arange(25, dtype=np.float32).reshape(5, 5)
    p = pool_provenance(x, window=2, stride=2)
    # Bottom-right cell: rows 4..5 and cols 4..5 clipped to the single corner.
    assert (p["row0"][2, 2], p["row1"][2, 2], p["col0"][2, 2], p["col1"][2, 2]) == (4, 5, 4, 5)
    assert p["count"][2, 2] == 1 and p["partial"][2, 2]
    assert (p["winner_row"][2, 2], p["winner_col"][2, 2]) == (4, 4)
    assert p["value"][2, 2] == 24
    # Top-right: rows 0..1 whole, cols 4..5 clipped to 4..4: two cells, winner (1, 4) = 9.
    assert p["count"][0, 2] == 2 and p["partial"][0, 2]
    assert (p["winner_row"][0, 2], p["winner_col"][0, 2], p["value"][0, 2]) == (1, 4, 9)
    assert not p["partial"][0, 0] and p["count"][0, 0] == 4


def test_stride_larger_than_window_skips_cells():
    # n=7, k=2, s=3: windows [0,2), [3,5), [6,7); rows/cols 2 and 5 are never looked at.
    x = np.zeros((7, 7), dtype=np.float32)
    x[2, 2] = 100  # in no window: must not win anything
    x[6, 0] = 5
    p = pool_provenance(x, window=2, stride=3)
    assert_array_equal(p["row0"][:, 0], [0, 3, 6])
    assert_array_equal(p["row1"][:, 0], [2, 5, 7])
    assert_array_equal(p["count"], [[4, 4, 2], [4, 4, 2], [2, 2, 1]])
    assert p["value"].max() == 5
    assert (p["winner_row"][2, 0], p["winner_col"][2, 0]) == (6, 0)
    drop = pool_provenance(x, window=2, stride=3, edge="drop")
    assert drop["value"].shape == (2, 2) and not drop["partial"].any()


def test_stride_smaller_than_window_overlaps():
    # n=6, k=3, s=2: windows [0,3), [2,5), [4,6) -> the last has 2 of 3 rows.
    x = np.array([[1, 2, 3, 4, 5, 6]] * 6, dtype=np.float32) * np.arange(1, 7)[:, None]
    p = pool_provenance(x, window=3, stride=2, mode="mean")
    assert_array_equal(p["row0"][:, 0], [0, 2, 4])
    assert_array_equal(p["row1"][:, 0], [3, 5, 6])
    assert_array_equal(p["count"], [[9, 9, 6], [9, 9, 6], [6, 6, 4]])
    # The mean divides by the cells inside the map: bottom-right = rows 4,5 x cols 4,5.
    corner = (5 * 5 + 5 * 6 + 6 * 5 + 6 * 6) / 4
    assert_allclose(p["value"][2, 2], corner)
    assert "winner_row" not in p


@pytest.mark.parametrize("n, k, s, edge", [(5, 2, 2, "keep"), (7, 2, 3, "keep"),
                                           (6, 3, 2, "keep"), (9, 4, 1, "drop"),
                                           (3, 5, 2, "keep"), (8, 3, 3, "drop")])
def test_windows_and_counts_match_a_loop(n, k, s, edge):
    rng = np.random.default_rng(n * 100 + k * 10 + s)
    x = rng.integers(-5, 6, size=(n, n)).astype(np.float32)
    p = pool_provenance(x, window=k, stride=s, edge=edge)
    windows = loop_windows(n, k, s, edge)
    assert p["value"].shape == (len(windows), len(windows))
    for i, (r0, r1) in enumerate(windows):
        for j, (c0, c1) in enumerate(windows):
            assert (p["row0"][i, j], p["row1"][i, j]) == (r0, r1)
            assert (p["col0"][i, j], p["col1"][i, j]) == (c0, c1)
            assert p["count"][i, j] == (r1 - r0) * (c1 - c0)
            assert p["partial"][i, j] == ((r1 - r0) * (c1 - c0) < k * k)
            patch = x[r0:r1, c0:c1]
            wr, wc = p["winner_row"][i, j], p["winner_col"][i, j]
            assert r0 <= wr < r1 and c0 <= wc < c1
            assert x[wr, wc] == patch.max() == p["value"][i, j]


def test_run_provenance_goes_into_the_manifest(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path,
                    "--provenance", "-q")
    assert result.exit_code == 0, result.output
    pool = [m for m in load_manifest(tmp_path / "tutorial")["maps"] if m["stage"] == "pool"]
    prov = pool[0]["provenance"]
    # ReLU of the tutorial map is 3, 3, 1, 3, 3 on the diagonal and 0 elsewhere.
    assert prov["value"] == [[3, 0, 0], [0, 3, 0], [0, 0, 3]]
    assert prov["winner_row"] == [[0, 0, 0], [2, 3, 2], [4, 4, 4]]
    assert prov["winner_col"] == [[0, 2, 4], [0, 3, 4], [0, 2, 4]]
    assert prov["count"] == [[4, 4, 2], [4, 4, 2], [2, 2, 1]]
    assert prov["partial"][2] == [True, True, True]


def test_run_without_provenance_keeps_the_manifest_small(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path, "-q")
    assert result.exit_code == 0, result.output
    assert all("provenance" not in m for m in load_manifest(tmp_path / "tutorial")["maps"])


def test_run_provenance_with_mean_has_counts_but_no_winner(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path,
                    "--provenance", "-q", "--pool", "mean", "--window", "3", "--stride", "2")
    assert result.exit_code == 0, result.output
    prov = [m for m in load_manifest(tmp_path / "tutorial")["maps"]
            if m["stage"] == "pool"][0]["provenance"]
    # 5x5 map, window 3, stride 2: windows [0,3), [2,5): whole, 9 cells each.
    assert prov["count"] == [[9, 9], [9, 9]]
    assert "winner_row" not in prov
    relu = np.maximum(np.diag([3, 3, 1, 3, 3]).astype(np.float32), 0)
    assert_allclose(prov["value"], pool2d(relu, 3, 2, mode="mean"))


def test_provenance_table_text():
    x = np.array([[1, 9, 0], [4, 2, 7], [3, 3, 8]], dtype=np.float32)
    table = teaching.provenance_table(pool_provenance(x), "max", (2, 2))
    expected = """\
cell    rows             cols             cells   partial   winner   max
────────────────────────────────────────────────────────────────────────
(0,0)   0..1             0..1                 4             (0,1)      9
(0,1)   0..1             2..2 (of 2..3)       2   yes       (1,2)      7
(1,0)   2..2 (of 2..3)   0..1                 2   yes       (2,0)      3
(1,1)   2..2 (of 2..3)   2..2 (of 2..3)       1   yes       (2,2)      8"""
    assert render(table) == expected


def test_provenance_table_for_mean_shows_the_divisor():
    x = np.array([[1, 2, 6], [3, 4, 0], [5, 5, 8]], dtype=np.float32)
    text = render(teaching.provenance_table(pool_provenance(x, mode="mean"), "mean", (2, 2)))
    lines = text.splitlines()
    assert lines[0].split() == ["cell", "rows", "cols", "cells", "partial", "divisor", "mean"]
    assert lines[2].split() == ["(0,0)", "0..1", "0..1", "4", "4", "2.5"]  # cnnpipe.numbers
    assert lines[5].split() == ["(1,1)", "2..2", "(of", "2..3)", "2..2", "(of", "2..3)", "1",
                                "yes", "1", "8"]
    assert "winner" not in text


def test_run_provenance_per_channel_with_color_rgb(invoke, tmp_path):
    rgb = np.zeros((6, 6, 3), dtype=np.uint8)
    rgb[1, 1] = (255, 0, 0)  # red only: the red channel's winner is the bright pixel
    rgb[4, 4] = (0, 0, 255)
    path = write_png(tmp_path / "dots.png", rgb)
    result = invoke("run", path, "-k", "identity", "-o", tmp_path / "out", "--provenance",
                    "-q", "--color", "rgb")
    assert result.exit_code == 0, result.output
    pool = [m for m in load_manifest(tmp_path / "out" / "dots")["maps"]
            if m["stage"] == "pool"][0]
    red, green, blue = pool["provenance"]
    # identity 3x3 on 6x6 -> 4x4 map (shifted by one): red dot at (0, 0), blue at (3, 3).
    assert red["value"][0][0] == 1 and (red["winner_row"][0][0], red["winner_col"][0][0]) == (0, 0)
    assert blue["value"][1][1] == 1
    assert (blue["winner_row"][1][1], blue["winner_col"][1][1]) == (3, 3)
    assert green["value"] == [[0, 0], [0, 0]]
