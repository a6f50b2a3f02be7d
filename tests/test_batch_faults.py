"""Batches under faults: a dead worker, a dead main process, unreadable folders,
cnnpipe's own output offered as input, and two runs into one output folder."""

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
from conftest import ROOT, live_processes, load_manifest, write_png
from PIL import Image

ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
KERNELS = ["-k", "sobel-x", "-k", "sobel-y", "-k", "box", "-k", "laplacian", "-k", "emboss",
           "-k", "gaussian-5x5"]


def cnnpipe(*args) -> list[str]:
    return [sys.executable, "-m", "cnnpipe", *map(str, args)]


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """Ten inputs big enough that a worker is busy most of the time."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(11)
    for i in range(10):
        write_png(folder / f"p{i:02d}.png", rng.integers(0, 256, (260, 260), dtype=np.uint8))
    return folder


def children(pid: int) -> list[int]:
    """Live processes whose parent is ``pid``."""
    return [child for child, fields in live_processes() if int(fields[1]) == pid]


def workers_of(pid: int) -> list[int]:
    """The worker processes of a cnnpipe run (not multiprocessing's resource tracker)."""
    found = []
    for child in children(pid):
        try:
            with open(f"/proc/{child}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        if b"spawn_main" in cmdline:
            found.append(child)
    return found


def state(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "gone"


def alive(pid: int) -> bool:
    return state(pid) not in ("gone", "Z")


def holds_an_input(pid: int) -> bool:
    """True while a worker works on an input: it holds that input's folder lock open."""
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return False
    for fd in fds:
        try:
            if "/.cnnpipe-lock/" in os.readlink(f"/proc/{pid}/fd/{fd}"):
                return True
        except OSError:
            continue
    return False


def busy_worker(proc: subprocess.Popen, timeout=60.0) -> int:
    """A worker that is in the middle of an input right now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.stderr.read().decode()
        for worker in workers_of(proc.pid):
            if holds_an_input(worker):
                return worker
        time.sleep(0.01)
    raise AssertionError("no busy worker seen")


def kill_a_busy_worker(cmd, attempts=3):
    """Run ``cmd``, SIGKILL a worker in the middle of an input; (returncode, stdout, stderr).

    The worker may finish its input between the look and the kill (on a loaded
    machine): then the run lost nothing, and the scenario is run again.
    """
    for _ in range(attempts):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ENV)
        os.kill(busy_worker(proc), signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=180)
        if b"worker died" in stderr:
            return proc.returncode, stdout.decode(), stderr.decode()
    raise AssertionError(f"no input was lost in {attempts} tries: {stderr.decode()}")


def complete_or_absent(out: Path) -> list[str]:
    """Names of the complete folders; fails on a partial folder or a temporary file."""
    done = []
    for folder in sorted(p for p in out.iterdir() if not p.name.startswith(".")):
        manifest = load_manifest(folder)  # a folder without a manifest is partial: fails
        assert set(os.listdir(folder)) == set(manifest["files"]), folder
        for name in manifest["files"]:
            if name.endswith(".png"):
                with Image.open(folder / name) as im:
                    im.load()
        done.append(folder.name)
    assert not [p for p in out.rglob("*") if ".cnnpipe-tmp-" in p.name]
    return done


def test_a_killed_worker_costs_only_its_input(photos, tmp_path):
    out = tmp_path / "out"
    code, stdout, stderr = kill_a_busy_worker(
        cnnpipe("run", photos, "-o", out, "-j", "2", "--json", *KERNELS))
    assert code == 1, stderr
    assert "Traceback" not in stderr
    records = [json.loads(line) for line in stdout.splitlines()]
    failed = [r for r in records if r["status"] == "failed"]
    assert [r["error"] for r in failed] == ["worker died: signal 9"]
    assert f"{failed[0]['input']['path']}: worker died: signal 9" in stderr.splitlines()
    assert len(records) == 10  # every other input was processed and reported
    assert "cnnpipe: 9 processed, 1 failed, 0 skipped" in stderr
    assert len(complete_or_absent(out)) == 9  # the lost input left nothing behind


def test_retries_give_a_killed_workers_input_another_go(photos, tmp_path):
    out = tmp_path / "out"
    code, _, stderr = kill_a_busy_worker(
        cnnpipe("run", photos, "-o", out, "-j", "2", "-q", "--retries", "1", *KERNELS))
    assert code == 0, stderr
    lines = [line for line in stderr.splitlines() if "worker died" in line]
    assert len(lines) == 1 and lines[0].endswith(
        ": worker died: signal 9; trying again (1 of 1)"), stderr
    assert len(complete_or_absent(out)) == 10


def test_workers_exit_when_the_main_process_dies(photos, tmp_path):
    proc = subprocess.Popen(cnnpipe("run", photos, "-o", tmp_path / "out", "-j", "2", "-q"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
    busy_worker(proc)
    workers = workers_of(proc.pid)
    assert len(workers) == 2
    proc.kill()
    proc.wait(timeout=30)
    proc.stderr.close()  # warnings are errors: an unclosed pipe would fail the test
    deadline = time.monotonic() + 10
    while any(alive(w) for w in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(alive(w) for w in workers)


def test_fail_fast_with_workers_starts_nothing_after_the_failure(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    (src / "a.csv").write_text("1,2\n3\n")  # ragged: fails at once
    for i in range(6):
        write_png(src / f"b{i}.png", np.full((64, 64), 7 * i))
    proc = subprocess.run(cnnpipe("run", src, "-o", tmp_path / "out", "-j", "2", "--fail-fast",
                                  "--json", "-k", "box"),
                          capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 1, proc.stderr
    names = [json.loads(line)["input"]["path"].rsplit("/", 1)[-1]
             for line in proc.stdout.splitlines()]
    # once a.csv's failure is known nothing starts: only the one input then running on the
    # other worker may still finish (a loaded machine may let b0, b1... finish before a.csv)
    assert "a.csv" in names and len(names) - names.index("a.csv") - 1 <= 1, names
    assert len(names) < 7
    assert f"{7 - len(names)} not started (--fail-fast)" in proc.stderr


def test_an_unreadable_folder_under_r_is_a_failed_input(invoke, tmp_path, monkeypatch):
    # root reads any folder, so the refusal is simulated where the scan asks the system
    from cnnpipe.batch import discovery

    src = tmp_path / "in"
    (src / "locked").mkdir(parents=True)
    write_png(src / "a.png", np.zeros((8, 8)))
    write_png(src / "locked" / "b.png", np.zeros((8, 8)))
    real = os.scandir

    def scandir(path):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(discovery.os, "scandir", scandir)
    result = invoke("run", src, "-r", "-o", tmp_path / "out", "-k", "box", "--json", "-j", "1")
    assert result.exit_code == 1
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["input"]["path"], r["status"]) for r in records] == [
        (str(src / "a.png"), "ok"), (str(src / "locked"), "failed")]
    assert records[1]["error"] == "cannot read this folder: Permission denied"
    assert f"{src / 'locked'}: cannot read this folder: Permission denied" in result.stderr
    assert not (tmp_path / "out" / "locked").exists()
    plan = invoke("run", src, "-r", "-o", tmp_path / "out", "-k", "box", "-n")
    # -n lists it too: it is part of the batch (and would fail)
    assert f"{src / 'locked'}: would fail: cannot read this folder" in plan.stdout


def test_cnnpipe_output_is_never_an_input(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "rocket.png", np.full((10, 10), 50))
    out = tmp_path / "cnnpipe-out"
    assert invoke("run", photos, "-o", out, "-k", "box", "-q").exit_code == 0
    rocket = out / "rocket"

    # named on the command line (as `find | xargs` would): a folder, a file inside one
    again = tmp_path / "again"
    for args in ([rocket], [rocket / "00-input.png"]):
        for extra in ([], ["-n"]):
            result = invoke("run", *args, "-o", again, "-k", "box", *extra)
            assert result.exit_code == 2, result.output
            assert "not an input" in result.stderr
            assert not again.exists()
    named = invoke("run", rocket, "-o", again, "-n")
    assert (f"cnnpipe: warning: {rocket}: a folder of cnnpipe's output, which holds a "
            "manifest.json; not an input") in named.stderr
    inside = invoke("run", rocket / "00-input.png", "-o", again, "-n")
    assert (f"{rocket / '00-input.png'}: a file of cnnpipe's output ({rocket}), which holds "
            "a manifest.json; not an input") in inside.stderr

    # mixed with real inputs: one message per refused path, the others processed
    mixed = invoke("run", rocket, photos / "rocket.png", rocket / "overview.png", "-o", again,
                   "-k", "box", "--json")
    assert mixed.exit_code == 0, mixed.output
    assert [json.loads(line)["input"]["path"] for line in mixed.stdout.splitlines()] == [
        str(photos / "rocket.png")]
    assert mixed.stderr.count("not an input") == 2

    # scanned: the output folder inside the input tree is skipped
    scanned = invoke("run", tmp_path, "-r", "-o", out, "-k", "box", "--json")
    assert [json.loads(line)["input"]["path"] for line in scanned.stdout.splitlines()] == [
        str(photos / "rocket.png")]


def test_two_runs_into_one_output_folder_take_turns(tmp_path):
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(4)
    paths = []
    for i in range(24):
        paths.append(write_png(src / f"i{i:02d}.png", rng.integers(0, 256, (48, 48))))
    out = tmp_path / "out"
    # overlapping inputs, different detectors: each folder must hold one run's files only
    runs = [subprocess.Popen(cnnpipe("run", *paths[:16], "-o", out, "-j", "1", "-q", "-k", "box",
                                     "-k", "sobel-x"), stderr=subprocess.PIPE, env=ENV),
            subprocess.Popen(cnnpipe("run", *paths[8:], "-o", out, "-j", "1", "-q", "-k", "emboss"),
                             stderr=subprocess.PIPE, env=ENV)]
    for run in runs:
        _, err = run.communicate(timeout=120)
        assert run.returncode == 0, err.decode()
    done = complete_or_absent(out)
    assert len(done) == 24
    for name in done:
        manifest = load_manifest(out / name)
        kernels = {k["name"] for k in manifest["kernels"]}
        assert kernels in ({"box", "sobel-x"}, {"emboss"})
        for file in manifest["files"]:
            if file.startswith(("01-", "02-", "03-")):
                assert file.split("-", 2)[2].rsplit(".", 1)[0] in kernels, (name, file)
    assert not (out / ".cnnpipe-lock").exists()  # the locks went with the runs


def test_the_folder_lock_makes_a_second_holder_wait(tmp_path):
    from cnnpipe.batch.work import folder_lock

    script = ("import sys, time; from cnnpipe.batch.work import folder_lock\n"
              "with folder_lock(sys.argv[1], 'a'):\n"
              "    print('held', flush=True); time.sleep(1.0)\n")
    holder = subprocess.Popen([sys.executable, "-c", script, str(tmp_path)],
                              stdout=subprocess.PIPE, env=ENV)
    assert holder.stdout.readline() == b"held\n"
    started = time.monotonic()
    with folder_lock(tmp_path, "b"):  # another folder: no wait
        assert time.monotonic() - started < 0.5
    with folder_lock(tmp_path, "A"):  # the same folder (names are compared case-blind)
        waited = time.monotonic() - started
    holder.wait(timeout=30)
    holder.stdout.close()
    assert waited > 0.5
    assert list(tmp_path.iterdir()) == []


def test_a_folder_another_run_gave_to_another_input_meanwhile_is_left_alone(tmp_path):
    # Run 1 chose `a` for cats/a.png, run 2 chose `a` for dogs/a.png before either wrote;
    # run 1 wrote first: run 2 must not replace or mix into cats' folder.
    from cnnpipe import layer
    from cnnpipe.batch import Job, process
    from cnnpipe.kernels import kernel
    from cnnpipe.outputs import RunConfig

    paths = []
    for kind in ("cats", "dogs"):
        (tmp_path / kind).mkdir()
        paths.append(write_png(tmp_path / kind / "a.png", np.full((9, 9), len(kind) * 20)))
    out = tmp_path / "out"
    config = RunConfig(params=layer.Params(), kernels=(kernel("box"),), out_root=str(out))
    assert process(Job(str(paths[0]), "a"), config)["status"] == "ok"
    before = {p.name: p.read_bytes() for p in (out / "a").iterdir()}
    record = process(Job(str(paths[1]), "a"), config)
    assert record["status"] == "failed"
    assert record["error"] == (
        f"{out / 'a'} now holds the results of another input ({paths[0].resolve()}), written "
        "by another run meanwhile; run again to give this input a folder of its own")
    assert {p.name: p.read_bytes() for p in (out / "a").iterdir()} == before
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # and no lock file left
