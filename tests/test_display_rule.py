"""The one display rule of map PNGs: a robust range, ReLU and pool on one range, clips marked.

Issue #16: a map PNG must be readable on its own (a few outliers cannot wash it
out), the faithful full range stays one option away, and pooling must never
look as if it adds signal.
"""

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png

from cnnpipe.pictures.mapping import (
    choose_mapping,
    detector_mappings,
    robust_extent,
    to_png_pixels,
    values_from_png,
)


def drawn_share(value, mapping):
    """How far from the zero colour towards the end colour `value` is drawn (0..1)."""
    extent = max(abs(mapping["lo"]), abs(mapping["hi"]))
    return min(abs(value), extent) / extent


def test_robust_extent_follows_the_declared_formula():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(60, 70)).astype(np.float32)
    a[3, 3] = 500.0  # one outlier
    p99 = float(np.percentile(np.abs(a).astype(np.float64), 99))
    assert robust_extent(a) == pytest.approx(1.25 * p99, rel=1e-6)
    # never beyond the largest magnitude
    small = np.array([[0.0, 1.0], [2.0, 3.0]])
    assert robust_extent(small) == 3.0
    # a map that is 99% zero uses the non-zero magnitudes instead of giving up
    sparse = np.zeros((100, 100))
    sparse[0, :20] = np.linspace(0.1, 2.0, 20)
    nz = sparse[sparse > 0]
    assert robust_extent(sparse) == pytest.approx(min(2.0, 1.25 * np.percentile(nz, 99)))
    assert robust_extent(np.zeros((4, 4))) == 0.0


def test_one_outlier_cannot_wash_a_map_out_but_scale_map_shows_the_full_range():
    rng = np.random.default_rng(1)
    a = rng.uniform(-0.2, 0.2, size=(80, 90)).astype(np.float32)
    a[10, 10] = 9.0
    robust = choose_mapping(a, stage="conv")
    full = choose_mapping(a, stage="conv", scale="map")
    p99 = float(np.percentile(np.abs(a), 99))
    assert drawn_share(p99, robust) >= 0.8 - 1e-6
    assert drawn_share(p99, full) < 0.05
    assert (full["lo"], full["hi"]) == (-9.0, 9.0)
    assert robust["scale"] == "robust" and full["scale"] == "map"
    assert robust["clipped"] == {"below": int((a < robust["lo"]).sum()), "above": 1}
    assert full["clipped"] == {"below": 0, "above": 0}
    assert "clipped" in robust["formula"] and "clipped" not in full["formula"]


@pytest.mark.parametrize("pool", ["max", "mean", "min"])
def test_relu_and_pool_share_one_range_so_a_pooled_cell_has_its_winners_colour(pool):
    from cnnpipe import pool2d, relu

    rng = np.random.default_rng(2)
    conv = rng.standard_normal((41, 37)).astype(np.float32) ** 3  # heavy tails
    act = relu(conv)
    pooled = pool2d(act, 2, mode=pool)
    mc, mr, mp = detector_mappings([("conv", conv), ("relu", act), ("pool", pooled)], pool=pool)
    assert (mp["lo"], mp["hi"]) == (mr["lo"], mr["hi"]) == (0.0, robust_extent(act))
    assert mc["lo"] == -mc["hi"]  # conv keeps its own signed range
    if pool == "max":
        relu_px, _ = to_png_pixels(act, mr)
        pool_px, _ = to_png_pixels(pooled, mp)
        # max of the window's colour indices == the pooled cell's index, everywhere
        expected = pool2d(relu_px.astype(np.float32), 2, mode="max")
        np.testing.assert_array_equal(pool_px, expected.astype(np.uint8))


def test_sum_pooling_gets_its_own_range():
    act = np.abs(np.random.default_rng(3).standard_normal((20, 20)))
    from cnnpipe import pool2d

    pooled = pool2d(act, 2, mode="sum")
    _, mp = detector_mappings([("relu", act), ("pool", pooled)], pool="sum")
    assert mp["hi"] == pytest.approx(robust_extent(pooled))


def test_no_activation_pools_on_the_conv_range():
    conv = np.random.default_rng(4).standard_normal((30, 30))
    from cnnpipe import pool2d

    mc, mp = detector_mappings([("conv", conv), ("pool", pool2d(conv, 2))])
    assert (mp["lo"], mp["hi"]) == (mc["lo"], mc["hi"])


def test_run_pngs_follow_the_rule_on_the_sample_photo(invoke, tmp_path):
    """Issue #16's measure: the 99th percentile of |value| drawn >= 60% of the way."""
    result = invoke("run", SAMPLES / "chelsea.png", "-o", tmp_path, "--npy", "-q",
                    "-k", "sobel-x", "-k", "laplacian", "--random", "3", "--seed", "1")
    assert result.exit_code == 0, result.output
    maps = load_manifest(tmp_path / "chelsea")["maps"]
    for entry in maps:
        if entry["stage"] == "input":
            continue
        exact = np.load(tmp_path / "chelsea" / entry["npy"])
        magnitudes = np.abs(exact)
        if np.percentile(magnitudes, 99) == 0:  # a map that is 99% zero: its non-zero cells
            magnitudes = magnitudes[magnitudes > 0]
        p99 = float(np.percentile(magnitudes, 99))
        assert drawn_share(p99, entry["mapping"]) >= 0.6, entry["file"]
        assert entry["mapping"]["scale"] == "robust"
    by_kernel = {}
    for entry in maps:
        by_kernel.setdefault(entry["kernel"], {})[entry["stage"]] = entry["mapping"]
    for kernel, stages in by_kernel.items():
        if kernel is not None:
            assert stages["pool"]["hi"] == stages["relu"]["hi"], kernel


def test_scale_map_keeps_the_faithful_full_range(invoke, tmp_path):
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 40, size=(50, 60), dtype=np.uint8)
    photo[20, 20:30] = 255  # a few strong edges
    path = write_png(tmp_path / "p.png", photo)
    result = invoke("run", path, "-o", tmp_path / "out", "--npy", "-q", "-k", "sobel-x",
                    "--scale", "map")
    assert result.exit_code == 0, result.output
    for entry in load_manifest(tmp_path / "out" / "p")["maps"]:
        exact = np.load(tmp_path / "out" / "p" / entry["npy"])
        m = entry["mapping"]
        assert max(abs(m["lo"]), abs(m["hi"])) == pytest.approx(float(np.abs(exact).max()))
        assert m["clipped"] == {"below": 0, "above": 0}
        assert not np.ma.getmaskarray(values_from_png(tmp_path / "out" / "p" / entry["file"],
                                                      masked=True)).any()
