"""The batch runner above the executor seam, driven by a scripted executor (fast, in-process).

Each guarantee of a batch is kept by the runner for every executor: these tests
use an executor whose behaviour the test decides (which jobs finish, which
worker dies, when a signal arrives) and check what the user would see.
"""

from __future__ import annotations

import signal
import tracemalloc

import numpy as np
import pytest
from conftest import write_png

from cnnpipe import interrupt
from cnnpipe.batch import Job, run_batch
from cnnpipe.batch.executors import lost


class Scripted:
    """An executor that runs nothing: ``outcome(key, job, attempt)`` gives each record."""

    def __init__(self, outcome, capacity=2, on_wait=None):
        self.outcome, self.capacity, self.on_wait = outcome, capacity, on_wait
        self.running: dict = {}
        self.started: list = []
        self.attempts: dict = {}
        self.aborted = self.closed = False
        self.waits = 0

    def start(self, config):
        self.config = config

    def submit(self, key, job):
        assert len(self.running) < self.capacity, "the runner overfilled the executor"
        self.attempts[key] = self.attempts.get(key, 0) + 1
        self.started.append(key)
        self.running[key] = job

    def wait(self, timeout):
        self.waits += 1
        if self.on_wait:
            self.on_wait(self)
        if not self.running:
            return []
        key = next(iter(self.running))  # the oldest finishes first
        job = self.running.pop(key)
        record = self.outcome(key, job, self.attempts[key])
        return [] if record is None else [(key, record)]

    def abort(self):
        self.aborted = True
        self.running.clear()

    def close(self):
        self.closed = True


def ok(key, job, attempt):
    return {"input": {"path": job.source}, "status": "ok", "output": f"out/{job.name}"}


@pytest.fixture
def config(tmp_path):
    from cnnpipe import layer
    from cnnpipe.outputs import RunConfig

    return RunConfig(params=layer.Params(), kernels=(), out_root=str(tmp_path / "out"))


@pytest.fixture(autouse=True)
def no_pending_signals():
    interrupt._pending.clear()
    yield
    interrupt._pending.clear()


def jobs(n):
    return [Job(f"in/{i:04d}.png", f"{i:04d}") for i in range(n)]


def test_records_are_streamed_in_finishing_order_and_counted(config):
    seen = []
    ex = Scripted(ok, capacity=3)
    result = run_batch(jobs(7), config, workers=3, executor=ex,
                       on_result=lambda job, record: seen.append(job.name))
    assert seen == [f"{i:04d}" for i in range(7)]
    assert result.counts == {"ok": 7, "failed": 0, "skipped": 0}
    assert result.not_started == 0 and result.interrupted is None
    assert ex.closed and not ex.aborted


def test_the_main_process_keeps_no_record_once_it_was_streamed(config):
    # Each record carries 200 kB (a manifest with many small maps does); the peak memory
    # of a batch of 600 must be that of a batch of 60: records streamed, not kept.
    big = "x" * 200_000

    def heavy(key, job, attempt):
        return {"input": {"path": job.source}, "status": "ok", "output": "o",
                "maps": [big + job.name]}

    def peak(n):
        batch = jobs(n)
        tracemalloc.start()
        try:
            run_batch(batch, config, workers=2, executor=Scripted(heavy),
                      on_result=lambda job, record: None)
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    small, large = peak(60), peak(600)
    assert large < small + 300_000, (small, large)
    assert large < 10 * 200_000


def test_fail_fast_starts_nothing_once_a_failure_is_known(config):
    def first_fails(key, job, attempt):
        if key == 0:
            return {"input": {"path": job.source}, "status": "failed", "error": "bad",
                    "exit_code": 1, "usage_error": False, "output": "o"}
        return ok(key, job, attempt)

    ex = Scripted(first_fails, capacity=2)
    result = run_batch(jobs(10), config, workers=2, executor=ex, fail_fast=True)
    assert ex.started == [0, 1]  # the two in flight when it failed; nothing after
    assert result.counts == {"ok": 1, "failed": 1, "skipped": 0}
    assert result.not_started == 8


def test_a_dead_worker_costs_only_its_input(config):
    ex = Scripted(lambda key, job, attempt: lost("signal 9") if key == 2 else ok(key, job, 1))
    failed = []
    result = run_batch(jobs(6), config, workers=2, executor=ex,
                       on_result=lambda job, r: failed.append(r) if r["status"] == "failed" else 0)
    assert result.counts == {"ok": 5, "failed": 1, "skipped": 0}
    assert [r["error"] for r in failed] == ["worker died: signal 9"]
    assert failed[0]["input"]["path"] == "in/0002.png"
    assert "lost" not in failed[0]


def test_retries_run_a_lost_input_again_and_then_give_up(config):
    warnings = []
    # input 1 is lost once, then works; input 3 is lost every time
    ex = Scripted(lambda key, job, attempt: lost("signal 9")
                  if key == 3 or (key == 1 and attempt == 1) else ok(key, job, attempt))
    failed = []
    result = run_batch(jobs(5), config, workers=2, executor=ex, retries=2,
                       on_warning=warnings.append,
                       on_result=lambda job, r: failed.append(r) if r["status"] == "failed" else 0)
    assert ex.attempts == {0: 1, 1: 2, 2: 1, 3: 3, 4: 1}
    assert result.counts == {"ok": 4, "failed": 1, "skipped": 0}
    assert failed[0]["error"] == "worker died: signal 9 (3 attempts)"
    assert warnings == ["in/0001.png: worker died: signal 9; trying again (1 of 2)",
                        "in/0003.png: worker died: signal 9; trying again (1 of 2)",
                        "in/0003.png: worker died: signal 9; trying again (2 of 2)"]


def test_without_retries_a_lost_input_is_not_run_again(config):
    ex = Scripted(lambda key, job, attempt: lost("signal 11") if key == 0 else ok(key, job, 1))
    result = run_batch(jobs(3), config, workers=2, executor=ex)
    assert ex.attempts[0] == 1 and result.counts["failed"] == 1


def test_first_signal_stops_starting_inputs_and_lets_running_ones_finish(config):
    def signal_on_second_wait(ex):
        if ex.waits == 2:
            interrupt._on_sigint(signal.SIGINT, None)  # deferred: counted, not raised

    ex = Scripted(ok, capacity=2, on_wait=signal_on_second_wait)
    stopping = []
    result = run_batch(jobs(10), config, workers=2, executor=ex, on_stopping=stopping.append)
    # wait 1 finished job 0 and job 2 started; wait 2 saw the signal and finished job 1
    assert stopping == [1]  # job 2 was still running when the signal was seen
    assert ex.started == [0, 1, 2]
    assert result.counts["ok"] == 3 and result.not_started == 7
    assert result.interrupted == 130
    assert ex.closed and not ex.aborted


def test_sigterm_gives_143(config):
    def term(ex):
        if ex.waits == 1:
            interrupt._on_sigterm(signal.SIGTERM, None)

    result = run_batch(jobs(4), config, workers=2, executor=Scripted(ok, on_wait=term))
    assert result.interrupted == 143


def test_second_signal_kills_the_work_and_removes_its_partial_output(config, tmp_path):
    from cnnpipe.outputs import planned_files

    out = tmp_path / "out"
    # what a killed worker leaves: its staging folder beside the input's folder, with some
    # maps and a temporary file (a dead process's id: the folder is not in use)
    for name in ("0000", "0001"):
        staging = out / f".{name}.cnnpipe-staging-999999999"
        staging.mkdir(parents=True)
        (staging / ".cnnpipe-staging").write_bytes(b"cnnpipe staging folder\n")
        for file in planned_files(config)[:1]:
            (staging / file).write_bytes(b"partial")
        (staging / ".01-conv-box.png.cnnpipe-tmp-abcd1234").write_bytes(b"partial")
    (out / "0001").mkdir()  # an earlier complete run of 0001, and a file of the user's
    (out / "0001" / "manifest.json").write_text('{"cnnpipe": "0", "files": ["manifest.json"]}')
    (out / "0001" / "notes.txt").write_text("the user's")

    def two_signals(ex):
        interrupt._on_sigint(signal.SIGINT, None)

    ex = Scripted(lambda key, job, attempt: None, on_wait=two_signals)  # nothing ever finishes
    stopping = []
    result = run_batch(jobs(5), config, workers=2, executor=ex, on_stopping=stopping.append)
    assert stopping == [2]
    assert ex.aborted and not ex.closed
    assert result.interrupted == 130 and result.finished == 0
    assert sorted(p.name for p in out.iterdir()) == ["0001"]  # both staging folders gone
    assert sorted(p.name for p in (out / "0001").iterdir()) == ["manifest.json", "notes.txt"]


def test_a_failing_callback_stops_the_workers_too(config):
    ex = Scripted(ok)

    def broken_pipe(job, record):
        raise BrokenPipeError

    with pytest.raises(BrokenPipeError):
        run_batch(jobs(4), config, workers=2, executor=ex, on_result=broken_pipe)
    assert ex.aborted


def test_the_table_of_a_large_batch_is_not_kept(config):
    from cnnpipe.batch.runner import TABLE_ROWS

    small = run_batch(jobs(5), config, workers=2, executor=Scripted(ok))
    assert [r["input"]["path"] for r in small.rows] == [f"in/{i:04d}.png" for i in range(5)]
    large = run_batch(jobs(TABLE_ROWS + 1), config, workers=2, executor=Scripted(ok))
    assert large.rows is None and large.counts["ok"] == TABLE_ROWS + 1


def test_inline_executor_runs_every_input_in_this_process(config, tmp_path):
    for name in ("a", "b"):
        write_png(tmp_path / f"{name}.png", np.full((6, 6), 9))
    batch = [Job(str(tmp_path / "a.png"), "a"), Job(str(tmp_path / "nope.png"), "nope"),
             Job(str(tmp_path / "b.png"), "b")]
    records = []
    result = run_batch(batch, config, workers=1, on_result=lambda j, r: records.append(r))
    assert [r["status"] for r in records] == ["ok", "failed", "ok"]
    assert records[1]["error"] == "file not found"
    assert records[1]["input"]["path"] == str(tmp_path / "nope.png")
    assert result.counts == {"ok": 2, "failed": 1, "skipped": 0}
    assert (tmp_path / "out" / "b" / "manifest.json").is_file()


def test_unknown_executor_names_the_known_ones(config):
    with pytest.raises(ValueError, match="unknown executor 'warp' .*inline, process"):
        run_batch(jobs(2), config, workers=2, executor="warp")
