"""A map that overflows float32 fails its input in one line, in every command; no inf written."""

import json

import numpy as np


def _huge_csv(tmp_path):
    path = tmp_path / "huge.csv"
    np.savetxt(path, [[1e30, 2, 3], [4, 5, 6], [7, 8, -1e30]], delimiter=",")
    return path


def test_float32_overflow_fails_the_input_in_one_line_instead_of_writing_infinity(invoke, tmp_path):
    # 1e30 * 1e30 overflows float32: the manifest used to hold Infinity/NaN (not JSON)
    # and numpy's RuntimeWarnings leaked onto stderr.
    good = tmp_path / "good.csv"
    np.savetxt(good, np.arange(9.0).reshape(3, 3), delimiter=",")
    result = invoke("run", _huge_csv(tmp_path), good, "-k", "big=1e30,1e30;1e30,1e30",
                    "-o", tmp_path / "out", "-j", "1", "--json", "-q")
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.stdout.splitlines()]  # strict JSON
    assert [m.get("status") for m in lines].count("failed") == 1
    assert all("Infinity" not in line and "NaN" not in line for line in result.stdout.splitlines())
    assert len(result.stderr.strip().splitlines()) == 1
    assert "huge.csv" in result.stderr and "overflow" in result.stderr
    assert not (tmp_path / "out" / "huge" / "manifest.json").exists()


def test_l2_pool_overflow_fails_cleanly(invoke, tmp_path):
    result = invoke("run", _huge_csv(tmp_path), "-k", "1,1;1,1", "--pool", "l2",
                    "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "overflow" in result.stderr and "RuntimeWarning" not in result.stderr


def test_overflow_with_scale_detector_is_an_input_failure_not_a_usage_error(invoke, tmp_path):
    result = invoke("run", _huge_csv(tmp_path), "-k", "1e30,1e30;1e30,1e30",
                    "--scale", "detector", "-o", tmp_path / "out", "-q")
    assert result.exit_code == 1
    assert "overflow" in result.stderr


def test_stage_conv_refuses_to_write_an_overflowed_map(invoke, tmp_path):
    # It used to write inf into the CSV with exit 0, which the next stage then refused.
    target = tmp_path / "conv.csv"
    result = invoke("conv", _huge_csv(tmp_path), "-k", "1e30,1e30;1e30,1e30", "-o", target)
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "overflow" in result.stderr
    assert not target.exists()


def test_stage_pool_l2_overflow_is_one_line_without_numpy_warnings(invoke, tmp_path):
    source = tmp_path / "big.npy"
    np.save(source, np.full((4, 4), 1e30, dtype=np.float32))
    result = invoke("pool", source, "--pool", "l2", "-o", tmp_path / "p.npy")
    assert result.exit_code == 1
    assert len(result.stderr.strip().splitlines()) == 1 and "overflow" in result.stderr


def test_overflow_on_a_large_image_leaks_no_numpy_warning_from_conv_threads(invoke, tmp_path,
                                                                            recwarn):
    # Large maps are convolved in worker threads, which did not inherit the
    # suppressed numpy error state: a RuntimeWarning and its source line leaked.
    source = tmp_path / "big.npy"
    np.save(source, np.full((1024, 1024), 1e30, dtype=np.float32))
    result = invoke("run", source, "-k", "1e30,1e30;1e30,1e30", "-o", tmp_path / "out",
                    "-q", "-j", "1")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "overflow" in result.stderr
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_invariance_with_an_overflowing_detector_fails_in_one_line_not_infinity(invoke, tmp_path,
                                                                                recwarn):
    source = tmp_path / "big.csv"
    np.savetxt(source, np.full((12, 12), 1e30), delimiter=",")
    result = invoke("invariance", source, "-k", "1e30,1e30;1e30,1e30", "--shifts", "1",
                    "--no-chart", "--json")
    assert result.exit_code == 1
    assert "Infinity" not in result.stdout
    assert result.stderr.count("\n") == 1 and "overflow" in result.stderr
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_animate_with_an_overflowing_detector_fails_in_one_line(invoke, tmp_path, recwarn):
    # It ended in "internal error: OverflowError" after numpy warnings.
    source = tmp_path / "big.csv"
    np.savetxt(source, np.full((5, 5), 1e30), delimiter=",")
    result = invoke("animate", "--input", source, "-k", "1e30,1e30;1e30,1e30",
                    "--gif", tmp_path / "a.gif")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "overflow" in result.stderr
    assert "internal error" not in result.stderr
    assert not (tmp_path / "a.gif").exists()
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_demo_refuses_a_map_that_overflowed_instead_of_printing_inf(invoke):
    result = invoke("demo", "-k", "3e38,3e38;3e38,3e38")
    assert result.exit_code == 1
    assert "overflowed float32" in result.stderr
    assert "inf" not in result.stdout
