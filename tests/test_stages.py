"""`cnnpipe conv | relu | pool`: shell pipes give exactly `run`'s maps; formats by extension."""


import io
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, SAMPLES, write_png
from reference import ref_conv2d, ref_pool2d

from cnnpipe.errors import ParameterError

TUTORIAL_K = np.array([[1, -1, -1], [-1, 1, -1], [-1, -1, 1]], dtype=np.float64)


def tutorial_image():
    return np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",", dtype=np.float64)


def small_photo(tmp_path):
    rng = np.random.default_rng(5)
    return write_png(tmp_path / "photo.png", rng.integers(0, 256, size=(23, 31)))


def _cli(*args, stdin=None):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "cnnpipe", *map(str, args)], input=stdin,
                          capture_output=True, env=env, check=False, timeout=60)


def test_pipe_chain_equals_run_byte_for_byte(invoke, tmp_path):
    photo = small_photo(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    python = [sys.executable, "-m", "cnnpipe"]
    out = tmp_path / "out.npy"
    conv = subprocess.Popen(python + ["conv", str(photo), "-k", "sobel-x", "-o", "-"],
                            stdout=subprocess.PIPE, env=env)
    relu = subprocess.Popen(python + ["relu", "-", "-o", "-"], stdin=conv.stdout,
                            stdout=subprocess.PIPE, env=env)
    conv.stdout.close()
    pool = subprocess.Popen(python + ["pool", "-", "--stride", "2", "-o", str(out)],
                            stdin=relu.stdout, env=env, stderr=subprocess.PIPE)
    relu.stdout.close()
    _, err = pool.communicate(timeout=60)
    assert (conv.wait(), relu.wait(), pool.returncode) == (0, 0, 0), err

    result = invoke("run", photo, "-k", "sobel-x", "--stride", "2", "--npy", "-q",
                    "-o", tmp_path / "run")
    assert result.exit_code == 0, result.output
    reference = tmp_path / "run" / "photo" / "03-pool-sobel-x.npy"
    assert np.array_equal(np.load(out), np.load(reference))
    assert out.read_bytes() == reference.read_bytes()


def test_each_stage_alone_equals_runs_map_of_that_stage(invoke, tmp_path):
    csv = SAMPLES / "tutorial.csv"
    assert invoke("run", csv, "-k", "tutorial", "--npy", "-q", "-o", tmp_path / "r").exit_code == 0
    folder = tmp_path / "r" / "tutorial"
    assert invoke("conv", csv, "-k", "tutorial", "-o", tmp_path / "c.npy").exit_code == 0
    assert invoke("relu", tmp_path / "c.npy", "-o", tmp_path / "a.npy").exit_code == 0
    assert invoke("pool", tmp_path / "a.npy", "-o", tmp_path / "p.npy").exit_code == 0
    for mine, theirs in [("c", "01-conv"), ("a", "02-relu"), ("p", "03-pool")]:
        path = tmp_path / f"{mine}.npy"
        assert path.read_bytes() == (folder / f"{theirs}-tutorial.npy").read_bytes(), mine


def test_stdout_npy_keeps_sign_and_matches_a_slow_loop(invoke):
    result = invoke("conv", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", "-")
    assert result.exit_code == 0
    conv = np.load(io.BytesIO(result.stdout_bytes))
    assert conv.dtype == np.float32
    np.testing.assert_array_equal(conv, ref_conv2d(tutorial_image(), TUTORIAL_K))
    assert conv.min() < 0  # the sign survives the pipe


def test_stdin_is_sniffed_npy_png_or_csv(invoke, tmp_path):
    image = tutorial_image()
    text = (SAMPLES / "tutorial.csv").read_bytes()
    from_csv = invoke("relu", "-", "-o", "-", input=text)
    assert from_csv.exit_code == 0
    np.testing.assert_array_equal(np.load(io.BytesIO(from_csv.stdout_bytes)), image)

    buffer = io.BytesIO()
    np.save(buffer, -image.astype(np.float32))
    from_npy = invoke("relu", "-", "--activation", "leaky", "--leak", "0.5", "-o", "-",
                      input=buffer.getvalue())
    np.testing.assert_array_equal(np.load(io.BytesIO(from_npy.stdout_bytes)), -0.5 * image)

    png = write_png(tmp_path / "x.png", image * 255)
    from_png = invoke("pool", "-", "--window", "7", "-o", "-", input=png.read_bytes())
    assert np.load(io.BytesIO(from_png.stdout_bytes)).tolist() == [[1.0]]


def test_a_stack_flows_through_every_stage_map_by_map(invoke, tmp_path):
    image = tutorial_image()
    kernels = {"tutorial": TUTORIAL_K, "flat": np.ones((3, 3))}
    assert invoke("conv", SAMPLES / "tutorial.csv", "-k", "tutorial", "-k",
                  "flat=1,1,1;1,1,1;1,1,1", "-o", tmp_path / "c.npy").exit_code == 0
    assert invoke("relu", tmp_path / "c.npy", "-o", tmp_path / "r.npy").exit_code == 0
    assert invoke("pool", tmp_path / "r.npy", "--pool", "mean", "-o",
                  tmp_path / "p.npy").exit_code == 0
    pooled = np.load(tmp_path / "p.npy")
    assert pooled.shape == (2, 3, 3)
    for index, weights in enumerate(kernels.values()):
        conv = ref_conv2d(image, weights)
        np.testing.assert_allclose(pooled[index], ref_pool2d(np.maximum(conv, 0), mode="mean"),
                                   rtol=1e-6)


def test_conv_on_a_stack_applies_each_detector_to_each_map_map_major(invoke, tmp_path):
    image = tutorial_image()
    stack = np.stack([image, 2 * image]).astype(np.float32)
    np.save(tmp_path / "s.npy", stack)
    result = invoke("conv", tmp_path / "s.npy", "-k", "tutorial", "-k", "box", "-o",
                    tmp_path / "c.npy")
    assert result.exit_code == 0, result.output
    conv = np.load(tmp_path / "c.npy")
    box = np.full((3, 3), 1 / 9)
    expected = [ref_conv2d(image, TUTORIAL_K), ref_conv2d(image, box),
                ref_conv2d(2 * image, TUTORIAL_K), ref_conv2d(2 * image, box)]
    assert conv.shape == (4, 5, 5)
    for got, want in zip(conv, expected, strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_csv_round_trip_is_exact(invoke, tmp_path):
    assert invoke("conv", SAMPLES / "tutorial.csv", "-k", "tutorial", "-o",
                  tmp_path / "c.csv").exit_code == 0
    assert invoke("relu", tmp_path / "c.csv", "-o", tmp_path / "r.csv").exit_code == 0
    relu = np.loadtxt(tmp_path / "r.csv", delimiter=",")
    np.testing.assert_array_equal(relu, np.maximum(ref_conv2d(tutorial_image(), TUTORIAL_K), 0))


def test_png_output_carries_its_mapping_and_reads_back_within_half_a_level(invoke, tmp_path):
    from PIL import Image

    from cnnpipe.pictures.mapping import from_pixels, mapping_from_png_text

    photo = small_photo(tmp_path)
    assert invoke("conv", photo, "-k", "sobel-y", "-o", tmp_path / "c.png").exit_code == 0
    assert invoke("conv", photo, "-k", "sobel-y", "-o", tmp_path / "c.npy").exit_code == 0
    with Image.open(tmp_path / "c.png") as im:
        mapping = mapping_from_png_text(im.text)
        pixels = np.asarray(im.convert("RGB") if im.mode not in ("L", "I;16") else im)
    values = np.load(tmp_path / "c.npy")
    back = from_pixels(pixels, mapping)
    half_level = (mapping["hi"] - mapping["lo"]) / mapping["levels"] / 2
    assert back.shape == values.shape
    assert np.max(np.abs(back - values)) <= half_level * 1.001


def test_a_stack_to_csv_is_refused_and_to_png_gives_one_file_per_map(invoke, tmp_path):
    args = ("conv", SAMPLES / "tutorial.csv", "-k", "tutorial", "-k", "box")
    refused = invoke(*args, "-o", tmp_path / "s.csv")
    assert refused.exit_code == 2
    assert "stack of 2 maps" in refused.stderr and ".npy" in refused.stderr
    assert not (tmp_path / "s.csv").exists()
    assert invoke(*args, "-o", tmp_path / "s.png").exit_code == 0
    assert sorted(p.name for p in tmp_path.glob("s*.png")) == ["s-1.png", "s-2.png"]


def test_binary_output_to_a_terminal_is_refused_with_a_hint():
    from cnnpipe.cli.stages import refuse_terminal, write_stage_output

    class Terminal(io.BytesIO):
        def isatty(self):
            return True

    terminal = Terminal()
    with pytest.raises(ParameterError, match="refusing to write binary .npy to a terminal"):
        write_stage_output(np.zeros((2, 2), np.float32), "-", "conv", stdout=terminal)
    assert terminal.getvalue() == b""
    refuse_terminal(io.BytesIO())  # a pipe or file is fine


def test_unknown_output_extension_and_empty_stdin_are_one_line_errors(invoke, tmp_path):
    bad = invoke("relu", SAMPLES / "tutorial.csv", "-o", tmp_path / "x.jpg")
    assert bad.exit_code == 2
    assert "x.jpg" in bad.stderr and ".npy" in bad.stderr
    empty = invoke("relu", "-", "-o", "-", input=b"")
    assert empty.exit_code == 1
    assert empty.stderr.count("\n") == 1 and "standard input is empty" in empty.stderr


def test_every_stage_command_has_help_with_examples():
    for stage in ("conv", "relu", "pool"):
        result = _cli(stage, "--help")
        assert result.returncode == 0
        assert b"Examples:" in result.stdout and b"-o" in result.stdout


def test_stage_writing_a_file_keeps_stdout_empty(invoke, tmp_path):
    result = invoke("pool", SAMPLES / "tutorial.csv", "-o", tmp_path / "p.npy")
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "p.npy" in result.stderr
    assert np.load(tmp_path / "p.npy").tolist() == [[1, 0, 1, 1], [0, 1, 1, 0],
                                                  [1, 1, 1, 0], [1, 0, 0, 1]]


def test_a_channel_detector_sums_over_a_stack_as_a_cnn_layer_does(invoke, tmp_path):
    image = tutorial_image()
    stack = np.stack([image, image[::-1]]).astype(np.float32)
    weights = np.stack([TUTORIAL_K, np.ones((3, 3))]).astype(np.float32)
    np.save(tmp_path / "s.npy", stack)
    np.save(tmp_path / "k.npy", weights)
    result = invoke("conv", tmp_path / "s.npy", "-k", tmp_path / "k.npy", "-o", tmp_path / "c.npy")
    assert result.exit_code == 0, result.output
    expected = ref_conv2d(image, TUTORIAL_K) + ref_conv2d(image[::-1], np.ones((3, 3)))
    np.testing.assert_allclose(np.load(tmp_path / "c.npy"), expected, rtol=1e-6)
    mixed = invoke("conv", tmp_path / "s.npy", "-k", tmp_path / "k.npy", "-k", "box", "-o", "-")
    assert mixed.exit_code == 2 and "separate" in mixed.stderr


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
