"""What the overview sheet draws once and reuses (text, kernel pictures, colour bars,
a repeated map's picture) must look exactly as drawn afresh, and never go stale."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cnnpipe.pictures.colorbar import draw_colorbar
from cnnpipe.pictures.colormaps import lut
from cnnpipe.pictures.kernel_picture import kernel_image
from cnnpipe.pictures.mapping import choose_mapping, to_png_pixels
from cnnpipe.pictures.sheet import OverviewSheet
from cnnpipe.pictures.text import font, wrap
from cnnpipe.pictures.thumbnails import thumbnail

TEXTS = ["conv \u00b7 sobel-x", "510x510  min -0.895  max 0.748", "0", ">=0.446", "<=-0.446"]


def drawn(face, x: float, text: str) -> np.ndarray:
    image = Image.new("RGB", (260, 24), (255, 255, 255))
    ImageDraw.Draw(image).text((x, 2.0), text, fill=(30, 30, 30), font=face)
    return np.asarray(image)


def test_remembered_text_draws_and_measures_as_a_fresh_font():
    fresh = ImageFont.load_default(size=15)
    face = font(15)
    # twice each (the second draw is remembered), at whole and fractional positions:
    # a tick label centred under its tick starts at a fraction of a pixel
    for x in (4, 4.5, 4.25, 4.5, 4, 7.75):
        for text in TEXTS:
            np.testing.assert_array_equal(drawn(face, x, text), drawn(fresh, x, text))
            assert face.getlength(text) == fresh.getlength(text)
    assert not np.array_equal(drawn(face, 4, TEXTS[0]), drawn(face, 4.5, TEXTS[0]))


def test_wrap_with_a_remembered_font_breaks_lines_as_before():
    text = "photo.png: conv stride 1, padding valid, relu, max pool 2 stride 2 (keep)"
    fresh = ImageFont.load_default(size=20)
    for width in (120, 300, 120):
        assert wrap(text, font(20), width) == wrap(text, fresh, width)


def add_stages(sheet, kernel, conv, weights):
    for stage, array in (("conv", conv), ("relu", np.maximum(conv, 0))):
        m = choose_mapping(array, stage=stage)
        sheet.add(kernel, stage, array, m, weights=weights)


def panel_pixels(sheet, kernel, stage):
    image = sheet.render()
    box = next(p["image_box"] for p in sheet.layout()["panels"]
               if p["kernel"] == kernel and p["stage"] == stage)
    return np.asarray(image.crop(box))


def test_a_repeated_map_reuses_its_picture_and_a_new_one_is_drawn():
    sheet = OverviewSheet("t", np.zeros((64, 64), np.uint8), "x")
    rng = np.random.default_rng(3)
    maps = [rng.random((60, 60), dtype=np.float32) for _ in range(2)]
    cases = [(maps[0], "viridis"), (maps[0], "viridis"), (maps[1], "viridis"),
             (maps[1], "magma"), (maps[0].copy(), "viridis")]
    for array, cmap in cases:
        m = choose_mapping(array, stage="conv", cmap=cmap)
        pixels, palette = to_png_pixels(array, m)
        expected = thumbnail(pixels, sheet.scale, palette)
        np.testing.assert_array_equal(sheet.picture(pixels, palette), expected)
    # a non-negative map: its ReLU panel is its conv panel, pixel for pixel
    add_stages(sheet, "blur", maps[0], np.full((3, 3), 1 / 9))
    np.testing.assert_array_equal(panel_pixels(sheet, "blur", "relu"),
                                  panel_pixels(sheet, "blur", "conv"))


def test_kernel_pictures_follow_the_weights_not_the_name():
    weights = [np.array([[1.0, 0.0, -1.0]] * 3), np.array([[0.0, 1.0, 0.0]] * 3)]
    conv = np.random.default_rng(0).normal(size=(20, 20)).astype(np.float32)
    for w in weights + weights[:1]:
        sheet = OverviewSheet("t", np.zeros((22, 22), np.uint8), "x")
        add_stages(sheet, "k", conv, w)  # the same name each time
        expected = np.asarray(kernel_image(w, values_up_to=7))
        np.testing.assert_array_equal(panel_pixels(sheet, "k", "kernel"), expected)


def test_colour_bars_drawn_again_match_the_first_and_follow_the_colour_map():
    bars = []
    for cmap in ("viridis", "vik", "viridis"):
        image = Image.new("RGB", (200, 40), (255, 255, 255))
        mapping = {"lo": -1.0, "hi": 1.0, "cmap": cmap, "clipped": {"below": 1, "above": 1}}
        draw_colorbar(image, ImageDraw.Draw(image), (10, 5, 190, 17), mapping,
                      [(10, "-1"), (189, "1")], (True, True), font(13))
        bars.append(np.asarray(image))
        row = np.asarray(image)[10, 10:190]
        table = lut(cmap)
        assert row[0].tolist() == table[0].tolist() and row[-1].tolist() == table[-1].tolist()
        assert np.asarray(image)[11, 4].tolist() == table[0].tolist()  # the left arrow
    np.testing.assert_array_equal(bars[0], bars[2])
    assert not np.array_equal(bars[0], bars[1])
