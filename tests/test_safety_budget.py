"""Issue 14, the budget: every size a run reaches is computed from shapes and refused
before it is allocated, in one line naming the cause and the option that raises it."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_png
from test_safety_inputs import baseline_mib, run_measured

from cnnpipe import budget
from cnnpipe.budget import Budget, OverBudget, parse_size
from cnnpipe.cli.options import build_kernels, build_params
from cnnpipe.outputs import RunConfig


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(1)
    return write_png(tmp_path / "photo.png", rng.integers(0, 256, (512, 512)))


def _one_line(err: str) -> str:
    assert err.count("\n") == 0, err
    return err


def test_huge_padding_is_refused_before_any_map_exists(tmp_path, photo):
    # --padding 10000 on 512x512: 20510x20510 maps, 7.7 GB when it ran. Refused from the
    # shapes: the process never grows past its imports and the decoded photo.
    code, err, peak = run_measured("run", photo, "--padding", "10000", "-o", tmp_path / "o",
                                   "-q")
    assert code == 1
    line = [line for line in err.splitlines() if "photo.png" in line][0]
    assert "over the budget of 4 GiB" in line
    assert "with padding 10000" in line and "--max-memory" in line
    assert peak < baseline_mib() + 60, peak
    assert not (tmp_path / "o" / "photo").exists()


def test_padding_beyond_any_machine_is_the_same_one_line(tmp_path, photo, invoke):
    result = invoke("run", photo, "--padding", "1000000000", "-k", "box", "-o", tmp_path / "o",
                    "-q")
    assert result.exit_code == 1
    assert "with padding 1000000000" in result.stderr
    assert "array is too big" not in result.stderr  # numpy's own words never reach the user


def test_a_higher_max_memory_lets_the_same_run_through(tmp_path, invoke):
    image = tmp_path / "x.png"
    write_png(image, np.full((16, 16), 128))
    refused = invoke("run", image, "-k", "box", "--padding", "40", "--max-memory", "150M",
                     "-o", tmp_path / "o", "-q")
    assert refused.exit_code == 1 and "--max-memory" in refused.stderr
    allowed = invoke("run", image, "-k", "box", "--padding", "40", "-o", tmp_path / "o", "-q")
    assert allowed.exit_code == 0, allowed.stderr


def test_max_pixels_raised_with_one_kernel_is_still_bounded_by_memory(tmp_path):
    # --max-pixels lets a 400-megapixel image past the bomb check; the memory budget
    # (1 GiB here) still refuses it from the header, before Pillow decodes a pixel.
    from PIL import Image

    path = tmp_path / "wide.png"
    Image.new("L", (20000, 20000)).save(path, compress_level=9)
    code, err, peak = run_measured("run", path, "-k", "box", "--max-pixels", "500000000",
                                   "--max-memory", "1G", "-o", tmp_path / "o", "-q")
    assert code == 1
    assert "over the budget of 1 GiB" in err
    assert peak < baseline_mib() + 60, peak


def test_random_detector_counts_are_refused_before_they_are_drawn(tmp_path, invoke, photo):
    code, err, peak = run_measured("run", photo, "--random", "100000000", "-o", tmp_path / "o")
    assert code == 2
    assert "--random 100000000 asks for 100,000,000 detectors" in _one_line(err)
    assert "--max-memory" in err
    assert peak < baseline_mib() + 30, peak
    (tmp_path / "net.toml").write_text("[[layer]]\nrandom = 100000000\n")
    code, err, peak = run_measured("run", photo, "--pipeline", tmp_path / "net.toml",
                                   "-o", tmp_path / "o")
    assert code == 2 and "more maps than the limit of 256" in _one_line(err)
    assert peak < baseline_mib() + 30, peak


def test_fifty_padded_layers_are_refused_from_the_pipeline_file(tmp_path, photo):
    layer = '[[layer]]\nkernels = ["box"]\npadding = 2000\n'
    (tmp_path / "net.toml").write_text(layer * 50)
    code, err, peak = run_measured("run", photo, "--pipeline", tmp_path / "net.toml", "-o",
                                   tmp_path / "o", "-q")
    assert code == 1
    assert "with padding 2000" in err and "layer" in err
    assert peak < baseline_mib() + 60, peak  # 15.5 GB when it ran


def test_the_disk_budget_names_its_option(tmp_path, invoke):
    image = tmp_path / "x.png"
    write_png(image, np.full((300, 300), 7))
    result = invoke("run", image, "--max-disk", "500K", "-o", tmp_path / "o", "-q")
    assert result.exit_code == 1
    assert "over the disk budget of 500 KiB per input" in result.stderr
    assert "--max-disk" in result.stderr
    assert not (tmp_path / "o" / "x").exists()


def _config(**params):
    return RunConfig(params=build_params(**params),
                     kernels=tuple(build_kernels((), None, 0, (3, 3))))


def test_the_estimate_bounds_the_real_peak_and_the_real_folder(tmp_path):
    # The budget is an upper estimate: a real run of a 1500x2000 photo with the default
    # detectors stays under it, in memory and on disk, and not absurdly so (< 4x).
    path = write_png(tmp_path / "p.png", np.random.default_rng(2).integers(0, 256, (1500, 2000)))
    config = _config()
    est = budget.estimate((1500, 2000), budget._layers(config))
    code, err, peak = run_measured("run", path, "-o", tmp_path / "o", "-q", "-j", "1")
    assert code == 0, err
    written = sum(f.stat().st_size for f in (tmp_path / "o" / "p").iterdir())
    figures = f"peak {peak:.0f} MiB, estimate {est.memory >> 20} MiB; wrote {written} bytes, " \
              f"estimate {est.disk}"
    assert peak * (1 << 20) < est.memory < 4 * peak * (1 << 20), figures
    assert written < est.disk < 4 * written, figures


def test_defaults_accept_a_64_megapixel_photo_with_the_default_detectors():
    est = budget.estimate((8000, 8000), budget._layers(_config()))
    assert est.memory < budget.DEFAULT_MAX_MEMORY
    assert est.disk < budget.DEFAULT_MAX_DISK


@pytest.mark.parametrize(("text", "value"), [("4G", 4 << 30), ("512M", 512 << 20),
                                             ("1.5GiB", 3 << 29), ("100000", 100000),
                                             ("64k", 64 << 10)])
def test_sizes_read_as_users_write_them(text, value):
    assert parse_size(text) == value


@pytest.mark.parametrize("text", ["", "4X", "-1", "0", "G"])
def test_bad_sizes_are_usage_errors(text, invoke, tmp_path):
    result = invoke("run", tmp_path, "--max-memory", text)
    assert result.exit_code == 2
    assert "--max-memory" in result.stderr


def test_over_budget_is_an_input_error_of_that_input_only(tmp_path, invoke):
    small, big = tmp_path / "in" / "a.png", tmp_path / "in" / "b.png"
    small.parent.mkdir()
    write_png(small, np.full((20, 20), 9))
    write_png(big, np.full((1500, 1500), 9))
    result = invoke("run", tmp_path / "in", "-k", "box", "--max-disk", "8M", "-o",
                    tmp_path / "o", "-q")
    assert result.exit_code == 1
    assert (tmp_path / "o" / "a" / "manifest.json").exists()
    assert not (tmp_path / "o" / "b").exists()
    assert "b.png: would write about" in result.stderr and "a.png" not in result.stderr


def test_the_budget_types_say_what_they_hold():
    assert issubclass(OverBudget, Exception)
    assert Budget().input_bytes == 512 << 20  # an eighth of the 4 GiB memory default
