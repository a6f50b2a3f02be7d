"""Text on pictures (Pillow): fonts, glyph-safe text, wrapping that never cuts a label."""

from __future__ import annotations

import functools
import threading

from PIL import ImageFont

__all__ = ["font", "plain", "wrap", "cell_text_font"]

# Pillow's built-in font lacks these glyphs; labels often contain them.
_PLAIN = str.maketrans({"\u00d7": "x", "\u2212": "-", "\u2013": "-", "\u2192": "->"})


_LOCAL = threading.local()


def font(size: int):
    """Pillow's built-in scalable font at `size` px (the small bitmap font on Pillow < 10.1).

    Cached per thread: a FreeType face must not render in two threads at once, and
    sheets are drawn in the writer's background threads. Each face also remembers
    the widths and glyph masks of the texts it measured and drew (:func:`_remember`).
    """
    cache = getattr(_LOCAL, "fonts", None)
    if cache is None:
        cache = _LOCAL.fonts = {}
    if size not in cache:
        try:
            cache[size] = _remember(ImageFont.load_default(size=size))
        except TypeError:  # pragma: no cover - Pillow < 10.1
            cache[size] = ImageFont.load_default()
    return cache[size]


#: Texts whose width and whose rendered mask a face keeps (each mask a few KB).
REMEMBERED_TEXTS = 1024


def _remember(face):
    """``face`` with its ``getlength`` and ``getmask2`` memoized (same arguments, same result).

    A batch draws the same labels, tick values and cell numbers on every sheet:
    rendering and measuring them is most of a sheet's text cost (a 512 x 512
    photo's sheet measures ~500 texts and draws ~120). ``ImageDraw.text`` only
    reads the mask it gets back, so a remembered one draws the same pixels.
    """
    if isinstance(face, ImageFont.FreeTypeFont):
        face.getlength = functools.lru_cache(maxsize=8 * REMEMBERED_TEXTS)(face.getlength)
        face.getmask2 = functools.lru_cache(maxsize=REMEMBERED_TEXTS)(face.getmask2)
    return face


def plain(text: str) -> str:
    """`text` with the characters the built-in font cannot draw replaced (× -> x, − -> -)."""
    return text.replace("\u2026", "...").translate(_PLAIN)


def wrap(text: str, face, width: int) -> list[str]:
    """Lines of `text` no wider than `width` px: broken at spaces, and a word longer
    than a line is broken after a ``-`` or, failing that, between characters. Every
    character is kept: a label is never cut.

    Examples
    --------
    >>> wrap("conv · sobel-x", font(15), 1000)
    ['conv · sobel-x']
    """
    lines: list[str] = []
    for paragraph in plain(text).splitlines() or [""]:
        line = ""
        for word in paragraph.split(" "):
            trial = f"{line} {word}" if line else word
            if face.getlength(trial) <= width:
                line = trial
                continue
            if line:
                lines.append(line)
            line = ""
            while face.getlength(word) > width and len(word) > 1:
                head = _longest_head(word, face, width)
                lines.append(word[:head])
                word = word[head:]
            line = word
        lines.append(line)
    return lines


def _longest_head(word: str, face, width: int) -> int:
    """How many leading characters of `word` fit `width`, preferring a break after '-'."""
    n = 1
    while n < len(word) and face.getlength(word[: n + 1]) <= width:
        n += 1
    hyphen = word.rfind("-", 0, n)
    return hyphen + 1 if hyphen > 0 else n


def cell_text_font(texts: list[str], cell: int, sizes=(15, 13, 11, 9)):
    """The largest font in `sizes` whose widest text fits a `cell`-px square, or None."""
    for size in sizes:
        face = font(size)
        if size + 4 <= cell and max((face.getlength(t) for t in texts), default=0) + 4 <= cell:
            return face
    return None
