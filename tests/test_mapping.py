"""Value -> pixel mappings: the rules, the round trip, colour maps and the PNG text chunk."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from PIL import Image, PngImagePlugin

from cnnpipe.errors import InputError, ParameterError
from cnnpipe.pictures.colormaps import CMAP_SOURCES, DIVERGING, lut
from cnnpipe.pictures.mapping import (
    choose_mapping,
    clipped_mask,
    from_pixels,
    mapping_from_png_text,
    parse_scale,
    png_text,
    to_pixels,
)


def slow_pixels(array, lo, hi, levels):
    """Independent reference: one Python round() per cell."""
    out = np.zeros(array.shape, dtype=np.int64)
    for idx, v in np.ndenumerate(array):
        p = round((float(v) - lo) / (hi - lo) * levels)
        out[idx] = min(max(p, 0), levels)
    return out


# -- choosing the range ----------------------------------------------------------------


def test_signed_map_gets_symmetric_range_with_zero_in_the_middle():
    a = np.array([[-3.0, 1.0], [0.0, 0.5]], dtype=np.float32)
    m = choose_mapping(a, stage="conv", cmap="gray")
    assert (m["lo"], m["hi"]) == (-3.0, 3.0)
    p = to_pixels(np.array([[-1.0, 0.0, 1.0]]), m)
    # zero lands on the middle level; +v and -v sit symmetrically around it
    assert p[0, 1] in (127, 128)
    assert int(p[0, 0]) + int(p[0, 2]) == 255
    assert p[0, 0] < p[0, 1] < p[0, 2]


def test_signed_map_where_positives_dominate_is_still_symmetric():
    m = choose_mapping(np.array([[-0.5, 4.0]]), stage="pool")
    assert (m["lo"], m["hi"]) == (-4.0, 4.0)


def test_negative_values_are_not_clipped_to_black():
    a = np.array([[-2.0, -1.0, 0.0, 1.0, 2.0]])
    m = choose_mapping(a, stage="conv", cmap="gray")
    p = to_pixels(a, m)
    assert len(set(p.ravel().tolist())) == 5


def test_non_negative_map_starts_at_zero():
    m = choose_mapping(np.array([[1.0, 2.5]]), stage="relu")
    assert (m["lo"], m["hi"]) == (0.0, 2.5)
    assert m["cmap"] == "viridis"


def test_default_colour_maps_per_stage():
    signed = np.array([[-1.0, 1.0]])
    assert choose_mapping(signed, stage="conv")["cmap"] in DIVERGING
    assert choose_mapping(np.array([[0.0, 1.0]]), stage="conv")["cmap"] == "viridis"
    assert choose_mapping(np.array([[0.2, 0.7]]), stage="input")["cmap"] == "gray"
    assert choose_mapping(signed, stage="conv", cmap="magma")["cmap"] == "magma"


def test_signed_maps_default_to_a_light_zero_and_diverging_maps_centre_zero():
    m = choose_mapping(np.array([[-1.0, 3.0]]), stage="conv")
    zero = lut(m["cmap"])[128].astype(int)
    assert zero.min() > 180  # zero is light: the few strong edges of a photo stand out
    # a diverging map chosen by hand keeps zero at its neutral middle on a ReLU map too
    m = choose_mapping(np.array([[0.0, 2.0]]), stage="relu", cmap="coolwarm")
    assert (m["lo"], m["hi"]) == (-2.0, 2.0)
    assert to_pixels(np.array([[0.0]]), m)[0, 0].tolist() == lut("coolwarm")[128].tolist()


def test_input_image_uses_zero_to_one_and_matrix_its_own_range():
    m = choose_mapping(np.array([[0.2, 0.7]]), stage="input")
    assert (m["lo"], m["hi"]) == (0.0, 1.0)
    m = choose_mapping(np.array([[0.0, 255.0]]), stage="input")
    assert (m["lo"], m["hi"]) == (0.0, 255.0)


@pytest.mark.parametrize("value", [0.0, 3.0, -2.0])
def test_constant_maps_do_not_divide_by_zero_and_invert(value):
    a = np.full((4, 4), value, dtype=np.float32)
    m = choose_mapping(a, stage="conv", cmap="gray")
    assert m["hi"] > m["lo"]
    back = from_pixels(to_pixels(a, m), m)
    assert np.abs(back - value).max() <= (m["hi"] - m["lo"]) / 255 / 2 + 1e-6


def test_all_zero_map_is_dark_and_comes_back_as_zero():
    a = np.zeros((3, 3), dtype=np.float32)
    m = choose_mapping(a, stage="relu", cmap="gray")
    assert (m["lo"], m["hi"]) == (0.0, 1.0)
    assert (to_pixels(a, m) == 0).all()
    assert (from_pixels(to_pixels(a, m), m) == 0).all()


def test_fixed_scale_is_used_as_given_and_clips():
    m = choose_mapping(np.array([[5.0, -7.0]]), stage="conv", scale="fixed:-1,1", cmap="gray")
    assert (m["lo"], m["hi"], m["scale"]) == (-1.0, 1.0, "fixed")
    assert to_pixels(np.array([[5.0, -7.0]]), m).tolist() == [[255, 0]]


def test_detector_scale_uses_the_shared_range():
    relu_map = np.array([[0.0, 1.0]])
    m = choose_mapping(relu_map, stage="relu", scale="detector", value_range=(-3.0, 2.0))
    assert (m["lo"], m["hi"], m["scale"]) == (-3.0, 3.0, "detector")
    m = choose_mapping(relu_map, stage="pool", scale="detector", value_range=(0.0, 4.0))
    assert (m["lo"], m["hi"]) == (0.0, 4.0)
    with pytest.raises(ParameterError, match="value_range"):
        choose_mapping(relu_map, stage="relu", scale="detector")


def test_non_finite_values_nan_to_pixel_zero_and_range_ignores_them():
    a = np.array([[np.nan, np.inf, -np.inf, 2.0, -1.0]])
    m = choose_mapping(a, stage="conv", cmap="gray")
    assert (m["lo"], m["hi"]) == (-2.0, 2.0)
    assert to_pixels(a, m)[0, :3].tolist() == [0, 255, 0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [("map", ("map", None)), ("detector", ("detector", None)),
     ("fixed:-1,1", ("fixed", (-1.0, 1.0))), ("fixed:0,0.5", ("fixed", (0.0, 0.5)))],
)
def test_parse_scale(text, expected):
    assert parse_scale(text) == expected


@pytest.mark.parametrize("bad", ["", "global", "fixed:1", "fixed:2,1", "fixed:a,b", "fixed:0,inf"])
def test_parse_scale_rejects_with_a_clear_message(bad):
    with pytest.raises(ParameterError, match="--scale"):
        parse_scale(bad)


def test_bad_stage_and_cmap_are_parameter_errors():
    with pytest.raises(ParameterError, match="stage"):
        choose_mapping(np.zeros((2, 2)), stage="softmax")
    with pytest.raises(ParameterError, match="--cmap"):
        choose_mapping(np.zeros((2, 2)), stage="conv", cmap="jet")


# -- pixels and back -------------------------------------------------------------------


def test_to_pixels_matches_a_slow_reference_loop():
    rng = np.random.default_rng(1)
    a = rng.normal(scale=3, size=(17, 13)).astype(np.float32)
    for bit_depth, levels in ((8, 255), (16, 65535)):
        m = choose_mapping(a, stage="conv", cmap="gray", bit_depth=bit_depth)
        p = to_pixels(a, m)
        assert p.dtype == (np.uint8 if bit_depth == 8 else np.uint16)
        assert m["levels"] == levels
        np.testing.assert_array_equal(p, slow_pixels(a, m["lo"], m["hi"], levels))


def test_pixels_of_a_map_larger_than_one_block_match_the_slow_loop(monkeypatch):
    # Maps are mapped a block of cells at a time; shrink the block so that a small map
    # spans several, with NaN and infinities in a later block than the first.
    import cnnpipe.pictures.mapping as mapping_module

    monkeypatch.setattr(mapping_module, "LEVELS_BLOCK", 37)
    rng = np.random.default_rng(7)
    a = rng.normal(scale=2, size=(23, 19)).astype(np.float32)
    a[15, 3], a[16, 4], a[20, 18] = np.nan, np.inf, -np.inf
    for bit_depth, levels in ((8, 255), (16, 65535)):
        m = choose_mapping(a, stage="conv", cmap="gray", bit_depth=bit_depth)
        expected = slow_pixels(np.nan_to_num(a, nan=m["lo"], posinf=m["hi"], neginf=m["lo"]),
                               m["lo"], m["hi"], levels)
        np.testing.assert_array_equal(to_pixels(a, m), expected)
        assert to_pixels(a, m)[15, 3] == 0 and to_pixels(a, m)[16, 4] == levels


finite = st.floats(-1e4, 1e4, allow_nan=False, width=32)


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 6), st.integers(1, 6)), elements=finite),
       st.sampled_from([8, 16]))
def test_round_trip_within_half_a_level(a, bit_depth):
    # the faithful full range: every cell comes back within half a level
    m = choose_mapping(a, stage="conv", cmap="gray", bit_depth=bit_depth, scale="map")
    back = from_pixels(to_pixels(a, m), m)
    assert back.dtype == np.float32
    half = (m["hi"] - m["lo"]) / m["levels"] / 2
    assert np.abs(back.astype(np.float64) - a).max() <= half * (1 + 1e-6) + 1e-6 * m["hi"]


@settings(max_examples=80, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 20), st.integers(1, 20)), elements=finite),
       st.sampled_from([8, 16]))
@example(np.where(np.arange(102).reshape(6, 17) == 0, -1, 4.736e-42).astype(np.float32), 8)
def test_robust_round_trip_unclipped_cells_exact_clipped_cells_marked(a, bit_depth):
    m = choose_mapping(a, stage="conv", cmap="gray", bit_depth=bit_depth)
    pixels = to_pixels(a, m)
    back = from_pixels(pixels, m).astype(np.float64)
    mask = clipped_mask(pixels, m)
    half = (m["hi"] - m["lo"]) / m["levels"] / 2
    # float32 cannot be finer than its smallest subnormal step: a map of subnormal
    # values (Hypothesis found one of 4.7e-42) is exact only to a few such steps
    tiny = 4 * float(np.finfo(np.float32).smallest_subnormal)
    tol = half * (1 + 1e-6) + 1e-6 * m["hi"] + tiny
    # a cell beyond the range is always marked; an unmarked cell is within half a level
    beyond = (a < m["lo"]) | (a > m["hi"])
    assert not (beyond & ~mask).any()
    assert np.abs(back - a)[~mask].max(initial=0) <= tol
    assert m["clipped"] == {"below": int((a < m["lo"]).sum()), "above": int((a > m["hi"]).sum())}
    # a marked cell is at or beyond the end it is drawn at
    assert (np.abs(a[mask]) >= np.abs(back[mask]) - tol).all()


def test_sixteen_bits_are_finer_than_eight():
    a = np.linspace(-1, 1, 1001, dtype=np.float32).reshape(7, 143)
    errors = []
    for bit_depth in (8, 16):
        m = choose_mapping(a, stage="conv", cmap="gray", bit_depth=bit_depth)
        errors.append(np.abs(from_pixels(to_pixels(a, m), m) - a).max())
    assert errors[1] < errors[0] / 100


def test_sixteen_bits_with_a_colour_map_is_refused():
    with pytest.raises(ParameterError, match="--bit-depth 16 needs --cmap gray"):
        choose_mapping(np.zeros((2, 2)), stage="conv", cmap="viridis", bit_depth=16)
    m = {"lo": 0.0, "hi": 1.0, "levels": 65535, "cmap": "viridis"}
    with pytest.raises(ParameterError, match="--cmap gray"):
        to_pixels(np.zeros((2, 2)), m)
    # with "auto" a 16-bit map simply becomes gray
    assert choose_mapping(np.array([[-1.0, 1.0]]), stage="conv", bit_depth=16)["cmap"] == "gray"


@pytest.mark.parametrize("name", sorted(CMAP_SOURCES))
def test_colour_map_pixels_invert_through_the_lut(name):
    table = lut(name)
    assert table.shape == (256, 3) and table.dtype == np.uint8
    lo, hi = -2.0, 2.0
    m = {"kind": "linear", "lo": lo, "hi": hi, "levels": 255, "cmap": name}
    values = (lo + np.arange(256) / 255 * (hi - lo)).reshape(16, 16).astype(np.float32)
    pixels = to_pixels(values, m)
    if name != "gray":
        assert pixels.shape == (16, 16, 3)
        np.testing.assert_array_equal(pixels.reshape(256, 3), table)
    back = from_pixels(pixels, m)
    index = np.rint((back.ravel().astype(np.float64) - lo) / (hi - lo) * 255).astype(int)
    # every colour comes back to an entry of that same colour (a few neighbouring entries
    # of viridis round to one 8-bit colour: their middle is returned), and so to within
    # one level of the value
    np.testing.assert_array_equal(table[index], table[np.arange(256)])
    assert np.abs(back.ravel() - values.ravel()).max() <= (hi - lo) / 255 * 1.0


def test_colour_that_is_not_in_the_lut_goes_to_the_nearest_entry():
    table = lut("viridis").astype(int)
    off = table[200] + np.array([2, -1, 1])
    m = {"lo": 0.0, "hi": 255.0, "levels": 255, "cmap": "viridis"}
    value = from_pixels(np.array([[off]], dtype=np.uint8), m)[0, 0]
    nearest = int(np.argmin(((table - off) ** 2).sum(axis=1)))
    assert value == pytest.approx(nearest)
    assert abs(nearest - 200) <= 1


def test_diverging_colour_maps_run_blue_to_neutral_to_red():
    for name in DIVERGING:
        table = lut(name).astype(int)
        assert table[0, 2] > table[0, 0] and table[255, 0] > table[255, 2]
        # zero (the middle entries) is a near-neutral grey, neither blue nor red
        for middle in (127, 128):
            assert table[middle].max() - table[middle].min() < 25


def test_rgb_maps_become_colour_pixels_with_one_range():
    a = np.zeros((3, 2, 2), dtype=np.float32)
    a[0, 0, 0], a[1, 0, 1], a[2, 1, 0] = 1.0, 0.5, -1.0
    m = choose_mapping(a, stage="conv", cmap="viridis")
    assert m["channels"] == "rgb" and (m["lo"], m["hi"]) == (-1.0, 1.0)
    p = to_pixels(a, m)
    assert p.shape == (2, 2, 3) and p.dtype == np.uint8
    for c in range(3):
        np.testing.assert_array_equal(p[..., c], slow_pixels(a[c], -1.0, 1.0, 255))
    back = from_pixels(p, m)
    assert back.shape == (3, 2, 2)
    assert np.abs(back - a).max() <= 1 / 255 + 1e-6
    with pytest.raises(ParameterError, match="--color gray"):
        choose_mapping(a, stage="conv", bit_depth=16)


# -- the PNG text chunk ----------------------------------------------------------------


def test_png_text_round_trip_through_a_real_png():
    a = np.array([[-1.5, 0.25], [3.0, 0.0]], dtype=np.float32)
    m = choose_mapping(a, stage="conv")
    text = png_text(m)
    assert set(text) == {"cnnpipe:mapping"}
    assert json.loads(text["cnnpipe:mapping"]) == m
    info = PngImagePlugin.PngInfo()
    for key, value in text.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.fromarray(to_pixels(a, m)).save(buffer, format="PNG", pnginfo=info)
    png = Image.open(io.BytesIO(buffer.getvalue()))
    back_mapping = mapping_from_png_text(png.text)
    assert back_mapping == m
    values = from_pixels(np.asarray(png), back_mapping)
    assert np.abs(values - a).max() <= (m["hi"] - m["lo"]) / 255 * 1.5


def test_png_without_mapping_is_an_input_error():
    with pytest.raises(InputError, match="cnnpipe:mapping"):
        mapping_from_png_text({"Software": "GIMP"})
    with pytest.raises(InputError, match="not a valid mapping"):
        mapping_from_png_text({"cnnpipe:mapping": '{"lo": 1}'})


def test_mapping_formula_says_how_to_invert():
    gray = choose_mapping(np.array([[0.0, 1.0]]), stage="relu", cmap="gray")
    assert gray["formula"] == "value = lo + pixel / levels * (hi - lo)"
    colour = choose_mapping(np.array([[0.0, 1.0]]), stage="relu", cmap="viridis")
    assert "index" in colour["formula"] and "256" in colour["formula"]


def test_importing_mapping_stays_light():
    code = (
        "import sys, cnnpipe.pictures.mapping; "
        "print([m for m in ('PIL', 'cmap', 'click', 'rich') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
