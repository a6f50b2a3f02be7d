"""report.html in a real browser: Debian's Chromium driven by Playwright.

Without Chromium these tests skip with one reason; with CNNPIPE_REQUIRE_BROWSER=1
(set by .ci/run) a missing browser fails them instead, so CI never skips silently.
Every page is opened from file:// with any other request aborted and recorded.
"""

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import SAMPLES, load_manifest, write_png

from cnnpipe.outputs import report_data

CHROMIUM = os.environ.get("CNNPIPE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
SHOTS = Path(os.environ.get("CNNPIPE_SHOTS", "")) if os.environ.get("CNNPIPE_SHOTS") else None


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    if not Path(CHROMIUM).is_file():
        return f"no Chromium at {CHROMIUM} (apt-get install -y chromium)"
    return None


@pytest.fixture(scope="session")
def browser():
    reason = _missing()
    if reason:
        if os.environ.get("CNNPIPE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"CNNPIPE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(f"browser tests need Chromium: {reason}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def open_page(browser):
    """Open a file in a fresh page; any non-file request is aborted and fails the test."""
    pages, network, errors, files = [], [], [], []

    def open_(path, width=1280, height=800, report=True):
        page = browser.new_page(viewport={"width": width, "height": height})

        def route(r):
            if r.request.url.startswith(("file:", "data:")):
                if r.request.url.startswith("file:"):
                    files.append(r.request.url.rsplit("/", 1)[-1])
                r.continue_()
            else:
                network.append(r.request.url)
                r.abort()

        page.route("**/*", route)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(Path(path).resolve().as_uri())
        if report:
            page.wait_for_selector(".cnnpipe-report[data-ready]")
        pages.append(page)
        return page

    open_.files = files  # the name of every file the pages asked for, in order
    yield open_
    for page in pages:
        page.close()
    assert network == [], f"the page tried the network: {network}"
    assert errors == [], f"script errors: {errors}"


@pytest.fixture
def banded(monkeypatch):
    """Keep the input's values beside the page in bands of ``rows`` rows, as for a 12 MP
    photo, whatever the input's size: ``banded(row_bytes, rows)``."""
    def keep_beside(row_bytes, rows):
        monkeypatch.setattr(report_data, "INLINE_INPUT_BYTES", 0)
        monkeypatch.setattr(report_data, "BAND_BYTES", row_bytes * rows)
    return keep_beside


def bands_read(open_page):
    return [name for name in open_page.files if name.startswith("report-input-")]


def hover_cell(page, panel, r, c, shape):
    """Move the mouse to the middle of cell (r, c) of a panel's map (fitted view)."""
    view = page.locator(f'[data-panel="{panel}"] .cp-view')
    box = view.bounding_box()
    s, tx, ty = page.evaluate(
        """([panel]) => { const v = document.querySelector('.cnnpipe-report').cnnpipe.views[panel];
                          return [v.s, v.tx, v.ty]; }""", [panel])
    assert s * shape[1] <= box["width"] + 1  # fitted: the whole map is on screen
    page.mouse.move(box["x"] + tx + (c + 0.5) * s, box["y"] + ty + (r + 0.5) * s)


def wait_until(page, expression, timeout=20.0):
    """Poll ``expression`` (page.wait_for_function evaluates strings, which the page's CSP
    forbids)."""
    end = time.perf_counter() + timeout
    while not page.evaluate(expression):
        assert time.perf_counter() < end, f"timed out waiting for {expression}"
        time.sleep(0.002)


def marks(page, panel, cls):
    return page.eval_on_selector_all(
        f'[data-panel="{panel}"] .cp-mark.{cls}',
        "els => els.map(e => [e.dataset.r0, e.dataset.r1, e.dataset.c0, e.dataset.c1].map(Number))")


def shot(page, name):
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / f"{name}.png"))


def run_tutorial(invoke, out, *extra):
    result = invoke("run", SAMPLES / "tutorial.csv", "-k", "tutorial", "--html", "--provenance",
                    "--npy", "-o", out, *extra)
    assert result.exit_code == 0, result.output
    return out / "tutorial"


def test_partial_pooled_cell_of_the_5x5_example(invoke, tmp_path, open_page):
    folder = run_tutorial(invoke, tmp_path)
    manifest = load_manifest(folder)
    pool = next(m for m in manifest["maps"] if m["stage"] == "pool")
    relu = next(m for m in manifest["maps"] if m["stage"] == "relu")
    prov = pool["provenance"]
    page = open_page(folder / "report.html")
    hover_cell(page, "pool", 2, 2, pool["shape"])
    info = page.locator(".cp-info")
    # the window on the ReLU map, clipped to the single corner cell and marked partial
    r0, r1, c0, c1 = (prov[k][2][2] for k in ("row0", "row1", "col0", "col1"))
    assert prov["partial"][2][2]
    assert marks(page, "relu", "cp-window.cp-partial") == [[r0, r1, c0, c1]]
    assert page.locator('[data-panel="relu"] .cp-mark.cp-partial span').inner_text() == "partial"
    assert "partial window" in info.inner_text()
    cells = info.locator(".cp-window-values td[data-v]")
    assert cells.count() == prov["count"][2][2] == 1
    assert float(cells.first.get_attribute("data-v")) == relu["values"][r0][c0]
    assert info.locator(".cp-window-values td.cp-off").count() == 3
    # the winner, the result, and the receptive field through the 3x3 valid convolution
    wr, wc = prov["winner_row"][2][2], prov["winner_col"][2][2]
    assert marks(page, "relu", "cp-winner") == [[wr, wr + 1, wc, wc + 1]]
    assert float(info.locator(".cp-value").inner_text()) == pool["values"][2][2]
    assert marks(page, "image", "cp-field") == [[r0, min(r1 - 1 + 2, 6) + 1, c0,
                                                  min(c1 - 1 + 2, 6) + 1]]
    shot(page, "tutorial-partial")


def test_every_pooled_cell_from_the_keyboard(invoke, tmp_path, open_page):
    folder = run_tutorial(invoke, tmp_path)
    manifest = load_manifest(folder)
    pool = next(m for m in manifest["maps"] if m["stage"] == "pool")
    prov = pool["provenance"]
    page = open_page(folder / "report.html")
    page.locator('[data-panel="pool"] .cp-view').focus()
    for r in range(3):
        for c in range(3):
            if (r, c) != (0, 0):
                page.keyboard.press("ArrowRight" if c else "ArrowDown")
                if c == 0:
                    for _ in range(2):
                        page.keyboard.press("ArrowLeft")
            heading = page.locator(".cp-info h3").inner_text()
            assert heading.startswith(f"pool cell ({r}, {c})")
            assert float(page.locator(".cp-info .cp-value").inner_text()) == pool["values"][r][c]
            expected = [[prov["row0"][r][c], prov["row1"][r][c], prov["col0"][r][c],
                         prov["col1"][r][c]]]
            cls = "cp-window.cp-partial" if prov["partial"][r][c] else "cp-window"
            assert marks(page, "relu", cls) == expected


def test_mean_pool_shows_the_divisor_of_a_partial_window(invoke, tmp_path, open_page):
    folder = run_tutorial(invoke, tmp_path, "--pool", "mean")
    pool = next(m for m in load_manifest(folder)["maps"] if m["stage"] == "pool")
    page = open_page(folder / "report.html")
    for r, c in ((2, 1), (0, 0)):
        hover_cell(page, "pool", r, c, pool["shape"])
        assert int(page.locator(".cp-divisor").inner_text()) == pool["provenance"]["count"][r][c]
        assert float(page.locator(".cp-value").inner_text()) == pytest.approx(
            pool["values"][r][c], rel=1e-5)
        assert page.locator(".cp-winner").count() == 0


@pytest.mark.parametrize("beside", [False, True], ids=["in-page", "bands-beside"])
def test_conv_cell_of_a_photo_is_a_worked_example(invoke, tmp_path, open_page, banded, beside):
    if beside:  # chelsea is 451x300, float32 luminance: rows 0-137, 138-275, 276-299
        banded(451 * 4, 138)
    result = invoke("run", SAMPLES / "chelsea.png", "-k", "sobel-x", "-k", "gaussian", "--html",
                    "--npy", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "chelsea"
    manifest = load_manifest(folder)
    image = np.load(folder / "00-input.npy")
    conv = np.load(folder / "01-conv-sobel-x.npy")
    weights = np.asarray(manifest["kernels"][0]["weights"])
    page = open_page(folder / "report.html")
    assert bands_read(open_page) == []  # opening the page reads no values beside it
    r, c = 137, 211  # on the cat's face; its patch's rows 137-139 straddle two bands
    hover_cell(page, "conv", r, c, conv.shape)
    heading = page.locator(".cp-info h3").inner_text()
    assert heading.startswith(f"conv cell ({r}, {c}) of sobel-x")
    assert heading.endswith("(row, column, from 0)")  # which number is which, said
    tds = page.locator(".cp-products td")
    assert tds.count() == 9
    for i in range(9):
        a, b = divmod(i, 3)
        td = tds.nth(i)
        assert float(td.get_attribute("data-w")) == weights[a, b]
        assert float(td.get_attribute("data-x")) == float(image[r + a, c + b])
        product = weights[a, b] * image[r + a, c + b]
        assert float(td.get_attribute("data-p")) == pytest.approx(product)
    shown_sum = float(page.locator(".cp-sum b").inner_text())
    assert shown_sum == pytest.approx(float(conv[r, c]), rel=1e-5, abs=1e-6)
    # the kernel's taps and the receptive field on the input
    assert marks(page, "image", "cp-field") == [[r, r + 3, c, c + 3]]
    assert len(marks(page, "image", "cp-tap")) == 9
    assert bands_read(open_page) == (["report-input-01.js", "report-input-02.js"] if beside
                                     else [])
    shot(page, "chelsea-conv")


def test_pipeline_receptive_field_goes_through_every_layer(invoke, tmp_path, open_page):
    result = invoke("run", SAMPLES / "chelsea.png", "--pipeline", SAMPLES / "net.toml", "--html",
                    "--npy", "-o", tmp_path)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "chelsea"
    manifest = load_manifest(folder)
    page = open_page(folder / "report.html")
    page.select_option(".cp-det", "1,0")  # layer 2, first detector
    pool2 = np.load(folder / manifest["layers"][1]["maps"][2]["npy"])
    hover_cell(page, "pool", 10, 20, pool2.shape)
    assert float(page.locator(".cp-value").inner_text()) == pytest.approx(
        float(pool2[10, 20]), rel=1e-5)
    # layer 2 pool 2x2 of conv 3x3 valid of layer 1 pool 2x2 of conv 3x3 "same": by hand,
    # rows 10 -> conv2 20..21 -> L1 pool 20..23 -> L1 conv 40..47 -> image 39..48
    assert marks(page, "image", "cp-field") == [[39, 49, 79, 89]]
    assert "through 2 layers" in page.locator(".cp-rf").inner_text()
    # a computed conv cell of layer 2 sums 3 input maps, 27 products
    page.select_option(".cp-det", "1,1")
    conv2 = np.load(folder / manifest["layers"][1]["maps"][3]["npy"])
    hover_cell(page, "conv", 30, 40, conv2.shape)
    assert page.locator(".cp-products td").count() == 27
    assert float(page.locator(".cp-sum b").inner_text()) == pytest.approx(
        float(conv2[30, 40]), rel=1e-4, abs=1e-5)


def test_layout_fits_1280x800_and_1920(invoke, tmp_path, open_page):
    folder = run_tutorial(invoke, tmp_path)
    for width, height in ((1280, 800), (1920, 1080)):
        page = open_page(folder / "report.html", width, height)
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        for panel in ("image", "conv", "relu", "pool"):
            box = page.locator(f'[data-panel="{panel}"] .cp-view').bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width
            assert box["y"] + box["height"] <= height, f"{panel} below the fold at {width}"
        info = page.locator(".cp-info").bounding_box()
        assert info["x"] + info["width"] <= width
        shot(page, f"layout-{width}")


def test_zoom_keeps_pixels_sharp_and_pan_moves_the_map(invoke, tmp_path, open_page):
    folder = run_tutorial(invoke, tmp_path)
    page = open_page(folder / "report.html")
    img = page.locator('[data-panel="conv"] img')
    assert img.evaluate("e => getComputedStyle(e).imageRendering") in ("pixelated", "crisp-edges")
    before = page.evaluate("document.querySelector('.cnnpipe-report').cnnpipe.views.conv.s")
    page.locator('[data-panel="conv"] [data-zoom="in"]').click()
    after = page.evaluate("document.querySelector('.cnnpipe-report').cnnpipe.views.conv.s")
    assert after == pytest.approx(before * 1.5)
    box = page.locator('[data-panel="conv"] .cp-view').bounding_box()
    tx0 = page.evaluate("document.querySelector('.cnnpipe-report').cnnpipe.views.conv.tx")
    page.mouse.move(box["x"] + 100, box["y"] + 100)
    page.mouse.down()
    page.mouse.move(box["x"] + 160, box["y"] + 110, steps=4)
    page.mouse.up()
    tx1 = page.evaluate("document.querySelector('.cnnpipe-report').cnnpipe.views.conv.tx")
    assert tx1 == pytest.approx(tx0 + 60)


def test_batch_index_opens_and_links_work(invoke, tmp_path, open_page):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8))
    (photos / "bad.png").write_bytes(b"nope")
    invoke("run", photos, "--html", "-o", tmp_path / "out")
    index = open_page(tmp_path / "out" / "index.html", report=False)
    assert index.locator("li.failed .reason").inner_text().strip() != ""
    assert index.locator("li.ok img").evaluate("e => e.complete && e.naturalWidth") == 8
    index.click("li.ok a")
    index.wait_for_selector(".cnnpipe-report[data-ready]")
    assert index.locator("h1").inner_text() == "cnnpipe report: a.png"


def slow_conv(image, weights, r, c):
    """One cell of a valid cross-correlation, by a plain loop in float64."""
    kh, kw = weights.shape
    return sum(float(weights[a, b]) * float(image[r + a, c + b])
               for a in range(kh) for b in range(kw))


def test_a_12_megapixel_photo_opens_and_answers_hover_quickly(invoke, tmp_path, open_page):
    """Timing measured and reported (-s output, CNNPIPE_TIMING=FILE), not asserted."""
    from cnnpipe import io

    rng = np.random.default_rng(0)
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w]
    photo = ((x / w * 180 + y / h * 60 + rng.integers(0, 16, (h, w))) % 256).astype(np.uint8)
    write_png(tmp_path / "photo.png", np.stack([photo, photo[::-1], photo[:, ::-1]], axis=-1))
    del y, x, photo
    kernels = ["sobel-x", "sobel-y", "laplacian", "gaussian", "sharpen", "emboss",
               "diagonal-45", "box"]
    started = time.perf_counter()
    result = invoke("run", tmp_path / "photo.png", *sum((["-k", k] for k in kernels), []),
                    "--html", "-o", tmp_path / "out", "-q")
    run_seconds = time.perf_counter() - started
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "photo"
    page_file = folder / "report.html"
    assert page_file.stat().st_size < 1_000_000  # the input's 48 MB of values are beside it
    t0 = time.perf_counter()
    page = open_page(page_file)
    ready_seconds = time.perf_counter() - t0
    root = page.locator(".cnnpipe-report")
    wait_until(page, "document.querySelector('.cnnpipe-report').dataset.shownMs")
    assert bands_read(open_page) == []  # opening reads none of the values beside the page
    image = io.load_image(tmp_path / "photo.png").array  # the exact float32 gray input
    weights = np.asarray(load_manifest(folder)["kernels"][0]["weights"])  # sobel-x
    hovers = []
    for r, c in ((10, 10), (700, 900), (1498, 1998)):
        t1 = time.perf_counter()
        hover_cell(page, "pool", r, c, (1499, 1999))
        wait_until(page, "(document.querySelector('.cp-info h3') || {textContent: ''})"
                         f".textContent.startsWith('pool cell ({r}, {c})')")
        hovers.append(time.perf_counter() - t1)
        # max pool 2x2 of ReLU(conv): the page's value against a plain loop
        expected = max(max(slow_conv(image, weights, 2 * r + i, 2 * c + j), 0.0)
                       for i in range(2) for j in range(2))
        assert float(page.locator(".cp-value").inner_text()) == pytest.approx(
            expected, rel=1e-5, abs=1e-6)
    r, c = 1234, 2345
    t2 = time.perf_counter()
    hover_cell(page, "conv", r, c, (2998, 3998))
    wait_until(page, "(document.querySelector('.cp-info h3') || {textContent: ''})"
                     f".textContent.startsWith('conv cell ({r}, {c})')")
    hovers.append(time.perf_counter() - t2)
    shown_x = page.eval_on_selector_all(".cp-products td", "els => els.map(e => +e.dataset.x)")
    assert shown_x == [float(image[r + a, c + b]) for a in range(3) for b in range(3)]  # exact
    assert float(page.locator(".cp-sum b").inner_text()) == pytest.approx(
        slow_conv(image, weights, r, c), rel=1e-5, abs=1e-6)
    timing = {"run_seconds": round(run_seconds, 2),
              "ready_ms": int(root.get_attribute("data-ready-ms")),
              "shown_ms": int(root.get_attribute("data-shown-ms")),
              "goto_to_ready_seconds": round(ready_seconds, 3),
              "init_ms": int(root.get_attribute("data-init-ms")),
              "hover_seconds": [round(s, 3) for s in hovers],
              "bands_read": len(bands_read(open_page)),
              "report_mb": round(page_file.stat().st_size / 1e6, 2),
              "beside_mb": round(sum(f.stat().st_size for f in folder.glob("report-input-*"))
                                 / 1e6, 1),
              "load_average": round(os.getloadavg()[0], 1)}
    print("12 MP report timing:", json.dumps(timing))
    out = os.environ.get("CNNPIPE_TIMING")
    if out:
        Path(out).write_text(json.dumps(timing, indent=2) + "\n")
    shot(page, "12mp")


def test_a_missing_values_file_is_said_in_one_line(invoke, tmp_path, open_page, banded):
    banded(7, 1)  # the tutorial's 7x7 0s and 1s, one row a band
    folder = run_tutorial(invoke, tmp_path)
    (folder / "report-input-05.js").unlink()
    page = open_page(folder / "report.html")
    page.locator('[data-panel="image"] .cp-view').focus()  # pixel (0, 0): band 1 is there
    assert page.locator(".cp-info h3").inner_text() == "Input pixel (0, 0)"
    for _ in range(4):
        page.keyboard.press("ArrowDown")
    error = page.locator(".cp-info .cp-error")
    assert error.inner_text() == ("cannot read report-input-05.js, the input's values beside "
                                  "this page (keep the report in its folder)")
    page.keyboard.press("ArrowDown")  # row 5: its band is there, the page goes on
    assert page.locator(".cp-info h3").inner_text() == "Input pixel (5, 0)"


def test_the_page_writes_sizes_width_first(invoke, tmp_path, open_page):
    image = write_png(tmp_path / "wide.png", np.arange(13 * 17).reshape(13, 17) % 251)
    result = invoke("run", image, "-k", "k=1,0,-1;2,0,-2", "--html", "--window", "3,2",
                    "--stride", "1,2", "-o", tmp_path / "out")
    assert result.exit_code == 0, result.output
    page = open_page(tmp_path / "out" / "wide" / "report.html")
    assert " · 17×13 (W×H) · " in page.locator("header p").inner_text()
    dims = page.eval_on_selector_all(".cp-panel .cp-dim", "els => els.map(e => e.textContent)")
    # input 17x13; conv of a 2-row, 3-column kernel 15x12; pool window 3 rows 2 cols,
    # stride 1 row 2 cols: rows ceil((12-3)/1)+1 = 10, cols ceil((15-2)/2)+1 = 8 (by hand)
    assert dims == ["17×13", "15×12", "15×12", "8×10"]
    params = page.locator(".cp-params").inner_text()
    assert "window 2×3, stride 2×1" in params
    assert "k 3×2" in page.locator(".cp-kfig figcaption").inner_text()
    assert "(sizes W×H)" in page.locator(".cp-explore h2").inner_text()
    hover_cell(page, "conv", 0, 0, (12, 15))  # its field: the kernel's 2 rows, 3 columns
    assert "(3×2 pixels, W×H)" in page.locator(".cp-rf").inner_text()


def test_two_notebook_reports_on_one_page_work_independently(tmp_path, open_page):
    import cnnpipe

    first = cnnpipe.run_image(SAMPLES / "tutorial.csv", ["tutorial"])
    second = cnnpipe.run_image(SAMPLES / "tutorial.csv", ["tutorial"], pool="sum")
    page_file = tmp_path / "notebook.html"
    page_file.write_text("<!DOCTYPE html><html><body><h1>notebook</h1>" + first._repr_html_()
                         + "<p>cell 2</p>" + second._repr_html_() + "</body></html>")
    page = open_page(page_file)
    roots = page.locator(".cnnpipe-report")
    assert roots.count() == 2
    wait_until(page, "[...document.querySelectorAll('.cnnpipe-report')]"
                     ".every(r => r.dataset.ready)")
    roots.nth(1).locator('[data-panel="pool"] .cp-view').focus()
    page.keyboard.press("ArrowRight")
    info = roots.nth(1).locator(".cp-info")
    assert info.locator("h3").inner_text().startswith("pool cell (0, 1)")
    pool = second.maps["03-pool-tutorial.png"]
    assert float(info.locator(".cp-value").inner_text()) == float(pool[0, 1])
    assert roots.nth(0).locator(".cp-info h3").count() == 0  # the first one is untouched


@pytest.mark.parametrize("options", [
    ("--padding", "same", "--pad-mode", "reflect", "--dilation", "2", "--flip"),
    ("--padding", "2", "--pad-mode", "circular", "--conv-stride", "2", "--pool", "none"),
    ("--padding", "1,0,2,1", "--pad-mode", "replicate", "--activation", "none"),
], ids=["reflect-dilated-flipped", "circular-strided-no-pool", "replicate-no-activation"])
@pytest.mark.parametrize("beside", [False, True], ids=["in-page", "bands-beside"])
def test_conv_worked_example_follows_padding_modes(invoke, tmp_path, open_page, banded, options,
                                                   beside):
    if beside:  # 8-bit levels, one byte a pixel: bands of 2 rows; padding reads across them
        banded(11, 2)
    image = write_png(tmp_path / "img.png", (np.arange(9 * 11).reshape(9, 11) * 37) % 256)
    result = invoke("run", image, "-k", "k=1,2,0;-1,3,1;0,-2,1", "--html", "--npy", "-o",
                    tmp_path / "out", *options)
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "img"
    conv = np.load(folder / "01-conv-k.npy")
    page = open_page(folder / "report.html")
    for r, c in ((0, 0), (conv.shape[0] - 1, conv.shape[1] - 1), (conv.shape[0] // 2, 1)):
        hover_cell(page, "conv", r, c, conv.shape)
        shown = float(page.locator(".cp-sum b").inner_text())
        assert shown == pytest.approx(float(conv[r, c]), rel=1e-5, abs=1e-5), (r, c)
        products = page.eval_on_selector_all(".cp-products td", "els => els.map(e => "
                                             "[+e.dataset.w, +e.dataset.x, +e.dataset.p])")
        assert sum(p for _, _, p in products) == pytest.approx(float(conv[r, c]), abs=1e-5)


def test_rgb_values_beside_the_page_are_read_per_channel(invoke, tmp_path, open_page, banded):
    banded(3 * 11, 2)  # 8-bit RGB levels, 3 bytes a pixel: bands of 2 rows of every channel
    rng = np.random.default_rng(5)
    image = write_png(tmp_path / "rgb.png", rng.integers(0, 256, (9, 11, 3), dtype=np.uint8))
    result = invoke("run", image, "--color", "rgb", "-k", "sobel-y", "--html", "--npy", "-o",
                    tmp_path / "out")
    assert result.exit_code == 0, result.output
    folder = tmp_path / "out" / "rgb"
    values = np.load(folder / "00-input.npy")
    assert values.shape == (3, 9, 11)
    conv = np.load(folder / "01-conv-sobel-y.npy")
    page = open_page(folder / "report.html")
    for r, c in ((5, 7), (8, 0)):
        hover_cell(page, "image", r, c, (9, 11))
        assert page.locator(".cp-info h3").inner_text() == f"Input pixel ({r}, {c})"
        shown = [float(v) for v in page.locator(".cp-result b").inner_text().split(", ")]
        assert shown == pytest.approx(values[:, r, c].tolist(), rel=1e-5)  # 6 digits
    r, c = 3, 4  # the kernel's rows 3-5 straddle bands 2 and 3
    hover_cell(page, "conv", r, c, conv.shape[-2:])
    expected = conv[0, r, c] if conv.ndim == 3 else conv[r, c]
    assert float(page.locator(".cp-sum b").inner_text()) == pytest.approx(
        float(expected), rel=1e-5, abs=1e-6)
    # each band read once, when first needed: rows 4-5, row 8, rows 2-3 (4-5 kept)
    assert bands_read(open_page) == ["report-input-03.js", "report-input-05.js",
                                     "report-input-02.js"]
