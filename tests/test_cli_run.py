"""`cnnpipe run` end to end: files written, manifest against the arrays, streams, exit codes."""

import json

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png

from cnnpipe import conv2d, pool2d, relu


def tutorial_image():
    return np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",", dtype=np.float32)


def test_tutorial_csv_gives_the_seed_shapes_and_files(invoke, tmp_path):
    out = tmp_path / "out"
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", out, "--npy")
    assert result.exit_code == 0, result.output
    folder = out / "tutorial"
    names = sorted(p.name for p in folder.iterdir())
    assert names == sorted([
        "00-input.png", "00-input.npy",
        "01-conv-tutorial.png", "01-conv-tutorial.npy",
        "02-relu-tutorial.png", "02-relu-tutorial.npy",
        "03-pool-tutorial.png", "03-pool-tutorial.npy",
        "overview.png", "manifest.json"])
    conv = np.load(folder / "01-conv-tutorial.npy")
    pooled = np.load(folder / "03-pool-tutorial.npy")
    assert conv.shape == (5, 5)
    assert pooled.shape == (3, 3)
    assert conv.dtype == np.float32 and pooled.dtype == np.float32


def test_maps_equal_the_library_and_manifest_stats_match(invoke, tmp_path):
    k = "1,0,-1;2,0,-2;1,0,-1"
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", k, "-o", tmp_path, "--npy",
                    "--window", "2", "--stride", "2")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tutorial"
    weights = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float32)
    x = tutorial_image()
    expected = {"conv": conv2d(x, weights)}
    expected["relu"] = relu(expected["conv"])
    expected["pool"] = pool2d(expected["relu"], 2, 2)
    manifest = load_manifest(folder)
    assert manifest["kernels"][0]["name"] == "k1"
    assert manifest["kernels"][0]["weights"] == weights.tolist()
    by_stage = {m["stage"]: m for m in manifest["maps"]}
    for stage, array in expected.items():
        entry = by_stage[stage]
        saved = np.load(folder / entry["npy"])
        np.testing.assert_array_equal(saved, array)
        assert entry["shape"] == list(array.shape)
        assert entry["min"] == pytest.approx(float(array.min()))
        assert entry["max"] == pytest.approx(float(array.max()))
        assert entry["mean"] == pytest.approx(float(array.mean()), abs=1e-6)
    assert by_stage["conv"]["file"] == "01-conv-k1.png"
    assert by_stage["relu"]["file"] == "02-relu-k1.png"
    assert by_stage["pool"]["file"] == "03-pool-k1.png"


def test_manifest_has_the_contract_fields(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-o", tmp_path, "-k", "sobel-x")
    assert result.exit_code == 0, result.output
    m = load_manifest(tmp_path / "tutorial")
    assert m["cnnpipe"]
    assert m["input"]["width"] == 7 and m["input"]["height"] == 7
    assert "mode" in m["input"] and "path" in m["input"]
    for key in ("conv_stride", "padding", "pad_mode", "dilation", "flip", "activation", "leak",
                "pool", "window", "stride", "edge", "color"):
        assert key in m["params"], key
    assert m["params"]["stride"] == [2, 2]  # defaults to the window
    for entry in m["maps"]:
        for key in ("stage", "kernel", "file", "shape", "min", "max", "mean", "mapping"):
            assert key in entry


def test_activation_none_and_pool_none_skip_their_files(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path,
                    "--activation", "none", "--pool", "none", "--no-overview")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in (tmp_path / "tutorial").iterdir())
    assert names == ["00-input.png", "01-conv-tutorial.png", "manifest.json"]


def test_small_maps_are_printed_as_tables_on_stdout(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path)
    assert result.exit_code == 0
    assert "conv · tutorial · 5×5" in result.stdout
    assert "pool · tutorial · 3×3" in result.stdout
    assert "1 processed, 0 failed, 0 skipped" in result.stderr
    assert "processed" not in result.stdout


def test_photo_runs_with_default_detectors(invoke, tmp_path):
    result = invoke("run", SAMPLES / "chelsea.png", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    m = load_manifest(tmp_path / "chelsea")
    assert len(m["kernels"]) >= 3
    assert (m["input"]["width"], m["input"]["height"]) == (451, 300)
    for entry in m["maps"]:
        assert (tmp_path / "chelsea" / entry["file"]).is_file()
    assert (tmp_path / "chelsea" / "overview.png").is_file()


def test_json_prints_one_object_and_nothing_else(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path, "--json")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert len(lines) == 1
    obj = json.loads(lines[0])
    assert obj["status"] == "ok"
    assert obj["maps"] == load_manifest(tmp_path / "tutorial")["maps"]


def test_quiet_prints_nothing_on_stdout(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path, "-q")
    assert result.exit_code == 0
    assert result.stdout == ""


def test_no_input_is_a_usage_error(invoke):
    result = invoke("run")
    assert result.exit_code == 2
    assert "no input" in result.stderr


def test_unknown_kernel_is_a_usage_error_with_a_suggestion(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "sobelx", "-o", tmp_path)
    assert result.exit_code == 2
    assert "sobel-x" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "tutorial").exists()


@pytest.mark.parametrize("option", [["--stride", "0"], ["--window", "0"], ["--dilation", "0"],
                                    ["--conv-stride", "-1"]])
def test_zero_or_negative_sizes_are_usage_errors(invoke, tmp_path, option):
    result = invoke("run", SAMPLES / "tutorial.csv", "-o", tmp_path, *option)
    assert result.exit_code == 2
    assert option[0] in result.stderr


def test_missing_file_fails_with_one_line_and_exit_1(invoke, tmp_path):
    result = invoke("run", tmp_path / "nope.png", "-o", tmp_path / "out")
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if "nope.png" in line]
    assert len(errors) == 1
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "out" / "nope").exists()


def test_image_smaller_than_kernel_names_the_sizes(invoke, tmp_path):
    write_png(tmp_path / "tiny.png", np.zeros((2, 2)))
    result = invoke("run", tmp_path / "tiny.png", "-k", "sobel-x", "-o", tmp_path / "out")
    assert result.exit_code == 2  # every input failed because the options cannot apply to it
    assert "2x2" in result.stderr or "2×2" in result.stderr
    assert not (tmp_path / "out" / "tiny" / "manifest.json").exists()


def test_rerun_with_other_detectors_removes_stale_maps_but_not_user_files(invoke, tmp_path):
    src = SAMPLES / "tutorial.csv"
    assert invoke("run", src, "-k", "sobel-x", "-k", "sobel-y", "-o", tmp_path).exit_code == 0
    folder = tmp_path / "tutorial"
    (folder / "notes.txt").write_text("mine")
    assert invoke("run", src, "-k", "laplacian", "-o", tmp_path).exit_code == 0
    names = {p.name for p in folder.iterdir()}
    assert "01-conv-laplacian.png" in names
    assert not any("sobel" in n for n in names)
    assert "notes.txt" in names


def test_input_file_is_never_written(invoke, tmp_path):
    src = tmp_path / "in.csv"
    src.write_text((SAMPLES / "tutorial.csv").read_text())
    before = src.read_bytes()
    assert invoke("run", src, "-o", tmp_path / "out").exit_code == 0
    assert src.read_bytes() == before


def test_color_rgb_gives_colour_maps(invoke, tmp_path):
    from PIL import Image

    result = invoke("run", SAMPLES / "chelsea.png", "--color", "rgb", "-k", "sobel-x",
                    "-o", tmp_path, "--npy", "--no-overview")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "chelsea"
    conv = np.load(folder / "01-conv-sobel-x.npy")
    assert conv.shape == (3, 298, 449)
    with Image.open(folder / "01-conv-sobel-x.png") as im:
        assert im.mode == "RGB" and im.size == (449, 298)


def test_failed_input_leaves_no_folder_and_its_error_is_one_unwrapped_line(invoke, tmp_path):
    (tmp_path / "row.csv").write_text("1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20\n")
    out = tmp_path / "a-rather-long-output-folder-name-so-the-message-passes-80-columns"
    result = invoke("run", tmp_path / "row.csv", "-k", "sobel-x", "-o", out)
    assert result.exit_code == 2  # every input failed because the options cannot apply to it
    lines = [line for line in result.stderr.splitlines() if "row.csv" in line]
    assert len(lines) == 1
    assert "input 20x1" in lines[0] and "3x3" in lines[0]  # width first: 20 wide, 1 tall
    assert not (out / "row").exists()


def test_nothing_on_stdout_when_every_input_failed_or_was_skipped(invoke, tmp_path):
    # issue #17 point 7: the detectors table went to stdout even when nothing was processed
    notes = tmp_path / "notes.png"
    notes.write_text("a text file with an image's extension")
    failed = invoke("run", notes, "-o", tmp_path / "out")
    assert failed.exit_code == 1
    assert failed.stdout == ""
    assert "notes.png" in failed.stderr and "0 processed, 1 failed" in failed.stderr

    good = tmp_path / "t.csv"
    good.write_text((SAMPLES / "tutorial.csv").read_text())
    assert invoke("run", good, "-o", tmp_path / "out").exit_code == 0
    skipped = invoke("run", good, "-o", tmp_path / "out", "--skip-existing")
    assert skipped.exit_code == 0
    assert skipped.stdout == ""
    assert "0 processed, 0 failed, 1 skipped" in skipped.stderr
    # --json still prints its record for the skipped input, and only that
    as_json = invoke("run", good, "-o", tmp_path / "out", "--skip-existing", "--json")
    assert [json.loads(line)["status"] for line in as_json.stdout.splitlines()] == ["skipped"]


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


def test_dry_run_sniffs_each_file_and_ends_with_counts(invoke, tmp_path):
    # issue #17 point 6: `run DIR -n` listed notes.png (a text file) as if it would succeed
    photos = tmp_path / "photos"
    photos.mkdir()
    (photos / "notes.png").write_text("shopping list")
    (photos / "empty.png").write_bytes(b"")
    for name in ("a.csv", "b.csv", "c.csv"):
        (photos / name).write_text((SAMPLES / "tutorial.csv").read_text())
    out = tmp_path / "out"
    assert invoke("run", photos / "a.csv", "-o", out, "-k", "box", "-q").exit_code == 0

    plan = invoke("run", photos, "-n", "--skip-existing", "-o", out, "-k", "box")
    assert plan.exit_code == 0
    lines = plan.stdout.splitlines()
    assert f"{photos / 'notes.png'}: would fail: not an image: the file contains text" in lines
    assert f"{photos / 'empty.png'}: would fail: file is empty" in lines
    assert f"{photos / 'a.csv'} -> {out / 'a'}/ (up to date: skipped by --skip-existing)" in lines
    assert f"{photos / 'b.csv'} -> {out / 'b'}/" in lines
    assert plan.stderr.strip().splitlines()[-1] == (
        "cnnpipe: dry run: 2 to process, 1 not an image, 1 unreadable, 1 up to date; "
        "nothing written")
    assert sorted(p.name for p in out.iterdir()) == ["a"]  # nothing written

    # the real run agrees with the plan
    real = invoke("run", photos, "--skip-existing", "-o", out, "-k", "box", "--json")
    statuses = {json.loads(line)["input"]["path"]: json.loads(line)["status"]
                for line in real.stdout.splitlines()}
    as_json = invoke("run", photos, "-n", "--skip-existing", "-o", tmp_path / "out2", "-k",
                     "box", "--json")
    planned = {json.loads(line)["input"]["path"]: json.loads(line)["status"]
               for line in as_json.stdout.splitlines()}
    assert statuses[str(photos / "notes.png")] == planned[str(photos / "notes.png")] == "failed"
    assert statuses[str(photos / "b.csv")] == "ok" and planned[str(photos / "b.csv")] == "planned"
    assert statuses[str(photos / "a.csv")] == "skipped"
