"""`run --executor dask` without a cluster: the missing extra, a scheduler nobody answers at,
and option mistakes. Each is one line on stderr and a non-zero exit, never a hang."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import numpy as np
from conftest import ROOT, write_png


def _image(tmp_path):
    return write_png(tmp_path / "a.png", np.arange(64, dtype=np.uint8).reshape(8, 8))


def test_dask_executor_without_dask_names_the_extra(invoke, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # `import distributed` fails
    out = tmp_path / "out"
    result = invoke("run", _image(tmp_path), "-o", out, "--executor", "dask")
    assert result.exit_code == 2
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert 'pip install "cnnpipe[dask]"' in lines[0]
    assert not (out / "a").exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(*args, env=None, timeout=60):
    return subprocess.run([sys.executable, "-m", "cnnpipe", "run", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})})


def test_a_scheduler_nobody_listens_on_is_one_line_within_seconds(tmp_path):
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    result = _run(_image(tmp_path), "-o", tmp_path / "out", "--executor", "dask",
                  "--scheduler", address)
    elapsed = time.monotonic() - started
    assert result.returncode == 2
    assert elapsed < 20
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"cnnpipe: cannot reach the Dask scheduler at {address}")
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "a").exists()


def test_dask_scheduler_address_variable_names_the_cluster(tmp_path):
    # Dask's own convention: DASK_SCHEDULER_ADDRESS when --scheduler is not given
    address = f"tcp://127.0.0.1:{_free_port()}"
    result = _run(_image(tmp_path), "-o", tmp_path / "out", "--executor", "dask",
                  env={"DASK_SCHEDULER_ADDRESS": address})
    assert result.returncode == 2
    assert f"cannot reach the Dask scheduler at {address}" in result.stderr


def test_scheduler_needs_the_dask_executor(invoke, tmp_path):
    result = invoke("run", _image(tmp_path), "-o", tmp_path / "out",
                    "--scheduler", "tcp://127.0.0.1:8786")
    assert result.exit_code == 2
    assert "--scheduler needs --executor dask" in result.stderr
    assert not (tmp_path / "out").exists()


def test_a_malformed_scheduler_address_is_a_usage_error(invoke, tmp_path):
    result = invoke("run", _image(tmp_path), "-o", tmp_path / "out", "--executor", "dask",
                    "--scheduler", "udp://somewhere:1")
    assert result.exit_code == 2
    assert "udp://somewhere:1" in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_process_executor_ignores_the_dask_variable(invoke, tmp_path, monkeypatch):
    # the variable configures Dask, not cnnpipe's default executor
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", "tcp://127.0.0.1:1")
    result = invoke("run", _image(tmp_path), "-o", tmp_path / "out", "-q", "-k", "box")
    assert result.exit_code == 0, result.stderr
    assert (tmp_path / "out" / "a" / "manifest.json").exists()


_MMAPPED_MAPS = """
import ctypes, sys
import numpy as np
from cnnpipe.batch.executors.dask_tasks import _undo_malloc_trim

class Info(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena ordblks smblks hblks hblkhd usmblks "
                                               "fsmblks uordblks fordblks keepcost").split()]

libc = ctypes.CDLL("libc.so.6")
libc.mallinfo2.restype = Info

def mapped_bytes_while_two_maps_live():
    base = libc.mallinfo2().hblkhd
    a = np.ones((1024, 1024), np.float32)  # two 4 MiB maps, as an input's conv and ReLU
    b = np.ones((1024, 1024), np.float32)
    n = libc.mallinfo2().hblkhd - base
    del a, b
    return n

def settled():
    return [mapped_bytes_while_two_maps_live() for _ in range(3)][-1]

before = settled()
_undo_malloc_trim()
print(before, settled())
"""


def test_a_dask_worker_reuses_freed_map_memory_like_a_plain_process():
    """A Dask nanny starts workers with MALLOC_TRIM_THRESHOLD_ set, which stops glibc from
    reusing freed large blocks: every map became a fresh mmap and inputs ran ~40% slower
    than under -j 1 (0.212 s against 0.150 s per 512x512 photo). The task undoes it."""
    import ctypes.util

    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    assert hasattr(libc, "mallinfo2"), "this test needs glibc >= 2.33 (CI runs Debian 12)"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MALLOC_TRIM_THRESHOLD_": "65536"}
    done = subprocess.run([sys.executable, "-c", _MMAPPED_MAPS], env=env, check=True,
                          capture_output=True, text=True, timeout=60)
    before, after = map(int, done.stdout.split())
    assert before >= 8 << 20, "with Dask's variable each live map is its own mmap"
    assert after == 0, "after the task's fix, freed maps are reused from the heap"
    plain = {k: v for k, v in env.items() if k != "MALLOC_TRIM_THRESHOLD_"}
    done = subprocess.run([sys.executable, "-c", _MMAPPED_MAPS], env=plain, check=True,
                          capture_output=True, text=True, timeout=60)
    assert done.stdout.split() == ["0", "0"], "a plain process reuses them by itself"


class _Future:
    """Just enough of a distributed.Future for DaskExecutor.wait."""

    def __init__(self, key, status):
        self.key, self.status, self.callbacks = key, status, []

    def add_done_callback(self, callback):
        self.callbacks.append(callback)

    def result(self):
        return {"status": "ok", "input": {"path": "a.png"}}

    def exception(self):  # what a lost future answered: no exception at all
        return None


def test_a_result_lost_with_its_worker_is_waited_for_again_not_failed():
    """Seen once in a cluster test: a worker died holding a finished input's result, the
    future's callback had fired and its status was 'lost'; the input was reported as
    failed 'on a Dask worker: NoneType: None'. Dask computes it again: wait for that."""
    from cnnpipe.batch.executors.dask import DaskExecutor

    executor = DaskExecutor()
    future = _Future("cnnpipe-1", "lost")
    executor.futures["cnnpipe-1"] = ("input-key", object(), future)
    executor.done.put("cnnpipe-1")
    assert executor.wait(0.1) == []  # not a failure
    assert "cnnpipe-1" in executor.futures and len(future.callbacks) == 1
    future.status = "finished"  # computed again on another worker
    future.callbacks[0](future)
    assert executor.wait(0.1) == [("input-key", future.result())]
    assert executor.futures == {}


def test_a_local_cluster_starts_its_workers_with_quiet_watchdogs():
    """Dask's 20 ms event-loop watchdog, 10 ms profiler and 100 ms memory poll took the GIL
    from the input being computed (139 -> 133 ms a photo without them): a local cluster is
    started with them at once a second; the caller's own Dask config is left as it was."""
    import dask

    from cnnpipe.batch.executors import dask as executor

    seen = {}

    class Recorder:
        def LocalCluster(self, **kwargs):  # noqa: N802 - stands in for distributed's class
            seen.update({k: dask.config.get(k) for k in executor.LOCAL_CONFIG})
            return "cluster"

    before = dask.config.get("distributed.admin.tick.interval")
    assert executor._local_cluster(Recorder(), 2, False) == "cluster"
    assert seen == {"distributed.admin.tick.interval": "1s",
                    "distributed.worker.profile.enabled": False,
                    "distributed.worker.memory.monitor-interval": "1s"}
    assert dask.config.get("distributed.admin.tick.interval") == before
