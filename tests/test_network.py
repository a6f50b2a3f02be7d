"""Stacked layers: the pipeline file, its errors, the maps of every layer, `run --pipeline`."""

import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png
from reference import ref_conv2d, ref_pool2d

from cnnpipe import kernels as K
from cnnpipe.errors import ParameterError
from cnnpipe.network import load_network, random_bank, run_network


def write(tmp_path, text, name="net.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(path, **kwargs):
    with pytest.raises(ParameterError) as info:
        load_network(path, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# --- SPEC size formulas, written out independently ----------------------------------------

def conv_size(n, k, s=1, pad=0, d=1):
    return (n + 2 * pad - d * (k - 1) - 1) // s + 1


def pool_size(n, k, s, edge):
    if edge == "drop":
        return (n - k) // s + 1
    out = -(-(n - k) // s) + 1
    if (out - 1) * s >= n:
        out -= 1
    return out


# --- reading the file ---------------------------------------------------------------------

def test_sample_pipeline_loads_and_chains_channels():
    net = load_network(SAMPLES / "net.toml")
    assert [layer.in_channels for layer in net.layers] == [1, 3, 4]
    assert [layer.out_channels for layer in net.layers] == [3, 4, 4]
    assert [k.name for k in net.layers[0].kernels] == ["sobel-x", "sobel-y", "edges"]
    assert all(k.weights.shape == (3, 3, 3) for k in net.layers[1].kernels)
    assert net.layers[2].mode == "per-map"


def test_multi_layer_shapes_follow_the_spec_formulas(tmp_path):
    path = write(tmp_path, """
[[layer]]
kernels = ["sobel-x", "laplacian"]
pool = "max"
window = 2
[[layer]]
random = 3
size = 5
conv_stride = 2
window = 3
stride = 2
edge = "drop"
[[layer]]
kernels = ["box"]
mode = "per-map"
padding = 1
dilation = 2
pool = "none"
""")
    net = load_network(path)
    h, w = 43, 51
    layers = run_network(np.random.default_rng(0).random((h, w)), net)
    h1, w1 = conv_size(h, 3), conv_size(w, 3)
    p1 = pool_size(h1, 2, 2, "keep"), pool_size(w1, 2, 2, "keep")
    assert layers[0].detectors[0].conv.shape == (h1, w1) == (41, 49)
    assert layers[0].output.shape == (2, *p1) == (2, 21, 25)
    c2 = conv_size(p1[0], 5, 2), conv_size(p1[1], 5, 2)
    p2 = pool_size(c2[0], 3, 2, "drop"), pool_size(c2[1], 3, 2, "drop")
    assert layers[1].detectors[0].conv.shape == c2 == (9, 11)
    assert layers[1].output.shape == (3, *p2) == (3, 4, 5)
    c3 = conv_size(p2[0], 3, 1, pad=1, d=2), conv_size(p2[1], 3, 1, pad=1, d=2)
    assert layers[2].output.shape == (3, *c3) == (3, 2, 3)
    assert [d.kernel.name for d in layers[2].detectors] == ["box-m1", "box-m2", "box-m3"]


def test_full_mode_layer_sums_over_every_previous_map(tmp_path):
    path = write(tmp_path, """
[[layer]]
kernels = ["sobel-x", "sobel-y"]
[[layer]]
random = 2
seed = 7
pool = "mean"
""")
    net = load_network(path)
    image = np.random.default_rng(3).random((12, 13))
    layers = run_network(image, net)
    prev = [ref_pool2d(np.maximum(ref_conv2d(image, K.BUILTIN[n].weights), 0), 2)
            for n in ("sobel-x", "sobel-y")]
    np.testing.assert_allclose(layers[0].output, np.stack(prev), rtol=1e-5, atol=1e-5)
    for det, k in zip(layers[1].detectors, net.layers[1].kernels, strict=True):
        conv = sum(ref_conv2d(prev[c], k.weights[c]) for c in range(2))
        np.testing.assert_allclose(det.conv, conv, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(det.pool, ref_pool2d(np.maximum(conv, 0), 2, mode="mean"),
                                   rtol=1e-4, atol=1e-5)


def test_per_map_mode_runs_each_detector_on_each_map(tmp_path):
    path = write(tmp_path, """
[[layer]]
kernels = ["identity", "box"]
pool = "none"
activation = "none"
[[layer]]
kernels = ["k=1,-1"]
mode = "per-map"
pool = "none"
activation = "none"
""")
    image = np.arange(30, dtype=float).reshape(5, 6) ** 1.5
    layers = run_network(image, load_network(path))
    assert [d.kernel.name for d in layers[1].detectors] == ["k-m1", "k-m2"]
    for j, det in enumerate(layers[1].detectors):
        np.testing.assert_allclose(det.conv, ref_conv2d(layers[0].output[j], [[1, -1]]),
                                   rtol=1e-5)


def test_random_multi_channel_detectors_are_he_uniform_and_reproducible():
    one = random_bank(4, 1, (3, 3), 5)
    assert [k.name for k in one] == ["random-1", "random-2", "random-3", "random-4"]
    # with one channel they are exactly the command line's --random 4 --seed 5
    for a, b in zip(one, K.random_kernels(4, 5, 3), strict=True):
        np.testing.assert_array_equal(a.weights, b.weights)
    bank = random_bank(6, 4, (3, 2), 1)
    stacked = np.stack([k.weights for k in bank])
    assert stacked.shape == (6, 4, 3, 2)
    bound = math.sqrt(6 / (4 * 3 * 2))
    assert np.abs(stacked).max() <= bound and np.abs(stacked).max() > 0.8 * bound
    again = np.stack([k.weights for k in random_bank(6, 4, (3, 2), 1)])
    np.testing.assert_array_equal(stacked, again)
    other = np.stack([k.weights for k in random_bank(6, 4, (3, 2), 2)])
    assert not np.array_equal(stacked, other)


def test_random_seed_defaults_to_the_layer_number(tmp_path):
    path = write(tmp_path, "[[layer]]\nrandom = 2\n[[layer]]\nrandom = 2\n[[layer]]\nrandom = 1\n"
                           "seed = 2\nmode = \"per-map\"\n")
    net = load_network(path)
    expected = np.random.Generator(np.random.PCG64(2)).uniform(
        -math.sqrt(6 / 18), math.sqrt(6 / 18), (2, 2, 3, 3))
    np.testing.assert_allclose(np.stack([k.weights for k in net.layers[1].kernels]), expected,
                               rtol=1e-6)
    np.testing.assert_array_equal(net.layers[2].kernels[0].weights,
                                  K.random_kernels(1, 2, 3)[0].weights)


def test_multi_channel_npy_files_and_weight_banks(tmp_path):
    np.save(tmp_path / "three.npy", np.ones((3, 2, 2)))
    bank = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2)
    np.save(tmp_path / "bank.npy", bank)
    path = write(tmp_path, """
[[layer]]
kernels = ["sobel-x", "sobel-y", "laplacian"]
[[layer]]
kernels = ["three.npy"]
weights = "bank.npy"
""")
    net = load_network(path)
    names = [k.name for k in net.layers[1].kernels]
    assert names == ["three", "bank-1", "bank-2"]
    np.testing.assert_array_equal(net.layers[1].kernels[2].weights, bank[1])
    assert run_network(np.ones((12, 12)), net)[1].output.shape[0] == 3


def test_rgb_input_gives_layer_one_three_channels(tmp_path):
    np.save(tmp_path / "rgb.npy", np.ones((3, 3, 3)) / 27)
    path = write(tmp_path, '[[layer]]\nkernels = ["rgb.npy"]\n')
    assert load_network(path, in_channels=3).layers[0].out_channels == 1
    assert "has 3 channels but the layer sees 1 map (the input image)" in error_of(path)


# --- every error a pipeline file can have --------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("[[layer]]\nkernels = [\"box\"]\n[[layer]]\nkernels = [\"box\"]\nmode = \"per-map\"\n"
     "strid = 2\n", "net.toml: layer 2: unknown key 'strid'; did you mean 'stride'?"),
    ("[[layer]]\nkernels = [\"box\"]\nstride = 0\n",
     "net.toml: layer 1: `stride` must be >= 1 (got 0)"),
    ("[[layer]]\nkernels = \"sobel-x\"\n",
     "net.toml: layer 1: `kernels` must be a list of kernel specs (got a string 'sobel-x')"),
    ("[[layer]]\nkernels = [\"box\"]\nflip = \"yes\"\n",
     "net.toml: layer 1: `flip` must be true or false (got 'yes')"),
    ("[[layer]]\nkernels = [\"box\"]\nleak = \"a lot\"\n",
     "net.toml: layer 1: `leak` must be a finite number (got 'a lot')"),
    ("[[layer]]\nkernels = [\"box\"]\nwindow = 2.5\n",
     "net.toml: layer 1: `window` must be an int or a pair of ints such as 2 or 2x3 "
     "(got 2.5)"),
    ("[[layer]]\nkernels = [\"box\", 3]\n",
     "net.toml: layer 1: `kernels` item 2 must be a string kernel spec (got an integer 3)"),
    ("[[layer]]\nkernels = [\"box\"]\nactivation = \"rleu\"\n",
     "net.toml: layer 1: `activation` must be one of relu, leaky, none (got 'rleu'); "
     "did you mean 'relu'?"),
    ("[[layer]]\nkernels = [\"box\"]\npadding = \"wide\"\n",
     "net.toml: layer 1: `padding` must be valid, same, full, an int N, or four ints "
     "top,bottom,left,right (got 'wide')"),
    ("[[layer]]\nkernels = [\"sobel-q\"]\n",
     "net.toml: layer 1: `kernels`: unknown kernel 'sobel-q'; did you mean"),
    ("[[layer]]\nrandom = -1\n", "net.toml: layer 1: `random` must be >= 0 (got -1)"),
    ("[[layer]]\nkernels = [\"box\"]\nseed = 3\n",
     "net.toml: layer 1: `seed` is set but `random` is 0"),
    ("[[layer]]\nmode = \"full\"\n",
     "net.toml: layer 1: no detectors; give `kernels`, `random` or `weights`"),
    ("[[layer]]\nkernels = [\"box\"]\nmode = \"each\"\n",
     "net.toml: layer 1: `mode` must be one of full, per-map (got 'each')"),
    ("description = \"x\"\n", "net.toml: no [[layer]] tables; a pipeline needs at least one"),
    ("", "net.toml: no [[layer]] tables"),
    ("layer = 3\n", "net.toml: `layer` must be an array of tables written [[layer]] "
                    "(got an integer)"),
    ("layers = []\n", "net.toml: unknown top-level key 'layers'; did you mean 'layer'?"),
    ("[[layer]]\nkernels = [\"sobel-x\", \"gaussian-5x5\"]\n[[layer]]\nrandom = 1\n",
     "net.toml: layer 1: detectors of different sizes (3x3, 5x5) give maps of different sizes"),
    ("[[layer]]\nkernels = [\"sobel-x\", \"sobel-y\"]\n[[layer]]\nkernels = [\"box\"]\n",
     "net.toml: layer 2: kernel 'box' is 2-D but the layer sees 2 maps (from layer 1); "
     "set mode = \"per-map\""),
    ("[[layer]]\nrandom = 20\n[[layer]]\nrandom = 20\nmode = \"per-map\"\n",
     "net.toml: layer 2: makes 400 maps; the limit is 256"),
])
def test_pipeline_file_errors_name_the_layer_and_the_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    message = error_of(path)
    assert message.startswith(str(path))
    assert expected.replace("net.toml", str(path)) in message


def test_channel_counts_that_do_not_chain_name_both_counts(tmp_path):
    np.save(tmp_path / "two.npy", np.ones((2, 3, 3)))
    path = write(tmp_path, """
[[layer]]
kernels = ["sobel-x", "sobel-y", "laplacian"]
[[layer]]
kernels = ["two.npy"]
""")
    assert error_of(path) == (f"{path}: layer 2: kernel 'two' has 2 channels but the layer "
                              "sees 3 maps (from layer 1)")
    np.save(tmp_path / "bank.npy", np.ones((4, 2, 3, 3)))
    path = write(tmp_path, '[[layer]]\nkernels = ["box", "sharpen", "outline"]\n'
                           '[[layer]]\nweights = "bank.npy"\n')
    assert "`weights` file 'bank.npy' has 2 channels but the layer sees 3 maps" in error_of(path)


def test_toml_syntax_error_is_one_line_with_file_and_line(tmp_path):
    path = write(tmp_path, "[[layer]]\nkernels = [\"box\"]\nwindow = = 2\n")
    message = error_of(path)
    assert message.startswith(f"{path}: TOML syntax error:")
    assert "line 3" in message


def test_missing_pipeline_file(tmp_path):
    assert error_of(tmp_path / "nope.toml") == (
        f"pipeline file '{tmp_path / 'nope.toml'}' not found; check the path")


def test_a_map_too_small_for_a_later_layer_names_that_layer(tmp_path):
    path = write(tmp_path, "[[layer]]\nkernels = [\"box\"]\n[[layer]]\nrandom = 1\nsize = 9\n")
    with pytest.raises(ParameterError, match=r"^layer 2: "):
        run_network(np.ones((10, 10)), load_network(path))


# --- cnnpipe run --pipeline ------------------------------------------------------------------

def small_image(tmp_path, name="img.png", seed=0):
    pixels = np.random.default_rng(seed).integers(0, 256, (20, 24))
    return write_png(tmp_path / name, pixels)


def test_run_pipeline_writes_every_layer_and_one_manifest(invoke, tmp_path):
    image = small_image(tmp_path)
    out = tmp_path / "out"
    result = invoke("run", image, "--pipeline", SAMPLES / "net.toml", "-o", out, "--npy", "-q")
    assert result.exit_code == 0, result.output
    folder = out / "img"
    manifest = load_manifest(folder)
    assert [entry["layer"] for entry in manifest["layers"]] == [1, 2, 3]
    names = {p.name for p in folder.iterdir()}
    assert {"00-input.png", "L1-01-conv-sobel-x.png", "L1-02-relu-edges.png",
            "L1-03-pool-sobel-y.png", "L2-01-conv-random-4.png", "L3-03-pool-box-m4.png",
            "L3-03-pool-box-m4.npy", "L1-overview.png", "L2-overview.png", "L3-overview.png",
            "manifest.json"} <= names
    assert set(manifest["files"]) == names
    layer2 = manifest["layers"][1]
    assert layer2["in_channels"] == 3 and layer2["out_channels"] == 4
    assert layer2["kernels"][0]["shape"] == [3, 3, 3]
    assert layer2["params"]["pool"] == "max"
    # layer 1 keeps the size ("same"), pools to 10x12; layer 2 (valid 3x3) gives 8x10 -> 4x5
    assert layer2["maps"][0]["shape"] == [8, 10]
    assert layer2["output_shape"] == [4, 4, 5]
    saved = np.load(folder / "L2-03-pool-random-1.npy")
    assert list(saved.shape) == [4, 5]
    entry = next(m for m in manifest["maps"] if m["file"] == "L2-03-pool-random-1.png")
    assert entry["max"] == pytest.approx(float(saved.max()))


def test_run_pipeline_values_match_the_library(invoke, tmp_path):
    image = small_image(tmp_path)
    out = tmp_path / "out"
    assert invoke("run", image, "--pipeline", SAMPLES / "net.toml", "-o", out, "--npy",
                  "-q").exit_code == 0
    from cnnpipe import io

    layers = run_network(io.load_image(image).array, load_network(SAMPLES / "net.toml"))
    np.testing.assert_array_equal(np.load(out / "img" / "L3-03-pool-box-m2.npy"),
                                  layers[2].detectors[1].pool)


def test_run_pipeline_refuses_layer_options(invoke, tmp_path):
    image = small_image(tmp_path)
    for extra in (["-k", "sobel-x"], ["--random", "2"], ["--stride", "3"], ["--pool", "mean"]):
        result = invoke("run", image, "--pipeline", SAMPLES / "net.toml", "-o", tmp_path, *extra)
        assert result.exit_code == 2
        assert "cannot be combined with --pipeline" in result.output
        assert not (tmp_path / "img").exists()


def test_run_pipeline_file_error_exits_2_with_one_line(invoke, tmp_path):
    path = write(tmp_path, "[[layer]]\nkernels = [\"box\"]\nstrid = 2\n")
    result = invoke("run", small_image(tmp_path), "--pipeline", path, "-o", tmp_path / "o")
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"cnnpipe: {path}: layer 1: unknown key 'strid'; "
                                     "did you mean 'stride'?")


def test_run_pipeline_json_dry_run_and_batch(invoke, tmp_path):
    folder = tmp_path / "pics"
    folder.mkdir()
    small_image(folder, "a.png", 1)
    small_image(folder, "b.png", 2)
    out = tmp_path / "out"
    dry = invoke("run", folder, "--pipeline", SAMPLES / "net.toml", "-o", out, "--dry-run")
    assert dry.exit_code == 0 and "L3-overview.png" in dry.stdout and not out.exists()
    result = invoke("run", folder, "--pipeline", SAMPLES / "net.toml", "-o", out, "-j", "2",
                    "--json")
    assert result.exit_code == 0
    reports = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["status"] for r in reports] == ["ok", "ok"]
    assert all(len(r["layers"]) == 3 for r in reports)
    again = invoke("run", folder, "--pipeline", SAMPLES / "net.toml", "-o", out,
                   "--skip-existing", "--json")
    assert [json.loads(line)["status"] for line in again.stdout.splitlines()] == [
        "skipped", "skipped"]
    changed = write(tmp_path, Path(SAMPLES / "net.toml").read_text().replace("seed = 1",
                                                                               "seed = 2"))
    third = invoke("run", folder, "--pipeline", changed, "-o", out, "--skip-existing", "--json")
    assert [json.loads(line)["status"] for line in third.stdout.splitlines()] == ["ok", "ok"]


def test_a_layer_too_small_for_its_kernel_gives_the_pipeline_file_hint(invoke, tmp_path):
    (tmp_path / "small.csv").write_text("1,2,3\n4,5,6\n")
    net = tmp_path / "net.toml"
    net.write_text('[[layer]]\nkernels = ["box"]\n')
    result = invoke("run", tmp_path / "small.csv", "--pipeline", net, "-o", tmp_path / "out")
    assert result.exit_code == 2  # every input failed because the options cannot apply to it
    # the pipeline file's words, not the command line's: no message patching in between
    assert 'layer 1:' in result.stderr and '`padding="same"`' in result.stderr
    assert "--padding" not in result.stderr


# --- one writer: a stack of layers is written exactly as one layer is -------------------

TWO_LAYERS = ('[[layer]]\nkernels = ["sobel-x", "sobel-y"]\n'
              '[[layer]]\nkernels = ["box"]\nmode = "per-map"\n')


def test_run_pipeline_provenance_is_written_for_every_layer(invoke, tmp_path):
    net = write(tmp_path, TWO_LAYERS)
    out = tmp_path / "out"
    result = invoke("run", small_image(tmp_path), "--pipeline", net, "-o", out, "--npy",
                    "--provenance", "-q")
    assert result.exit_code == 0, result.output
    folder = out / "img"
    manifest = load_manifest(folder)
    assert manifest["params"]["provenance"] is True
    pools = [m for m in manifest["maps"] if m["stage"] == "pool"]
    assert [m["file"] for m in pools] == ["L1-03-pool-sobel-x.png", "L1-03-pool-sobel-y.png",
                                          "L2-03-pool-box-m1.png", "L2-03-pool-box-m2.png"]
    for entry in pools:
        prov = entry["provenance"]
        relu = np.load(folder / entry["npy"].replace("03-pool", "02-relu"))
        pooled = np.load(folder / entry["npy"])
        np.testing.assert_array_equal(np.array(prov["value"], dtype=np.float32), pooled)
        for i in range(pooled.shape[0]):
            for j in range(pooled.shape[1]):
                window = relu[2 * i:2 * i + 2, 2 * j:2 * j + 2]  # 2x2, stride 2, edge keep
                assert prov["count"][i][j] == window.size
                assert relu[prov["winner_row"][i][j], prov["winner_col"][i][j]] == window.max()


def test_run_pipeline_removes_leftover_temp_files_and_nothing_else(invoke, tmp_path):
    net = write(tmp_path, TWO_LAYERS)
    folder = tmp_path / "out" / "img"
    folder.mkdir(parents=True)
    (folder / ".L2-01-conv-box-m1.png.cnnpipe-tmp-0123abcd").write_bytes(b"\x89PNG half")
    (folder / ".manifest.json.cnnpipe-tmp-deadbeef").write_bytes(b"{")
    (folder / "my-notes.txt").write_text("mine")
    result = invoke("run", small_image(tmp_path), "--pipeline", net, "-o", tmp_path / "out",
                    "-q")
    assert result.exit_code == 0, result.output
    names = set(os.listdir(folder))
    assert not any("cnnpipe-tmp" in n for n in names)
    assert names == set(load_manifest(folder)["files"]) | {"my-notes.txt"}


@pytest.mark.parametrize("stacked, stop_at", [(False, 5), (True, 8)],
                         ids=["one-layer", "two-layers"])
def test_an_interrupt_swallowed_mid_run_stops_it_and_leaves_no_file(tmp_path, monkeypatch,
                                                                    stacked, stop_at):
    # A Ctrl-C that landed in a __del__ is only remembered; the writer must still stop at
    # its next check (one layer: in the last detector; two layers: in layer 2, after its
    # first conv map) and remove everything this run wrote.
    from cnnpipe import interrupt, io
    from cnnpipe.layer import Params
    from cnnpipe.outputs import RunConfig, write_outputs
    from cnnpipe.pictures import mapping

    net = load_network(write(tmp_path, TWO_LAYERS)) if stacked else None
    config = RunConfig(params=Params(), kernels=(K.kernel("sobel-x"), K.kernel("sobel-y")),
                       network=net, threads=1)
    written_maps = []
    real_png_text = mapping.png_text

    def png_text(m):
        written_maps.append(m)
        if len(written_maps) == stop_at:
            interrupt._pending.append(KeyboardInterrupt())
        return real_png_text(m)

    monkeypatch.setattr(mapping, "png_text", png_text)
    folder = tmp_path / "out" / "img"
    try:
        with pytest.raises(KeyboardInterrupt):
            write_outputs(io.load_image(small_image(tmp_path)), config, folder)
    finally:
        interrupt._pending.clear()
    assert not folder.exists()


def test_a_pipeline_input_that_fails_in_layer_2_leaves_no_files(invoke, tmp_path):
    # Layer 1's maps and sheet stayed behind in a folder without a manifest.
    tiny = write_png(tmp_path / "tiny.png", np.arange(16).reshape(4, 4) * 16)
    out = tmp_path / "out"
    result = invoke("run", tiny, "--pipeline", SAMPLES / "net.toml", "-o", out)
    assert result.exit_code != 0 and "layer 2" in result.stderr
    assert not (out / "tiny").exists() or not any((out / "tiny").iterdir())
