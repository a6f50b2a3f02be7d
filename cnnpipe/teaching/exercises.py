"""Small hand-computation exercises: a task from a seed, and grading of an answer.

numpy only. The same seed gives the same task on every machine: the numbers
come from ``numpy.random.Generator(PCG64(seed))``, whose stream numpy keeps
stable across versions and platforms.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnpipe.errors import InputError, ParameterError
from cnnpipe.layer import Params, activate, convolve, pool

STAGES = ("conv", "relu", "pool")

#: Cells within this of the right value count as right (a mean rounded to two
#: decimals is accepted; every exact answer is a multiple of 0.25).
TOLERANCE = 0.01


@dataclass(frozen=True)
class Task:
    """One exercise: an input, a 3x3 detector and pooling settings."""

    seed: int
    image: np.ndarray     # (n, n) small integers 0..3
    kernel: np.ndarray    # (3, 3) integers -1..1
    window: int
    stride: int
    mode: str             # "max" or "mean"

    @property
    def params(self) -> Params:
        """Valid convolution, ReLU and the task's pooling (partial windows kept)."""
        return Params(window=(self.window, self.window), stride=(self.stride, self.stride),
                      pool=self.mode, edge="keep")

    def to_dict(self) -> dict:
        """The task as plain JSON-able values."""
        return {"seed": self.seed, "input": self.image.astype(int).tolist(),
                "kernel": self.kernel.astype(int).tolist(),
                "pool": {"mode": self.mode, "window": self.window, "stride": self.stride,
                         "edge": "keep"},
                "convolution": {"stride": 1, "padding": "valid", "flip": False},
                "activation": "relu"}


def make_task(seed: int) -> Task:
    """The exercise for ``seed`` (an integer >= 0), the same on every machine.

    Examples
    --------
    >>> a, b = make_task(7), make_task(7)
    >>> bool((a.image == b.image).all() and (a.kernel == b.kernel).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ParameterError(f"`seed` must be an integer >= 0 (got {seed!r})")
    rng = np.random.Generator(np.random.PCG64(int(seed)))
    n = int(rng.integers(5, 7))  # 5 or 6
    image = rng.integers(0, 4, size=(n, n)).astype(np.float32)
    # A detector whose feature map has both signs, so ReLU has work to do.
    for _ in range(100):
        kernel = rng.integers(-1, 2, size=(3, 3)).astype(np.float32)
        conv = convolve(image, kernel, Params())
        if conv.min() < 0 < conv.max():
            break
    stride = int(rng.choice([1, 2]))
    mode = str(rng.choice(["max", "mean"]))
    return Task(int(seed), image, kernel, 2, stride, mode)


def answer(task: Task, stage: str) -> np.ndarray:
    """The right map for ``stage`` ("conv", "relu" or "pool"), float32."""
    if stage not in STAGES:
        raise ParameterError(f"`stage` must be one of {', '.join(STAGES)} (got {stage!r})")
    params = task.params
    conv = convolve(task.image, task.kernel, params)
    if stage == "conv":
        return conv
    activated = activate(conv, params)
    if stage == "relu":
        return activated
    return pool(activated, params)


@dataclass(frozen=True)
class Grade:
    """A learner's map compared with the right one, cell by cell."""

    submitted: np.ndarray
    expected: np.ndarray
    wrong: np.ndarray     # bool mask, True where the learner's cell is wrong

    @property
    def total(self) -> int:
        return int(self.expected.size)

    @property
    def right(self) -> int:
        return self.total - int(self.wrong.sum())

    @property
    def passed(self) -> bool:
        return not bool(self.wrong.any())

    def wrong_cells(self) -> list[tuple[int, int, float, float]]:
        """``(row, col, submitted, expected)`` for each wrong cell, row-major, 0-based."""
        return [(int(r), int(c), float(self.submitted[r, c]), float(self.expected[r, c]))
                for r, c in zip(*np.nonzero(self.wrong), strict=True)]


def grade(task: Task, stage: str, submitted) -> Grade:
    """Compare ``submitted`` with the right map for ``stage``.

    Raises
    ------
    InputError
        When the shapes differ; the message names both.
    """
    expected = answer(task, stage)
    submitted = np.asarray(submitted, dtype=np.float32)
    if submitted.shape != expected.shape:
        got = "x".join(str(n) for n in submitted.shape)
        want = "x".join(str(n) for n in expected.shape)
        raise InputError(f"the answer is {got} but the {stage} map of seed {task.seed} is "
                         f"{want}; write one value per cell of the {want} map")
    wrong = ~(np.abs(submitted.astype(np.float64) - expected) <= TOLERANCE)
    return Grade(submitted, expected, wrong)
