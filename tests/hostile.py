"""Generators of good, hostile and edge-case input files for cnnpipe tests.

Nothing binary is committed: every file is made on the fly into a folder
(usually pytest's ``tmp_path``). Import from any test module::

    from hostile import make_corpus, make_good_images, make_tricky_names

- :func:`make_good_images`: valid images in every supported format and mode,
  each with the gray array cnnpipe must load, computed here from the known
  source pixels with plain formulas (not by cnnpipe).
- :func:`make_corpus`: files that must be refused, each with a substring of
  the reason cnnpipe gives.
- :func:`make_tricky_names`: valid images whose *names* are awkward (spaces,
  Unicode, leading dash, shell metacharacters).
- :func:`png_bytes`: a minimal PNG writer (no Pillow) for crafted headers.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

LUMA = (0.299, 0.587, 0.114)

#: A multiple of 8 so JPEG blocks hold flat colours and decode almost exactly.
SIDE = 16


@dataclass
class GoodImage:
    """A valid image and what loading it in gray must give.

    Attributes
    ----------
    path : Path
    gray : ndarray
        float64 expected gray values (H, W) in [0, 1].
    atol : float
        Tolerance: tiny for lossless formats, a few levels for JPEG.
    note : str
        A substring expected in ``info["conversion"]`` ("" for none).
    """

    path: Path
    gray: np.ndarray
    atol: float = 1e-6
    note: str = ""


# --------------------------------------------------------------------------- raw PNG


def png_chunk(kind: bytes, data: bytes) -> bytes:
    """One PNG chunk: length, type, data, CRC-32 of type + data."""
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bytes(width, height, bit_depth, color_type, rows: bytes, *, declared=None) -> bytes:
    """A PNG written by hand (filter type 0 on every row).

    ``rows`` is the raw scanline data without filter bytes; ``declared``
    overrides the (width, height) written in IHDR, to craft lying headers.
    """
    w, h = declared or (width, height)
    stride = len(rows) // height if height else 0
    raw = b"".join(b"\x00" + rows[i * stride : (i + 1) * stride] for i in range(height))
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", ihdr)
        + png_chunk(b"IDAT", zlib.compress(raw))
        + png_chunk(b"IEND", b"")
    )


def bomb_png(width=30000, height=30000) -> bytes:
    """A PNG whose IHDR claims ``width`` x ``height`` but holds one tiny row.

    Only a loader that checks the size before decoding rejects it quickly.
    """
    return png_bytes(1, 1, 8, 0, b"\x00", declared=(width, height))


def _pillow_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _gray_ramp(height=SIDE, width=SIDE + 4) -> np.ndarray:
    """Distinct uint8 values in a non-square array (shape mistakes show)."""
    return ((np.arange(height * width) * 7) % 256).astype(np.uint8).reshape(height, width)


def _rgb_source(seed=1, height=SIDE, width=SIDE + 4) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def luma(rgb: np.ndarray) -> np.ndarray:
    """BT.601 luminance of an (H, W, 3) array in [0, 1], float64, by a plain loop."""
    out = np.zeros(rgb.shape[:2])
    for i in range(rgb.shape[0]):
        for j in range(rgb.shape[1]):
            r, g, b = (float(v) for v in rgb[i, j])
            out[i, j] = LUMA[0] * r + LUMA[1] * g + LUMA[2] * b
    return out


def _flat_patches(values: list[tuple], height=SIDE, width=2 * SIDE) -> np.ndarray:
    """4 x 8-aligned patches side by side, each a flat colour (JPEG-friendly)."""
    patch_w = width // len(values) if width % len(values) == 0 else 8
    out = np.zeros((height, patch_w * len(values), len(values[0])), dtype=np.uint8)
    for k, value in enumerate(values):
        out[:, k * patch_w : (k + 1) * patch_w] = value
    return out


# --------------------------------------------------------------------------- good images


def make_good_images(folder) -> dict[str, GoodImage]:
    """Write one valid image per supported format and mode into ``folder``.

    Returns ``{name: GoodImage}``. Names: ``gray8``, ``gray16``, ``rgb``,
    ``rgba``, ``la``, ``palette``, ``palette-transparent``, ``bilevel``,
    ``cmyk-jpeg``, ``exif-rotated``, ``bmp``, ``gif``, ``webp``, ``tiff16``,
    ``rgb16-png``, ``multiframe-gif``, ``misnamed`` (a PNG called ``.jpg``).
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, GoodImage] = {}

    def put(name, filename, data, gray, **kw):
        path = folder / filename
        path.write_bytes(data)
        out[name] = GoodImage(path, np.asarray(gray, dtype=np.float64), **kw)

    ramp = _gray_ramp()
    put("gray8", "gray8.png", _pillow_bytes(Image.fromarray(ramp), "PNG"), ramp / 255.0)

    values16 = np.array([[0, 1, 2, 255, 256], [1000, 12345, 32768, 65534, 65535]], dtype=np.uint16)
    put("gray16", "gray16.png", png_bytes(5, 2, 16, 0, values16.astype(">u2").tobytes()),
        values16 / 65535.0, note="16-bit")  # fmt: skip

    rgb = _rgb_source()
    put("rgb", "rgb.png", _pillow_bytes(Image.fromarray(rgb), "PNG"), luma(rgb / 255.0),
        note="BT.601")  # fmt: skip

    rgba = np.dstack([rgb, np.linspace(0, 255, rgb.shape[1]).astype(np.uint8)[None, :]
                      .repeat(rgb.shape[0], 0)])  # fmt: skip
    alpha = rgba[..., 3:4] / 255.0
    over_white = rgb / 255.0 * alpha + (1 - alpha)
    put("rgba", "rgba.png", _pillow_bytes(Image.fromarray(rgba, "RGBA"), "PNG"),
        luma(over_white), note="over white")  # fmt: skip

    la = np.dstack([ramp, ramp[::-1, ::-1]])
    a = la[..., 1] / 255.0
    put("la", "la.png", _pillow_bytes(Image.fromarray(la, "LA"), "PNG"),
        ramp / 255.0 * a + (1 - a), note="over white")  # fmt: skip

    palette = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [40, 80, 120]], dtype=np.uint8)
    index = (np.arange(SIDE * SIDE) % 4).astype(np.uint8).reshape(SIDE, SIDE)
    p_image = Image.fromarray(index, "P")
    p_image.putpalette(palette.flatten().tolist())
    put("palette", "palette.png", _pillow_bytes(p_image, "PNG"),
        luma(palette[index] / 255.0), note="palette")  # fmt: skip
    expected = luma(palette[index] / 255.0)
    expected[index == 3] = 1.0  # the transparent entry shows the white background
    put("palette-transparent", "palette-transparent.png",
        _pillow_bytes(p_image, "PNG", transparency=3), expected, note="over white")  # fmt: skip

    bits = ramp > 100
    put("bilevel", "bilevel.png", _pillow_bytes(Image.fromarray(bits), "PNG"),
        bits.astype(float), note="1-bit")  # fmt: skip

    # CMYK patches with one ink each at full strength; Pillow's CMYK -> RGB is
    # R = (255 - C)(255 - K) / 255, and so on.
    inks = [(0, 0, 0, 0), (255, 0, 0, 0), (0, 255, 0, 0), (0, 0, 0, 255)]
    cmyk = _flat_patches(inks).astype(np.int64)
    cmyk_rgb = np.stack([(255 - cmyk[..., c]) * (255 - cmyk[..., 3]) / 255.0 for c in range(3)],
                        axis=-1)  # fmt: skip
    cmyk_image = Image.fromarray(cmyk.astype(np.uint8), "CMYK")
    put("cmyk-jpeg", "cmyk.jpg", _pillow_bytes(cmyk_image, "JPEG", quality=100),
        luma(cmyk_rgb / 255.0), atol=4 / 255, note="CMYK")  # fmt: skip

    # 8 rows x 16 cols, left half black, right half white, EXIF orientation 6
    # ("rotate 90° clockwise to view"): seen as 16 rows x 8 cols, top half black.
    stored = np.zeros((8, 16), dtype=np.uint8)
    stored[:, 8:] = 255
    exif = Image.Exif()
    exif[0x0112] = 6
    put("exif-rotated", "exif-rotated.jpg",
        _pillow_bytes(Image.fromarray(stored), "JPEG", quality=100, exif=exif.tobytes()),
        np.rot90(stored, k=-1) / 255.0, atol=4 / 255, note="EXIF orientation 6")  # fmt: skip

    put("bmp", "rgb.bmp", _pillow_bytes(Image.fromarray(rgb), "BMP"), luma(rgb / 255.0))
    put("gif", "gray.gif", _pillow_bytes(Image.fromarray(ramp), "GIF"), ramp / 255.0)
    put("webp", "rgb.webp", _pillow_bytes(Image.fromarray(rgb), "WEBP", lossless=True),
        luma(rgb / 255.0))  # fmt: skip
    wide16 = (np.arange(SIDE * SIDE, dtype=np.uint32) * 257 % 65536).astype(np.uint16)
    wide16 = wide16.reshape(SIDE, SIDE)
    put("tiff16", "gray16.tif", _pillow_bytes(Image.fromarray(wide16), "TIFF"), wide16 / 65535.0,
        note="16-bit")  # fmt: skip

    # 16-bit colour PNG: Pillow keeps only the high byte of each sample.
    rgb16 = np.array([[[0, 1000, 65535], [0x1234, 0xABCD, 0x00FF]]], dtype=np.uint16)
    high = (rgb16 >> 8) / 255.0
    put("rgb16-png", "rgb16.png", png_bytes(2, 1, 16, 2, rgb16.astype(">u2").tobytes()),
        luma(high), note="8 bits")  # fmt: skip

    frames = [Image.fromarray(np.full((8, 12), v, dtype=np.uint8)) for v in (10, 128, 250)]
    buffer = io.BytesIO()
    frames[0].save(buffer, "GIF", save_all=True, append_images=frames[1:], duration=50)
    put("multiframe-gif", "frames.gif", buffer.getvalue(), np.full((8, 12), 10 / 255.0),
        note="first of 3 frames")  # fmt: skip

    put("misnamed", "really-a-png.jpg", _pillow_bytes(Image.fromarray(ramp), "PNG"),
        ramp / 255.0, note="contents are PNG despite the .jpg extension")  # fmt: skip
    return out


def make_tricky_names(folder) -> dict[str, Path]:
    """Valid 8-bit gray PNGs (the :func:`_gray_ramp` pixels) with awkward names.

    Returns ``{label: path}``; every file must load exactly like ``gray8``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data = _pillow_bytes(Image.fromarray(_gray_ramp()), "PNG")
    names = {
        "space": "with space.png",
        "unicode": "ünïcødé 画像.png",
        "leading-dash": "-leading-dash.png",
        "shell": "semi;colon $(echo x) `y` & | * ? [a].png",
        "quotes": 'it\'s "quoted".png',
        "double-dot": "archive.tar.png",
    }
    out = {}
    for label, name in names.items():
        path = folder / name
        path.write_bytes(data)
        out[label] = path
    return out


def tricky_expected() -> np.ndarray:
    """The gray values every :func:`make_tricky_names` file holds, in [0, 1]."""
    return _gray_ramp() / 255.0


# --------------------------------------------------------------------------- hostile files


def make_corpus(folder) -> dict[str, tuple[Path, str]]:
    """Write files that cnnpipe must refuse into ``folder``.

    Returns ``{name: (path, reason_substring)}``: loading ``path`` with
    ``cnnpipe.io.load_image`` must raise ``InputError`` whose message contains
    ``reason_substring``. Covers missing paths, directories, empty files,
    random bytes, text posing as an image, truncated PNG/JPEG/GIF/TIFF, bad
    PNG checksums, formats outside the allowlist (EPS, PSD, ICO), size bombs,
    bad matrices (pickled objects, NaN, ragged rows, non-numeric cells, wrong
    dimensions), a FIFO, a device, a symlink loop and a broken symlink.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    corpus: dict[str, tuple[Path, str]] = {}

    def put(name, filename, data, reason):
        path = folder / filename
        path.write_bytes(data)
        corpus[name] = (path, reason)

    corpus["missing"] = (folder / "does-not-exist.png", "file not found")
    (folder / "a-folder.png").mkdir(exist_ok=True)
    corpus["directory"] = (folder / "a-folder.png", "is a directory")
    put("empty", "empty.png", b"", "file is empty")
    noise = np.random.default_rng(7).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    put("random-bytes", "noise.png", b"\x00\x17" + noise, "not an image: unrecognised")
    put("text-as-image", "notes.jpg", b"These are my notes, not a photo.\n" * 20,
        "not an image: the file contains text")  # fmt: skip

    gray = Image.fromarray(_gray_ramp(64, 64))
    for fmt, ext in (("PNG", "png"), ("JPEG", "jpg"), ("GIF", "gif"), ("TIFF", "tif")):
        data = _pillow_bytes(gray, fmt)
        put(f"truncated-{ext}", f"truncated.{ext}", data[: len(data) // 2],
            f"truncated {fmt} file")  # fmt: skip

    webp = _pillow_bytes(gray, "WEBP")
    put("truncated-webp", "truncated.webp", webp[: len(webp) // 2], "truncated WebP file")

    png = _pillow_bytes(gray, "PNG")
    ihdr_crc = 8 + 8 + 13  # signature, IHDR length + type, IHDR data
    bad = bytearray(png)
    bad[ihdr_crc] ^= 0xFF
    put("bad-crc-ihdr", "bad-crc-ihdr.png", bytes(bad), "checksum")
    bad = bytearray(png)
    bad[-12 - 1] ^= 0xFF  # last byte of the IDAT CRC, just before IEND
    put("bad-crc-idat", "bad-crc-idat.png", bytes(bad), "checksum of the IDAT chunk")

    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    put("eps", "figure.eps", eps, "format EPS is not supported")
    put("eps-as-png", "figure.png", eps, "format EPS is not supported")
    psd = b"8BPS\x00\x01" + b"\x00" * 6 + struct.pack(">HIIHH", 3, 10, 10, 8, 3) + b"\x00" * 64
    put("psd", "layers.psd", psd, "format PSD is not supported")
    put("ico", "favicon.ico", _pillow_bytes(gray.resize((16, 16)), "ICO"),
        "format ICO is not supported")  # fmt: skip

    put("bomb-png", "bomb.png", bomb_png(30000, 30000), "megapixels, over the limit")
    put("over-limit-png", "just-over.png", bomb_png(8001, 8000),
        "8001 wide x 8000 high = 64.0 megapixels, over the limit of 64.0 megapixels")  # fmt: skip
    gif_bomb = (b"GIF89a" + struct.pack("<HHBBB", 30000, 30000, 0, 0, 0)
                + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)
                + b"\x02\x02\x44\x01\x00\x3b")  # fmt: skip
    put("bomb-gif", "bomb.gif", gif_bomb, "megapixels, over the limit")
    # A 1x1 screen whose first frame claims 30000x30000: the frame counts.
    frame_bomb = (b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0, 0, 0)
                  + b"\x2c" + struct.pack("<HHHHB", 0, 0, 30000, 30000, 0)
                  + b"\x02\x02\x44\x01\x00\x3b")  # fmt: skip
    put("bomb-gif-frame", "bomb-frame.gif", frame_bomb, "megapixels, over the limit")

    buffer = io.BytesIO()
    np.save(buffer, np.array([{"evil": 1}, None], dtype=object), allow_pickle=True)
    put("pickle-npy", "pickle.npy", buffer.getvalue(), "object arrays are not supported")
    put("complex-npy", "complex.npy", _npy(np.ones((2, 2), dtype=complex)), "complex")
    put("cube-npy", "cube.npy", _npy(np.zeros((3, 4, 5), dtype=np.float32)), "(3, 4, 5)")
    put("vector-npy", "vector.npy", _npy(np.arange(5.0)), "shape (5,)")
    put("zero-size-npy", "zero.npy", _npy(np.zeros((0, 3))), "empty")
    put("nan-npy", "nan.npy", _npy(np.array([[1.0, 2.0], [np.nan, 4.0]])),
        "contains NaN at row 2, column 1")  # fmt: skip
    whole = _npy(np.arange(100.0).reshape(10, 10))
    put("truncated-npy", "truncated.npy", whole[: len(whole) - 40], "truncated .npy")
    put("not-npy", "fake.npy", b"1,2,3\n", "not a .npy file")

    put("nan-csv", "nan.csv", b"1,2,3\n4,5,nan\n", "contains NaN at row 2, column 3")
    put("inf-txt", "inf.txt", b"1 2\n3 inf\n", "contains infinity")
    put("ragged-csv", "ragged.csv", b"1,2,3\n4,5,6\n7,8\n", "row 3 has 2 values; expected 3")
    put("non-numeric-csv", "words.csv", b"1,2\nabc,4\n",
        "non-numeric value 'abc' at row 2, column 1")  # fmt: skip
    put("empty-cell-csv", "hole.csv", b"1,,3\n", "empty value at row 1, column 2")
    put("blank-csv", "blank.csv", b"\n  \n\n", "no numbers")
    put("binary-csv", "binary.csv", b"\xff\xfe\x00\x01garbage", "not UTF-8")

    fifo = folder / "pipe.png"
    if hasattr(os, "mkfifo"):
        os.mkfifo(fifo)
        corpus["fifo"] = (fifo, "not a regular file")
    if Path("/dev/null").exists():
        corpus["device"] = (Path("/dev/null"), "not a regular file")
    loop = folder / "loop.png"
    os.symlink(loop.name, loop)
    corpus["symlink-loop"] = (loop, "symbolic link loop")
    dangling = folder / "dangling.png"
    os.symlink("nowhere.png", dangling)
    corpus["broken-symlink"] = (dangling, "broken symbolic link")
    return corpus


def make_more_matrices(folder) -> dict[str, tuple[Path, str]]:
    """Further refused matrices, in the format of :func:`make_corpus`: a 4-D and an inf ``.npy``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made = {
        "4d-npy": ("batch.npy", np.zeros((2, 3, 4, 5), dtype=np.float32),
                   "shape (2, 3, 4, 5); expected 2-D (rows, cols) or 3-D"),
        "inf-npy": ("inf.npy", np.array([[1.0, np.inf]], dtype=np.float32),
                    "contains infinity (or a value beyond float32) at row 1, column 2"),
    }
    corpus = {}
    for name, (filename, array, reason) in made.items():
        (folder / filename).write_bytes(_npy(array))
        corpus[name] = (folder / filename, reason)
    return corpus


def _npy(array) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()
