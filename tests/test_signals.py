"""Ctrl-C, SIGTERM and SIGKILL in the middle of a batch: every output folder is complete or absent.

Each test starts `python -m cnnpipe run` in a subprocess on a folder of small
images, waits until the first input is finished (so the signal lands mid-batch),
signals it, and then inspects the output tree.
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
from PIL import Image

N_INPUTS = 16
KERNELS = ["-k", "sobel-x", "-k", "sobel-y", "-k", "box", "-k", "laplacian", "-k", "emboss",
           "-k", "gaussian-5x5"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(5)
    for i in range(N_INPUTS):
        write_png(folder / f"img{i:02d}.png", rng.integers(0, 256, (128, 128), dtype=np.uint8))
    return folder


def start(inputs: Path, out: Path, *extra, new_session=False) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(inputs), "-o", str(out), "-q", "--npy",
           *KERNELS, *extra]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            start_new_session=new_session)


def wait_for_first_result(proc: subprocess.Popen, out: Path, timeout=30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if out.exists() and any((d / "manifest.json").exists() for d in out.iterdir()
                                if not d.name.startswith(".")):  # not a staging folder
            return
        assert proc.poll() is None, proc.stderr.read().decode()
        time.sleep(0.005)
    raise AssertionError("no input finished in time")


def temp_files(out: Path) -> list[Path]:
    return [p for p in out.rglob("*") if ".cnnpipe-tmp-" in p.name]


def complete_folders(out: Path) -> list[str]:
    """Check every folder is complete (all listed files present and readable) or absent."""
    done = []
    for folder in sorted(p for p in out.iterdir() if not p.name.startswith(".")):
        manifest = json.loads((folder / "manifest.json").read_text())
        assert set(os.listdir(folder)) == set(manifest["files"]), folder
        for name in manifest["files"]:
            if name.endswith(".png"):
                with Image.open(folder / name) as im:
                    im.load()
            elif name.endswith(".npy"):
                np.load(folder / name)
        done.append(folder.name)
    return done


@pytest.mark.parametrize("how, code", [("SIGTERM", 143), ("SIGINT", 130)])
@pytest.mark.parametrize("workers", ["1", "2"])
def test_signal_mid_batch_leaves_only_complete_folders(inputs, tmp_path, how, code, workers):
    out = tmp_path / "out"
    proc = start(inputs, out, "-j", workers)
    wait_for_first_result(proc, out)
    proc.send_signal(getattr(signal, how))
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == code, err.decode()
    assert temp_files(out) == []
    done = complete_folders(out)
    assert 1 <= len(done) < N_INPUTS  # it stopped part-way, and kept what was finished
    last = {"SIGINT": "cnnpipe: interrupted", "SIGTERM": "cnnpipe: terminated"}[how]
    assert err.decode().splitlines()[-1] == last


def test_ctrl_c_to_the_whole_process_group_with_workers(inputs, tmp_path):
    # A terminal's Ctrl-C reaches the worker processes too.
    out = tmp_path / "out"
    proc = start(inputs, out, "-j", "2", new_session=True)
    wait_for_first_result(proc, out)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert temp_files(out) == []
    assert 1 <= len(complete_folders(out)) < N_INPUTS


def test_sigkill_then_rerun_with_skip_existing_completes_everything(inputs, tmp_path):
    out = tmp_path / "out"
    proc = start(inputs, out, "-j", "1")
    wait_for_first_result(proc, out)
    proc.kill()
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    folders = [d for d in out.iterdir() if not d.name.startswith(".")]
    finished = [d.name for d in folders if (d / "manifest.json").exists()]
    assert 1 <= len(finished) < N_INPUTS
    # SIGKILL cannot be caught, but the input being written was in its hidden staging
    # folder: every input's folder is complete or absent even now.
    assert len(finished) == len(folders)
    rerun = subprocess.run([sys.executable, "-m", "cnnpipe", "run", str(inputs), "-o", str(out),
                            "--npy", *KERNELS, "-j", "1", "--skip-existing", "--json"],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert rerun.returncode == 0, rerun.stderr
    statuses = {json.loads(line)["input"]["path"]: json.loads(line)["status"]
                for line in rerun.stdout.splitlines()}
    skipped = sorted(Path(p).stem for p, s in statuses.items() if s == "skipped")
    assert skipped == sorted(finished)
    assert temp_files(out) == []
    assert len(complete_folders(out)) == N_INPUTS
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []  # no staging left


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_an_interrupt_swallowed_by_a_weakref_callback_still_stops_the_run():
    # Python prints and ignores an exception raised inside a weakref callback; a
    # Ctrl-C landing there must not be lost.
    import weakref

    from cnnpipe import interrupt

    class Thing:
        pass

    thing = Thing()
    ref = weakref.ref(thing, lambda _: interrupt._on_sigint(signal.SIGINT, None))
    try:
        del thing  # the callback runs here; its KeyboardInterrupt is swallowed
        assert ref() is None
        assert interrupt.pending()
        with pytest.raises(KeyboardInterrupt):
            interrupt.check()
        assert interrupt.exit_code() == 130
    finally:
        interrupt._pending.clear()
    interrupt.check()  # nothing pending: no exception


# --- signals at random moments (more trials: benchmarks/stress_signals.py) -----------------

TRIALS = 20


@pytest.fixture(scope="module")
def trial_inputs(tmp_path_factory):
    from signal_trials import make_inputs

    return make_inputs(tmp_path_factory.mktemp("trial-inputs"), count=10, size=96)


@pytest.mark.parametrize("signals", [1, 2], ids=["one-signal", "two-signals"])
def test_signals_at_random_moments_never_hang_crash_or_leave_partial_output(
        trial_inputs, tmp_path, signals):
    # SIGINT or SIGTERM, to the main process or its whole group (a terminal's Ctrl-C),
    # at a random moment of a -j 2 batch: from start-up to the last input
    from signal_trials import run_trial

    rng = np.random.default_rng(2026 + signals)
    trials = [run_trial(trial_inputs, tmp_path / f"out{i}", rng, signals=signals)
              for i in range(TRIALS)]
    failures = [(i, t.how, "group" if t.group else "main", t.problems, t.stderr[-400:])
                for i, t in enumerate(trials) if t.problems]
    assert not failures
    midway = [t for t in trials if t.stopped_midway and t.complete < 10]
    assert len(midway) >= TRIALS // 4, [(t.signals, t.returncode, t.complete) for t in trials]
    if signals == 1:  # the first signal lets the inputs in flight finish, and says so
        assert any("cnnpipe: stopping: finishing " in t.stderr and "(Ctrl-C again to abort)"
                   in t.stderr for t in midway)
    else:  # the second one does not wait for them
        assert max(t.seconds_after_last_signal for t in trials if t.signals == 2) < 5.0


def test_a_signal_landing_in_an_import_lock_callback_is_counted_not_printed():
    # Python prints "Exception ignored ... Traceback" for an exception raised in a weakref
    # callback; a SIGTERM landing in importlib's module-lock callback must not do that
    from cnnpipe import interrupt

    class Frame:  # what the handler is given: the frame the signal interrupted
        f_code = compile("pass", "<frozen importlib._bootstrap>", "exec").replace(co_name="cb")

    try:
        with interrupt.raising():  # the default mode of a command
            interrupt._on_sigterm(signal.SIGTERM, Frame())  # no exception
            assert interrupt.pending() and interrupt.exit_code() == 143
            with pytest.raises(SystemExit):
                interrupt.check()
            with pytest.raises(SystemExit):  # anywhere else it raises at once
                interrupt._on_sigterm(signal.SIGTERM, sys._getframe())
    finally:
        interrupt._pending.clear()
