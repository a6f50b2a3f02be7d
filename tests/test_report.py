"""run --html without a browser: the page's file, its embedded data, the batch index."""

import base64
import json
import re

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png
from numpy.testing import assert_allclose, assert_array_equal

from cnnpipe.outputs import report, report_data


def page_payload(path):
    """The data the page's script reads, put together as the script does."""
    return payload_of(path.read_text())


def payload_of(text):
    match = re.search(r'<script type="application/json" class="cnnpipe-data">(.*?)</script>',
                      text, re.S)
    assert match, "the page has no data block"
    data = json.loads(match.group(1).replace("<\\/", "</"))
    data["input"]["values"]["b64"] = re.search(r'class="cnnpipe-input">([^<]*)<', text).group(1)
    blobs = dict(re.findall(r'class="cnnpipe-values" data-file="([^"]*)">([^<]*)<', text))
    for layer in data["layers"]:
        for det in layer["detectors"]:
            for m in det["maps"].values():
                m["values"] = blobs[m["file"]] if m["values"] else None
    return data


def test_page_text_cannot_close_its_script_early():
    data = {"title": "</script><script>alert(1)</script>", "input": {"values": {"b64": "AA=="}}}
    frag = report.render_fragment({**data, "layers": []})
    assert "</script><script>alert" not in frag


def floats(b64):
    return np.frombuffer(base64.b64decode(b64), dtype="<f4")


def test_run_html_writes_a_report_listed_in_the_manifest(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "--html", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tutorial"
    manifest = load_manifest(folder)
    assert "report.html" in manifest["files"]
    assert manifest["params"]["html"] is True
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>")
    # nothing from the network: no absolute URLs in any src/href, a CSP that forbids fetching
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert "default-src 'none'" in page
    # the pictures are the PNG files beside the page
    data = page_payload(folder / "report.html")
    for det in data["layers"][0]["detectors"]:
        for m in det["maps"].values():
            assert (folder / m["src"]).is_file()
            assert m["mapping"] == next(e["mapping"] for e in manifest["maps"]
                                        if e["file"] == m["file"])


def test_small_maps_carry_their_exact_values(invoke, tmp_path):
    invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "--html", "--npy", "-o", tmp_path)
    folder = tmp_path / "tutorial"
    data = page_payload(folder / "report.html")
    maps = data["layers"][0]["detectors"][0]["maps"]
    for stage in ("conv", "relu", "pool"):
        expected = np.load(folder / maps[stage]["file"].replace(".png", ".npy"))
        assert_array_equal(floats(maps[stage]["values"]).reshape(expected.shape), expected)
    inp = data["input"]["values"]
    raw = np.frombuffer(base64.b64decode(inp["b64"]), dtype="<u1" if inp["encoding"] == "u8"
                        else "<f4")
    values = raw / np.float32(inp["levels"]) if inp["encoding"] == "u8" else raw
    assert_array_equal(values.reshape(7, 7), np.loadtxt(SAMPLES / "tutorial.csv", delimiter=","))


def test_input_encoding_is_exact_and_compact():
    levels = np.arange(256, dtype=np.float32).reshape(16, 16) / np.float32(255)
    enc = report.encode_input(levels)
    assert enc["encoding"] == "u8"
    back = np.frombuffer(base64.b64decode(enc["b64"]), dtype=np.uint8).astype(np.float32) / 255
    assert_array_equal(back.reshape(16, 16), levels)
    luminance = np.float32([[0.2989 * 0.5, 1 / 3]])
    enc = report.encode_input(luminance)
    assert enc["encoding"] == "f32"
    assert_array_equal(floats(enc["b64"]).reshape(1, 2), luminance)


def test_large_maps_are_left_to_the_page_and_the_budget_holds(monkeypatch):
    monkeypatch.setattr(report_data, "EXACT_BUDGET", 1000)
    c = report.Collector()
    c.add_map("small.png", np.ones((10, 10), np.float32))  # 400 bytes
    c.add_map("big.png", np.ones((report.EXACT_CELLS + 1,), np.float32))
    c.add_map("second.png", np.ones((10, 10), np.float32))  # 800 bytes in all
    c.add_map("third.png", np.ones((10, 10), np.float32))  # would pass 1000
    assert sorted(c.values) == ["second.png", "small.png"]


@pytest.mark.parametrize("args", [
    ("--padding", "same", "--conv-stride", "2"),
    ("--padding", "1,0,2,1", "--dilation", "2", "--window", "3", "--stride", "2"),
    ("--edge", "drop", "--window", "3"),
])
def test_size_formulas_give_the_sizes_of_the_maps(invoke, tmp_path, args):
    image = write_png(tmp_path / "img.png", np.arange(13 * 17).reshape(13, 17) % 251)
    result = invoke("run", image, "-k", "sobel-x", "--html", "-o", tmp_path / "out", *args)
    assert result.exit_code == 0, result.output
    data = page_payload(tmp_path / "out" / "img" / "report.html")
    layer = data["layers"][0]
    sizes = layer["sizes"][0]
    maps = layer["detectors"][0]["maps"]
    for axis in (0, 1):
        # each formula ends in "= N" with N the map's real size
        assert sizes["conv"][axis].endswith(f"= {maps['conv']['shape'][axis]}")
        assert sizes["pool"][axis].endswith(f"= {maps['pool']['shape'][axis]}")
        n = 13 if axis == 0 else 17
        assert sizes["conv"][axis].startswith(f"floor(({n} + ")


def test_pool_size_text_names_the_dropped_last_window():
    from cnnpipe.ops import pool_output_size

    # n=3, k=1, s=3: ceil(2/3) + 1 = 2, but the 2nd window would start at 3, past the map
    assert report.pool_size_text(3, 1, 3, "keep", 1) == (
        "ceil((3 − 1) / 3) + 1 − 1 (the last window would start past the map) = 1")
    for n in range(1, 9):
        for k in range(1, n + 1):
            for st in range(1, 5):
                for edge in ("keep", "drop"):
                    out = pool_output_size(n, k, st, edge)
                    text = report.pool_size_text(n, k, st, edge, out)
                    first = (-(-(n - k) // st) if edge == "keep" else (n - k) // st) + 1
                    assert text.endswith(f"= {out}")
                    assert ("past the map" in text) == (first != out)


def test_pipeline_report_has_every_layer(invoke, tmp_path):
    result = invoke("run", SAMPLES / "chelsea.png", "--pipeline", SAMPLES / "net.toml", "--html",
                    "-o", tmp_path)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "chelsea"
    manifest = load_manifest(folder)
    data = page_payload(folder / "report.html")
    assert [layer["number"] for layer in data["layers"]] == [1, 2, 3]
    for layer, meta in zip(data["layers"], manifest["layers"], strict=True):
        assert [d["name"] for d in layer["detectors"]] == meta["detectors"]
        # each layer sees the maps the one before handed on
        assert layer["in_channels"] == meta["in_channels"]
    assert [d["channel"] for d in data["layers"][2]["detectors"]] == [0, 1, 2, 3]


def test_dry_run_lists_the_report(invoke, tmp_path):
    result = invoke("run", SAMPLES / "tutorial.csv", "-n", "--html", "-o", tmp_path)
    assert "report.html" in result.output
    assert not (tmp_path / "tutorial").exists()


def test_batch_index_links_reports_and_lists_failures(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8))
    write_png(photos / "b.png", np.arange(100).reshape(10, 10))
    (photos / "broken.png").write_bytes(b"not a png at all")
    result = invoke("run", photos, "--html", "-o", tmp_path / "out")
    assert result.exit_code == 1
    index = (tmp_path / "out" / "index.html").read_text()
    assert 'href="a/report.html"' in index and 'href="b/report.html"' in index
    assert 'src="a/00-input.png"' in index
    assert (tmp_path / "out" / "a" / "report.html").is_file()
    failed = re.search(r'<li class="failed">(.*?)</li>', index, re.S).group(1)
    assert "broken.png" in failed and "report.html" not in failed
    assert re.sub(r"<[^>]+>", "", failed).strip().endswith(
        re.search(r"broken.png: (.*)", result.stderr).group(1).strip()
        .replace("&", "&amp;").replace("'", "&#x27;").replace('"', "&quot;"))
    assert "2 ok, 0 skipped, 1 failed" in index


def test_the_batch_index_path_is_said_even_with_quiet(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8))
    write_png(photos / "b.png", np.arange(100).reshape(10, 10))
    result = invoke("run", photos, "--html", "-q", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert result.stderr.strip() == f"cnnpipe: batch report {tmp_path / 'out' / 'index.html'}"


def test_a_single_file_gets_no_index(invoke, tmp_path):
    invoke("run", SAMPLES / "tutorial.csv", "--html", "-o", tmp_path)
    assert not (tmp_path / "index.html").exists()


def test_without_html_no_report_and_the_manifest_params_are_unchanged(invoke, tmp_path):
    invoke("run", SAMPLES / "tutorial.csv", "-o", tmp_path)
    manifest = load_manifest(tmp_path / "tutorial")
    assert "html" not in manifest["params"]
    assert not (tmp_path / "tutorial" / "report.html").exists()


def test_skip_existing_writes_the_report_a_plain_run_did_not(invoke, tmp_path):
    invoke("run", SAMPLES / "tutorial.csv", "-o", tmp_path)
    invoke("run", SAMPLES / "tutorial.csv", "--html", "--skip-existing", "-o", tmp_path)
    assert (tmp_path / "tutorial" / "report.html").is_file()
    # and a later run without --html removes the report it no longer writes
    invoke("run", SAMPLES / "tutorial.csv", "-o", tmp_path)
    assert not (tmp_path / "tutorial" / "report.html").exists()


def test_legend_gradient_uses_the_png_colour_table():
    from cnnpipe.pictures.colormaps import lut

    m = {"lo": -2.0, "hi": 2.0, "levels": 255, "cmap": "vik", "formula": "f"}
    legend = report.legend(m)
    first, last = lut("vik")[0].tolist(), lut("vik")[255].tolist()
    assert legend["gradient"].startswith(f"linear-gradient(to right, rgb({first[0]},{first[1]},"
                                         f"{first[2]}) 0.0%")
    assert legend["gradient"].endswith(f"rgb({last[0]},{last[1]},{last[2]}) 100.0%)")
    assert legend["ticks"] == [-2.0, 0.0, 2.0]
    assert_allclose(legend["step"], 4 / 255)


def test_run_image_shows_the_report_inline_for_a_notebook():
    import cnnpipe

    result = cnnpipe.run_image(SAMPLES / "tutorial.csv", ["tutorial"], pool="mean")
    fragment = result._repr_html_()
    assert fragment.startswith('<div class="cnnpipe-report"') and fragment.endswith("</div>")
    assert "<html" not in fragment  # a fragment for the notebook's page, not a page
    data = payload_of(fragment)
    maps = data["layers"][0]["detectors"][0]["maps"]
    # the pictures travel inside the HTML: a notebook has no folder beside it
    for m in [data["input"]["map"], *maps.values()]:
        assert m["src"].startswith("data:image/png;base64,")
    # the same maps as the library's operations, exactly
    x = np.loadtxt(SAMPLES / "tutorial.csv", delimiter=",").astype(np.float32)
    from cnnpipe import conv2d, kernel, pool2d, relu

    conv = conv2d(x, kernel("tutorial").weights)
    assert_array_equal(result.maps["01-conv-tutorial.png"], conv)
    assert_array_equal(floats(maps["pool"]["values"]).reshape(3, 3),
                       pool2d(relu(conv), mode="mean"))
    assert result.manifest["params"]["pool"] == "mean"
    assert result.html().startswith("<!DOCTYPE html>")


def test_run_image_takes_an_array_and_kernel_objects():
    import cnnpipe
    from cnnpipe import kernel

    result = cnnpipe.run_image(np.eye(6), [kernel("sobel-x"), "k=1,1;1,1"], padding="same")
    assert sorted(f for f in result.maps if f.startswith("01-")) == [
        "01-conv-k.png", "01-conv-sobel-x.png"]
    assert result.maps["01-conv-k.png"].shape == (6, 6)


@pytest.mark.parametrize("require, outcome", [("", "1 skipped"), ("1", "1 error")])
def test_browser_tests_skip_with_a_reason_or_fail_when_the_browser_is_required(
        tmp_path, require, outcome):
    import os
    import subprocess
    import sys

    from conftest import ROOT

    env = {**os.environ, "CNNPIPE_CHROMIUM": str(tmp_path / "no-chromium"),
           "CNNPIPE_REQUIRE_BROWSER": require}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
         "tests/test_report_browser.py::test_layout_fits_1280x800_and_1920"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert outcome in done.stdout, done.stdout
    if require:
        assert "CNNPIPE_REQUIRE_BROWSER=1 but no Chromium at" in done.stdout
        assert done.returncode != 0
    else:
        assert "browser tests need Chromium: no Chromium at" in done.stdout
        assert done.returncode == 0


def band_values(folder, name):
    """The base64 values one sidecar file gives the page, under its own file name."""
    text = (folder / name).read_text()
    match = re.fullmatch(r'\(window\.cnnpipeBands = window\.cnnpipeBands \|\| \{\}\)'
                         r'\["([^"]+)"\] = "([A-Za-z0-9+/=]*)";\n', text)
    assert match and match.group(1) == name, text[:120]
    return match.group(2)


def test_a_large_input_is_kept_beside_the_page_in_bands_of_rows(invoke, tmp_path, monkeypatch):
    rng = np.random.default_rng(3)
    photo = write_png(tmp_path / "photo.png", rng.integers(0, 256, (23, 17, 3), dtype=np.uint8))
    monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 1000)  # the gray input: 1564 bytes
    monkeypatch.setattr(report_data, "BAND_BYTES", 5 * 17 * 4)  # five rows of float32
    result = invoke("run", photo, "-k", "sobel-x", "--html", "--npy", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "photo"
    names = [f"report-input-0{k}.js" for k in range(1, 6)]
    assert [n for n in load_manifest(folder)["files"] if n.startswith("report-input-")] == names
    values = page_payload(folder / "report.html")["input"]["values"]
    assert values["encoding"] == "f32"  # luminance of 8-bit RGB is not on 8-bit levels
    assert values["b64"] == "" and values["bands"] == names and values["band_rows"] == 5
    bands = [floats(band_values(folder, n)).reshape(-1, 17) for n in names]
    assert [len(b) for b in bands] == [5, 5, 5, 5, 3]
    assert_array_equal(np.concatenate(bands), np.load(folder / "00-input.npy"))
    # a run of the same input with the values back in the page leaves no stale band behind
    monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 1 << 20)
    result = invoke("run", photo, "-k", "sobel-x", "--html", "--npy", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert not list(folder.glob("report-input-*"))
    values = page_payload(folder / "report.html")["input"]["values"]
    assert "bands" not in values
    assert_array_equal(floats(values["b64"]).reshape(23, 17), np.load(folder / "00-input.npy"))


def test_an_rgb_input_band_holds_its_rows_of_every_channel(tmp_path, monkeypatch):
    monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 0)
    monkeypatch.setattr(report_data, "BAND_BYTES", 2 * 3 * 4)  # two rows of 3 channels of 4 px
    rgb = (np.arange(3 * 5 * 4).reshape(3, 5, 4) % 256).astype(np.float32) / np.float32(255)
    c = report_data.Collector()
    c.add_input(rgb)
    assert c.input["encoding"] == "u8" and c.input["band_rows"] == 2
    files = c.sidecar_files()
    assert [name for name, _ in files] == ["report-input-01.js", "report-input-02.js",
                                           "report-input-03.js"]
    for k, (name, make) in enumerate(files):
        (tmp_path / name).write_bytes(make())
        raw = np.frombuffer(base64.b64decode(band_values(tmp_path, name)), dtype=np.uint8)
        rows = rgb[:, 2 * k:2 * k + 2]
        assert_array_equal(raw.reshape(rows.shape).astype(np.float32) / 255, rows)


def test_a_notebook_result_keeps_a_large_input_in_the_page(monkeypatch):
    import cnnpipe

    monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 0)
    result = cnnpipe.run_image(SAMPLES / "tutorial.csv", ["tutorial"])
    data = payload_of(result._repr_html_())
    values = data["input"]["values"]
    assert "bands" not in values and values["encoding"] == "u8"  # the tutorial is 0s and 1s
    raw = np.frombuffer(base64.b64decode(values["b64"]), dtype=np.uint8)
    assert_array_equal(raw.reshape(7, 7) / np.float32(255), result.maps["00-input.png"])


def test_sizes_on_the_page_are_width_first(invoke, tmp_path):
    image = write_png(tmp_path / "wide.png", np.arange(13 * 17).reshape(13, 17) % 251)
    result = invoke("run", image, "-k", "k=1,0,-1;2,0,-2", "--html", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    data = page_payload(tmp_path / "out" / "wide" / "report.html")
    assert data["size_order"] == "W×H"
    assert data["input"]["size"] == "17×13"
    layer = data["layers"][0]
    assert layer["kernels"][0]["size"] == "3×2"  # 2 rows, 3 columns
    maps = layer["detectors"][0]["maps"]
    assert maps["conv"]["shape"] == [12, 15] and maps["conv"]["size"] == "15×12"
    assert maps["pool"]["size"] == "8×6"
    assert layer["conv_size"] == "15×12"


def test_a_killed_run_leaves_no_values_file_behind(invoke, tmp_path, monkeypatch):
    from cnnpipe.batch.discovery import Job
    from cnnpipe.batch.work import remove_partial
    from cnnpipe.kernels import BUILTIN
    from cnnpipe.layer import Params
    from cnnpipe.outputs import MANIFEST, RunConfig

    monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 0)
    monkeypatch.setattr(report_data, "BAND_BYTES", 7)  # the tutorial: a row a band
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "--html", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "tutorial"
    assert len(list(folder.glob("report-input-*.js"))) == 7
    # as if the worker had been killed before the manifest: its files are in its staging
    # folder (marked as cnnpipe's) beside the input's folder
    staging = tmp_path / ".tutorial.cnnpipe-staging-999999999"
    folder.rename(staging)
    (staging / MANIFEST).unlink()
    (staging / ".cnnpipe-staging").write_bytes(b"")
    config = RunConfig(params=Params(), kernels=(BUILTIN["tutorial"],), out_root=str(tmp_path),
                       html=True)
    remove_partial(Job(source=str(SAMPLES / "tutorial.csv"), name="tutorial"), config)
    assert not staging.exists()  # every values file with it
