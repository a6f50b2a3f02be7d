"""The overview sheet: layout, labels, colour bars, block upscaling and anti-aliased downscaling."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from cnnpipe.errors import ParameterError
from cnnpipe.numbers import format_number
from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.mapping import choose_mapping, to_pixels
from cnnpipe.pictures.sheet import OverviewSheet
from cnnpipe.pictures.thumbnails import NUMBER_CELL, SheetScale, write_values

WHITE = (255, 255, 255)
GRAY_01 = {"kind": "linear", "lo": 0.0, "hi": 1.0, "levels": 255, "cmap": "gray"}


def signed_map(h, w, seed=0):
    return np.random.default_rng(seed).normal(size=(h, w)).astype(np.float32)


KERNEL = np.array([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]])


def make_sheet(n_detectors, stages=("conv", "relu", "pool"), shape=(5, 5), weights=KERNEL,
               **kwargs):
    sheet = OverviewSheet("test input | stride 1", np.zeros((7, 7), np.uint8), "x.png", **kwargs)
    for i in range(n_detectors):
        conv = signed_map(*shape, seed=i)
        maps = {"conv": conv, "relu": np.maximum(conv, 0), "pool": np.maximum(conv, 0)[::2, ::2]}
        for stage in stages:
            a = maps[stage]
            sheet.add(f"k{i + 1}", stage, a, choose_mapping(a, stage=stage), weights=weights)
    return sheet


def panels_of(layout, stage):
    return [p for p in layout["panels"] if p["stage"] == stage]


def crop(image, box):
    return np.asarray(image.crop(box))


def test_one_scale_for_the_whole_sheet():
    # a small input is enlarged by a whole factor, at least NUMBER_CELL px when values fit
    small = SheetScale.for_input(7, 7, 320)
    assert small.factor == 45 and small.size_of(5, 5) == (225, 225)
    assert small.size_of(3, 3) == (135, 135)
    assert SheetScale.for_input(16, 16, 320).factor == NUMBER_CELL  # 20 would not fit numbers
    assert SheetScale.for_input(40, 40, 320).factor == 8
    # a photo is reduced, and its pooled map is half the size of the map it pooled
    photo = SheetScale.for_input(500, 741, 320)
    assert photo.size_of(500, 741) == (216, 320)
    assert photo.size_of(249, 370) == (108, 160)
    with pytest.raises(ParameterError):
        SheetScale.for_input(0, 5, 320)


def test_the_input_is_drawn_once_and_each_row_starts_with_its_kernel():
    layout = make_sheet(3).layout()
    assert layout["columns"] == ["kernel", "conv", "relu", "pool"]
    assert len(panels_of(layout, "input")) == 1
    assert [(p["row"], p["col"]) for p in panels_of(layout, "kernel")] == [(0, 0), (1, 0), (2, 0)]
    assert [(p["row"], p["col"], p["stage"]) for p in layout["panels"] if p["row"] == 0] == [
        (0, 0, "kernel"), (0, 1, "conv"), (0, 2, "relu"), (0, 3, "pool")]
    width, height = layout["size"]
    for p in layout["panels"]:
        for box in (p["label_box"], p["image_box"], p["colorbar_box"]):
            if box is not None:
                assert 0 <= box[0] < box[2] <= width and 0 <= box[1] < box[3] <= height


def test_pooled_maps_are_drawn_to_scale():
    layout = make_sheet(1).layout()
    sizes = {p["stage"]: (p["image_box"][2] - p["image_box"][0],
                          p["image_box"][3] - p["image_box"][1]) for p in layout["panels"]}
    k = sizes["input"][0] // 7
    assert sizes["input"] == (7 * k, 7 * k)
    assert sizes["conv"] == sizes["relu"] == (5 * k, 5 * k)
    assert sizes["pool"] == (3 * k, 3 * k)  # pooling visibly shrinks the map


def test_a_reference_input_leaves_the_maps_their_own_scale():
    # a deeper layer's maps are a quarter of the photo: drawn at the photo's scale they
    # were stamps; the reference photo is drawn at its own scale and says so
    photo = np.zeros((300, 451), np.uint8)
    sheet = OverviewSheet("layer 3", photo, "original (reference)", maps_hw=(74, 112))
    conv = signed_map(74, 112)
    relu = np.maximum(conv, 0)
    pool = relu[::2, ::2]
    for stage, a in (("conv", conv), ("relu", relu), ("pool", pool)):
        sheet.add("box", stage, a, choose_mapping(a, stage=stage))
    layout = sheet.layout()
    sizes = {p["stage"]: (p["image_box"][2] - p["image_box"][0],
                          p["image_box"][3] - p["image_box"][1]) for p in layout["panels"]}
    assert sizes["input"] == (320, 213)  # its own scale: longer side DEFAULT_PANEL
    assert sizes["conv"] == sizes["relu"] == (2 * 112, 2 * 74)  # 320 // 112 = 2 px per cell
    assert sizes["pool"] == (2 * 56, 2 * 37)  # one scale for the maps: pooling halves
    assert "not to the maps' scale" in panels_of(layout, "input")[0]["labels"][-1]
    # a deep layer's 1x1 map gets a number-sized cell, not the whole panel
    tiny = OverviewSheet("layer 3", photo, "original (reference)", maps_hw=(1, 1))
    tiny.add("box", "conv", np.ones((1, 1)), choose_mapping(np.ones((1, 1)), stage="conv"))
    box = panels_of(tiny.layout(), "conv")[0]["image_box"]
    assert box[2] - box[0] == NUMBER_CELL


def test_a_tall_kernel_does_not_push_the_colour_bars_down():
    sheet = make_sheet(1, shape=(2, 2), weights=np.ones((3, 7, 7)))  # taller than the maps
    layout = sheet.layout()
    conv = panels_of(layout, "conv")[0]
    kernel_panel = panels_of(layout, "kernel")[0]
    assert kernel_panel["image_box"][3] > conv["image_box"][3]
    assert conv["colorbar_box"][1] - conv["image_box"][3] < 10  # right under the map


def test_kernel_picture_shows_the_weights_in_diverging_colours():
    from cnnpipe.pictures.kernel_picture import KERNEL_CMAP, kernel_image

    picture = np.asarray(kernel_image(KERNEL))
    cell = picture.shape[0] // 3
    table = lut(KERNEL_CMAP)
    # the corner pixel of each cell has the colour of its weight on +-max|w|
    for (r, c), w in np.ndenumerate(KERNEL):
        index = int(np.rint((w / 2 + 1) / 2 * 255))
        assert tuple(picture[r * cell + 2, c * cell + 2]) == tuple(table[index])
    big = np.asarray(kernel_image(np.ones((13, 13))))
    assert big.shape[0] < 200  # large kernels: small cells, no numbers


def test_rgb_kernel_is_a_colour_patch():
    from cnnpipe.pictures.kernel_picture import kernel_image

    w = np.zeros((3, 2, 2))
    w[0] = 1.0  # red channel only
    picture = np.asarray(kernel_image(w, rgb=True))
    assert picture[0, 0].tolist() == [255, 128, 128]
    # without rgb=True, the three channels are drawn side by side (a later layer's kernel)
    side_by_side = kernel_image(w)
    assert side_by_side.size[0] > 2.5 * side_by_side.size[1]


def test_absent_stage_is_omitted_and_sheet_narrower():
    full = make_sheet(1).layout()
    no_pool = make_sheet(1, stages=("conv", "relu")).layout()
    assert no_pool["columns"] == ["kernel", "conv", "relu"]
    assert not panels_of(no_pool, "pool")
    assert no_pool["size"][0] < full["size"][0]


def test_many_detectors_add_rows_of_equal_height():
    one, twelve = make_sheet(1).layout(), make_sheet(12).layout()
    assert len(panels_of(twelve, "conv")) == 12
    assert twelve["size"][0] == one["size"][0]
    tops = [p["label_box"][1] for p in panels_of(twelve, "conv")]
    assert len({b - a for a, b in zip(tops, tops[1:], strict=False)}) == 1
    # rows do not overlap: each row's labels start below the previous row's colour bars
    bottoms = [p["colorbar_box"][3] for p in panels_of(twelve, "conv")]
    assert all(bottoms[i] < tops[i + 1] for i in range(11))


def test_sheet_stays_within_the_pixel_budget_and_names_what_it_left_out():
    sheet = make_sheet(12, max_pixels=2_000_000)
    layout = sheet.layout()
    assert layout["size"][0] * layout["size"][1] <= 2_000_000
    assert 1 <= len(panels_of(layout, "conv")) < 12
    assert sheet.omitted and sheet.omitted[-1] == "k12"
    assert sheet.omitted[0] in layout["footer"] and str(len(sheet.omitted)) in layout["footer"]


def test_labels_name_stage_detector_shape_and_range_and_are_drawn():
    conv = np.array([[-1.5, 0.0], [2.25, 1.0]], dtype=np.float32)
    sheet = OverviewSheet("chelsea.png  padding valid", np.zeros((4, 4), np.uint8), "chelsea.png")
    sheet.add("sobel-x", "conv", conv, choose_mapping(conv, stage="conv"))
    layout = sheet.layout()
    conv_panel = panels_of(layout, "conv")[0]
    # sizes width first, the order said (the sheet's font has no "×" glyph: "x")
    assert conv_panel["labels"] == ["conv \u00b7 sobel-x", "2x2  min -1.5  max 2.25"]
    assert panels_of(layout, "input")[0]["labels"] == ["input \u00b7 chelsea.png", "4x4 (WxH)"]
    image = sheet.render()
    for box in (conv_panel["label_box"], layout["title_box"]):
        ink = crop(image, box)
        assert (ink.sum(axis=2) < 300).sum() > 50  # dark text on the white background
    assert layout["title_lines"] == ["chelsea.png  padding valid"]


def test_colour_bar_runs_monotonically_with_lo_zero_hi_ticks():
    a = np.array([[-5.0, 2.0]], dtype=np.float32)
    sheet = OverviewSheet("t", np.zeros((2, 2), np.uint8), "x")
    sheet.add("k", "conv", a, choose_mapping(a, stage="conv", cmap="gray"))
    sheet.add("k", "relu", np.maximum(a, 0), choose_mapping(np.maximum(a, 0), stage="relu"))
    image = sheet.render()
    conv_panel, relu_panel = sheet.layout()["panels"][1:]
    assert [t for _, t in conv_panel["ticks"]] == ["-5", "0", "5"]  # full range: 2 cells
    x0, y0, x1, y1 = conv_panel["colorbar_box"]
    # the zero tick sits in the middle of the bar
    assert abs(conv_panel["ticks"][1][0] - (x0 + x1) / 2) <= 1
    gray = crop(image, (x0, (y0 + y1) // 2, x1, (y0 + y1) // 2 + 1))[0, :, 0].astype(int)
    assert gray[0] < 5 and gray[-1] > 250 and (np.diff(gray) >= 0).all()
    # viridis: the bar shows the colour table, in order, end to end
    x0, y0, x1, y1 = relu_panel["colorbar_box"]
    bar = crop(image, (x0, (y0 + y1) // 2, x1, (y0 + y1) // 2 + 1))[0]
    table = lut("viridis")
    np.testing.assert_array_equal(bar[0], table[0])
    np.testing.assert_array_equal(bar[-1], table[255])
    assert [t for _, t in relu_panel["ticks"]] == ["0", "2"]


def test_small_map_is_upscaled_into_constant_blocks_of_its_pixels():
    a = signed_map(5, 5, seed=3)
    m = choose_mapping(a, stage="conv")
    sheet = OverviewSheet("t", np.zeros((7, 7), np.uint8), "x")
    sheet.add("k", "conv", a, m)
    image = sheet.render()
    x0, y0, x1, y1 = sheet.layout()["panels"][1]["image_box"]
    k = sheet.scale.factor
    assert (x1 - x0, y1 - y0) == (5 * k, 5 * k)
    picture = crop(image, (x0, y0, x1, y1))
    expected = to_pixels(a, m)
    for r in range(5):
        for c in range(5):
            # the cell's colour fills it, except where its value is written
            block = picture[r * k:(r + 1) * k, c * k:(c + 1) * k].reshape(-1, 3)
            same = (block == expected[r, c]).all(axis=1)
            assert same.mean() > 0.6 and (block[0] == expected[r, c]).all(), (r, c)


def test_input_pixels_are_upscaled_the_same_way():
    x = np.zeros((7, 7), np.uint8)
    x[3, 3] = 255
    sheet = OverviewSheet("t", x, "x")
    image = sheet.render()
    x0, y0, x1, y1 = sheet.layout()["panels"][0]["image_box"]
    k = (x1 - x0) // 7
    picture = crop(image, (x0, y0, x1, y1))[..., 0]
    assert (picture[3 * k:4 * k, 3 * k:4 * k] == 255).all()
    assert picture.sum() == 255 * k * k  # no values given: no numbers drawn


def test_large_checkerboard_downscales_to_mid_grey_not_stripes():
    board = (np.indices((1000, 1000)).sum(axis=0) % 2).astype(np.float32)
    sheet = OverviewSheet("t", np.zeros((1000, 1000), np.uint8), "x")
    sheet.add("k", "relu", board, GRAY_01)
    image = sheet.render()
    box = sheet.layout()["panels"][1]["image_box"]
    assert (box[2] - box[0], box[3] - box[1]) == (sheet.panel, sheet.panel)
    picture = crop(image, box)[..., 0].astype(int)
    assert abs(picture.mean() - 127.5) < 3
    assert picture.min() >= 105 and picture.max() <= 150


def test_rgb_maps_become_colour_panels():
    a = np.zeros((3, 4, 4), dtype=np.float32)
    a[0] = 1.0  # red channel only
    m = choose_mapping(a, stage="conv")
    sheet = OverviewSheet("t", np.zeros((4, 4, 3), np.uint8), "x")
    sheet.add("k", "conv", a, m)
    image = sheet.render()
    picture = crop(image, sheet.layout()["panels"][1]["image_box"])
    expected = to_pixels(a, m)[0, 0]
    assert (picture == expected).all()
    assert expected.tolist() == [255, 0, 0]  # range 0..1: a pure red panel


def test_thumbnail_is_taken_when_the_map_is_added():
    a = np.ones((5, 5), dtype=np.float32)
    sheet = OverviewSheet("t", np.zeros((5, 5), np.uint8), "x")
    sheet.add("k", "relu", a, GRAY_01)
    a[:] = 0  # the caller reuses its buffer: the sheet must not change
    image = sheet.render()
    picture = crop(image, sheet.layout()["panels"][1]["image_box"])
    assert (picture == 255).mean() > 0.8 and picture[0, 0].tolist() == [255] * 3


def test_png_bytes_decode_to_the_rendered_sheet():
    sheet = make_sheet(2)
    data = sheet.to_png_bytes(compression=1)
    png = Image.open(io.BytesIO(data))
    assert png.format == "PNG" and png.mode == "RGB"
    assert png.size == sheet.layout()["size"]
    np.testing.assert_array_equal(np.asarray(png), np.asarray(sheet.render()))


def test_bad_arguments_are_parameter_errors():
    with pytest.raises(ParameterError, match="input_pixels"):
        OverviewSheet("t", np.zeros((4, 4), np.float32), "x")
    sheet = OverviewSheet("t", np.zeros((4, 4), np.uint8), "x")
    with pytest.raises(ParameterError, match="stage"):
        sheet.add("k", "softmax", np.zeros((2, 2)), GRAY_01)
    with pytest.raises(ParameterError, match="shape"):
        sheet.add("k", "conv", np.zeros((2, 2, 2)), GRAY_01)


def test_rgb_colour_bar_shows_one_ramp_per_channel():
    a = np.zeros((3, 4, 4), dtype=np.float32)
    m = choose_mapping(a, stage="conv")
    sheet = OverviewSheet("t", np.zeros((4, 4, 3), np.uint8), "x")
    sheet.add("k", "conv", a, m)
    image = sheet.render()
    x0, y0, x1, y1 = sheet.layout()["panels"][1]["colorbar_box"]
    right_end = crop(image, (x1 - 1, y0, x1, y1))[:, 0]
    assert right_end[0].tolist() == [255, 0, 0] and right_end[-1].tolist() == [0, 0, 255]
    assert [0, 255, 0] in right_end.tolist()


def test_long_labels_wrap_and_are_never_cut():
    name = "a-very-long-detector-name-that-cannot-fit-in-one-panel"
    sheet = OverviewSheet("t", np.zeros((4, 4), np.uint8), "x")
    for stage in ("conv", "relu"):
        sheet.add(name, stage, np.ones((4, 4), np.float32), GRAY_01)
    image = sheet.render()
    conv_panel, relu_panel = sheet.layout()["panels"][1:]
    # every character of the name is on the sheet, over several lines
    assert "".join(conv_panel["labels"]).replace(" ", "").count(name) == 1
    assert len(conv_panel["labels"]) > 2
    gap = (conv_panel["label_box"][2], conv_panel["label_box"][1],
           relu_panel["label_box"][0], conv_panel["label_box"][3])
    assert (crop(image, gap) == 255).all()  # nothing spills into the gap between panels


def test_small_maps_show_their_values_in_the_cells():
    a = np.array([[0.0, -1.25], [0.396, 3.0]], dtype=np.float32)
    m = choose_mapping(a, stage="conv", cmap="gray")
    plain = np.repeat(np.repeat(to_pixels(a, m), 40, axis=0), 40, axis=1)
    written = write_values(plain, a, 40)
    assert written.shape == (80, 80, 3)
    for r in range(2):
        for c in range(2):
            cell = written[r * 40:(r + 1) * 40, c * 40:(c + 1) * 40, 0].astype(int)
            assert (cell != plain[r * 40, c * 40]).sum() > 10, (r, c)  # ink in every cell
    big = np.zeros((17 * 40, 17 * 40), np.uint8)
    assert write_values(big, np.zeros((17, 17)), 40) is big  # 17x17: colours only
    assert [format_number(v) for v in a.ravel()] == ["0", "-1.25", "0.396", "3"]


def test_sixteen_bit_maps_are_shown_at_eight_bits():
    a = np.linspace(-1, 1, 9, dtype=np.float32).reshape(3, 3)
    m16 = choose_mapping(a, stage="conv", cmap="gray", bit_depth=16)
    m8 = choose_mapping(a, stage="conv", cmap="gray")
    sheet = OverviewSheet("t", np.zeros((3, 3), np.uint8), "x")
    sheet.add("k", "conv", a, m16)
    picture = crop(sheet.render(), sheet.layout()["panels"][1]["image_box"])[..., 0]
    k = picture.shape[0] // 3
    shown = picture[::k, ::k].astype(int)
    assert np.abs(shown - to_pixels(a, m8)).max() <= 1


def test_fine_signed_texture_does_not_cancel_to_a_blank_panel():
    board = (np.indices((1000, 1000)).sum(axis=0) % 2 * 2 - 1).astype(np.float32)  # +-1
    m = choose_mapping(board, stage="conv", cmap="berlin")
    sheet = OverviewSheet("t", np.zeros((2, 2), np.uint8), "x")
    sheet.add("k", "conv", board, m, pixels=to_pixels(board, m))
    picture = crop(sheet.render(), sheet.layout()["panels"][1]["image_box"]).astype(int)
    table = lut("berlin").astype(int)
    zero_colour = table[128]
    expected = (table[0] + table[255]) / 2  # the mix of the two extreme colours
    assert np.abs(picture.mean(axis=(0, 1)) - expected).max() < 8
    assert np.abs(picture.mean(axis=(0, 1)) - zero_colour).max() > 40


def test_pixels_must_match_the_map():
    sheet = OverviewSheet("t", np.zeros((2, 2), np.uint8), "x")
    with pytest.raises(ParameterError, match="pixels"):
        sheet.add("k", "conv", np.zeros((4, 4)), GRAY_01, pixels=np.zeros((3, 3), np.uint8))


def spiky_photo_map(h=120, w=150, seed=0):
    """A photo-like conv map: small values everywhere, a few very strong edges."""
    rng = np.random.default_rng(seed)
    a = rng.uniform(-0.2, 0.2, size=(h, w)).astype(np.float32)
    a[h // 12, 1:w // 8] = 4.0
    a[h // 2, 1:w // 8] = -4.0
    return a


def test_a_robust_map_is_shown_with_its_png_mapping_and_clip_arrows():
    a = spiky_photo_map()
    m = choose_mapping(a, stage="conv")
    cut = 1.25 * float(np.percentile(np.abs(a), 99))
    assert (m["lo"], m["hi"]) == pytest.approx((-cut, cut))  # the bulk sets the colours
    assert m["clipped"]["below"] > 0 and m["clipped"]["above"] > 0
    sheet = OverviewSheet("t", np.zeros((120, 150), np.uint8), "x.png")
    sheet.add("k", "conv", a, m)
    panel = sheet.layout()["panels"][1]
    assert panel["clipped"] and panel["shown"] == (m["lo"], m["hi"])
    texts = [t for _, t in panel["ticks"]]
    assert texts[0].startswith("<=") and texts[-1].startswith(">=") and "0" in texts
    assert panel["labels"][1].endswith("min -4  max 4")  # the true range stays in the label
    image = sheet.render()
    bx, by, br, bb = panel["colorbar_box"]
    table = lut(m["cmap"])
    # the arrows beyond the bar carry the end colours
    assert image.getpixel((br + 2, (by + bb) // 2)) == tuple(int(c) for c in table[255])
    assert image.getpixel((bx - 3, (by + bb) // 2)) == tuple(int(c) for c in table[0])


def test_a_full_range_map_has_no_arrows():
    a = spiky_photo_map()
    m = choose_mapping(a, stage="conv", scale="map")
    sheet = OverviewSheet("t", np.zeros((120, 150), np.uint8), "x.png")
    sheet.add("k", "conv", a, m)
    panel = sheet.layout()["panels"][1]
    assert not panel["clipped"] and panel["shown"] == (-4.0, 4.0)
    assert [t for _, t in panel["ticks"]] == ["-4", "0", "4"]


def test_non_negative_map_is_clipped_only_at_the_top():
    a = np.abs(spiky_photo_map())
    m = choose_mapping(a, stage="relu")
    sheet = OverviewSheet("t", np.zeros((4, 4), np.uint8), "x.png")
    sheet.add("k", "relu", a, m, title="leaky ReLU")
    panel = sheet.layout()["panels"][1]
    assert panel["clipped_ends"] == (False, True) and panel["shown"][0] == 0.0
    assert [t for _, t in panel["ticks"]][0] == "0"
    assert panel["labels"][0] == "leaky ReLU \u00b7 k"


@pytest.mark.parametrize("size", [1, 2, 7, 1000, 4097])
@pytest.mark.parametrize("q", [0, 37.5, 99.5, 100])
def test_clip_percentile_matches_numpy_percentile(size, q):
    from cnnpipe.pictures.ranges import _percentile

    values = np.abs(np.random.default_rng(size).standard_normal(size)).astype(np.float32)
    expected = np.percentile(values.astype(np.float64), q)
    assert _percentile(values, q) == pytest.approx(expected, rel=1e-12, abs=1e-300)


def test_sheet_title_lists_every_setting_that_differs_from_the_defaults():
    from types import SimpleNamespace

    from cnnpipe.layer import Params
    from cnnpipe.outputs import params_summary

    plain = params_summary(Params(), SimpleNamespace(scale="robust", cmap="auto", bit_depth=8))
    assert ";" not in plain  # nothing differs
    text = params_summary(Params(dilation=2, pad_mode="reflect", flip=True, color="rgb"),
                          SimpleNamespace(scale="map", cmap="magma", bit_depth=8))
    for setting in ("dilation 2", "pad-mode reflect", "flip", "color rgb", "scale map",
                    "cmap magma"):
        assert setting in text, setting
