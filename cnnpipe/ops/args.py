"""Argument checks shared by the ops (numpy only, private; public via cnnpipe.ops)."""

from __future__ import annotations

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
