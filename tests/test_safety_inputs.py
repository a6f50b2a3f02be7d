"""Issue 14, inputs: standard input, matrix files, kernel and pipeline files stay bounded.

Memory figures are measured in a subprocess as its own peak resident size
(``VmHWM`` of ``/proc/self/status``: unlike ``getrusage``'s ``ru_maxrss``, which
Linux carries across fork and exec, it starts afresh with the new program), so
the numbers belong to that one run and not to the test session.
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest

from cnnpipe.errors import InputError
from cnnpipe.io import load_image, load_matrix

MiB = 1 << 20

_PEAK = """
def peak_mib():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
"""

# Runs the CLI in this interpreter, then prints the process's peak memory in MiB on stderr.
_MEASURED = _PEAK + """
import sys
from cnnpipe.cli import main
try:
    main(sys.argv[1:])
finally:
    print(f"PEAK_MIB {peak_mib():.0f}", file=sys.stderr)
"""


def run_measured(*args, stdin=None, timeout=120):
    """Exit code, stderr (without the PEAK line) and peak memory in MiB of `cnnpipe ARGS`."""
    proc = subprocess.run([sys.executable, "-c", _MEASURED, *map(str, args)], stdin=stdin,
                          capture_output=True, text=True, timeout=timeout)
    lines = proc.stderr.splitlines()
    peak = float(next(line.split()[1] for line in lines if line.startswith("PEAK_MIB")))
    err = "\n".join(line for line in lines if not line.startswith("PEAK_MIB"))
    return proc.returncode, err, peak


def baseline_mib() -> float:
    """Peak memory of a run that does nothing but print its version (imports included)."""
    return run_measured("--version")[2]


# --------------------------------------------------------------------------- standard input


def test_endless_stdin_is_refused_at_the_input_limit_without_growing(tmp_path):
    # /dev/zero never ends: the read must stop at the limit (an eighth of --max-memory:
    # 32 MiB here) and the process stays within that plus its imports.
    with open("/dev/zero", "rb") as zero:
        code, err, peak = run_measured("run", "-", "-o", tmp_path / "out", "--max-memory",
                                       "256M", stdin=zero)
    assert code == 1
    assert err.count("\n") == 0, err  # one line
    assert "standard input is larger than 32 MiB, the input limit" in err
    assert "--max-memory" in err
    assert peak < baseline_mib() + 3 * 32 + 40, peak
    assert not (tmp_path / "out" / "stdin").exists()


def test_ctrl_c_stops_a_run_waiting_on_standard_input(tmp_path):
    # a writer that never writes nor closes: the read blocks until SIGINT
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([sys.executable, "-m", "cnnpipe", "run", "-", "-o",
                             str(tmp_path / "out")], stdin=read_end,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(read_end)
    try:
        time.sleep(1.5)  # past the imports, inside the read
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=10)
    finally:
        os.close(write_end)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130
    assert b"interrupted" in err


def test_ctrl_c_stops_a_read_of_an_endless_fast_stream(tmp_path):
    # /dev/zero answers every read at once: only a chunked read lets the signal through.
    with open("/dev/zero", "rb") as zero:
        proc = subprocess.Popen([sys.executable, "-m", "cnnpipe", "run", "-", "-o",
                                 str(tmp_path / "out"), "--max-memory", "64G"], stdin=zero,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            time.sleep(1.5)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=10)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert proc.returncode == 130, err
    assert b"interrupted" in err


# --------------------------------------------------------------------------- matrix files


def _write_csv(path, rows: int, cols: int, seed: int = 0) -> np.ndarray:
    values = np.random.default_rng(seed).random((rows, cols)).astype(np.float32)
    np.savetxt(path, values, delimiter=",", fmt="%.7g")
    return np.loadtxt(path, delimiter=",", dtype=np.float32, ndmin=2)


def test_csv_is_parsed_in_bounded_memory(tmp_path):
    # 12 MB of text, 1.2 million values: the float32 result is 4.8 MB. Python lists of
    # floats would cost ~28x the file (340 MB); the streaming parser stays near the result.
    path = tmp_path / "m.csv"
    expected = _write_csv(path, 600, 2000)
    assert path.stat().st_size > 10 * MiB
    script = (_PEAK + "from cnnpipe.io import load_matrix\n"
              "before = peak_mib()\n"
              f"a = load_matrix({str(path)!r}, ext='.csv')\n"
              "print(peak_mib() - before, a.shape[0], a.shape[1])")
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         check=True, timeout=120).stdout.split()
    grown, rows, cols = float(out[0]), int(out[1]), int(out[2])
    assert (rows, cols) == expected.shape
    assert grown < 30, f"parsing a 12 MB CSV grew the process by {grown:.0f} MiB"


def test_streamed_csv_equals_numpy_and_keeps_row_and_column_messages(tmp_path):
    path = tmp_path / "m.csv"
    expected = _write_csv(path, 40, 7000)
    np.testing.assert_array_equal(load_matrix(path, ext=".csv"), expected)
    # one row of 300,000 values spans several 1 MiB blocks
    long_row = np.arange(300_000, dtype=np.float32)
    (tmp_path / "long.txt").write_text(" ".join(str(int(v)) for v in long_row) + "\n")
    np.testing.assert_array_equal(load_matrix(tmp_path / "long.txt", ext=".txt")[0], long_row)
    (tmp_path / "bad.txt").write_text(" ".join(["1"] * 299_999 + ["x"]) + "\n")
    with pytest.raises(InputError, match=r"non-numeric value 'x' at row 1, column 300000"):
        load_matrix(tmp_path / "bad.txt", ext=".txt")


@pytest.mark.parametrize("cell", ["1_000", "١٢", "0x10", "1e", "--1", "+-2", "1.2.3"])
def test_csv_cells_that_python_float_would_stretch_are_refused(tmp_path, cell):
    (tmp_path / "m.csv").write_text(f"1,2\n3,{cell}\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"non-numeric value .* at row 2, column 2"):
        load_matrix(tmp_path / "m.csv", ext=".csv")


def test_ordinary_number_spellings_still_load(tmp_path):
    (tmp_path / "m.csv").write_text(" 1 , -2.5\n+3e2,.5\n7.,1E-3\n")
    np.testing.assert_array_equal(load_matrix(tmp_path / "m.csv", ext=".csv"),
                                  np.array([[1, -2.5], [300, 0.5], [7, 0.001]], np.float32))


def test_an_endless_cell_is_refused_without_holding_it(tmp_path):
    (tmp_path / "m.txt").write_text("1" * 3_000_000 + "\n")
    with pytest.raises(InputError, match=r"non-numeric value '1{20}\.\.\.' at row 1, column 1"):
        load_matrix(tmp_path / "m.txt", ext=".txt")


def test_npy_with_trailing_bytes_is_refused(tmp_path):
    buffer = io.BytesIO()
    np.save(buffer, np.ones((4, 4), np.float32))
    (tmp_path / "t.npy").write_bytes(buffer.getvalue() + b"junk")
    with pytest.raises(InputError, match=r"corrupt \.npy file \(4 bytes after the array data"):
        load_image(tmp_path / "t.npy")
    (tmp_path / "ok.npy").write_bytes(buffer.getvalue())
    assert load_image(tmp_path / "ok.npy").array.shape == (4, 4)


def test_npy_with_thousands_of_channels_is_refused_from_its_header(tmp_path):
    # the header says 100000 x 8 x 8 (25 MB of data declared, none present): refused
    # before any of it is read, not "truncated" after trying
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f4", "fortran_order": False,
                                                  "shape": (100_000, 8, 8)})
    (tmp_path / "cube.npy").write_bytes(header.getvalue())
    with pytest.raises(InputError, match=r"shape \(100000, 8, 8\); a 3-D matrix is"):
        load_image(tmp_path / "cube.npy", color="rgb")


# --------------------------------------------------------------------------- option files


def _fifo(path):
    os.mkfifo(path)
    return path


def _in_time(args, seconds=20):
    return subprocess.run([sys.executable, "-m", "cnnpipe", *map(str, args)],
                          capture_output=True, text=True, timeout=seconds)


def test_a_fifo_as_a_kernel_file_is_refused_instead_of_hanging(tmp_path):
    fifo = _fifo(tmp_path / "k.csv")
    proc = _in_time(["run", "-", "-o", tmp_path / "out", "-k", fifo], 20)
    assert proc.returncode == 2
    assert "is not a regular file (it is a named pipe (FIFO))" in proc.stderr


def test_a_fifo_as_a_pipeline_file_or_weights_file_is_refused(tmp_path, invoke):
    from cnnpipe.errors import ParameterError
    from cnnpipe.network import load_network

    fifo = _fifo(tmp_path / "net.toml")
    with pytest.raises(ParameterError, match="named pipe"):
        load_network(fifo)
    _fifo(tmp_path / "w.npy")
    (tmp_path / "w.toml").write_text('[[layer]]\nweights = "w.npy"\nmode = "full"\n')
    with pytest.raises(ParameterError, match=r"`weights` file 'w.npy' is not a regular file"):
        load_network(tmp_path / "w.toml")
    (tmp_path / "k.toml").write_text('[[layer]]\nkernels = ["k.csv"]\n')
    _fifo(tmp_path / "k.csv")
    with pytest.raises(ParameterError, match="named pipe"):
        load_network(tmp_path / "k.toml")


def test_a_deeply_nested_pipeline_file_is_one_usage_error(tmp_path, invoke):
    (tmp_path / "deep.toml").write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    result = invoke("run", tmp_path / "x.csv", "--pipeline", tmp_path / "deep.toml",
                    "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "nested too deeply" in result.stderr
    assert "RecursionError" not in result.stderr


def test_a_kernel_beyond_float32_is_one_line_without_a_numpy_warning(tmp_path):
    (tmp_path / "x.csv").write_text("1,2,3\n4,5,6\n7,8,9\n")
    proc = _in_time(["run", tmp_path / "x.csv", "-k", "1e39,1;1,1", "-o", tmp_path / "out"])
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1, proc.stderr
    assert "too large value (float32 holds up to ±3.4e38)" in proc.stderr
    assert "RuntimeWarning" not in proc.stderr
    from cnnpipe.kernels import kernel

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="too large value"):
            kernel("1e39,1;1,1")
