"""cnnpipe.io on valid inputs: values, shapes, conversions, PNG and matrix writing."""

from __future__ import annotations

import errno
import io
import json
import os

import hypothesis.strategies as st
import numpy as np
import pytest
from conftest import SAMPLES
from hostile import (
    LUMA,
    bomb_png,
    luma,
    make_good_images,
    make_tricky_names,
    png_bytes,
    tricky_expected,
)
from hypothesis import given, settings
from hypothesis.extra.numpy import array_shapes, arrays
from PIL import Image

from cnnpipe.errors import InputError, OutputError, ParameterError
from cnnpipe.io import (
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    MATRIX_EXTENSIONS,
    atomic_write,
    encode_png,
    load_image,
    load_matrix,
    read_png_text,
    save_matrix,
)

GOOD_NAMES = [
    "gray8", "gray16", "rgb", "rgba", "la", "palette", "palette-transparent", "bilevel",
    "cmyk-jpeg", "exif-rotated", "bmp", "gif", "webp", "tiff16", "rgb16-png",
    "multiframe-gif", "misnamed",
]  # fmt: skip


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    return make_good_images(tmp_path_factory.mktemp("good"))


def test_extension_sets_match_the_spec():
    assert IMAGE_EXTENSIONS == {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp"}
    assert MATRIX_EXTENSIONS == {".npy", ".csv", ".txt"}


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_good_image_loads_as_expected_gray(good, name):
    case = good[name]
    loaded = load_image(case.path)
    assert loaded.array.dtype == np.float32
    assert loaded.array.shape == case.gray.shape
    np.testing.assert_allclose(loaded.array, case.gray, atol=case.atol, rtol=0)
    assert case.note in loaded.info["conversion"]
    assert loaded.info["path"] == str(case.path)
    assert (loaded.info["height"], loaded.info["width"]) == case.gray.shape


def test_16_bit_png_keeps_every_level_exactly(tmp_path):
    values = np.arange(0, 65536, 257, dtype=np.uint16).reshape(16, 16)
    values[0, 0], values[0, 1] = 1, 65534  # neighbours of the extremes must stay apart
    path = tmp_path / "g16.png"
    path.write_bytes(png_bytes(16, 16, 16, 0, values.astype(">u2").tobytes()))
    loaded = load_image(path)
    expected = values.astype(np.float32) / np.float32(65535)
    assert np.array_equal(loaded.array, expected)
    assert loaded.info["bits"] == 16 and loaded.info["mode"].startswith("I;16")


def test_8_bit_values_are_divided_by_255_exactly(good):
    loaded = load_image(good["gray8"].path)
    source = np.asarray(Image.open(good["gray8"].path))
    assert np.array_equal(loaded.array, source.astype(np.float32) / np.float32(255))
    assert loaded.info["bits"] == 8 and loaded.info["mode"] == "L"


def test_luminance_uses_bt601_weights_not_pillow_rounding(tmp_path):
    # One pixel where Pillow's integer convert("L") would round to a whole level.
    pixel = np.array([[[10, 200, 31]]], dtype=np.uint8)
    path = tmp_path / "one.png"
    Image.fromarray(pixel).save(path)
    value = float(load_image(path).array[0, 0])
    by_hand = (0.299 * 10 + 0.587 * 200 + 0.114 * 31) / 255
    assert value == pytest.approx(by_hand, abs=1e-7)
    assert abs(value * 255 - round(value * 255)) > 0.01  # not snapped to a level


def test_white_is_exactly_one_and_gray_rgb_equals_gray_pixels(tmp_path):
    levels = np.arange(256, dtype=np.uint8).reshape(16, 16)
    path = tmp_path / "grays.png"
    Image.fromarray(np.dstack([levels] * 3)).save(path)
    values = load_image(path).array
    assert values.max() == 1.0 and values.min() == 0.0
    assert np.array_equal(values, levels / np.float32(255))


def test_rgb_mode_gives_channels_first(good):
    case = good["rgb"]
    loaded = load_image(case.path, color="rgb")
    source = np.asarray(Image.open(case.path)).astype(np.float64) / 255
    assert loaded.array.shape == (3,) + source.shape[:2]
    for c in range(3):
        np.testing.assert_allclose(loaded.array[c], source[..., c], atol=1e-7)
    assert "luminance" not in loaded.info["conversion"]


def test_rgb_mode_on_gray_image_copies_the_channel(good):
    loaded = load_image(good["gray16"].path, color="rgb")
    assert loaded.array.shape == (3, 2, 5)
    for c in range(3):
        np.testing.assert_allclose(loaded.array[c], good["gray16"].gray, atol=1e-7)


def test_rgba_in_rgb_mode_is_composited_over_white(tmp_path):
    pixels = np.array([[[255, 0, 0, 0], [255, 0, 0, 255], [0, 0, 0, 128]]], dtype=np.uint8)
    path = tmp_path / "alpha.png"
    Image.fromarray(pixels, "RGBA").save(path)
    out = load_image(path, color="rgb").array
    half = 128 / 255
    expected = np.array([[[1, 1, 1 - half]], [[1, 0, 1 - half]], [[1, 0, 1 - half]]])
    np.testing.assert_allclose(out, expected.reshape(3, 1, 3), atol=1e-6)


def test_exif_orientation_is_applied_and_reported(good):
    loaded = load_image(good["exif-rotated"].path)
    assert loaded.array.shape == (16, 8)  # stored as 8 rows x 16 cols
    assert loaded.array[:8].max() < 0.05 and loaded.array[8:].min() > 0.95
    assert "rotated 90° clockwise" in loaded.info["conversion"]


def test_bilevel_image_is_zero_and_one(good):
    values = load_image(good["bilevel"].path).array
    assert set(np.unique(values)) == {0.0, 1.0}
    assert load_image(good["bilevel"].path).info["bits"] == 1


def test_multiframe_gif_uses_first_frame(good):
    loaded = load_image(good["multiframe-gif"].path)
    assert loaded.info["frames"] == 3
    assert np.allclose(loaded.array, 10 / 255)


def test_image_with_wrong_extension_is_decoded_by_content(good):
    loaded = load_image(good["misnamed"].path)
    assert loaded.info["format"] == "PNG"
    assert "despite the .jpg extension" in loaded.info["conversion"]


@pytest.mark.parametrize("label", ["space", "unicode", "leading-dash", "shell", "quotes",
                                   "double-dot"])  # fmt: skip
def test_awkward_file_names_load(tmp_path, label):
    path = make_tricky_names(tmp_path)[label]
    np.testing.assert_allclose(load_image(path).array, tricky_expected(), atol=1e-7)


@pytest.mark.parametrize("shape", [(1, 9), (9, 1), (1, 1)])
def test_one_pixel_wide_images_are_valid(tmp_path, shape):
    values = np.arange(np.prod(shape), dtype=np.uint8).reshape(shape) * 20
    path = tmp_path / "thin.png"
    Image.fromarray(values).save(path)
    assert np.array_equal(load_image(path).array, values / np.float32(255))


def test_twelve_megapixel_photo_is_under_the_default_limit(tmp_path):
    assert DEFAULT_MAX_PIXELS >= 4000 * 3000
    path = tmp_path / "photo.png"
    path.write_bytes(encode_png(np.full((3000, 4000), 77, dtype=np.uint8)))
    loaded = load_image(path)
    assert loaded.array.shape == (3000, 4000)
    assert loaded.array[1234, 2345] == np.float32(77) / np.float32(255)


def test_max_pixels_can_be_raised_above_pillows_own_limit(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "big-header.png"
    path.write_bytes(bomb_png(20000, 10000))  # 200 MP: over Pillow's error threshold
    with pytest.raises(InputError) as caught:
        load_image(path, max_pixels=300_000_000)
    # The size is now allowed, so the decoder meets the missing pixel data.
    assert "over the limit" not in str(caught.value)
    assert "PNG" in str(caught.value)
    assert Image.MAX_IMAGE_PIXELS == limit


def test_bad_color_and_max_pixels_are_parameter_errors(good):
    with pytest.raises(ParameterError, match="`color`"):
        load_image(good["gray8"].path, color="hsv")
    with pytest.raises(ParameterError, match="`max_pixels`"):
        load_image(good["gray8"].path, max_pixels=0)


def test_input_file_is_never_written(good):
    path = good["rgb"].path
    before = (path.read_bytes(), os.stat(path).st_mtime_ns)
    load_image(path, color="rgb")
    assert (path.read_bytes(), os.stat(path).st_mtime_ns) == before


# --------------------------------------------------------------------------- stdin bytes


def test_bytes_source_is_sniffed_as_image(good):
    loaded = load_image(good["rgb"].path.read_bytes(), name="stdin")
    np.testing.assert_allclose(loaded.array, good["rgb"].gray, atol=1e-6)
    assert loaded.info["path"] == "stdin" and loaded.info["format"] == "PNG"


def test_bytes_source_npy_csv_and_text():
    matrix = np.array([[1.5, -2.0], [0.25, 3.0]], dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, matrix)
    assert np.array_equal(load_image(buffer.getvalue()).array, matrix)
    assert np.array_equal(load_image(b"1.5, -2\n0.25, 3\n").array, matrix)
    assert np.array_equal(load_image(b"1.5 -2\n0.25\t3\n").array, matrix)
    assert load_image(b"1,2\n3,4\n").info["mode"] == "matrix"


def test_empty_stdin_is_refused():
    with pytest.raises(InputError, match="standard input is empty"):
        load_image(b"")


# --------------------------------------------------------------------------- matrices


def test_matrix_values_are_not_rescaled(tmp_path):
    path = tmp_path / "m.csv"
    path.write_text("# a comment line\n-300, 0.5,  7\n\n1e3,2,-0.125\n")
    loaded = load_image(path)
    expected = np.array([[-300, 0.5, 7], [1000, 2, -0.125]], dtype=np.float32)
    assert np.array_equal(loaded.array, expected)
    assert loaded.array.dtype == np.float32
    assert loaded.info["mode"] == "matrix" and loaded.info["format"] == "CSV"


def test_npy_int_and_bool_are_converted_to_float32(tmp_path):
    path = tmp_path / "ints.npy"
    np.save(path, np.array([[1, -2], [300, 4]], dtype=np.int16))
    assert np.array_equal(load_matrix(path, ext=".npy"), [[1, -2], [300, 4]])
    np.save(path, np.array([[True, False]]))
    out = load_matrix(path, ext=".npy")
    assert out.dtype == np.float32 and out.tolist() == [[1.0, 0.0]]


def test_three_channel_npy_is_accepted_in_rgb_mode(tmp_path):
    path = tmp_path / "cube.npy"
    cube = np.arange(24, dtype=np.float32).reshape(3, 2, 4)
    np.save(path, cube)
    assert np.array_equal(load_image(path, color="rgb").array, cube)
    with pytest.raises(InputError, match=r"\(3, 2, 4\)"):
        load_image(path)


def test_two_d_matrix_in_rgb_mode_is_one_channel(tmp_path):
    path = tmp_path / "m.txt"
    path.write_text("1 2\n3 4\n")
    assert load_image(path, color="rgb").array.shape == (1, 2, 2)


@pytest.mark.parametrize("ext", [".npy", ".csv", ".txt"])
def test_save_matrix_round_trips_float32_exactly(tmp_path, ext):
    rng = np.random.default_rng(3)
    values = (rng.standard_normal((5, 7)) * 10.0 ** rng.integers(-8, 8, (5, 7))).astype(np.float32)
    values[0, :4] = [0.1, -0.0, 1e-30, 3.4e38]
    path = tmp_path / f"m{ext}"
    save_matrix(path, values)
    back = load_matrix(path, ext=ext)
    assert back.dtype == np.float32
    assert np.array_equal(back, values)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]


def test_save_matrix_csv_is_readable_text(tmp_path):
    path = tmp_path / "k.csv"
    save_matrix(path, np.array([[0.1, 1, -2.5]], dtype=np.float32))
    assert path.read_text() == "0.1,1,-2.5\n"


def test_save_matrix_refuses_unknown_extension_and_3d_csv(tmp_path):
    with pytest.raises(ParameterError, match="npy"):
        save_matrix(tmp_path / "m.xls", np.zeros((2, 2)))
    with pytest.raises(ParameterError, match=r"\(2, 2, 2\)"):
        save_matrix(tmp_path / "m.csv", np.zeros((2, 2, 2)))


# --------------------------------------------------------------------------- PNG out


def test_encode_png_uint8_round_trip_with_text(tmp_path):
    pixels = np.arange(60, dtype=np.uint8).reshape(6, 10) * 4
    data = encode_png(pixels, text={"cnnpipe:stage": "conv", "numbers": {"lo": -1.5}})
    path = tmp_path / "a.png"
    path.write_bytes(data)
    with Image.open(path) as im:
        assert im.mode == "L"
        assert np.array_equal(np.asarray(im), pixels)
    text = read_png_text(path)
    assert text["cnnpipe:stage"] == "conv"
    assert json.loads(text["numbers"]) == {"lo": -1.5}


def test_encode_png_uint16_keeps_16_bits(tmp_path):
    pixels = np.array([[0, 1, 256, 65535], [300, 40000, 65534, 2]], dtype=np.uint16)
    path = tmp_path / "b.png"
    path.write_bytes(encode_png(pixels, compression=9))
    assert path.read_bytes()[24] == 16  # IHDR bit depth
    with Image.open(path) as im:
        assert np.array_equal(np.asarray(im), pixels)
    assert np.array_equal(load_image(path).array, pixels / np.float32(65535))


def test_encode_png_rgb_round_trip_and_unicode_text(tmp_path):
    pixels = np.random.default_rng(5).integers(0, 256, (4, 7, 3), dtype=np.uint8)
    path = tmp_path / "c.png"
    path.write_bytes(encode_png(pixels, text={"title": "Kätzchen 猫"}))
    with Image.open(path) as im:
        assert im.mode == "RGB" and np.array_equal(np.asarray(im), pixels)
    assert read_png_text(path)["title"] == "Kätzchen 猫"


def test_encode_png_compression_level_changes_size():
    pixels = np.tile(np.arange(256, dtype=np.uint8), (64, 1))
    assert len(encode_png(pixels, compression=0)) > len(encode_png(pixels, compression=9))


def _png_kinds(rng, h, w):
    palette = rng.integers(0, 256, (256, 3), dtype=np.uint8)
    return [
        ("L", rng.integers(0, 256, (h, w), dtype=np.uint8), None),
        ("I;16", rng.integers(0, 65536, (h, w), dtype=np.uint16), None),
        ("RGB", rng.integers(0, 256, (h, w, 3), dtype=np.uint8), None),
        ("P", rng.integers(0, 256, (h, w), dtype=np.uint8), palette),
    ]


@pytest.mark.parametrize("filter_", ["up", "none"])
@pytest.mark.parametrize("level", [0, 1, 9])
def test_encode_png_is_lossless_for_every_kind_filter_and_level(tmp_path, filter_, level):
    rng = np.random.default_rng(level)
    for mode, pixels, palette in _png_kinds(rng, 37, 23):
        path = tmp_path / f"{mode.replace(';', '')}.png"
        path.write_bytes(encode_png(pixels, compression=level, palette=palette, filter=filter_))
        with Image.open(path) as im:
            assert im.mode == mode
            assert np.array_equal(np.asarray(im), pixels), (mode, filter_, level)
            if palette is not None:
                assert np.array_equal(
                    np.frombuffer(bytes(im.getpalette()), np.uint8).reshape(-1, 3), palette)


def test_encode_png_large_image_spans_row_blocks_and_idat_chunks(tmp_path, monkeypatch):
    from cnnpipe.io import png as _io_write

    # small blocks and chunks, so that block edges (the Up filter's row above) and several
    # IDAT chunks occur in a small image
    monkeypatch.setattr(_io_write, "_ROWS_BYTES", 300)
    monkeypatch.setattr(_io_write, "_IDAT_BYTES", 1000)
    rng = np.random.default_rng(9)
    for mode, pixels, palette in _png_kinds(rng, 61, 50):
        data = encode_png(pixels, palette=palette)
        assert data.count(b"IDAT") > 3
        path = tmp_path / "big.png"
        path.write_bytes(data)
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(im), pixels), mode


def test_encode_png_takes_sliced_and_fortran_ordered_arrays(tmp_path):
    rng = np.random.default_rng(4)
    for pixels in (rng.integers(0, 256, (20, 30), dtype=np.uint8)[:, ::2],
                   np.asfortranarray(rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)),
                   rng.integers(0, 65536, (20, 30), dtype=np.uint16)[::2, ::3]):
        path = tmp_path / "view.png"
        path.write_bytes(encode_png(pixels))
        with Image.open(path) as im:
            assert np.array_equal(np.asarray(im), pixels)


def test_encode_png_up_filter_makes_smooth_maps_smaller():
    ramp = np.add.outer(np.arange(200), np.arange(300)).astype(np.uint8)  # a smooth map
    assert len(encode_png(ramp)) < len(encode_png(ramp, filter="none")) / 2


def test_encode_png_refuses_a_bad_filter_and_key():
    with pytest.raises(ParameterError, match="`filter`"):
        encode_png(np.zeros((2, 2), np.uint8), filter="paeth")
    with pytest.raises(ParameterError, match="text key"):
        encode_png(np.zeros((2, 2), np.uint8), text={"": "x"})


@pytest.mark.parametrize(
    "pixels",
    [np.zeros((2, 2), np.float32), np.zeros((2, 2, 3), np.uint16), np.zeros((2, 2, 4), np.uint8),
     np.zeros(4, np.uint8)],
)  # fmt: skip
def test_encode_png_refuses_other_arrays(pixels):
    with pytest.raises(ParameterError, match="`pixels`"):
        encode_png(pixels)


# --------------------------------------------------------------------------- atomic writes


def test_atomic_write_writes_and_leaves_no_temp_file(tmp_path):
    target = tmp_path / "out.png"
    atomic_write(target, b"first")
    atomic_write(target, b"second version")
    assert target.read_bytes() == b"second version"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_run_makes_each_file_durable_before_its_rename_and_the_folder_before_the_manifest(
        invoke, tmp_path, monkeypatch):
    # "complete or absent" after a power cut too: data reaches the disk before the name
    # does, and the manifest (which says "done") comes after the folder's renames are durable,
    # then the swap of the complete staging folder into place
    events = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd):
        events.append(("fsync", os.path.basename(os.readlink(f"/proc/self/fd/{fd}"))))
        real_fsync(fd)

    def replace(src, dst):
        events.append(("rename", os.path.basename(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    result = invoke("run", str(SAMPLES / "chelsea.png"), "-o", str(tmp_path / "out"), "-q",
                    "-k", "sobel-x")
    assert result.exit_code == 0, result.output
    renames = [i for i, (kind, _) in enumerate(events) if kind == "rename"]
    for i in renames:
        name = events[i][1]
        assert any(events[j][0] == "fsync" and events[j][1].startswith(f".{name}")
                   for j in range(i)), f"{name} renamed before its data was fsynced"
    manifest = max(i for i in renames if events[i][1] == "manifest.json")
    last_map = max(i for i in renames if events[i][1].endswith(".png"))
    # the maps' renames are durable in the staging folder before the manifest lands...
    assert any(events[j][0] == "fsync" and events[j][1].startswith(".chelsea.cnnpipe-staging-")
               for j in range(last_map, manifest))
    # ...and the swap that puts it in place is made durable in OUT after it
    assert ("fsync", "out") in events[manifest:]


def test_atomic_write_respects_umask_not_private_mode(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "f.bin", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f.bin").stat().st_mode & 0o777 == 0o644


def test_atomic_write_on_full_disk_leaves_nothing(tmp_path, monkeypatch):
    seen = []
    real_fsync = os.fsync

    def full_disk(fd):
        seen.append(sorted(p.name for p in tmp_path.iterdir()))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OutputError, match="No space left on device") as caught:
        atomic_write(tmp_path / "map.png", b"data")
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert "map.png" in str(caught.value)
    assert seen and seen[0][0].startswith(".map.png.cnnpipe-tmp-")  # the temp file existed
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_keeps_old_file_when_replace_fails(tmp_path, monkeypatch):
    target = tmp_path / "keep.txt"
    target.write_bytes(b"old complete file")

    def broken_replace(src, dst):
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OutputError, match="Input/output error"):
        atomic_write(target, b"new")
    assert target.read_bytes() == b"old complete file"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_atomic_write_removes_temp_file_on_interrupt(tmp_path, monkeypatch):
    def interrupted(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", interrupted)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "x.png", b"data")
    assert list(tmp_path.iterdir()) == []


def test_atomic_write_into_missing_or_unwritable_folder(tmp_path, monkeypatch):
    with pytest.raises(OutputError, match="No such file or directory"):
        atomic_write(tmp_path / "no-such-folder" / "x.png", b"data")
    real_open = os.open

    def read_only_open(path, flags, *args):
        if flags & os.O_CREAT:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    # A chmod'ed folder would not stop root, so the refusal is simulated.
    monkeypatch.setattr(os, "open", read_only_open)
    with pytest.raises(OutputError, match="Permission denied"):
        atomic_write(tmp_path / "x.png", b"data")
    monkeypatch.setattr(os, "open", real_open)
    assert list(tmp_path.iterdir()) == []


def test_luma_helper_matches_weights():
    # The expectation helper itself: pure red, green and blue give the weights.
    out = luma(np.eye(3).reshape(1, 3, 3))
    assert out.tolist() == [list(LUMA)]


def test_csv_from_a_spreadsheet_with_bom_and_crlf(tmp_path):
    path = tmp_path / "excel.csv"
    path.write_bytes(b"\xef\xbb\xbf1, 2 ,3\r\n4,5,6\r\n")
    assert load_matrix(path, ext=".csv").tolist() == [[1, 2, 3], [4, 5, 6]]


@settings(max_examples=80, deadline=None)
@given(
    arrays(
        np.float32,
        array_shapes(min_dims=2, max_dims=2, max_side=6),
        elements=st.floats(width=32, allow_nan=False, allow_infinity=False),
    ),
    st.sampled_from([".npy", ".csv", ".txt"]),
)
def test_any_finite_float32_matrix_survives_save_and_load(tmp_path_factory, values, ext):
    path = tmp_path_factory.mktemp("prop") / f"m{ext}"
    save_matrix(path, values)
    back = load_matrix(path, ext=ext)
    # -0.0 and 0.0 are equal values; everything else must match bit for bit.
    assert np.array_equal(back, values) and back.shape == values.shape


def test_a_matrix_with_semicolons_says_which_separators_are_read(invoke, tmp_path):
    # "non-numeric value '1;2;3'" left the user guessing; commas, spaces and tabs all work
    # whatever the extension (tests/test_matrix_separators.py)
    (tmp_path / "semis.csv").write_text("1;2;3\n4;5;6\n7;8;9\n")
    result = invoke("run", tmp_path / "semis.csv", "-k", "1", "-o", tmp_path / "out")
    assert result.exit_code == 1
    first = result.stderr.splitlines()[0]
    assert "non-numeric value" in first and "commas, spaces or tabs" in first, first
