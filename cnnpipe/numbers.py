"""How cnnpipe writes numbers and sizes, everywhere (tables, sheets, GIFs, animations),
and how it splits a row of a text matrix into numbers.

One formatter, so a value reads the same in the terminal, on ``overview.png``
and in an animation's arithmetic (pure Python, no dependencies):

- an exact zero (and ``-0.0``) is ``0``; no result is ever ``-0``;
- a whole number below a million is written as an integer: ``3``, ``-12``;
- any other value has :data:`SIGNIFICANT` significant digits, trailing zeros
  dropped: ``0.396``, ``-1.47``, ``12.3``; from 1000 on, it is rounded to a
  whole number (``1235``) rather than written with an exponent;
- magnitudes below 0.001 or from a million on use a short exponent:
  ``4.47e-4``, ``1.23e6``.

Sizes are written width first, as every image tool does: ``741×500``, with
the order said once where the size appears (``size (W×H)``).
"""

from __future__ import annotations

import math

__all__ = ["SIGNIFICANT", "SIZE_ORDER", "format_number", "format_sum", "separator",
           "size_text", "shape_text", "split_row"]

#: Significant digits of every non-integer number cnnpipe shows.
SIGNIFICANT = 3
#: The order of :func:`size_text`, to be said wherever a size is shown.
SIZE_ORDER = "W×H"
#: Sums closer to zero than this are written as 0 (float rounding of a zero-sum kernel).
ZERO_SUM_TOLERANCE = 1e-6


def format_number(value, digits: int = SIGNIFICANT) -> str:
    """A number as cnnpipe shows it (module notes).

    Examples
    --------
    >>> [format_number(v) for v in (0.0, -0.0, 3.0, 0.39632, -1.4666, 1234.56, 0.000447)]
    ['0', '0', '3', '0.396', '-1.47', '1235', '4.47e-4']
    >>> format_number(-0.0004)
    '-4e-4'
    """
    value = float(value)
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if value == 0:
        return "0"
    magnitude = abs(value)
    if value == round(value) and magnitude < 1e6:
        return str(int(value))
    if magnitude < 1e-3 or magnitude >= 1e6:
        return _exponent(value, digits)
    text = f"{value:.{digits}g}"
    if "e" in text:  # 1000 <= |v| < 1e6 with more integer digits than `digits`
        text = f"{value:.0f}"
    if float(text) == 0:
        return "0"
    return text


def _exponent(value: float, digits: int) -> str:
    mantissa, exponent = f"{value:.{digits - 1}e}".split("e")
    if "." in mantissa:
        mantissa = mantissa.rstrip("0").rstrip(".")
    return f"{mantissa}e{int(exponent)}"


def format_sum(value, digits: int = SIGNIFICANT) -> str:
    """A sum of weights: within 1e-6 of zero it is ``0`` (a zero-sum kernel's float noise).

    Examples
    --------
    >>> format_sum(1.788e-07), format_sum(1.0000001), format_sum(-2.0)
    ('0', '1', '-2')
    """
    value = float(value)
    if abs(value) < ZERO_SUM_TOLERANCE:
        return "0"
    if abs(value - round(value)) < ZERO_SUM_TOLERANCE:
        value = float(round(value))
    return format_number(value, digits)


def size_text(height: int, width: int) -> str:
    """A picture's or a map's size, width first: ``size_text(500, 741) == "741×500"``."""
    return f"{int(width)}×{int(height)}"


def shape_text(shape) -> str:
    """A map's size from its array shape (..., H, W), width first; channels in front.

    Examples
    --------
    >>> shape_text((500, 741)), shape_text((3, 5, 7))
    ('741×500', '3 × 7×5')
    """
    shape = tuple(int(n) for n in shape)
    if len(shape) < 2:
        return "×".join(str(n) for n in shape)
    size = size_text(shape[-2], shape[-1])
    return " × ".join([*(str(n) for n in shape[:-2]), size])


def separator(first_row: str) -> str | None:
    """The one separator rule of every text matrix cnnpipe reads.

    Images and maps of `run` and the stage commands, answers to `check`, kernel
    files; files and standard input; ``.csv`` and ``.txt`` alike: values are
    separated by commas when the first row of numbers holds a comma (blanks around
    them allowed), else by runs of spaces and tabs.

    >>> separator("1, 2,3"), separator("1 \\t 2  3")
    (',', None)
    """
    return "," if "," in first_row else None


def split_row(row: str, comma: bool) -> list[str]:
    """One row's values by :func:`separator`'s choice (``comma``: the first row held one).

    >>> split_row(" 1, 2 ,3 ", True), split_row("1\\t2   3", False)
    (['1', '2', '3'], ['1', '2', '3'])
    """
    return [cell.strip() for cell in row.split(",")] if comma else row.split()
