"""cnnpipe.io on hostile and broken inputs: every one is a clear InputError, quickly."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
import warnings

import numpy as np
import pytest
from hostile import bomb_png, make_corpus, make_good_images
from PIL import Image, ImageFile

from cnnpipe.errors import InputError
from cnnpipe.io import load_image, load_matrix

CORPUS_NAMES = [
    "missing", "directory", "empty", "random-bytes", "text-as-image",
    "truncated-png", "truncated-jpg", "truncated-gif", "truncated-tif", "truncated-webp",
    "bad-crc-ihdr", "bad-crc-idat", "eps", "eps-as-png", "psd", "ico",
    "bomb-png", "over-limit-png", "bomb-gif", "bomb-gif-frame",
    "pickle-npy", "complex-npy", "cube-npy", "vector-npy", "zero-size-npy", "nan-npy",
    "truncated-npy", "not-npy",
    "nan-csv", "inf-txt", "ragged-csv", "non-numeric-csv", "empty-cell-csv", "blank-csv",
    "binary-csv", "fifo", "device", "symlink-loop", "broken-symlink",
]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return make_corpus(tmp_path_factory.mktemp("hostile"))


def test_corpus_has_every_category(corpus):
    assert sorted(corpus) == sorted(CORPUS_NAMES)


def _load_with_timeout(path, seconds=5.0, **kwargs):
    """Load in a thread so that a hang (e.g. on a FIFO) fails the test instead of blocking."""
    outcome = {}

    def target():
        try:
            outcome["value"] = load_image(path, **kwargs)
        except BaseException as exc:  # noqa: BLE001 - handed back to the test
            outcome["error"] = exc

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"loading {path} hung"
    return outcome


@pytest.mark.parametrize("name", CORPUS_NAMES)
def test_hostile_file_is_refused_with_a_clear_reason(corpus, name):
    path, reason = corpus[name]
    started = time.perf_counter()
    outcome = _load_with_timeout(path)
    elapsed = time.perf_counter() - started
    error = outcome.get("error")
    assert isinstance(error, InputError), f"{name}: got {outcome}"
    message = str(error)
    assert reason in message
    assert "\n" not in message and "Traceback" not in message
    assert str(path) not in message  # the caller adds the path once
    assert elapsed < 1.0


def test_size_bomb_is_refused_before_decoding(corpus, monkeypatch):
    path, _ = corpus["bomb-png"]
    calls = []
    real_load = ImageFile.ImageFile.load

    def spy(self):
        calls.append(self)
        return real_load(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", spy)
    started = time.perf_counter()
    with pytest.raises(InputError, match=r"900\.0 megapixels, over the limit of 64\.0"):
        load_image(path)
    assert time.perf_counter() - started < 0.5
    assert calls == []


def test_own_limit_names_the_size(tmp_path):
    path = tmp_path / "wide.png"
    path.write_bytes(bomb_png(200, 100))
    expected = r"200 wide x 100 high = 20,000 pixels, over the limit of 19,999 pixels"
    with pytest.raises(InputError, match=expected):
        load_image(path, max_pixels=19_999)


def test_matrix_over_the_limit_is_refused_from_its_header(tmp_path):
    path = tmp_path / "big.npy"
    np.save(path, np.zeros((100, 50), dtype=np.float32))
    with pytest.raises(InputError, match="over the limit"):
        load_matrix(path, ext=".npy", max_pixels=4999)
    assert load_matrix(path, ext=".npy", max_pixels=5000).shape == (100, 50)


def test_pickle_is_never_unpickled(tmp_path, monkeypatch):
    import pickle

    path, _ = make_corpus(tmp_path)["pickle-npy"]

    def no_unpickling(*args, **kwargs):
        raise AssertionError("unpickled")

    monkeypatch.setattr(pickle, "load", no_unpickling)
    monkeypatch.setattr(pickle, "loads", no_unpickling)
    with pytest.raises(InputError, match="object arrays are not supported"):
        load_image(path)


def test_pillow_global_settings_are_left_as_found(corpus, good_png):
    bomb, _ = corpus["bomb-png"]
    truncated, _ = corpus["truncated-png"]
    limit, lenient = Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES
    for path, max_pixels in ((bomb, 64_000_000), (truncated, 500_000_000), (good_png, 10**9)):
        with pytest.raises(InputError) if path != good_png else contextlib.nullcontext():
            load_image(path, max_pixels=max_pixels)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES) == (limit, lenient)


def test_truncated_image_is_refused_even_if_pillow_was_told_to_accept_it(corpus, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    path, reason = corpus["truncated-jpg"]
    with pytest.raises(InputError, match=reason):
        load_image(path)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the caller's setting is restored


def test_no_decompression_bomb_warning_escapes(corpus):
    path, _ = corpus["bomb-png"]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError):
            load_image(path, max_pixels=500_000_000)


def test_unreadable_file_is_refused(good_png, monkeypatch):
    # chmod 000 does not stop root, so the refusal of the OS is simulated.
    real_open = os.open

    def denied(path, flags, *args):
        if os.fspath(path) == os.fspath(good_png):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_open(path, flags, *args)

    monkeypatch.setattr(os, "open", denied)
    with pytest.raises(InputError, match="permission denied"):
        load_image(good_png)


def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "stream.png"
    os.mkfifo(fifo)
    outcome = _load_with_timeout(fifo, seconds=3.0)
    assert "not a regular file" in str(outcome.get("error"))


def test_reading_png_text_of_a_size_bomb_is_refused(corpus):
    from cnnpipe.io import read_png_text

    path, _ = corpus["bomb-png"]
    with pytest.raises(InputError, match="over the limit"):
        read_png_text(path)


def test_stdin_bytes_with_unsupported_format_are_refused():
    with pytest.raises(InputError, match="format PSD is not supported"):
        load_image(b"8BPS\x00\x01" + b"\x00" * 40)
    with pytest.raises(InputError, match="unrecognised contents"):
        load_image(bytes(range(256)) * 4)


def test_unknown_extension_with_unknown_contents(tmp_path):
    path = tmp_path / "data.xyz"
    path.write_bytes(b"hello")
    with pytest.raises(InputError, match=r"unsupported file extension '\.xyz'"):
        load_image(path)


def test_valid_png_with_unknown_extension_is_decoded(tmp_path, good_png):
    path = tmp_path / "picture.data"
    path.write_bytes(good_png.read_bytes())
    loaded = load_image(path)
    assert loaded.info["format"] == "PNG"
    assert "despite the .data extension" in loaded.info["conversion"]


def test_32_bit_integer_image_out_of_16_bit_range_is_refused(tmp_path):
    path = tmp_path / "i32.tif"
    Image.fromarray(np.array([[0, 70000]], dtype=np.int32)).save(path)
    with pytest.raises(InputError, match="outside 0..65535"):
        load_image(path)


@pytest.fixture(scope="module")
def good_png(tmp_path_factory):
    return make_good_images(tmp_path_factory.mktemp("good-for-hostile"))["gray8"].path


def test_text_matrix_values_beyond_float32_are_refused_but_its_max_is_not(tmp_path):
    path = tmp_path / "edge.csv"
    path.write_text("3.4028235e+38,-3.4028235e+38\n")
    assert np.isfinite(load_matrix(path, ext=".csv")).all()
    path.write_text("1,2\n3,1e39\n")
    with pytest.raises(InputError, match="beyond float32\\) at row 2, column 2"):
        load_matrix(path, ext=".csv")
