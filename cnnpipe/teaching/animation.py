"""The window stepping over a small matrix: convolution, then pooling, one step at a time.

numpy only. A :class:`Step` says where the window is, which values it covers,
what they were multiplied by (convolution) and which output cell it fills with
which value. The terminal animation and the GIF both draw from the same list
of steps, so they always show the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnpipe import ops
from cnnpipe.layer import Params, activate, convolve, pool
from cnnpipe.numbers import format_number

#: The tutorial's 7x7 picture of an X (B. Rohrer, "How do Convolutional Neural
#: Networks work?", 2016): the default input of ``cnnpipe animate``.
TUTORIAL_X = np.eye(7, dtype=np.float32) + np.fliplr(np.eye(7, dtype=np.float32))
TUTORIAL_X[3, 3] = 1.0

_NUMPY_PAD = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
              "circular": "wrap"}


@dataclass(frozen=True)
class Step:
    """One position of the window.

    ``row0:row1, col0:col1`` are the window's bounds (stop exclusive) on the
    stage's input grid: the padded input for ``conv``, the activated feature
    map for ``pool``. A pooling window may reach past the map (``partial``);
    ``inputs`` then holds only the cells inside it.
    """

    stage: str                 # "conv" or "pool"
    number: int                # 1-based, within the stage
    total: int                 # steps in the stage
    row0: int
    row1: int
    col0: int
    col1: int
    out_row: int
    out_col: int
    inputs: np.ndarray         # the values under the window (conv: every dilation-th cell)
    weights: np.ndarray | None  # conv: the (possibly flipped) detector
    products: np.ndarray | None  # conv: inputs * weights
    value: float               # the output cell's value, as the pipeline computes it
    mode: str = "conv"         # pooling mode for pool steps
    partial: bool = False
    dilation: tuple[int, int] = (1, 1)

    def arithmetic(self, ascii_only: bool = False, max_terms: int | None = None) -> str:
        """The step's arithmetic, e.g. ``1·1 + 0·(−1) + … = 3`` or ``max(3, 0) = 3``.

        ``ascii_only`` writes ``*``, ``-`` and ``...`` for fonts without ``·``,
        ``−`` and ``…``; ``max_terms`` shortens long sums.
        """
        dot, minus, more = ("*", "-", "...") if ascii_only else ("·", "−", "…")

        def num(v):
            text = _short(v)  # a leading minus only: "4e-4" keeps its exponent's hyphen
            return minus + text[1:] if text.startswith("-") else text

        if self.stage == "conv":
            terms = [f"{num(x)}{dot}{_paren(num(w), minus)}"
                     for x, w in zip(self.inputs.ravel(), self.weights.ravel(), strict=True)]
            if max_terms is not None and len(terms) > max_terms:
                terms = terms[:max_terms - 1] + [more, terms[-1]]
            return f"{' + '.join(terms)} = {num(self.value)}"
        values = [num(v) for v in self.inputs.ravel()]
        if max_terms is not None and len(values) > max_terms:
            values = values[:max_terms - 1] + [more, values[-1]]
        name = {"mean": "mean", "sum": "sum", "min": "min", "max": "max", "l2": "l2"}[self.mode]
        return f"{name}({', '.join(values)}) = {num(self.value)}"


# The grid and the arithmetic line show the same numbers: one formatter (cnnpipe.numbers).
_short = format_number


def _paren(text: str, minus: str) -> str:
    return f"({text})" if text.startswith(minus) else text


@dataclass(frozen=True)
class Walk:
    """Everything the animation shows: the grids and the steps over them."""

    image: np.ndarray        # the input as given
    padded: np.ndarray       # the input with the convolution's padding
    padding: tuple[int, int, int, int]
    weights: np.ndarray      # the detector as applied (flipped with --flip)
    conv: np.ndarray         # the feature map
    activated: np.ndarray    # after the activation (== conv with --activation none)
    pooled: np.ndarray | None  # None with --pool none
    steps: list[Step]

    @property
    def conv_steps(self) -> list[Step]:
        return [s for s in self.steps if s.stage == "conv"]

    @property
    def pool_steps(self) -> list[Step]:
        return [s for s in self.steps if s.stage == "pool"]


def walk(image, weights, params: Params | None = None) -> Walk:
    """The steps of one 2-D detector over a 2-D input, then of the pooling window.

    Parameters
    ----------
    image : array_like, (H, W)
    weights : array_like, (kh, kw)
    params : Params
        Convolution, activation and pooling options, as for ``cnnpipe run``.

    Returns
    -------
    Walk
        One conv step per feature-map cell (row-major), then one pool step per
        pooled cell. Step values are taken from the pipeline's own maps, so they
        equal what ``run`` writes.

    Examples
    --------
    >>> w = walk(np.arange(9.0).reshape(3, 3), np.ones((2, 2)))
    >>> len(w.conv_steps), len(w.pool_steps), w.steps[0].value
    (4, 1, 8.0)
    """
    params = params or Params()
    image = np.asarray(image, dtype=np.float32)
    weights = np.asarray(weights, dtype=np.float32)
    if image.ndim != 2 or weights.ndim != 2:
        from cnnpipe.errors import ParameterError

        raise ParameterError(f"animate needs a 2-D input and a 2-D detector (got shapes "
                             f"{image.shape} and {weights.shape})")
    with np.errstate(over="ignore", invalid="ignore"):  # reported below, in one line
        conv = convolve(image, weights, params)
    activated = activate(conv, params)
    activated = conv if activated is None else activated
    pooled = pool(activated, params)
    if not np.isfinite(conv).all() or (pooled is not None and not np.isfinite(pooled).all()):
        from cnnpipe.errors import InputError

        raise InputError("the feature map overflowed float32 (values beyond ±3.4e38); scale "
                         "the input or the detector weights down")

    pads = ops.resolve_padding(params.padding, image.shape, weights.shape,
                               params.conv_stride, params.dilation)
    top, bottom, left, right = pads
    padded = np.pad(image, ((top, bottom), (left, right)), mode=_NUMPY_PAD[params.pad_mode])
    applied = weights[::-1, ::-1] if params.flip else weights
    steps = _conv_steps(padded, applied, conv, params)
    if pooled is not None:
        steps += _pool_steps(activated, pooled, params)
    return Walk(image, padded, pads, applied, conv, activated, pooled, steps)


def _conv_steps(padded, applied, conv, params: Params) -> list[Step]:
    """One step per feature-map cell, row-major: the window's cells, weights and products."""
    kh, kw = applied.shape
    dh, dw = params.dilation
    sh, sw = params.conv_stride
    steps: list[Step] = []
    out_h, out_w = conv.shape
    for r in range(out_h):
        for c in range(out_w):
            r0, c0 = r * sh, c * sw
            r1, c1 = r0 + (kh - 1) * dh + 1, c0 + (kw - 1) * dw + 1
            cells = padded[r0:r1:dh, c0:c1:dw]
            steps.append(Step("conv", r * out_w + c + 1, out_h * out_w, r0, r1, c0, c1, r, c,
                              cells.copy(), applied, cells * applied, float(conv[r, c]),
                              dilation=(dh, dw)))
    return steps


def _pool_steps(activated, pooled, params: Params) -> list[Step]:
    """One step per pooled cell; a partial window keeps its full box, hanging off the map."""
    rows = ops.pool_windows(activated.shape[0], params.window[0], params.stride[0], params.edge)
    cols = ops.pool_windows(activated.shape[1], params.window[1], params.stride[1], params.edge)
    total = len(rows) * len(cols)
    steps: list[Step] = []
    for i, (r0, r1) in enumerate(rows):
        for j, (c0, c1) in enumerate(cols):
            full_r1, full_c1 = r0 + params.window[0], c0 + params.window[1]
            steps.append(Step("pool", i * len(cols) + j + 1, total, r0, full_r1, c0, full_c1,
                              i, j, activated[r0:r1, c0:c1].copy(), None, None,
                              float(pooled[i, j]), mode=params.pool,
                              partial=(full_r1 > r1 or full_c1 > c1)))
    return steps


def hang(walk_: Walk) -> tuple[int, int]:
    """How many rows and columns the pooling windows reach past the feature map."""
    rows = max([s.row1 - walk_.activated.shape[0] for s in walk_.pool_steps] + [0])
    cols = max([s.col1 - walk_.activated.shape[1] for s in walk_.pool_steps] + [0])
    return rows, cols
