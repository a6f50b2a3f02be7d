"""One read of a map for its statistics, and a mapping chosen from them, agree with the
plain numpy reductions and with choosing the mapping from the map alone (issue #18).

The run reads each map's min, max, mean and zero count in one blocked pass
(:func:`cnnpipe.pictures.ranges.summarize`) and hands the bounds to the display
rule, so the manifest and the PNG must not change: checked here against
separate numpy calls and against ``choose_mapping`` without ``bounds``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from cnnpipe.pictures import ranges
from cnnpipe.pictures.ranges import choose_mapping, detector_mappings, summarize


def _maps():
    rng = np.random.default_rng(18)
    signed = rng.standard_normal((301, 257)).astype(np.float32)
    spiky = signed.copy()
    spiky[5, 7], spiky[200, 3] = 90.0, -70.0  # outliers: the robust range clips them
    relu = np.maximum(signed, 0)
    sparse = np.zeros((512, 300), np.float32)
    sparse[::97, ::31] = rng.random(sparse[::97, ::31].shape) + 0.5
    return {"signed": signed, "spiky": spiky, "relu": relu, "sparse": sparse,
            "constant": np.full((40, 33), 2.5, np.float32),
            "zeros": np.zeros((70, 70), np.float32), "one": np.array([[-3.0]], np.float32)}


@pytest.mark.parametrize("name", list(_maps()))
@pytest.mark.parametrize("block", [1 << 16, 1000, 7])  # one block, many, a ragged end
def test_one_pass_gives_what_separate_reductions_give(name, block, monkeypatch):
    monkeypatch.setattr(ranges, "SCAN_BLOCK", block)
    a = _maps()[name]
    s = summarize(a)
    assert s.finite
    assert s.bounds == (float(a.min()), float(a.max()))
    assert s.zeros == sum(1 for v in a.ravel() if v == 0)
    exact = math.fsum(float(v) for v in a.ravel()) / a.size
    assert s.mean == pytest.approx(exact, rel=1e-12, abs=1e-12)


def test_non_finite_values_are_reported_and_bounds_are_of_the_finite_ones(monkeypatch):
    monkeypatch.setattr(ranges, "SCAN_BLOCK", 4)
    a = np.array([[1.0, np.inf, 0.0], [-2.0, 0.0, 5.0]], np.float32)
    s = summarize(a)
    assert not s.finite and s.bounds == (-2.0, 5.0) and s.zeros == 2
    b = np.array([[np.nan, 3.0, 0.0, -1.0, 0.5]], np.float32)  # NaN in the first block only
    s = summarize(b)
    assert not s.finite and s.bounds == (-1.0, 3.0) and s.zeros == 1 and math.isnan(s.mean)
    assert summarize(np.full((2, 2), np.nan, np.float32)).bounds is None


@pytest.mark.parametrize("name", list(_maps()))
@pytest.mark.parametrize("scale", ["robust", "map", "fixed:-0.5,0.5"])
def test_a_mapping_chosen_from_known_bounds_is_the_same(name, scale, monkeypatch):
    monkeypatch.setattr(ranges, "SCAN_BLOCK", 1000)
    a = _maps()[name]
    bounds = summarize(a).bounds
    for stage in ("conv", "relu", "pool"):
        assert choose_mapping(a, stage=stage, scale=scale, bounds=bounds) == \
            choose_mapping(a, stage=stage, scale=scale)


def test_clipped_counts_from_bounds_match_counting_every_cell():
    a = _maps()["spiky"]
    m = choose_mapping(a, stage="conv", bounds=summarize(a).bounds)
    below = sum(1 for v in a.ravel() if v < np.float32(m["lo"]))
    above = sum(1 for v in a.ravel() if v > np.float32(m["hi"]))
    assert m["clipped"] == {"below": below, "above": above} and below > 0 and above > 0


@pytest.mark.parametrize("scale", ["robust", "detector"])
def test_detector_mappings_with_bounds_match_without(scale):
    conv = _maps()["spiky"]
    relu = np.maximum(conv, 0)
    pooled = relu[:300:2, :256:2]
    items = [("conv", conv), ("relu", relu), ("pool", pooled)]
    assert detector_mappings(items, scale=scale,
                             bounds=[summarize(a).bounds for _, a in items]) == \
        detector_mappings(items, scale=scale)
