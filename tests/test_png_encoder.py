"""The PNG encoder's deflate: ISA-L when installed, zlib otherwise; same pixels either way."""

import io as _io
import zlib

import numpy as np
import pytest
from PIL import Image

from cnnpipe.io import png


def _maps():
    rng = np.random.default_rng(7)
    smooth = np.cumsum(rng.normal(size=(97, 131)), axis=1)
    gray8 = np.round((smooth - smooth.min()) / np.ptp(smooth) * 255).astype(np.uint8)
    gray16 = rng.integers(0, 65536, size=(40, 33), dtype=np.uint16)
    rgb = rng.integers(0, 256, size=(25, 18, 3), dtype=np.uint8)
    return {"gray8": gray8, "gray16": gray16, "rgb": rgb}


def _decode(data: bytes) -> np.ndarray:
    with Image.open(_io.BytesIO(data)) as im:
        im.load()
        return np.asarray(im)


@pytest.mark.parametrize("kind", ["gray8", "gray16", "rgb"])
@pytest.mark.parametrize("level", [0, 1, 3, 6, 9])
def test_fast_and_fallback_deflate_decode_to_the_same_pixels(monkeypatch, kind, level):
    pixels = _maps()[kind]
    fast = png.encode_png(pixels, compression=level)
    monkeypatch.setattr(png, "_fast_zlib", None)  # a machine without isal
    plain = png.encode_png(pixels, compression=level)
    expected = pixels if kind != "gray16" else pixels.astype(np.int32)
    assert np.array_equal(_decode(fast).astype(expected.dtype), expected)
    assert np.array_equal(_decode(plain).astype(expected.dtype), expected)


def test_isal_is_used_for_the_default_level_when_installed():
    # isal is a runtime dependency: the default (level 1) must take the fast path,
    # and its stream is a standard zlib stream
    assert png._fast_zlib is not None
    deflater = png._compressor(1)
    assert type(deflater) is not type(zlib.compressobj(1))
    data = bytes(range(256)) * 64
    stream = deflater.compress(data) + deflater.flush()
    assert zlib.decompress(stream) == data


def test_levels_outside_isal_range_use_zlib():
    assert type(png._compressor(0)) is type(zlib.compressobj(0))
    assert type(png._compressor(9)) is type(zlib.compressobj(9))


def test_palette_png_round_trips_with_fast_deflate():
    indices = np.arange(256, dtype=np.uint8).reshape(16, 16)
    palette = np.stack([np.arange(256), 255 - np.arange(256), np.zeros(256)], 1).astype(np.uint8)
    with Image.open(_io.BytesIO(png.encode_png(indices, palette=palette))) as im:
        assert im.mode == "P"
        assert np.array_equal(np.asarray(im), indices)
        assert np.array_equal(np.asarray(im.convert("RGB"))[0, :16], palette[:16])
