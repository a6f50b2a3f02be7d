"""`cnnpipe kernels` and the rich renderables behind it.

How errors are tested: some tests call ``main([...])`` (the installed
script's entry point), catch its ``SystemExit`` and read stdout/stderr with
``capsys``; ``CliRunner().invoke(cli, ...)`` goes through the same error
funnel (``LazyGroup.main``); one test also runs ``python -m cnnpipe`` in a
subprocess.
"""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import write_png
from rich.console import Console

from cnnpipe.cli import cli, main
from cnnpipe.kernels import BUILTIN, kernel
from cnnpipe.render.kernels import kernel_card, kernels_overview_table

ROOT = Path(__file__).resolve().parents[1]


def render(renderable, **options):
    console = Console(file=StringIO(), width=100, color_system=None, **options)
    console.print(renderable)
    return console.file.getvalue()


def test_kernels_lists_every_builtin_with_matrices():
    result = CliRunner().invoke(cli, ["kernels"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""
    for name in BUILTIN:
        assert name in result.stdout
    # the sobel-x matrix, row by row
    assert "│ -1 │ 0 │ 1 │" in result.stdout
    assert "│ -2 │ 0 │ 2 │" in result.stdout
    assert "Sobel & Feldman 1968" in result.stdout


def test_kernels_accepts_names_and_any_spec():
    result = CliRunner().invoke(cli, ["kernels", "SOBEL_Y", "gaussian:2", "1,2;3,-4"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "sobel-y" in out and "gaussian-2" in out and "k1" in out
    assert "sobel-x" not in out
    assert "13x13" in out  # gaussian:2 is 2*ceil(6)+1 wide
    assert "│ 3 │ -4 │" in out


def test_kernels_json_is_the_only_output():
    result = CliRunner().invoke(cli, ["kernels", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [d["name"] for d in data] == list(BUILTIN)
    by_name = {d["name"]: d for d in data}
    assert by_name["sobel-x"]["weights"] == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert by_name["sobel-x"]["shape"] == [3, 3]
    assert by_name["box"]["weights"][0][0] == pytest.approx(1 / 9, abs=1e-7)
    assert by_name["sobel-x"]["source"] == "Sobel & Feldman 1968"
    assert all(set(d) == {"name", "shape", "weights", "description", "source"} for d in data)


def test_kernels_json_for_named_specs_and_duplicates():
    result = CliRunner().invoke(cli, ["kernels", "--json", "1,2", "3x1: 4,5,6", "box", "box"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert [d["name"] for d in data] == ["k1", "k2", "box", "box-2"]
    assert data[1]["weights"] == [[4, 5, 6]]


def test_kernels_unknown_name_is_one_line_and_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["kernels", "sobelx"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("cnnpipe: unknown kernel 'sobelx'; did you mean 'sobel-x'? "
                            "(see `cnnpipe kernels`)\n")


def test_kernels_bad_inline_matrix_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["kernels", "--json", "1,2,3;4,5"])
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("cnnpipe: kernel row 2 has 2 values; expected 3")
    assert captured.err.count("\n") == 1


def test_kernels_error_through_the_real_entry_point():
    proc = subprocess.run([sys.executable, "-m", "cnnpipe", "kernels", "gauss:2"],
                          capture_output=True, text=True, check=False, cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.startswith("cnnpipe: unknown kernel family 'gauss'")
    assert "Traceback" not in proc.stderr


def test_kernels_help_has_examples_and_spec_forms():
    result = CliRunner().invoke(cli, ["kernels", "--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "  cnnpipe kernels sobel-x sobel-y" in result.output
    for form in ["gaussian:SIGMA", "sobel:ANGLE", "NAME=SPEC", ".mat", "3x3:"]:
        assert form in result.output


def test_overview_table_text():
    text = render(kernels_overview_table([BUILTIN["sobel-x"], BUILTIN["gaussian-5x5"],
                                          kernel("gaussian:2")]))
    lines = text.splitlines()
    assert "name" in lines[2] and "size" in lines[2] and "sum" in lines[2]
    row = next(line for line in lines if "gaussian-5x5" in line)
    assert "5×5" in row and " 1 " in row  # sizes W×H, as everywhere
    assert any("sobel-x" in line and " 0 " in line for line in lines)
    assert any("gaussian-2" in line and "13×13" in line for line in lines)


def test_matrix_card_right_aligns_and_shows_signs_without_colour():
    text = render(kernel_card(kernel("a=1,-10;-0.5,2")))
    # one number format everywhere (cnnpipe.numbers): integers bare, 3 significant digits
    assert "│    1 │ -10 │" in text
    assert "│ -0.5 │   2 │" in text


def test_matrix_card_marks_negatives_red_with_colour():
    console = Console(file=StringIO(), width=80, color_system="standard", force_terminal=True)
    console.print(kernel_card(BUILTIN["sobel-x"]))
    out = console.file.getvalue()
    assert "\x1b[31m-1\x1b[0m" in out
    assert "\x1b[31m1\x1b[0m" not in out


def test_large_and_multichannel_kernels_render(tmp_path):
    text = render(kernel_card(kernel("gaussian:3")))
    assert "19x19: too large for a table" in text and "--png" in text
    np.save(tmp_path / "rgb.npy", np.arange(12).reshape(3, 2, 2) - 6)
    text = render(kernel_card(kernel(str(tmp_path / "rgb.npy"))))
    assert "3ch 2×2" in text
    assert "channel 2" in text
    assert "│ -6 │ -5 │" in text and "│ 4 │ 5 │" in text


@pytest.mark.parametrize("typed, close", [
    ("Sobel", ["'sobel-x'", "'sobel-y'", "'sobel:ANGLE'"]),   # issue #17: only sobel-y
    ("PREWIT", ["'prewitt-x'", "'prewitt-y'"]),
    ("diagonal", ["'diagonal-45'", "'diagonal-135'"]),
    ("lines", ["'horizontal-lines'", "'vertical-lines'"]),
    ("Gauss", ["'gaussian'", "'gaussian:SIGMA'"]),
])
def test_unknown_name_suggests_every_close_name_whatever_the_case(invoke, typed, close):
    result = invoke("kernels", typed)
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    hint = result.stderr.split("did you mean ", 1)[1].split("?")[0]
    for name in close:
        assert name in hint, (typed, hint)


def test_a_name_missing_only_its_dash_gets_one_answer(invoke):
    result = invoke("run", "x.png", "-k", "SobelX")
    assert result.exit_code == 2
    assert "did you mean 'sobel-x'? " in result.stderr


def test_kernels_png_draws_every_kernel_with_diverging_colours(invoke, tmp_path):
    from PIL import Image

    from cnnpipe.pictures.colormaps import lut
    from cnnpipe.pictures.kernel_picture import KERNEL_CMAP, kernels_sheet

    target = tmp_path / "k.png"
    result = invoke("kernels", "gabor:45,2,6", "sobel-x", "--png", target)
    assert result.exit_code == 0, result.output
    assert "wrote" in result.stderr and str(target) in result.stderr
    with Image.open(target) as im:
        picture = np.asarray(im.convert("RGB"))
    expected = np.asarray(kernels_sheet([kernel("gabor:45,2,6"), BUILTIN["sobel-x"]]))
    np.testing.assert_array_equal(picture, expected)
    table = {tuple(c) for c in lut(KERNEL_CMAP)}
    colours = {tuple(c) for c in picture.reshape(-1, 3)}
    assert len(colours & table) > 20  # a 13x13 gabor in many diverging colours
    bad = invoke("kernels", "sobel-x", "--png", tmp_path / "k.jpg")
    assert bad.exit_code == 2 and not (tmp_path / "k.jpg").exists()


# ------------------------------------------------------------- RGB first-layer banks


def _rgb_bank(tmp_path):
    """A hand-made (K, 3, 5, 5) bank like a trained conv1: luminance stripes, a colour stripe."""
    r = np.arange(5) - 2
    y, x = np.meshgrid(r, r, indexing="ij")
    stripe = np.exp(-(x ** 2 + y ** 2) / 4.0) * np.cos(np.pi * x / 2)
    bank = np.array([[stripe, stripe, stripe], [stripe, -stripe, 0.25 * stripe]])
    np.save(tmp_path / "conv1.npy", bank)
    return tmp_path / "conv1.npy", bank


def test_rgb_patch_is_grey_at_zero_and_full_colour_at_the_largest_weight():
    from cnnpipe.pictures.kernel_picture import rgb_patch

    w = np.array([[[0.5, -2.0]], [[0.0, 1.0]], [[2.0, -1.0]]])  # (3, 1, 2)
    expected = np.empty((1, 2, 3))
    for c in range(3):
        for j in range(2):
            expected[0, j, c] = round(128 + 127 * w[c, 0, j] / 2.0)
    np.testing.assert_array_equal(rgb_patch(w), expected)
    assert rgb_patch(np.zeros((3, 2, 2))).tolist() == [[[128] * 3] * 2] * 2


def test_kernels_png_draws_an_rgb_bank_as_colour_patches(invoke, tmp_path):
    from PIL import Image

    from cnnpipe.pictures.kernel_picture import rgb_patch

    path, bank = _rgb_bank(tmp_path)
    target = tmp_path / "bank.png"
    result = invoke("kernels", path, "--png", target)
    assert result.exit_code == 0, result.output
    assert "2 kernel(s)" in result.stderr
    with Image.open(target) as im:
        colours = {tuple(c) for c in np.asarray(im.convert("RGB")).reshape(-1, 3)}
    for filt in bank:  # every weight's colour is in the picture: each filter is a patch
        assert {tuple(c) for c in rgb_patch(filt).reshape(-1, 3)} <= colours
    # the red-green filter's centre weight (1, -1, 0.25) of extent 1: 128 + 127 * w
    assert (255, 1, 160) in colours


def test_run_applies_an_rgb_bank_to_a_colour_photo_like_a_cnn_layer(invoke, tmp_path):
    from reference import ref_conv2d

    path, bank = _rgb_bank(tmp_path)
    rng = np.random.default_rng(3)
    photo = rng.integers(0, 256, (12, 9, 3)).astype(np.uint8)
    write_png(tmp_path / "p.png", photo)
    out = tmp_path / "out"
    result = invoke("run", tmp_path / "p.png", "-k", path, "--color", "rgb", "--npy", "-o", out,
                    "-q")
    assert result.exit_code == 0, result.output
    x = photo.astype(np.float64) / 255
    for i, filt in enumerate(bank):
        conv = np.load(out / "p" / f"01-conv-conv1-{i + 1}.npy")
        expected = sum(ref_conv2d(x[..., c], filt[c]) for c in range(3))  # summed over R, G, B
        np.testing.assert_allclose(conv, expected, atol=1e-5)


def test_run_refuses_an_rgb_bank_on_a_gray_input_in_one_line(invoke, tmp_path):
    path, _ = _rgb_bank(tmp_path)
    write_png(tmp_path / "p.png", np.zeros((8, 8, 3)))
    result = invoke("run", tmp_path / "p.png", "-k", path, "-o", tmp_path / "out")
    assert result.exit_code == 2
    line = result.stderr.splitlines()[0]  # then the batch summary: 0 processed, 1 failed
    assert line.startswith(f"{tmp_path / 'p.png'}: kernel 'conv1-1' has 3 channels")
    assert line.endswith("(use --color rgb for a 3-channel detector)")


def test_the_channels_of_one_kernel_share_one_colour_scale():
    from cnnpipe.pictures.colormaps import lut
    from cnnpipe.pictures.kernel_picture import KERNEL_CMAP, kernel_image

    w = np.array([[[1.0, -1.0]], [[0.5, 0.0]]])  # (2, 1, 2): the second channel is weaker
    picture = np.asarray(kernel_image(w, values_up_to=0))
    colours = {tuple(int(v) for v in c) for c in picture.reshape(-1, 3)}
    table = lut(KERNEL_CMAP)
    half = tuple(int(v) for v in table[round((0.5 / 1.0 + 1) / 2 * 255)])
    assert half in colours  # 0.5 drawn as half of the kernel's extent 1,
    # on a scale of its own the weaker channel's 0.5 would have been the full end colour
    first_row = [tuple(int(v) for v in c) for c in picture[0]]
    assert first_row.count(tuple(int(v) for v in table[255])) < picture.shape[1] // 3


def test_a_wide_or_rgb_kernel_card_keeps_its_words_whole_at_80_columns():
    from cnnpipe.kernels import parse_kernel_specs

    console = Console(file=StringIO(), width=80, color_system=None)
    rgb = parse_kernel_specs([str(ROOT / "samples" / "rgb-bank.npy")])[0]
    for k in (rgb, kernel("gabor:45,1,3")):  # 7x7 matrices of 3-digit numbers: ~75 columns
        console.print(kernel_card(k))
    text = console.file.getvalue()
    assert "…" not in text
    assert "rgb-bank-1  3ch 7×7" in text and "channel 2" in text
    assert "gabor-45-1-3  7×7" in text
    assert max(len(line) for line in text.splitlines()) <= 80


def test_the_planes_of_a_multichannel_kernel_are_headed_by_their_channel():
    from cnnpipe.pictures.kernel_picture import CHANNEL_GAP, PLANE_LABEL, kernel_image

    w = np.arange(18.0).reshape(2, 3, 3) - 9
    picture = np.asarray(kernel_image(w))
    # two square 3x3 planes side by side, under a label row (text on white)
    plane_side = (picture.shape[1] - CHANNEL_GAP) // 2
    assert picture.shape[0] == PLANE_LABEL + plane_side
    label_row = picture[:PLANE_LABEL]
    assert (label_row < 200).any() and (label_row == 255).mean() > 0.5
