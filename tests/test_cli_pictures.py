"""Pictures end to end through `cnnpipe run`: colour maps, scaling, 16 bits, rgb, the overview.

Every map PNG must turn back into its values, through the manifest and through
the PNG's own text chunk; the numbers are checked against slow loops.
"""

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png
from PIL import Image
from reference import ref_conv2d, ref_pool2d

from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.mapping import from_pixels, values_from_png

SOBEL_X = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
SOBEL_X_SPEC = "1,0,-1;2,0,-2;1,0,-1"


def photo(h=70, w=80, seed=0):
    """A small 'photo': smooth gradients plus noise, uint8 RGB (big enough to be clipped)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    base = np.stack([xx / w, yy / h, (xx + yy) / (h + w)], axis=-1) * 200
    return np.clip(base + rng.normal(0, 20, size=(h, w, 3)), 0, 255).astype(np.uint8)


def gray_of(rgb8):
    """The luminance cnnpipe uses for gray (BT.601), as values in [0, 1]."""
    r, g, b = (rgb8[..., c].astype(np.float64) for c in range(3))
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def pixels_of(path):
    """The colours a viewer shows (a palette PNG's indices looked up), and the PNG mode."""
    with Image.open(path) as im:
        shown = im.convert("RGB") if im.mode == "P" else im
        return np.asarray(shown), im.mode


def one_level(mapping):
    return (mapping["hi"] - mapping["lo"]) / mapping["levels"]


def run_ok(invoke, *args):
    result = invoke("run", *args, "-q")
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def photo_png(tmp_path):
    return write_png(tmp_path / "cat.png", photo())


def check_every_map_round_trips(folder, manifest):
    """PNG -> values through the manifest and through the text chunk, within one level."""
    assert manifest["maps"]
    for entry in manifest["maps"]:
        exact = np.load(folder / entry["npy"])
        m = entry["mapping"]
        pixels, _ = pixels_of(folder / entry["file"])
        via_manifest = from_pixels(pixels, m)
        via_chunk = values_from_png(folder / entry["file"])
        inside = np.clip(exact, m["lo"], m["hi"])  # --scale fixed clips by design
        assert via_manifest.shape == exact.shape, entry["file"]
        assert np.max(np.abs(via_manifest - inside)) <= one_level(m) + 1e-6, entry["file"]
        # through the PNG itself (palette indices where a colour map was used): half a level
        assert np.max(np.abs(via_chunk - inside)) <= one_level(m) / 2 + 1e-6, entry["file"]
        # clipped cells are marked: every cell beyond the range is masked, and it is counted
        masked = values_from_png(folder / entry["file"], masked=True)
        beyond = (exact < m["lo"]) | (exact > m["hi"])
        assert not (beyond & ~np.ma.getmaskarray(masked)).any(), entry["file"]
        assert m["clipped"]["below"] + m["clipped"]["above"] == int(beyond.sum()), entry["file"]


@pytest.mark.parametrize("cmap", ["auto", "gray", "viridis", "vik", "coolwarm"])
def test_every_png_turns_back_into_its_values(invoke, tmp_path, photo_png, cmap):
    out = tmp_path / "out"
    run_ok(invoke, photo_png, "-k", "sobel-x", "-k", "gaussian", "-o", out, "--npy",
           "--cmap", cmap)
    folder = out / "cat"
    manifest = load_manifest(folder)
    check_every_map_round_trips(folder, manifest)
    for entry in manifest["maps"]:
        _, mode = pixels_of(folder / entry["file"])
        expected_gray = cmap == "gray" or entry["stage"] == "input"  # input: always grey
        assert mode == ("L" if expected_gray else "P"), entry["file"]  # colour maps: palette
        if mode == "P":  # the palette PNG's own indices decode exactly, to half a level
            with Image.open(folder / entry["file"]) as im:
                index = np.asarray(im)
            exact = np.load(folder / entry["npy"])
            inside = np.clip(exact, entry["mapping"]["lo"], entry["mapping"]["hi"])
            half = one_level(entry["mapping"]) / 2
            assert np.max(np.abs(from_pixels(index, entry["mapping"]) - inside)) <= half + 1e-6


def test_gray_pngs_decode_with_their_clipped_cells_marked(invoke, tmp_path, photo_png):
    # one decoder for every PNG: a gray map's clipped cells are masked like a colour map's
    run_ok(invoke, photo_png, "-k", "sobel-x", "-o", tmp_path, "--npy", "--cmap", "gray")
    clipped = 0
    for entry in load_manifest(tmp_path / "cat")["maps"]:
        m = entry["mapping"]
        exact = np.load(tmp_path / "cat" / entry["npy"])
        values = values_from_png(tmp_path / "cat" / entry["file"], masked=True)
        beyond = (exact < m["lo"]) | (exact > m["hi"])
        assert np.array_equal(np.ma.getmaskarray(values) & beyond, beyond), entry["file"]
        known = ~np.ma.getmaskarray(values)
        assert np.max(np.abs(values.data[known] - exact[known])) <= one_level(m) / 2 + 1e-6
        clipped += int(beyond.sum())
    assert clipped > 0  # the robust default range clipped some cells of this photo


def test_a_png_not_written_by_cnnpipe_is_refused_in_one_line(tmp_path):
    from cnnpipe.errors import InputError

    path = write_png(tmp_path / "plain.png", photo())
    with pytest.raises(InputError, match="no 'cnnpipe:mapping' text chunk"):
        values_from_png(path)


def test_default_colour_maps_and_colours_of_the_tutorial(invoke, tmp_path):
    run_ok(invoke, SAMPLES / "tutorial.csv", "-k", "tutorial", "-o", tmp_path, "--npy")
    folder = tmp_path / "tutorial"
    maps = {e["stage"]: e for e in load_manifest(folder)["maps"]}
    assert maps["input"]["mapping"]["cmap"] == "gray"
    assert maps["conv"]["mapping"]["cmap"] == "vik"  # signed: diverging, zero in the middle
    assert maps["relu"]["mapping"]["cmap"] == "viridis"
    assert maps["pool"]["mapping"]["cmap"] == "viridis"

    conv = np.load(folder / "01-conv-tutorial.npy")
    m = maps["conv"]["mapping"]
    big = float(np.abs(conv).max())
    assert (m["lo"], m["hi"]) == (-big, big)
    pixels, _ = pixels_of(folder / "01-conv-tutorial.png")
    table = lut("vik")
    for (r, c), v in np.ndenumerate(conv):
        index = int(np.rint((v + big) / (2 * big) * 255))  # written out by hand
        assert tuple(pixels[r, c]) == tuple(table[index])


def test_scale_detector_shares_one_range_so_equal_values_look_equal(invoke, tmp_path, photo_png):
    run_ok(invoke, photo_png, "-k", "sobel-x", "-o", tmp_path, "--npy", "--scale", "detector",
           "--cmap", "gray")
    folder = tmp_path / "cat"
    maps = {e["stage"]: e for e in load_manifest(folder)["maps"]}
    conv = np.load(folder / "01-conv-sobel-x.npy")
    big = float(np.abs(conv).max())
    for stage in ("conv", "relu", "pool"):
        m = maps[stage]["mapping"]
        assert (m["lo"], m["hi"], m["scale"]) == (-big, big, "detector")
    # Max pooling picks ReLU values, so a pooled cell is exactly as bright as its winner.
    relu_px, _ = pixels_of(folder / "02-relu-sobel-x.png")
    pool_px, _ = pixels_of(folder / "03-pool-sobel-x.png")
    np.testing.assert_array_equal(pool_px, ref_pool2d(relu_px.astype(float), 2).astype(np.uint8))
    check_every_map_round_trips(folder, load_manifest(folder))


def test_scale_fixed_uses_the_given_range_and_clips(invoke, tmp_path, photo_png):
    run_ok(invoke, photo_png, "-k", "sobel-x", "-o", tmp_path, "--npy", "--scale",
           "fixed:-0.5,0.5", "--cmap", "gray")
    folder = tmp_path / "cat"
    conv = np.load(folder / "01-conv-sobel-x.npy")
    m = load_manifest(folder)["maps"][1]["mapping"]
    assert (m["lo"], m["hi"], m["scale"]) == (-0.5, 0.5, "fixed")
    pixels, _ = pixels_of(folder / "01-conv-sobel-x.png")
    assert (pixels[conv >= 0.5] == 255).all() and (pixels[conv <= -0.5] == 0).all()
    check_every_map_round_trips(folder, load_manifest(folder))


def test_bad_scale_and_cmap_are_usage_errors(invoke, tmp_path, photo_png):
    for args in (["--scale", "fixed:1,0"], ["--scale", "wide"], ["--cmap", "rainbow"]):
        result = invoke("run", photo_png, "-o", tmp_path, *args)
        assert result.exit_code == 2, args
        assert not (tmp_path / "cat").exists()


def test_sixteen_bit_maps_are_finer_and_round_trip(invoke, tmp_path, photo_png):
    run_ok(invoke, photo_png, "-k", "sobel-x", "-o", tmp_path, "--npy", "--bit-depth", "16")
    folder = tmp_path / "cat"
    manifest = load_manifest(folder)
    for entry in manifest["maps"]:
        m = entry["mapping"]
        assert (m["levels"], m["cmap"]) == (65535, "gray")
        pixels, mode = pixels_of(folder / entry["file"])
        assert mode.startswith("I;16") or mode == "I"
        exact = np.clip(np.load(folder / entry["npy"]), m["lo"], m["hi"])
        values = values_from_png(folder / entry["file"])
        assert np.max(np.abs(values - exact)) <= one_level(m) + 1e-6
        beyond = (exact < m["lo"]) | (exact > m["hi"])  # 16-bit clipped cells are marked too
        assert not (beyond & ~np.ma.getmaskarray(values_from_png(folder / entry["file"],
                                                                 masked=True))).any()


@pytest.mark.parametrize("args", [["--cmap", "viridis"], ["--color", "rgb"]])
def test_sixteen_bits_with_colour_is_a_usage_error(invoke, tmp_path, photo_png, args):
    result = invoke("run", photo_png, "-o", tmp_path, "--bit-depth", "16", *args)
    assert result.exit_code == 2
    assert "--bit-depth 16" in result.stderr


def test_rgb_runs_every_detector_on_each_channel(invoke, tmp_path):
    rgb8 = photo(30, 40, seed=3)
    path = write_png(tmp_path / "cat.png", rgb8)
    out = tmp_path / "out"
    run_ok(invoke, path, "-k", f"sx={SOBEL_X_SPEC}", "-o", out, "--npy", "--color", "rgb")
    folder = out / "cat"
    manifest = load_manifest(folder)
    maps = {e["stage"]: e for e in manifest["maps"]}
    expected_conv = np.stack([ref_conv2d(rgb8[..., c] / 255, SOBEL_X) for c in range(3)])
    expected_relu = np.maximum(expected_conv, 0)
    expected_pool = np.stack([ref_pool2d(ch, 2) for ch in expected_relu])
    for stage, expected in (("conv", expected_conv), ("relu", expected_relu),
                            ("pool", expected_pool)):
        entry = maps[stage]
        assert entry["shape"] == list(expected.shape)
        np.testing.assert_allclose(np.load(folder / entry["npy"]), expected, atol=1e-5)
        pixels, mode = pixels_of(folder / entry["file"])
        assert mode == "RGB" and pixels.shape == (*expected.shape[1:], 3)
        assert entry["mapping"]["channels"] == "rgb"
        values = values_from_png(folder / entry["file"])
        assert values.shape == expected.shape
        m = entry["mapping"]
        inside = np.clip(expected, m["lo"], m["hi"])
        assert np.max(np.abs(values - inside)) <= one_level(m) + 1e-5
    input_px, mode = pixels_of(folder / "00-input.png")
    assert mode == "RGB"
    np.testing.assert_array_equal(input_px, rgb8)


def test_rgb_overview_shows_colour_and_gray_overview_does_not(invoke, tmp_path, photo_png):
    for color in ("gray", "rgb"):
        run_ok(invoke, photo_png, "-k", "sobel-x", "-o", tmp_path / color, "--cmap", "gray",
               "--color", color)
        sheet = np.asarray(Image.open(tmp_path / color / "cat" / "overview.png").convert("RGB"))
        spread = sheet.max(axis=2).astype(int) - sheet.min(axis=2)
        coloured = np.count_nonzero(spread > 30)
        if color == "gray":
            # gray maps, gray input, gray bars, grey ink: only the kernel's picture has colour
            from cnnpipe.pictures.kernel_picture import kernel_image

            kw, kh = kernel_image(SOBEL_X).size
            assert 0 < coloured <= kw * kh
        else:
            assert coloured > 2000  # the photo and its colour maps


def test_multichannel_npy_detector_sums_over_channels(invoke, tmp_path):
    rgb8 = photo(20, 24, seed=5)
    path = write_png(tmp_path / "cat.png", rgb8)
    weights = np.random.default_rng(1).normal(size=(3, 3, 3)).astype(np.float32)
    np.save(tmp_path / "deep.npy", weights)
    out = tmp_path / "out"
    run_ok(invoke, path, "-k", tmp_path / "deep.npy", "-o", out, "--npy", "--color", "rgb")
    folder = out / "cat"
    entry = {e["stage"]: e for e in load_manifest(folder)["maps"]}["conv"]
    expected = sum(ref_conv2d(rgb8[..., c] / 255, weights[c]) for c in range(3))
    assert entry["shape"] == [18, 22]
    np.testing.assert_allclose(np.load(folder / entry["npy"]), expected, atol=1e-4)
    values = values_from_png(folder / entry["file"])
    assert np.max(np.abs(values - expected)) <= one_level(entry["mapping"]) + 1e-4


def test_overview_grows_one_row_per_detector_and_no_overview_skips_it(invoke, tmp_path,
                                                                      photo_png):
    sizes = {}
    for n in (1, 3):
        out = tmp_path / f"n{n}"
        run_ok(invoke, photo_png, *sum((["-k", k] for k in ["sobel-x", "sobel-y", "box"][:n]),
                                       []), "-o", out)
        with Image.open(out / "cat" / "overview.png") as im:
            sizes[n] = im.size
        assert load_manifest(out / "cat")["overview"] == "overview.png"
    assert sizes[1][0] == sizes[3][0]  # same columns
    row = (sizes[3][1] - sizes[1][1]) / 2
    assert 300 < row < 500  # two more rows of 68x78 maps at 4 px a cell, none empty

    run_ok(invoke, photo_png, "-o", tmp_path / "none", "--no-overview")
    assert not (tmp_path / "none" / "cat" / "overview.png").exists()
    assert load_manifest(tmp_path / "none" / "cat")["overview"] is None


def test_overview_columns_follow_the_stages(invoke, tmp_path, photo_png):
    widths = {}
    for args in ([], ["--pool", "none"], ["--pool", "none", "--activation", "none"]):
        out = tmp_path / str(len(args))
        run_ok(invoke, photo_png, "-k", "sobel-x", "-o", out, *args)
        with Image.open(out / "cat" / "overview.png") as im:
            widths[len(args)] = im.size[0]
    assert widths[0] > widths[2] > widths[4]
    # one column each; the pool column is narrower: its map is drawn to scale
    assert widths[2] - widths[4] > widths[0] - widths[2]
