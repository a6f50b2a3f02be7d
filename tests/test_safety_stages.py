"""conv, relu, pool and check: the memory budget and the input limit of `run` (issue 14).

Figures: a refused stage never allocates its maps, so its whole process stays under
400 MB (resource accounting of a fresh subprocess: ru_maxrss of its only child),
where running it would need the hundreds of GiB the message names.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from conftest import ROOT

MAX_RSS_MB = 400  # a refused stage: the interpreter, numpy and the input, no map


def _measured(args, stdin=None, input=None, timeout=120):
    """Run `cnnpipe ARGS` as the only child of a fresh interpreter; (returncode, stderr,
    peak RSS of cnnpipe in MB)."""
    probe = ("import resource, subprocess, sys\n"
             "r = subprocess.run([sys.executable, '-m', 'cnnpipe', *sys.argv[1:]],"
             " stderr=subprocess.PIPE)\n"
             "sys.stderr.buffer.write(r.stderr)\n"
             "print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n")
    done = subprocess.run([sys.executable, "-c", probe, *map(str, args)], stdin=stdin,
                          input=input, capture_output=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    code, rss_kb = done.stdout.split()[-2:]
    return int(code), done.stderr.decode(), int(rss_kb) / 1024


@pytest.fixture
def big_npy(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.random.default_rng(0).random((512, 512), dtype=np.float32))
    return path


def test_conv_with_a_huge_padding_is_refused_before_allocating(tmp_path, big_npy):
    out = tmp_path / "x.npy"
    code, err, rss = _measured(["conv", big_npy, "-k", "box", "--padding", "100000", "-o", out])
    assert code == 1  # as `run` reports an input over the budget
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cnnpipe: {big_npy}: needs about ")
    assert "with padding 100000" in lines[0] and "--max-memory" in lines[0]
    assert rss < MAX_RSS_MB
    assert not out.exists()


def test_conv_counts_every_detector_and_every_map_of_a_stack(invoke, tmp_path):
    # 3 maps x 3 detectors of 1000x1000 float32 (9 maps, 36 MB, twice with the stack, and
    # the 160 MiB base) fit 1G, not 200M; the message names the count and the largest map
    stack = tmp_path / "stack.npy"
    np.save(stack, np.zeros((3, 1000, 1000), np.float32))
    args = ["conv", stack, "-k", "box", "-k", "sobel-x", "-k", "sobel-y", "--padding", "same",
            "-o", tmp_path / "x.npy"]
    result = invoke(*args, "--max-memory", "200M")
    assert result.exit_code == 1
    assert "9 maps, the largest 1000x1000 (WxH, 3.8 MiB as float32, with padding same)" in (
        result.stderr)
    assert not (tmp_path / "x.npy").exists()
    assert invoke(*args, "--max-memory", "1G").exit_code == 0
    assert np.load(tmp_path / "x.npy").shape == (9, 1000, 1000)


@pytest.mark.parametrize("stage", ["relu", "pool"])
def test_relu_and_pool_check_the_budget_before_the_result(invoke, tmp_path, big_npy, stage):
    result = invoke(stage, big_npy, "-o", tmp_path / "r.npy", "--max-memory", "100M")
    assert result.exit_code == 1
    assert f"{big_npy}: needs about" in result.stderr and "1 map of 512x512 (WxH)" in result.stderr
    assert not (tmp_path / "r.npy").exists()
    assert invoke(stage, big_npy, "-o", tmp_path / "r.npy").exit_code == 0  # 4G: fits


def test_conv_reads_standard_input_up_to_an_eighth_of_max_memory(tmp_path):
    # --max-memory 200M: standard input may be 25 MiB; /dev/zero is refused at once
    with open("/dev/zero", "rb") as zero:
        code, err, rss = _measured(["conv", "-", "-k", "box", "-o", tmp_path / "x.npy",
                                    "--max-memory", "200M"], stdin=zero)
    assert code == 1
    assert err.strip() == ("cnnpipe: standard input is larger than 25 MiB, the input limit "
                           "(an eighth of --max-memory; raise --max-memory to read more)")
    assert rss < MAX_RSS_MB


def test_ctrl_c_stops_conv_waiting_on_standard_input(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "cnnpipe", "conv", "-", "-k", "box", "-o",
                             str(tmp_path / "x.npy")], stdin=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        proc.stdin.write(b"1,2,3\n")  # a pipe left open: the read blocks
        proc.stdin.flush()
        time.sleep(1.5)  # the interpreter started and is reading
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err.decode()
    assert not (tmp_path / "x.npy").exists()


def test_check_reads_standard_input_up_to_the_input_limit(invoke, monkeypatch):
    # the limit is run's (an eighth of the 4G default); made small here so the test is cheap
    import cnnpipe.budget

    monkeypatch.setattr(cnnpipe.budget, "INPUT_SHARE", 4096)  # 4 GiB / 4096 = 1 MiB
    result = invoke("check", "-", "--seed", "3", "--stage", "pool", input=b"1," * (1 << 20))
    assert result.exit_code == 1
    assert "standard input is larger than 1 MiB" in result.stderr
    assert "the answer to check is one small map" in result.stderr


def test_animate_with_a_huge_padding_is_refused_before_its_steps_exist(tmp_path):
    # 7x7 with padding 100000: 40 billion steps; refused from the shapes
    code, err, rss = _measured(["animate", "--padding", "100000", "--steps"])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "40,002,000,025 steps over a 200007x200007 padded input (padding 100000" in lines[0]
    assert "--max-memory" in lines[0]
    assert rss < MAX_RSS_MB


def test_animate_counts_its_steps_against_max_memory(invoke):
    # with a budget of the 160 MiB base + 1 MiB: padding 2 on the 7x7 X (81 steps) fits,
    # padding 10 (625 steps of about 2 KiB, twice with the pooling steps) does not
    assert invoke("animate", "--padding", "2", "--steps", "--max-memory", "161M").exit_code == 0
    refused = invoke("animate", "--padding", "10", "--steps", "--max-memory", "161M")
    assert refused.exit_code == 1
    assert "625 steps over a 27x27 padded input (padding 10" in refused.stderr


def test_invariance_with_a_huge_padding_is_refused_before_decoding(tmp_path):
    from conftest import SAMPLES

    code, err, rss = _measured(["invariance", SAMPLES / "chelsea.png", "--padding", "20000",
                                "--no-chart", "-q"])
    assert code == 1
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"cnnpipe: {SAMPLES / 'chelsea.png'}: needs about ")
    assert "the largest 40449x40298 (WxH)" in lines[0] and "--max-memory" in lines[0]
    assert rss < MAX_RSS_MB
