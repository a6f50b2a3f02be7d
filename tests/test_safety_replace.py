"""A re-run replaces an input's results all at once or not at all (issue 14, point 2).

Each failure here (an overflowing detector, a full disk, Ctrl-C, SIGKILL, a kill
between the two renames of the swap) must leave exactly the previous result:
every file byte for byte, nothing added, nothing left beside it in OUT.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, load_manifest, write_png

BIG = "big=3e38,3e38;3e38,3e38"  # overflows float32 in the conv map: the run fails late


def _photo(folder: Path, name="camera", size=(40, 50), seed=3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    return write_png(folder / f"{name}.png", rng.integers(0, 256, size))


def _hashes(folder: Path) -> dict[str, str]:
    """Every entry of ``folder``: name -> sha256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _tree(out: Path) -> dict[str, dict[str, str]]:
    """Every entry of OUT (hidden ones too) and the hashes of each folder's files."""
    return {p.name: _hashes(p) if p.is_dir() else {} for p in sorted(out.iterdir())}


def test_a_failed_rerun_leaves_the_previous_result_byte_for_byte(invoke, tmp_path):
    photo, out = _photo(tmp_path), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", "sobel-y").exit_code == 0
    before = _tree(out)
    assert "manifest.json" in before["camera"] and "01-conv-sobel-y.png" in before["camera"]

    result = invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", BIG)

    assert result.exit_code == 1
    assert "overflowed" in result.stderr
    assert _tree(out) == before  # same files, same bytes, no staging folder left beside


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failed_batch_rerun_leaves_every_previous_result(invoke, tmp_path, jobs):
    src, out = tmp_path / "photos", tmp_path / "out"
    for seed, name in enumerate(["a", "b", "c"]):
        _photo(src, name, seed=seed)
    assert invoke("run", src, "-o", out, "-k", "box", "-k", "sobel-x", "-j", jobs,
                  "-q").exit_code == 0
    before = _tree(out)

    result = invoke("run", src, "-o", out, "-k", "box", "-k", BIG, "-j", jobs, "-q")

    assert result.exit_code == 1
    assert _tree(out) == before


def test_a_pipeline_failing_in_its_second_layer_keeps_the_previous_result(invoke, tmp_path):
    # layer 1's maps are written before layer 2 overflows: none of them may reach the folder
    photo, out = _photo(tmp_path), tmp_path / "out"
    good, bad = tmp_path / "good.toml", tmp_path / "bad.toml"
    good.write_text('[[layer]]\nkernels = ["box"]\n\n[[layer]]\nkernels = ["sobel-x"]\n')
    bad.write_text(f'[[layer]]\nkernels = ["box"]\n\n[[layer]]\nkernels = ["{BIG}"]\n')
    assert invoke("run", photo, "-o", out, "--pipeline", good, "--html").exit_code == 0
    before = _tree(out)
    assert "report.html" in before["camera"]

    result = invoke("run", photo, "-o", out, "--pipeline", bad, "--html")

    assert result.exit_code == 1
    assert _tree(out) == before


def test_a_full_disk_midway_leaves_the_previous_result(invoke, tmp_path, monkeypatch):
    photo, out = _photo(tmp_path), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", "box", "--html").exit_code == 0
    before = _tree(out)

    import cnnpipe.io.png as png

    real_fdopen, opened = os.fdopen, []

    class Full:  # a file on a full disk: the write fails with ENOSPC
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def fdopen(fd, *args, **kwargs):
        opened.append(fd)
        handle = real_fdopen(fd, *args, **kwargs)
        return Full(handle) if len(opened) > 4 else handle  # the fifth file finds it full

    monkeypatch.setattr(png.os, "fdopen", fdopen)
    result = invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", "sobel-y", "--html")
    monkeypatch.undo()

    assert result.exit_code == 1
    assert "No space left on device" in result.stderr
    assert len(opened) > 4  # the disk did fill up midway
    assert _tree(out) == before


def test_a_rerun_with_fewer_detectors_leaves_no_stale_file_and_keeps_the_users(invoke,
                                                                                tmp_path):
    photo, out = _photo(tmp_path), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x", "-k", "sobel-y",
                  "--npy").exit_code == 0
    (out / "camera" / "notes.txt").write_text("mine")

    assert invoke("run", photo, "-o", out, "-k", "sobel-x").exit_code == 0

    listed = set(load_manifest(out / "camera")["files"])
    assert not any("sobel-y" in name or name.endswith(".npy") for name in listed)
    assert set(os.listdir(out / "camera")) == listed | {"notes.txt"}
    assert (out / "camera" / "notes.txt").read_text() == "mine"
    assert sorted(os.listdir(out)) == ["camera"]  # no old or staging folder left


def test_a_kill_between_the_two_renames_is_recovered_by_the_next_run(invoke, tmp_path):
    # SIGKILL after `camera -> .camera.cnnpipe-old-PID` and before the staging folder took
    # its place: the next run (even one that fails) puts the complete result back
    photo, out = _photo(tmp_path), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x").exit_code == 0
    before = _hashes(out / "camera")
    os.rename(out / "camera", out / ".camera.cnnpipe-old-999999999")

    result = invoke("run", photo, "-o", out, "-k", BIG)

    assert result.exit_code == 1
    assert sorted(os.listdir(out)) == ["camera"]
    assert _hashes(out / "camera") == before


def test_a_parked_result_keeps_its_folder_from_another_input(tmp_path):
    # while a killed swap's old folder waits for recovery, another input with the same
    # name does not take its place
    from cnnpipe.batch import Job, claim_folders

    mine, other = _photo(tmp_path / "x", "a"), _photo(tmp_path / "y", "a", seed=9)
    out = tmp_path / "out"
    from cnnpipe.batch.work import process
    from cnnpipe.kernels import BUILTIN
    from cnnpipe.layer import Params
    from cnnpipe.outputs import RunConfig

    config = RunConfig(params=Params(), kernels=(BUILTIN["box"],), out_root=str(out), threads=1)
    assert process(Job(str(mine), "a"), config)["status"] == "ok"
    os.rename(out / "a", out / ".a.cnnpipe-old-999999999")
    warnings = []
    assert claim_folders([Job(str(other), "a")], out, warnings.append)[0].name == "a-2"
    assert str(mine.resolve()) in warnings[0]
    assert claim_folders([Job(str(mine), "a")], out)[0].name == "a"


def test_links_and_foreign_folders_with_cnnpipes_names_are_never_followed(invoke, tmp_path):
    photo, out, ext = _photo(tmp_path), tmp_path / "out", tmp_path / "ext"
    ext.mkdir()
    (ext / "manifest.json").write_text(json.dumps({"cnnpipe": "0", "files": ["victim.txt"]}))
    (ext / "victim.txt").write_text("x")
    out.mkdir()
    os.symlink(ext, out / ".camera.cnnpipe-old-1")
    os.symlink(ext, out / ".camera.cnnpipe-staging-2")
    (out / ".camera.cnnpipe-staging-3").mkdir()  # not cnnpipe's: no mark, no manifest
    (out / ".camera.cnnpipe-staging-3" / "keep.txt").write_text("y")
    ext_before = _hashes(ext)

    assert invoke("run", photo, "-o", out, "-k", "box").exit_code == 0
    assert invoke("run", photo, "-o", out, "-k", "sobel-x").exit_code == 0

    assert _hashes(ext) == ext_before
    assert sorted(os.listdir(out)) == [".camera.cnnpipe-old-1", ".camera.cnnpipe-staging-2",
                                       ".camera.cnnpipe-staging-3", "camera"]
    assert os.listdir(out / ".camera.cnnpipe-staging-3") == ["keep.txt"]


def test_the_staging_folder_is_never_an_input(invoke, tmp_path):
    # a leftover staging folder holding a manifest is hidden: a scan of OUT skips it
    from cnnpipe.batch import discover

    out = tmp_path / "out"
    staging = out / ".camera.cnnpipe-staging-5"
    staging.mkdir(parents=True)
    _photo(staging, "00-input")
    assert discover([str(out)], recursive=True) == []


# -- signals, in a subprocess -------------------------------------------------------------

def _start_rerun(photo: Path, out: Path) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(photo), "-o", str(out), "--npy",
           "-j", "1", "-k", "sobel-x", "-k", "sobel-y", "-k", "box", "-k", "laplacian",
           "-k", "sharpen", "-k", "emboss"]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})


def _wait_for_staged_maps(proc: subprocess.Popen, out: Path, timeout=60.0) -> None:
    """Until the staging folder holds some maps (and the run is still writing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        staged = [p for p in out.glob(".camera.cnnpipe-staging-*")
                  if len(list(p.glob("*.png"))) >= 2]
        if staged:
            return
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.002)
    raise AssertionError("the re-run never staged two maps")


@pytest.mark.parametrize("how", ["SIGINT", "SIGKILL"])
def test_an_interrupted_rerun_leaves_the_previous_result(invoke, tmp_path, how):
    photo, out = _photo(tmp_path, size=(1200, 1500)), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "box").exit_code == 0
    before = _tree(out)

    proc = _start_rerun(photo, out)
    _wait_for_staged_maps(proc, out)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)

    assert _hashes(out / "camera") == before["camera"]  # whole, byte for byte
    if how == "SIGINT":
        assert proc.returncode == 130, err.decode()
        assert _tree(out) == before  # and its staging folder removed by the run itself
        return
    assert proc.returncode == -signal.SIGKILL
    assert list(out.glob(".camera.cnnpipe-staging-*"))  # SIGKILL cannot clean up...
    # ...the next run of that input does, even when it fails
    assert invoke("run", photo, "-o", out, "-k", BIG).exit_code == 1
    assert _tree(out) == before


def test_a_failed_rerun_on_a_local_dask_cluster_leaves_every_previous_result(tmp_path):
    pytest.importorskip("distributed", reason="the test extra installs dask[distributed]")
    src, out = tmp_path / "photos", tmp_path / "out"
    for seed, name in enumerate(["a", "b"]):
        _photo(src, name, seed=seed)

    def cnnpipe(*kernels):
        return subprocess.run([sys.executable, "-m", "cnnpipe", "run", str(src), "-o", str(out),
                               "--executor", "dask", "-j", "2", "-q", *kernels],
                              capture_output=True, text=True, timeout=180,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})

    first = cnnpipe("-k", "box", "-k", "sobel-x")
    assert first.returncode == 0, first.stderr
    before = _tree(out)
    assert set(before) == {"a", "b"}

    again = cnnpipe("-k", "box", "-k", BIG)

    assert again.returncode == 1, again.stderr
    assert "overflowed" in again.stderr
    assert _tree(out) == before


def test_a_swap_failing_between_its_two_renames_puts_the_previous_result_back(
        invoke, tmp_path, monkeypatch):
    photo, out = _photo(tmp_path), tmp_path / "out"
    assert invoke("run", photo, "-o", out, "-k", "sobel-x").exit_code == 0
    before = _tree(out)
    import cnnpipe.outputs.swap as swap

    real_rename, calls = os.rename, []

    def rename(src, dst, **kwargs):
        calls.append(Path(dst).name)
        if len(calls) == 2:  # the staging folder into place: fails (EIO, a stop...)
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_rename(src, dst, **kwargs)

    monkeypatch.setattr(swap.os, "rename", rename)
    result = invoke("run", photo, "-o", out, "-k", "sobel-y")
    monkeypatch.undo()

    assert result.exit_code == 1
    assert calls[:2] == [f".camera.cnnpipe-old-{os.getpid()}", "camera"]
    assert _tree(out) == before
