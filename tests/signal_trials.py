"""Send SIGINT / SIGTERM to a running `cnnpipe run` at a random moment and judge the outcome.

Shared by ``tests/test_signals.py`` (a few dozen trials) and
``benchmarks/stress_signals.py`` (hundreds). A trial passes when the run ended
by itself within a bound (no hang), with the documented exit code, no
traceback, only complete output folders, no temporary file and no process left.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from conftest import live_processes

ROOT = Path(__file__).resolve().parent.parent
KERNELS = ("-k", "box", "-k", "sobel-x", "-k", "emboss")


def make_inputs(folder: Path, count: int = 10, size: int = 96, seed: int = 0) -> Path:
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    for i in range(count):
        pixels = rng.integers(0, 256, (size, size), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"in{i:03d}.png")
    return folder


@dataclass
class Trial:
    signals: int  # how many were sent (0: the run had finished first)
    how: str  # "SIGINT" or "SIGTERM"
    group: bool  # sent to the whole process group (a terminal's Ctrl-C), or the main process
    returncode: int
    stderr: str
    complete: int  # output folders that are complete
    seconds_after_last_signal: float
    problems: list[str] = field(default_factory=list)

    @property
    def stopped_midway(self) -> bool:
        return self.signals > 0 and self.returncode in (130, 143)


def _handlers_ready(pid: int) -> bool:
    """True once the process catches SIGTERM (cnnpipe installed its handlers)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except OSError:
        pass
    return False


def _session_processes(sid: int) -> list[int]:
    return [pid for pid, fields in live_processes() if int(fields[3]) == sid]


def check_folders(out: Path, expected: int) -> tuple[int, list[str]]:
    """(complete folders, problems): every folder complete or absent, no temporary file."""
    problems, complete = [], 0
    if not out.exists():
        return 0, problems
    problems += [f"temporary file left: {p}" for p in out.rglob("*") if ".cnnpipe-tmp-" in p.name]
    for folder in sorted(p for p in out.iterdir() if p.is_dir() and not p.name.startswith(".")):
        found = _folder_problems(folder)
        problems += found
        complete += not found
    if complete > expected:
        problems.append(f"{complete} folders for {expected} inputs")
    return complete, problems


def _folder_problems(folder: Path) -> list[str]:
    from PIL import Image

    try:
        manifest = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return [f"partial folder: {folder.name} {sorted(os.listdir(folder))}"]
    files = set(os.listdir(folder))
    if files != set(manifest["files"]):
        return [f"folder {folder.name} holds {sorted(files)}"]
    problems = []
    for name in manifest["files"]:
        try:
            if name.endswith(".png"):
                with Image.open(folder / name) as im:
                    im.load()
            elif name.endswith(".npy"):
                np.load(folder / name)
        except Exception as exc:  # noqa: BLE001 - any failure to read is the finding
            problems.append(f"{folder.name}/{name}: {exc}")
    return problems


def run_trial(inputs: Path, out: Path, rng: np.random.Generator, *, signals: int,
              window: float = 1.2, second_within: float = 0.3, workers: str = "2",
              hang_seconds: float = 60.0) -> Trial:
    """Start a batch, wait a random moment, send ``signals`` signals, and judge the outcome."""
    n_inputs = sum(1 for _ in inputs.iterdir())
    how = "SIGINT" if rng.random() < 0.5 else "SIGTERM"
    group = bool(rng.random() < 0.5)
    cmd = [sys.executable, "-m", "cnnpipe", "run", str(inputs), "-o", str(out), "-j", workers,
           "-q", "--npy", *KERNELS]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, start_new_session=True)
    deadline = time.monotonic() + hang_seconds
    while not _handlers_ready(proc.pid) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.002)
    time.sleep(rng.uniform(0, window))
    sent, last = _send(proc, getattr(signal, how), group, signals,
                       lambda: rng.uniform(0, second_within))
    problems = []
    try:
        _, err = proc.communicate(timeout=hang_seconds)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        problems.append(f"hang: still running {hang_seconds:.0f} s after the signal")
    after = time.monotonic() - last
    stderr = err.decode(errors="replace")
    problems += _exit_problems(proc.returncode, stderr, how, sent)
    problems += _leftover_processes(proc.pid)
    complete, folder_problems = check_folders(out, n_inputs)
    problems += folder_problems
    if proc.returncode == 0 and complete != n_inputs:
        problems.append(f"exit 0 with {complete} of {n_inputs} folders")
    return Trial(sent, how, group, proc.returncode, stderr, complete, after, problems)


def _send(proc, signum, group: bool, count: int, pause) -> tuple[int, float]:
    """Send up to ``count`` signals (fewer if the run ended); (how many, when the last went)."""
    sent, last = 0, time.monotonic()
    for i in range(count):
        if proc.poll() is not None:
            break
        try:
            (os.killpg if group else os.kill)(proc.pid, signum)
        except ProcessLookupError:
            break
        sent, last = sent + 1, time.monotonic()
        if i + 1 < count:
            time.sleep(pause())
    return sent, last


def _exit_problems(returncode: int, stderr: str, how: str, sent: int) -> list[str]:
    problems = []
    code = 130 if how == "SIGINT" else 143
    if returncode not in ((0, code) if sent else (0,)):
        problems.append(f"exit status {returncode} (expected {code} or 0)")
    problems += [f"stderr has {bad!r}" for bad in ("Traceback", "Exception ignored",
                                                    "Error in atexit") if bad in stderr]
    word = "interrupted" if how == "SIGINT" else "terminated"
    if returncode == code and stderr.splitlines()[-1:] != [f"cnnpipe: {word}"]:
        problems.append(f"last line is not 'cnnpipe: {word}'")
    return problems


def _leftover_processes(session: int) -> list[str]:
    deadline = time.monotonic() + 3.0
    while _session_processes(session) and time.monotonic() < deadline:
        time.sleep(0.02)
    left = _session_processes(session)
    for pid in left:
        os.kill(pid, signal.SIGKILL)
    return [f"processes left: {left}"] if left else []
