"""A real Dask cluster on 127.0.0.1 for the tests: `dask scheduler` and `dask worker` processes.

The processes are started from this Python (so the workers import this
cnnpipe), on ports the system picks, without dashboards, and are stopped by
the fixture that started them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from conftest import ROOT

START_TIMEOUT = 60.0


class Cluster:
    """A scheduler and single-threaded workers, each a process of its own (no nanny,
    so killing a worker's process kills the worker)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.scheduler_file = folder / "scheduler.json"
        self.env = {**os.environ, "PYTHONPATH": str(ROOT)}
        self.log = open(folder / "cluster.log", "ab")  # noqa: SIM115 - closed in stop()
        self.workers: list[subprocess.Popen] = []
        self.scheduler = self._spawn("scheduler", "--host", "127.0.0.1", "--port", "0",
                                     "--scheduler-file", str(self.scheduler_file))
        try:
            self.address = self._wait_for_address()
        except BaseException:  # a scheduler that never answered is not left running
            self.stop()
            raise

    def _wait_for_address(self) -> str:
        deadline = time.monotonic() + START_TIMEOUT
        while (address := self._written_address()) is None:
            if self.scheduler.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"dask scheduler did not start: {self.read_log()}")
            time.sleep(0.05)
        return address

    def _written_address(self) -> str | None:
        """The address in the scheduler file, once the scheduler has written it whole."""
        try:
            return json.loads(self.scheduler_file.read_text())["address"]
        except (OSError, ValueError, KeyError):
            return None

    def _spawn(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([sys.executable, "-m", "dask", *args, "--no-dashboard"],
                                stdout=self.log, stderr=self.log, env=self.env,
                                stdin=subprocess.DEVNULL)

    def add_workers(self, n: int) -> None:
        """Start ``n`` more workers and wait until the scheduler counts them."""
        for _ in range(n):
            local = self.folder / f"worker-{len(self.workers)}"
            local.mkdir(exist_ok=True)
            self.workers.append(self._spawn(
                "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                "--host", "127.0.0.1", "--local-directory", str(local)))
        self.wait_for_workers(len(self.alive()))

    def alive(self) -> list[subprocess.Popen]:
        return [w for w in self.workers if w.poll() is None]

    def wait_for_workers(self, n: int) -> None:
        from distributed import Client

        with Client(self.address, timeout=START_TIMEOUT, set_as_default=False) as client:
            deadline = time.monotonic() + START_TIMEOUT
            while len(client.scheduler_info(n_workers=-1)["workers"]) != n:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{n} dask workers did not join: {self.read_log()}")
                time.sleep(0.05)

    def kill_busy_worker(self, timeout: float = 30.0) -> list[str]:
        """SIGKILL a worker while it runs a task; return the keys it was running."""
        from distributed import Client

        def executing(dask_worker):
            return os.getpid(), [str(ts.key) for ts in dask_worker.state.executing]

        deadline = time.monotonic() + timeout
        with Client(self.address, timeout=START_TIMEOUT, set_as_default=False) as client:
            while time.monotonic() < deadline:
                for pid, keys in client.run(executing, on_error="return").values():
                    if keys:
                        victim = next(w for w in self.alive() if w.pid == pid)
                        os.kill(pid, signal.SIGKILL)
                        victim.wait(timeout=10)
                        return keys
                time.sleep(0.01)
        raise AssertionError("no worker was running a task")

    def read_log(self) -> str:
        self.log.flush()
        return (self.folder / "cluster.log").read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        for proc in [*self.workers, self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers, self.scheduler]:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.log.close()
