"""Argument checks shared by the ops (numpy only, private; public via cnnpipe.ops)."""

from __future__ import annotations

import difflib
import numbers
import re

from cnnpipe.errors import ParameterError

_PAIR_SPLIT = re.compile(r"\s*[x×X,]\s*")


def as_pair(value, name):
    """Read an int or a pair of ints, each >= 1, as ``(rows, cols)``.

    Parameters
    ----------
    value : int, (int, int) or str
        ``3``, ``(2, 3)``, or the strings ``"3"``, ``"2x3"``, ``"2,3"``.
    name : str
        The argument's name, used in error messages.

    Returns
    -------
    (int, int)

    Raises
    ------
    ParameterError
        Anything else, or a value below 1.

    Examples
    --------
    >>> as_pair(2, "window")
    (2, 2)
    >>> as_pair("2x3", "window")
    (2, 3)
    """
    items = None
    if isinstance(value, str):
        parts = _PAIR_SPLIT.split(value.strip())
        if 1 <= len(parts) <= 2 and all(re.fullmatch(r"[+-]?\d+", p) for p in parts):
            items = [int(p) for p in parts]
    elif isinstance(value, numbers.Integral) and not isinstance(value, bool):
        items = [int(value)]
    elif isinstance(value, (tuple, list)) and len(value) in (1, 2):
        if all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value):
            items = [int(v) for v in value]
    if items is None:
        raise ParameterError(
            f"`{name}` must be an int or a pair of ints such as 2 or 2x3 (got {value!r})"
        )
    if len(items) == 1:
        items = items * 2
    if min(items) < 1:
        raise ParameterError(f"`{name}` must be >= 1 (got {value!r})")
    return (items[0], items[1])


NAMED_PADDINGS = ("valid", "same", "full")


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_padding(value, name="padding"):
    """Read a padding: ``"valid"``, ``"same"``, ``"full"``, an int N, a pair or four ints.

    The one padding parser (command line, pipeline files, Python API). String
    forms of the numbers (``"1"``, ``"1,1,2,2"``) are read too.

    Returns
    -------
    str, int or tuple of int
        The named padding in lowercase, N, or a ``(rows, cols)`` /
        ``(top, bottom, left, right)`` tuple, each >= 0.

    Examples
    --------
    >>> as_padding(" Same "), as_padding("1"), as_padding([1, 2, 3, 4])
    ('same', 1, (1, 2, 3, 4))
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in NAMED_PADDINGS:
            return text
        parts = text.replace(",", " ").split()
        values = [int(p) for p in parts] if all(re.fullmatch(r"[+-]?\d+", p)
                                                for p in parts) else None
    elif _is_int(value):
        values = [int(value)]
    elif isinstance(value, (tuple, list)) and all(_is_int(p) for p in value):
        values = [int(p) for p in value]
    else:
        values = None
    if not values or len(values) not in (1, 2, 4):
        raise ParameterError(
            f"`{name}` must be valid, same, full, an int N, or four ints "
            f"top,bottom,left,right (got {value!r})")
    if any(v < 0 for v in values):
        raise ParameterError(f"`{name}` must be >= 0 on every side (got {value!r})")
    return values[0] if len(values) == 1 else tuple(values)


def padding_sides(padding) -> tuple[int, int, int, int]:
    """``(top, bottom, left, right)`` of an explicit padding read by :func:`as_padding`."""
    if isinstance(padding, int):
        return (padding,) * 4
    if len(padding) == 2:  # (rows, cols), as PyTorch reads a pair
        return (padding[0], padding[0], padding[1], padding[1])
    return tuple(padding)


def as_choice(value, choices, name):
    """``value`` (case and spaces ignored) if it is one of ``choices``, else ParameterError.

    >>> as_choice(" Max ", ("max", "mean"), "mode")
    'max'
    """
    key = value.strip().lower() if isinstance(value, str) else value
    if key not in choices:
        hits = difflib.get_close_matches(str(key), list(choices), n=1, cutoff=0.6)
        hint = f"; did you mean '{hits[0]}'?" if hits else ""
        raise ParameterError(f"`{name}` must be one of {', '.join(choices)} (got {value!r})"
                             + hint)
    return key


POOL_MODES = ("max", "mean", "avg", "sum", "min", "l2")
EDGES = ("keep", "drop")


def pool_args(window, stride, mode="max", edge="keep"):
    """Check pooling arguments once: ``(window, stride, mode, edge)``, ready to use.

    The stride defaults to the window here and nowhere else; ``avg`` is ``mean``.

    >>> pool_args(3, None, "avg", "keep")
    ((3, 3), (3, 3), 'mean', 'keep')
    """
    window = as_pair(window, "window")
    stride = window if stride is None else as_pair(stride, "stride")
    mode = as_choice(mode, POOL_MODES, "mode")
    return window, stride, "mean" if mode == "avg" else mode, as_choice(edge, EDGES, "edge")
