"""Regressions found by combining options and inputs; one test per bug."""

import json

import numpy as np

from tests.conftest import write_png


def test_rerun_with_out_inside_recursive_input_does_not_process_its_own_outputs(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    (photos / "sub").mkdir()
    write_png(photos / "sub" / "b.png", np.eye(8) * 255)
    out = photos / "out"
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", out, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        lines = [json.loads(line) for line in result.stdout.splitlines()]
        assert sorted(m["input"]["path"] for m in lines) == sorted(
            [str(photos / "a.png"), str(photos / "sub" / "b.png")])
    assert sorted(p.name for p in out.iterdir()) == ["a", "sub"]


def test_rerun_with_out_equal_to_recursive_input_skips_output_folders(invoke, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_png(photos / "a.png", np.arange(64).reshape(8, 8) * 4)
    for _ in range(2):
        result = invoke("run", photos, "-r", "-o", photos, "-q", "-j", "1", "--json")
        assert result.exit_code == 0, result.stderr
        assert len(result.stdout.splitlines()) == 1
    assert sorted(p.name for p in photos.iterdir()) == ["a", "a.png"]
