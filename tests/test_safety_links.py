"""Nothing is written, renamed or deleted outside OUT through a symbolic link inside it."""

from __future__ import annotations

import json
import os

import numpy as np
from conftest import write_png


def _photo(tmp_path):
    rng = np.random.default_rng(4)
    return write_png(tmp_path / "camera.png", rng.integers(0, 256, (24, 30)))


def _out_and_outside(tmp_path):
    """OUT, and a folder outside it holding a file nothing may touch (victim.txt)."""
    out, ext = tmp_path / "out", tmp_path / "ext"
    out.mkdir()
    ext.mkdir()
    (ext / "victim.txt").write_text("x")
    return out, ext


def test_a_symlinked_output_folder_is_refused_and_nothing_outside_changes(invoke, tmp_path):
    # the attack: OUT/camera -> ext, whose manifest lists a victim file
    photo = _photo(tmp_path)
    out, ext = _out_and_outside(tmp_path)
    (ext / "manifest.json").write_text(json.dumps({"files": ["victim.txt"]}))
    os.symlink(ext, out / "camera")
    before = sorted(p.name for p in ext.iterdir())

    result = invoke("run", photo, "-o", out, "-k", "sobel-x")

    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[0]
    assert "symbolic link" in line and "camera" in line
    assert (ext / "victim.txt").read_text() == "x"  # not deleted
    assert sorted(p.name for p in ext.iterdir()) == before  # nothing written through the link
    assert json.loads((ext / "manifest.json").read_text()) == {"files": ["victim.txt"]}


def test_a_link_in_a_nested_output_path_is_refused(invoke, tmp_path):
    # photos/sub/camera.png goes to OUT/sub/camera: a link at OUT/sub is refused too
    src = tmp_path / "photos" / "sub"
    src.mkdir(parents=True)
    _photo(src)
    out, ext = tmp_path / "out", tmp_path / "ext"
    out.mkdir()
    ext.mkdir()
    os.symlink(ext, out / "sub")

    result = invoke("run", tmp_path / "photos", "-r", "-o", out, "-k", "box")

    assert result.exit_code == 1
    assert "symbolic link" in result.stderr
    assert list(ext.iterdir()) == []


def test_stale_files_are_removed_only_when_they_are_regular_files(invoke, tmp_path):
    # a manifest may list a link (planted or not): the re-run removes the stale maps it
    # wrote before, but never a link, and never what the link points at
    photo = _photo(tmp_path)
    out = tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", "box").exit_code == 0
    folder = out / "camera"
    outside = tmp_path / "keep.txt"
    outside.write_text("keep")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"].append("planted")
    (folder / "manifest.json").write_text(json.dumps(manifest))
    os.symlink(outside, folder / "planted")

    assert invoke("run", photo, "-o", out, "-k", "sobel-x").exit_code == 0

    assert not (folder / "01-conv-box.png").exists()  # a stale regular file: removed
    assert (folder / "planted").is_symlink()  # a link: left alone
    assert outside.read_text() == "keep"


def test_the_output_root_itself_may_be_a_link(invoke, tmp_path):
    # the user names OUT; only links below it are refused
    photo = _photo(tmp_path)
    real = tmp_path / "real-out"
    real.mkdir()
    os.symlink(real, tmp_path / "out")
    result = invoke("run", photo, "-o", tmp_path / "out", "-k", "box")
    assert result.exit_code == 0, result.stderr
    assert (real / "camera" / "manifest.json").exists()


def test_a_symlinked_lock_folder_is_refused_and_never_followed(invoke, tmp_path):
    # OUT/.cnnpipe-lock -> ext: the lock files would be created (and removed) in ext
    photo = _photo(tmp_path)
    out, ext = _out_and_outside(tmp_path)
    os.symlink(ext, out / ".cnnpipe-lock")

    result = invoke("run", photo, "-o", out, "-k", "box")

    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert ".cnnpipe-lock" in lines[0] and "symbolic link" in lines[0]
    assert sorted(p.name for p in ext.iterdir()) == ["victim.txt"]
    assert (ext / "victim.txt").read_text() == "x"
    assert sorted(p.name for p in out.iterdir()) == [".cnnpipe-lock"]  # nothing written


def test_a_symlinked_lock_file_is_refused_and_its_target_kept(invoke, tmp_path):
    from cnnpipe.batch.work import _lock_path

    photo = _photo(tmp_path)
    out, victim = tmp_path / "out", tmp_path / "victim.txt"
    victim.write_text("x")
    locks, path = _lock_path(out, "camera")
    locks.mkdir(parents=True)
    os.symlink(victim, path)

    result = invoke("run", photo, "-o", out, "-k", "box")

    assert result.exit_code == 1
    line = result.stderr.strip().splitlines()[0]
    assert "lock file" in line and "symbolic link" in line
    assert victim.read_text() == "x"
    assert path.is_symlink()  # left as it was: not cnnpipe's
    assert not (out / "camera").exists()
