"""`run --executor dask` on a real cluster on this machine.

One `dask scheduler` and two single-threaded `dask worker` processes on
127.0.0.1 serve the whole module; the local-cluster tests start their own
through `-j`. Inputs are small images, so the module stays fast.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, write_png
from dask_cluster import Cluster

pytest.importorskip("distributed", reason="the test extra installs dask[distributed]")

KERNELS = ["-k", "sobel-x", "-k", "laplacian", "-k", "gaussian-5x5"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        c.add_workers(2)
        yield c
    finally:
        c.stop()


@pytest.fixture(scope="module")
def mixed(tmp_path_factory):
    """Good images in two folders, a truncated PNG, a text file that is no matrix."""
    folder = tmp_path_factory.mktemp("mixed")
    rng = np.random.default_rng(20)
    (folder / "sub").mkdir()
    for i in range(5):
        write_png(folder / f"img{i}.png", rng.integers(0, 256, (40, 48), dtype=np.uint8))
    write_png(folder / "sub" / "rgb.png", rng.integers(0, 256, (30, 30, 3), dtype=np.uint8))
    good = (folder / "img0.png").read_bytes()
    (folder / "broken.png").write_bytes(good[: len(good) // 2])
    (folder / "notes.txt").write_text("this is not a matrix\n")
    return folder


def cnnpipe(*args, env=None, timeout=120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnpipe", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def records(stdout: str) -> dict[str, dict]:
    """The --json records by input path; fails if an input has two."""
    by_path: dict[str, dict] = {}
    for line in stdout.splitlines():
        record = json.loads(line)
        path = record["input"]["path"]
        assert path not in by_path, f"{path} reported twice"
        by_path[path] = record
    return by_path


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".cnnpipe-tmp-" in p.name]


def complete_folders(out: Path) -> list[str]:
    """The output folders under ``out``, each checked complete: exactly the files its
    manifest lists, each readable. A file outside such a folder fails the check."""
    from PIL import Image

    done = []
    for manifest in sorted(out.rglob("manifest.json")):
        folder = manifest.parent
        files = json.loads(manifest.read_text())["files"]
        assert sorted(p.name for p in folder.iterdir() if p.is_file()) == sorted(files), folder
        for name in files:
            if name.endswith(".png"):
                with Image.open(folder / name) as im:
                    im.load()
            elif name.endswith(".npy"):
                np.load(folder / name)
        done.append(str(folder.relative_to(out)))
    owned = {out / d for d in done}
    for path in out.rglob("*"):
        if path.is_file() and ".cnnpipe-lock" not in path.parts:
            assert path.parent in owned, f"{path} is in no complete output folder"
    return done


def tree(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` (the per-folder lock files aside) with its bytes."""
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".cnnpipe-lock" not in p.parts}


def test_mixed_batch_on_a_cluster_isolates_errors_and_matches_one_core(cluster, mixed,
                                                                       tmp_path):
    one = cnnpipe(mixed, "-r", "-o", tmp_path / "one", "-j", "1", "--json", *KERNELS)
    dask = cnnpipe(mixed, "-r", "-o", tmp_path / "dask", "--executor", "dask",
                   "--scheduler", cluster.address, "--json", *KERNELS)
    assert one.returncode == dask.returncode == 1, dask.stderr
    want, got = records(one.stdout), records(dask.stdout)
    assert set(got) == set(want) == {str(mixed / n) for n in (
        "broken.png", "notes.txt", "img0.png", "img1.png", "img2.png", "img3.png", "img4.png",
        "sub/rgb.png")}
    for path, record in got.items():
        assert record["status"] == want[path]["status"], path
        assert record.get("error") == want[path].get("error"), path
    assert got[str(mixed / "broken.png")]["status"] == "failed"
    assert got[str(mixed / "notes.txt")]["status"] == "failed"
    # the same one line per failure on stderr
    failures = sorted(line for line in dask.stderr.splitlines() if ": " in line
                      and line.split(": ")[0] in got)
    assert failures == sorted(line for line in one.stderr.splitlines() if ": " in line
                              and line.split(": ")[0] in want)
    assert len(failures) == 2
    # byte for byte the files of -j 1, and nothing of the broken inputs
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")
    assert not (tmp_path / "dask" / "broken").exists()
    assert len(complete_folders(tmp_path / "dask")) == 6


def test_skip_existing_on_a_cluster(cluster, mixed, tmp_path):
    args = [mixed, "-r", "-o", tmp_path / "out", "--executor", "dask", "--scheduler",
            cluster.address, "--json", "--skip-existing", *KERNELS]
    first = cnnpipe(*args)
    assert first.returncode == 1
    again = cnnpipe(*args)
    statuses = sorted(r["status"] for r in records(again.stdout).values())
    first_statuses = {path: r["status"] for path, r in records(first.stdout).items()}
    assert statuses == ["failed"] * 2 + ["skipped"] * 6, (first_statuses, first.stderr,
                                                           again.stdout + again.stderr)


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    folder = tmp_path_factory.mktemp("many")
    rng = np.random.default_rng(21)
    for i in range(16):
        write_png(folder / f"p{i:02d}.png", rng.integers(0, 256, (128, 128), dtype=np.uint8))
    return folder


def test_a_worker_killed_mid_batch_costs_no_input(cluster, many, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnpipe", "run", str(many), "-o", str(out), "--npy", "--json",
         "--executor", "dask", "--scheduler", cluster.address, *KERNELS,
         "-k", "emboss", "-k", "box", "-k", "sharpen"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        # records stream as inputs finish: the first one arrives while the batch runs
        first = proc.stdout.readline()
        assert proc.poll() is None
        killed = cluster.kill_busy_worker()
        assert killed and all(key.startswith("cnnpipe-") for key in killed)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
        cluster.add_workers(1)  # the next tests get two workers again
    assert proc.returncode == 0, err
    got = records(first + rest)
    assert sorted(got) == sorted(str(p) for p in many.iterdir())  # each input exactly once
    assert {r["status"] for r in got.values()} == {"ok"}
    assert temp_files(out) == []
    assert len(complete_folders(out)) == 16


def test_local_cluster_sized_by_j_gives_the_files_of_one_core(mixed, tmp_path):
    one = cnnpipe(mixed, "-r", "-o", tmp_path / "one", "-j", "1", "-q", *KERNELS)
    dask = cnnpipe(mixed, "-r", "-o", tmp_path / "dask", "-j", "2", "--executor", "dask",
                   *KERNELS)
    assert one.returncode == dask.returncode == 1
    assert "local Dask cluster of 2 workers" in dask.stderr
    assert tree(tmp_path / "dask") == tree(tmp_path / "one")


def test_ctrl_c_on_a_local_cluster_cancels_the_rest_and_leaves_no_partial_folder(many,
                                                                                 tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnpipe", "run", str(many), "-o", str(out), "--npy", "-q",
         "--executor", "dask", "-j", "2", *KERNELS],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while not (out.exists() and any((d / "manifest.json").exists() for d in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: every process of the group
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert temp_files(out) == []
    assert 1 <= len(complete_folders(out)) < 16
    assert "not started (interrupted)" in err


@pytest.fixture(scope="module")
def large(tmp_path_factory):
    """Inputs that take a while each, so a second Ctrl-C finds them running."""
    folder = tmp_path_factory.mktemp("large")
    rng = np.random.default_rng(22)
    for i in range(8):
        write_png(folder / f"l{i}.png", rng.integers(0, 256, (384, 384), dtype=np.uint8))
    return folder


def test_ctrl_c_twice_on_a_cluster_interrupts_running_inputs_and_spares_the_workers(
        cluster, large, tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cnnpipe", "run", str(large), "-o", str(out), "--npy", "-q",
         "--executor", "dask", "--scheduler", cluster.address, *KERNELS,
         "-k", "emboss", "-k", "box", "-k", "sharpen"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    deadline = time.monotonic() + 60
    while not (out.exists() and any((d / "manifest.json").exists() for d in out.iterdir())):
        assert proc.poll() is None and time.monotonic() < deadline, proc.stderr.read()
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)  # stop starting inputs...
    time.sleep(0.1)
    proc.send_signal(signal.SIGINT)  # ...and interrupt the running ones
    _, err = proc.communicate(timeout=60)
    err = err.decode()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "stopping: finishing" in err  # inputs were running when the signals came
    assert temp_files(out) == []
    assert 1 <= len(complete_folders(out)) < 8
    assert len(cluster.alive()) == 2
    cluster.wait_for_workers(2)  # both workers still serve the scheduler
