"""Pillow image -> float32 pixels in [0, 1]: one function per family of modes.

Every conversion is said in ``notes`` (it ends up in the manifest's ``conversion``).
"""

from __future__ import annotations

import numpy as np

from cnnpipe.errors import InputError
from cnnpipe.io.common import LUMA_WEIGHTS

#: Pillow modes Pillow converts to RGB (or RGBA) for us first, and the target.
_CONVERTED = {"CMYK": "RGB", "YCbCr": "RGB", "LAB": "RGB", "HSV": "RGB", "RGBX": "RGB",
              "RGBa": "RGBA", "La": "RGBA"}


def to_float(im, color, notes) -> tuple[np.ndarray, int]:
    """Pixels in [0, 1] as float32, (H, W) or (3, H, W), and the source's bits per value."""
    gray = _one_channel(im)
    if gray is not None:
        values, what, bits = gray
        return _gray_out(values, color, notes, what), bits
    im = _as_rgb_family(im, notes)
    if im.mode == "LA":
        pixels = np.asarray(im, dtype=np.float32) / np.float32(255)
        notes.append("alpha composited over white")
        return _gray_out(_over_white(pixels[..., 0], pixels[..., 1]), color, notes,
                         "8-bit gray / 255"), 8
    if im.mode not in ("RGB", "RGBA"):
        raise InputError(f"image mode {im.mode} is not supported")
    return _rgb(im, color, notes), 8


def _one_channel(im):
    """(values, how they were scaled, bits) for the one-channel modes; None for others."""
    mode = im.mode
    if mode == "1":
        return np.asarray(im, dtype=np.float32), "1-bit black/white -> 0/1", 1
    if mode == "L":
        return np.asarray(im, dtype=np.float32) / np.float32(255), "8-bit gray / 255", 8
    if mode.startswith("I;16"):
        return (np.asarray(im).astype(np.float32) / np.float32(65535), "16-bit gray / 65535",
                16)
    if mode == "I":
        values = np.asarray(im)
        if values.size and (values.min() < 0 or values.max() > 65535):
            raise InputError("32-bit integer image with values outside 0..65535 is not supported")
        return (values.astype(np.float32) / np.float32(65535),
                "integer gray / 65535 (16-bit range)", 16)
    if mode == "F":
        values = np.asarray(im, dtype=np.float32)
        if not np.isfinite(values).all():
            raise InputError("floating-point image contains NaN or infinity")
        return values, "32-bit float values used as they are", 32
    return None


def _as_rgb_family(im, notes):
    """Palette and other colour modes as RGB, RGBA (or LA, kept), said in ``notes``."""
    mode = im.mode
    if mode in ("P", "PA"):
        has_alpha = mode == "PA" or "transparency" in im.info
        im = im.convert("RGBA" if has_alpha else "RGB")
        notes.append("palette expanded to " + im.mode)
    elif mode in _CONVERTED:
        try:
            im = im.convert(_CONVERTED[mode])
        except ValueError:
            raise InputError(f"image mode {mode} is not supported") from None
        notes.append(f"{mode} -> {_CONVERTED[mode]} (Pillow)")
    return im


def _rgb(im, color, notes) -> np.ndarray:
    """An RGB or RGBA image as (3, H, W) for --color rgb, else as BT.601 luminance."""
    if im.mode == "RGB" and color == "gray":
        notes.append("8-bit RGB / 255")
        notes.append("RGB -> luminance (BT.601: 0.299 R + 0.587 G + 0.114 B)")
        return _luma_exact(np.asarray(im))
    pixels = np.asarray(im, dtype=np.float32) / np.float32(255)
    rgb = [pixels[..., c] for c in range(3)]
    notes.append("8-bit RGB / 255")
    if im.mode == "RGBA":
        alpha = pixels[..., 3]
        rgb = [_over_white(c, alpha) for c in rgb]
        notes.append("alpha composited over white")
    if color == "rgb":
        return np.ascontiguousarray(np.stack(rgb), dtype=np.float32)
    r, g, b = rgb
    wr, wg, wb = (np.float32(w) for w in LUMA_WEIGHTS)
    notes.append("RGB -> luminance (BT.601: 0.299 R + 0.587 G + 0.114 B)")
    # Float rounding could step just past 1.0 for white; [0, 1] is a promise.
    return np.clip(wr * r + wg * g + wb * b, 0, 1).astype(np.float32)


def _luma_exact(rgb8: np.ndarray) -> np.ndarray:
    """BT.601 luminance of uint8 RGB in integer arithmetic, one rounding at the end.

    299 R + 587 G + 114 B is exact in int32 and below 2**24, so the single
    float32 division makes white exactly 1.0 and a gray (v, v, v) exactly
    the same value as an 8-bit gray pixel v.
    """
    out = np.empty(rgb8.shape[:2], dtype=np.float32)
    # Blocks of about a million pixels keep the int32 temporaries small: whole-image
    # temporaries cost 150 MB on a 12 MP photo, more than the result itself.
    step = max(1, (1 << 20) // max(1, rgb8.shape[1]))
    for top in range(0, rgb8.shape[0], step):
        block = rgb8[top:top + step]
        weighted = np.zeros(block.shape[:2], dtype=np.int32)
        for weight, channel in zip((299, 587, 114), range(3), strict=True):
            part = block[..., channel].astype(np.int32)
            part *= weight
            weighted += part
        np.divide(weighted.astype(np.float32), np.float32(255_000), out=out[top:top + step])
    return out


def _over_white(channel, alpha):
    return channel * alpha + (np.float32(1) - alpha)


def _gray_out(gray, color, notes, what):
    notes.append(what)
    if color == "rgb":
        notes.append("gray copied to 3 channels")
        return np.ascontiguousarray(np.stack([gray] * 3), dtype=np.float32)
    return np.ascontiguousarray(gray, dtype=np.float32)

