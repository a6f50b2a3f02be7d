"""Names and messages made safe for a terminal: every control character shown, none obeyed.

A file name may hold a newline (which would split one error line in two), an
escape sequence (``\\x1b[2J`` clears the screen, others retitle the window or
rewrite what was printed before), a right-to-left override that shows
``gnp.exe`` as ``exe.png``, or bytes that are not UTF-8. Whatever cnnpipe prints
goes through :func:`printable` (text lines) or :func:`json_safe` (JSON Lines),
so one record stays one line and the terminal only ever receives visible text,
with or without ``NO_COLOR``.
"""

from __future__ import annotations

import unicodedata

#: Categories that are never printed raw: control characters, format characters
#: (bidirectional overrides, zero-width joiners), line and paragraph separators,
#: and lone surrogates (bytes of a file name that were not UTF-8).
_HIDDEN = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(ch: str) -> str:
    if ch in _NAMED:
        return _NAMED[ch]
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for an undecodable byte
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _hidden(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in _HIDDEN or (category == "Zs" and ch != " ")


def printable(text) -> str:
    """``text`` with every control, format or separator character written as an escape.

    Newlines, tabs and carriage returns become ``\\n``, ``\\t``, ``\\r``; ESC
    becomes ``\\x1b``; other invisible characters ``\\xNN`` / ``\\uNNNN``; a byte
    of a file name that is not UTF-8 ``\\xNN``. Plain text (letters of any
    script, spaces, punctuation, emoji) is unchanged, and a backslash stays a
    backslash.

    Examples
    --------
    >>> printable("bad\\nname\\x1b[2J.png")
    'bad\\\\nname\\\\x1b[2J.png'
    >>> printable("café.png")
    'café.png'
    """
    text = str(text)
    if text.isprintable():  # the common case: nothing to do
        return text
    return "".join(_escape(ch) if _hidden(ch) else ch for ch in text)


def json_safe(line: str) -> str:
    """A JSON text with the characters ``json.dumps(ensure_ascii=False)`` leaves raw
    (DEL, C1 controls such as the 8-bit CSI, bidirectional overrides, U+2028,
    lone surrogates) written as ``\\uXXXX`` escapes: still the same JSON value.

    Only strings can hold such characters in a JSON text, where ``\\uXXXX`` is valid.
    """
    if line.isprintable() or all(ch == "\n" or not _hidden(ch) for ch in line):
        return line
    return "".join(_json_escape(ch) if ch != "\n" and _hidden(ch) else ch for ch in line)


def _json_escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    code -= 0x10000  # a UTF-16 surrogate pair, as JSON spells characters past U+FFFF
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


__all__ = ["json_safe", "printable"]
