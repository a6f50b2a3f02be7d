"""An output root that cannot be written is one line before any input is decoded (issue 14).

The tests run as root, which writes into a chmod 555 folder anyway (and cnnpipe then
rightly writes there too), so an unwritable folder is shown two ways that hold for
root: a regular file on the way to OUT (a real obstacle, for every user), and
``os.access`` answering "no" as it does for a read-only file system or missing
permission (simulated: the test says so).
"""

from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import write_png


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for seed in range(3):
        write_png(folder / f"p{seed}.png", np.random.default_rng(seed).integers(0, 256, (9, 9)))
    return folder


@pytest.fixture
def no_decoding(monkeypatch):
    """Fail the test if any input is decoded (inputs are decoded by io.load_image)."""
    import cnnpipe.io

    decoded = []

    def load_image(*args, **kwargs):
        decoded.append(args[0])
        raise AssertionError("an input was decoded")

    monkeypatch.setattr(cnnpipe.io, "load_image", load_image)
    return decoded


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_file_in_the_way_of_out_is_one_usage_line_before_any_input(
        invoke, tmp_path, photos, no_decoding, jobs):
    (tmp_path / "afile").write_text("not a folder")
    result = invoke("run", photos, "-o", tmp_path / "afile" / "out", "-k", "box", "-j", jobs)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "-o/--out" in lines[0] and "afile is a file, not a folder" in lines[0]
    assert no_decoding == []
    assert (tmp_path / "afile").read_text() == "not a folder"


def test_an_unwritable_out_is_one_usage_line_before_any_input(
        invoke, tmp_path, photos, no_decoding, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    real_access = os.access

    def access(path, mode, **kwargs):  # what a read-only mount or chmod 555 answers non-root
        if os.fspath(path) == os.fspath(out) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)
    result = invoke("run", photos, "-o", out, "-k", "box", "-j", "1")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "is not writable" in lines[0] and str(out) in lines[0]
    assert no_decoding == [] and list(out.iterdir()) == []


def test_a_missing_out_below_an_unwritable_folder_names_that_folder(
        invoke, tmp_path, photos, no_decoding, monkeypatch):
    parent = tmp_path / "ro"
    parent.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: (
        False if os.fspath(path) == os.fspath(parent) else real_access(path, mode, **kw)))
    result = invoke("run", photos, "-o", parent / "new" / "out", "-k", "box", "-j", "1")
    assert result.exit_code == 2
    assert f"{parent}, where it would be made, is not writable" in result.stderr
    assert no_decoding == [] and list(parent.iterdir()) == []


def test_a_writable_out_still_runs(invoke, tmp_path, photos):
    # the check answers from the folder OUT would be made in: a new nested OUT is fine
    result = invoke("run", photos, "-o", tmp_path / "a" / "b" / "out", "-k", "box", "-q")
    assert result.exit_code == 0, result.stderr
    assert sorted(p.name for p in (tmp_path / "a" / "b" / "out").iterdir()) == ["p0", "p1", "p2"]
