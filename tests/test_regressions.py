"""Regressions found by combining options and inputs; one test per bug."""

import json

import numpy as np

from tests.conftest import SAMPLES, write_png


def test_rerun_with_out_inside_recursive_input_does_not_process_its_own_outputs(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    (photos / "sub").mkdir()
    write_png(photos / "sub" / "b.png", np.eye(8) * 255)
    out = photos / "out"
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", out, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(m["input"]["path"] for m in lines) == sorted(
            [str(photos / "a.png"), str(photos / "sub" / "b.png")])
    assert sorted(p.name for p in out.iterdir()) == ["a", "sub"]


def test_rerun_with_out_equal_to_recursive_input_skips_output_folders(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", photos, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1
    assert sorted(p.name for p in photos.iterdir()) == ["a", "a.png"]


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


def test_shape_with_an_absurd_size_refuses_at_once_instead_of_hanging(invoke):
    # pool_axis listed every window and every covered cell: 10^8 per side took
    # minutes and tens of GB before printing anything.
    import time

    started = time.perf_counter()
    result = invoke("shape", "--size", "100000000x100000000")
    assert time.perf_counter() - started < 5
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "100000000x100000000" in result.stderr


def test_shape_still_explains_a_large_photo(invoke):
    result = invoke("shape", "--size", "4000x6000", "--kernel-size", "3", "--json")
    assert result.exit_code == 0
    body = json.loads(result.stdout)
    assert body["stages"][-1]["out"] == [1999, 2999]


def test_shape_with_huge_padding_refuses_instead_of_exhausting_memory(invoke):
    result = invoke("shape", "--size", "7", "--kernel-size", "3", "--padding", "100000000000")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "too large" in result.stderr


def _render(renderable, width):
    import io

    from rich.console import Console

    console = Console(file=io.StringIO(), width=width, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def test_wide_matrix_tables_wrap_into_column_blocks_instead_of_eliding_numbers():
    # rich squeezed a 16-column table into 80 columns: every cell became "0…",
    # and 0.0039 printed as "3…" (read as 3).
    from cnnpipe.render.tables import matrix_table

    values = (0.05 + 0.9 * np.random.RandomState(0).rand(16, 16)).round(2)  # never "0" or "1"
    values[3, 3] = 0.0039
    text = _render(matrix_table(values, title="input · 16×16"), 80)
    assert "…" not in text
    assert "0.0039" in text  # written as everywhere (cnnpipe.numbers), never cut
    assert all(len(line) <= 80 for line in text.splitlines())
    assert text.count("input · 16×16") == 1
    for row in range(16):  # every row label appears once per block, every value somewhere
        assert sum(line.split()[:1] == [str(row)] for line in text.splitlines()) >= 2
    shown = {float(cell) for line in text.splitlines()[1:] for cell in line.split()[1:]
             if "." in cell}
    assert {float(f"{v:.3g}") for v in values.ravel()} <= shown


def test_run_prints_a_16x16_map_without_eliding_a_small_value(invoke, tmp_path):
    values = np.random.RandomState(0).rand(16, 16).round(2) + 0.01
    values[6, 3], values[10, 6] = 0.0039, 0.0078
    source = tmp_path / "m.csv"
    np.savetxt(source, values, delimiter=",", fmt="%.4f")
    result = invoke("run", source, "-k", "1", "--pool", "none", "--activation", "none",
                    "-o", tmp_path / "out")
    assert result.exit_code == 0
    assert "…" not in result.stdout
    assert result.stdout.count(" 0.0039 ") >= 2  # the input and the 1x1 feature map
    assert result.stdout.count(" 0.0078 ") >= 2


def test_an_empty_value_in_an_inline_kernel_is_refused_not_skipped(invoke, tmp_path):
    # "1,,0" silently became the 1x2 kernel [1, 0]; image CSVs already refuse "1,,3".
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "1,,0", "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1
    assert "empty value" in result.stderr and "column 2" in result.stderr


def test_kernel_file_with_an_empty_cell_is_refused(invoke, tmp_path):
    path = tmp_path / "k.csv"
    path.write_text("1,,-1\n2,,-2\n1,,-1\n")
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    assert "empty value" in result.stderr


def test_kernel_values_separated_by_comma_and_spaces_still_parse():
    from cnnpipe.kernels import kernel

    assert kernel("1, 0 ,-1; 2 0 -2").weights.tolist() == [[1, 0, -1], [2, 0, -2]]


def test_a_cyrillic_kernel_name_is_not_said_to_have_no_letters(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "Жук=1", "-o", tmp_path / "out")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    # Ж is a letter: the message used to say the name had none.
    assert "has no letters or digits;" not in result.stderr
    assert "can keep (a-z, 0-9)" in result.stderr


def test_stage_conv_does_not_suggest_a_color_option_it_does_not_have(invoke, tmp_path):
    detector = tmp_path / "rgbdet.npy"
    np.save(detector, np.ones((3, 3, 3), dtype=np.float32))
    image = write_png(tmp_path / "rgb.png", np.full((8, 8, 3), 200))
    result = invoke("conv", image, "-k", detector, "-o", tmp_path / "c.npy")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--color" not in result.stderr
    assert "(3, H, W)" in result.stderr
    stack = tmp_path / "stack.npy"
    np.save(stack, np.ones((3, 8, 8), dtype=np.float32))
    assert invoke("conv", stack, "-k", detector, "-o", tmp_path / "c.npy").exit_code == 0
    assert np.load(tmp_path / "c.npy").tolist() == np.full((6, 6), 27.0).tolist()


def test_a_five_channel_npy_with_color_rgb_is_a_failed_input_not_a_usage_error(invoke, tmp_path):
    # It passed the loader and failed later in the PNG mapping as a usage error (exit 2).
    stack = tmp_path / "five.npy"
    np.save(stack, np.ones((5, 9, 9), dtype=np.float32))
    good = tmp_path / "good.csv"
    np.savetxt(good, np.eye(9), delimiter=",")
    result = invoke("run", stack, good, "--color", "rgb", "-o", tmp_path / "out", "-j", "1")
    assert result.exit_code == 1
    lines = [line for line in result.stderr.strip().splitlines()
             if not line.startswith("cnnpipe: note:")]  # the --edge keep note on good.csv
    assert len(lines) == 2 and "five.npy" in lines[0] and "(5, 9, 9)" in lines[0]
    assert "(3, rows, cols)" in lines[0]
    assert (tmp_path / "out" / "good" / "manifest.json").exists()


def test_animate_a_16x16_input_keeps_one_line_per_row_at_80_columns(invoke, tmp_path):
    # The input and feature-map grids sat side by side in 40 columns each, so
    # every 16-value row wrapped over four lines and the window was unreadable.
    source = tmp_path / "m.csv"
    np.savetxt(source, np.random.RandomState(1).rand(16, 16).round(2), delimiter=",",
               fmt="%.2f")
    result = invoke("animate", "--input", source, "--pool", "none")
    assert result.exit_code == 0
    frame = result.stdout.split("\n\n")[0].splitlines()
    assert all(len(line) <= 80 for line in frame)
    start = next(i for i, line in enumerate(frame) if line.startswith("input 16x16"))
    end = next(i for i, line in enumerate(frame) if line.startswith("feature map"))
    assert end - start - 1 == 16  # one line per input row
    assert frame[start + 1].count("[") == 3  # the 3x3 window's top row, on row 0


def test_dry_run_with_json_prints_only_json_lines(invoke, tmp_path):
    # --json promises JSON Lines and nothing else on stdout; -n printed its text plan.
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-n", "--json",
                    "-o", tmp_path / "out")
    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(records) == 1
    assert records[0]["input"]["path"] == str(SAMPLES / "tutorial.csv")
    assert records[0]["status"] == "planned"
    assert "03-pool-tutorial.png" in records[0]["files"]
    assert not (tmp_path / "out").exists()


def test_skip_existing_does_not_skip_a_different_input_with_the_same_folder_name(invoke, tmp_path):
    # a/x.png then b/x.png both write OUT/x: the second was skipped as "done".
    for folder, value in (("a", 10), ("b", 250)):
        (tmp_path / folder).mkdir()
        write_png(tmp_path / folder / "x.png", np.full((8, 8), value))
    out = tmp_path / "out"
    first = invoke("run", tmp_path / "a" / "x.png", "-o", out, "--skip-existing", "-q")
    second = invoke("run", tmp_path / "b" / "x.png", "-o", out, "--skip-existing", "--json")
    assert first.exit_code == second.exit_code == 0
    report = json.loads(second.stdout)
    assert report["status"] == "ok"
    assert report["input"]["path"] == str(tmp_path / "b" / "x.png")


def test_skip_existing_redoes_an_input_whose_file_changed(invoke, tmp_path):
    source = write_png(tmp_path / "x.png", np.full((8, 8), 10))
    out = tmp_path / "out"
    assert invoke("run", source, "-o", out, "--skip-existing", "-q").exit_code == 0
    write_png(source, np.eye(8) * 255)
    import os

    os.utime(source, ns=(1, 1))  # a different time even on coarse clocks
    result = invoke("run", source, "-o", out, "--skip-existing", "--json")
    assert json.loads(result.stdout)["status"] == "ok"
    again = invoke("run", source, "-o", out, "--skip-existing", "--json")
    assert json.loads(again.stdout)["status"] == "skipped"


def test_skip_existing_with_stdin_redoes_different_data(invoke, tmp_path):
    out = tmp_path / "out"
    a = (SAMPLES / "tutorial.csv").read_bytes()
    b = b"1,2,3\n4,5,6\n7,8,9\n"
    assert invoke("run", "-", "-o", out, "--skip-existing", "-q", input=a).exit_code == 0
    result = invoke("run", "-", "-o", out, "--skip-existing", "--json", input=b)
    assert json.loads(result.stdout)["status"] == "ok"
    assert json.loads(result.stdout)["input"]["width"] == 3


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


def test_invariance_does_not_suggest_a_color_option_it_does_not_have(invoke, tmp_path):
    detector = tmp_path / "rgbdet.npy"
    np.save(detector, np.ones((3, 3, 3), dtype=np.float32))
    image = write_png(tmp_path / "x.png", np.arange(256).reshape(16, 16))
    result = invoke("invariance", image, "-k", detector, "--no-chart", "-q")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert "--color" not in result.stderr and "2-D" in result.stderr


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


def test_animate_gif_refuses_a_file_name_that_is_not_gif(invoke, tmp_path):
    # --gif steps.png wrote GIF bytes into a .png file (viewers then refuse it).
    result = invoke("animate", "--gif", tmp_path / "steps.png")
    assert result.exit_code == 2 and result.stderr.count("\n") == 1
    assert ".gif" in result.stderr
    assert not (tmp_path / "steps.png").exists()
    assert invoke("animate", "--gif", tmp_path / "STEPS.GIF").exit_code == 0


def test_a_pipeline_input_that_fails_in_layer_2_leaves_no_files(invoke, tmp_path):
    # Layer 1's maps and sheet stayed behind in a folder without a manifest.
    tiny = write_png(tmp_path / "tiny.png", np.arange(16).reshape(4, 4) * 16)
    out = tmp_path / "out"
    result = invoke("run", tiny, "--pipeline", SAMPLES / "net.toml", "-o", out)
    assert result.exit_code != 0 and "layer 2" in result.stderr
    assert not (out / "tiny").exists() or not any((out / "tiny").iterdir())


def test_a_matrix_with_the_other_separator_says_which_separator_its_extension_takes(invoke,
                                                                                    tmp_path):
    # "non-numeric value '1,2,3'" left the user guessing: .txt takes spaces, .csv commas.
    (tmp_path / "commas.txt").write_text("1,2,3\n4,5,6\n7,8,9\n")
    (tmp_path / "spaces.csv").write_text("1 2 3\n4 5 6\n7 8 9\n")
    (tmp_path / "semis.csv").write_text("1;2;3\n4;5;6\n7;8;9\n")
    for name, hint in (("commas.txt", "spaces"), ("spaces.csv", "commas"),
                       ("semis.csv", "commas")):
        result = invoke("run", tmp_path / name, "-k", "1", "-o", tmp_path / "out")
        assert result.exit_code == 1
        first = result.stderr.splitlines()[0]
        assert "non-numeric value" in first and hint in first, first


def test_an_empty_input_path_is_not_the_current_directory(invoke, tmp_path, monkeypatch):
    # `cnnpipe run "$PHOTO"` with an unset variable scanned and processed the cwd.
    monkeypatch.chdir(tmp_path)
    write_png(tmp_path / "private.png", np.eye(8) * 255)
    result = invoke("run", "", "-o", tmp_path / "out", "--json", "-q")
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1 and "input path is empty" in result.stderr
    assert not (tmp_path / "out" / "private").exists()


def test_demo_refuses_a_map_that_overflowed_instead_of_printing_inf(invoke):
    result = invoke("demo", "-k", "3e38,3e38;3e38,3e38")
    assert result.exit_code == 1
    assert "overflowed float32" in result.stderr
    assert "inf" not in result.stdout
