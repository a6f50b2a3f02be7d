"""No command replaces a file unasked (issue #17 point 4).

A chart, GIF or picture written outside an output folder may land on a file the
user keeps: an existing file is refused in one line naming it and --force (exit 2,
nothing written, nothing computed first); --force replaces it. -q never hides the
path of a file written.
"""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_png

MINE = b"the user's own file, not cnnpipe's"


@pytest.fixture
def image(tmp_path):
    return write_png(tmp_path / "img.png", (np.indices((24, 24)).sum(axis=0) % 7) * 30)


def _cases(tmp_path, image):
    """(name, the command's arguments, the file it writes, its signature)."""
    return [
        ("invariance --chart", ["invariance", image, "-k", "box", "--shifts", "1", "-q",
                                "--chart", tmp_path / "c.png"], tmp_path / "c.png",
         b"\x89PNG"),
        ("animate --gif", ["animate", "--gif", tmp_path / "a.gif"], tmp_path / "a.gif",
         b"GIF8"),
        ("kernels --png", ["kernels", "sobel-x", "--png", tmp_path / "k.png"],
         tmp_path / "k.png", b"\x89PNG"),
        ("conv -o", ["conv", image, "-k", "sobel-x", "-o", tmp_path / "c.npy"],
         tmp_path / "c.npy", b"\x93NUMPY"),
        ("relu -o", ["relu", image, "-o", tmp_path / "r.png"], tmp_path / "r.png", b"\x89PNG"),
        ("pool -o", ["pool", image, "-o", tmp_path / "p.csv"], tmp_path / "p.csv", b"0"),
    ]


IDS = ["invariance", "animate", "kernels", "conv", "relu", "pool"]


@pytest.mark.parametrize("which", range(len(IDS)), ids=IDS)
def test_an_existing_file_is_refused_in_one_line_naming_it_and_force(invoke, tmp_path, image,
                                                                    which):
    _, args, target, _ = _cases(tmp_path, image)[which]
    target.write_bytes(MINE)
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    assert str(target) in lines[0] and "--force" in lines[0]
    assert target.read_bytes() == MINE
    assert result.stdout == ""  # refused before any work: no table either
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["img.png", target.name])


@pytest.mark.parametrize("which", range(len(IDS)), ids=IDS)
def test_force_replaces_the_file_and_says_where_it_went(invoke, tmp_path, image, which):
    _, args, target, signature = _cases(tmp_path, image)[which]
    target.write_bytes(MINE)
    result = invoke(*args, "--force")
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(signature)
    assert str(target) in result.stderr  # even with invariance -q


@pytest.mark.parametrize("which", range(len(IDS)), ids=IDS)
def test_a_new_file_needs_no_force(invoke, tmp_path, image, which):
    _, args, target, signature = _cases(tmp_path, image)[which]
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    assert target.read_bytes().startswith(signature)
    assert str(target) in result.stderr


def test_the_default_invariance_chart_does_not_replace_a_file_in_the_current_folder(
        invoke, tmp_path, image, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "invariance.png").write_bytes(MINE)
    result = invoke("invariance", image, "-k", "box", "--shifts", "1")
    assert result.exit_code == 2, result.output
    assert "invariance.png" in result.stderr and "--force" in result.stderr
    assert (tmp_path / "invariance.png").read_bytes() == MINE
    again = invoke("invariance", image, "-k", "box", "--shifts", "1", "-q", "--force")
    assert again.exit_code == 0, again.output
    assert again.stdout == ""
    assert "chart -> invariance.png" in again.stderr  # -q: the path of a file written stays
    assert (tmp_path / "invariance.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize("which", range(len(IDS)), ids=IDS)
def test_a_directory_in_the_way_is_refused_even_with_force(invoke, tmp_path, image, which):
    _, args, target, _ = _cases(tmp_path, image)[which]
    target.mkdir()
    result = invoke(*args, "--force")
    assert result.exit_code == 2, result.output
    assert str(target) in result.stderr and "directory" in result.stderr
    assert list(target.iterdir()) == []


def test_a_stack_written_as_pngs_checks_every_numbered_file_before_writing_one(invoke, tmp_path,
                                                                                image):
    """conv with two detectors to e.png writes e-1.png and e-2.png: an existing e-2.png
    stops the command before e-1.png is written."""
    (tmp_path / "e-2.png").write_bytes(MINE)
    result = invoke("conv", image, "-k", "sobel-x", "-k", "sobel-y", "-o", tmp_path / "e.png")
    assert result.exit_code == 2, result.output
    assert "e-2.png" in result.stderr and "--force" in result.stderr
    assert not (tmp_path / "e-1.png").exists()
    assert (tmp_path / "e-2.png").read_bytes() == MINE


def test_force_with_standard_output_is_a_usage_error(invoke, image):
    result = invoke("conv", image, "-k", "sobel-x", "-o", "-", "--force")
    assert result.exit_code == 2
    assert "--force" in result.stderr and "-o -" in result.stderr
