"""The memory budget of the teaching commands, from the shapes, before they allocate.

``animate`` keeps the padded input and one step object (window cells, weights and
products) per output cell, so a large padding or dilation on a 16x16 matrix
means millions of steps; ``invariance`` keeps every map of the unmoved input and
of one moved copy. Both are checked here against ``--max-memory`` as ``run`` is
(:mod:`cnnpipe.budget`), and refused in one line naming the cause.
"""

from __future__ import annotations

from cnnpipe import ops
from cnnpipe.budget import (
    BASE_BYTES,
    Budget,
    OverBudget,
    _layer_maps,
    _pad_total,
    _stages,
    format_bytes,
)
from cnnpipe.errors import ParameterError

#: One animation step beyond its arrays: the Step object, its floats and three array headers.
STEP_BYTES = 2048


def check_animate(in_hw, kernel_hw, params, budget: Budget | None = None) -> None:
    """Raise OverBudget when walking a ``kernel_hw`` detector over ``in_hw`` would not fit."""
    budget = budget or Budget()
    try:
        conv_h, conv_w = ops.conv_output_shape(in_hw, kernel_hw, stride=params.conv_stride,
                                               padding=params.padding,
                                               dilation=params.dilation)
    except ParameterError:
        return  # no step at all: the walk itself says why
    pad_h, pad_w = _pad_total(params, in_hw, kernel_hw)
    padded = (in_hw[0] + pad_h) * (in_hw[1] + pad_w) * 4
    steps = 2 * conv_h * conv_w  # conv steps, and at most as many pooling steps
    each = STEP_BYTES + 3 * kernel_hw[0] * kernel_hw[1] * 4
    need = BASE_BYTES + 3 * padded + 3 * conv_h * conv_w * 4 + steps * each
    if need > budget.memory:
        raise OverBudget(
            f"needs about {format_bytes(need)} of memory, over the budget of "
            f"{format_bytes(budget.memory)}: {conv_h * conv_w:,} steps over a "
            f"{in_hw[0] + pad_h}x{in_hw[1] + pad_w} padded input (padding "
            f"{_text(params.padding)}, dilation {_text(params.dilation)}) (use --max-memory "
            "to raise the limit)")


def check_invariance(in_shape, layers, budget: Budget | None = None) -> None:
    """Raise OverBudget when the maps of the unmoved input and one moved copy would not
    fit (every stage of every detector of every layer is kept for the comparison)."""
    budget = budget or Budget()
    shape = tuple(int(n) for n in in_shape)
    channels, h, w = (1, *shape) if len(shape) == 2 else shape
    total, padded_max, count, largest = 0, 0, 0, (0, 0)
    try:
        for lay in layers:
            detectors, padded = _layer_maps(lay, channels, h, w)
            padded_max = max(padded_max, padded)
            for c, conv_hw, pool_hw in detectors:
                for stage in _stages(lay.params):
                    mh, mw = pool_hw if stage == "pool" else conv_hw
                    total, count = total + c * mh * mw * 4, count + 1
                    largest = max(largest, (mh, mw), key=lambda hw: hw[0] * hw[1])
            if not detectors:
                break
            last = [p if lay.params.pool != "none" else cv for _, cv, p in detectors]
            channels, h, w = len(detectors), max(s[0] for s in last), max(s[1] for s in last)
    except ParameterError:
        return  # a map would be empty: the network itself says so
    need = BASE_BYTES + shape_bytes(shape) * 3 + padded_max + 2 * total
    if need > budget.memory:
        raise OverBudget(
            f"needs about {format_bytes(need)} of memory, over the budget of "
            f"{format_bytes(budget.memory)}: {count:,} maps for the input and again for each "
            f"moved copy, the largest {largest[1]}x{largest[0]} (WxH) (use --max-memory to raise "
            "the limit)")


def shape_bytes(shape) -> int:
    n = 4
    for side in shape:
        n *= int(side)
    return n


def _text(value) -> str:
    if isinstance(value, tuple | list):
        return ",".join(str(v) for v in value)
    return str(value)
