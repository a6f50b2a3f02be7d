"""The one error funnel: how every way a command ends becomes one line and one exit code."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from cnnpipe.cli import main
from cnnpipe.errors import ExitCode

PACKAGE = Path(__file__).resolve().parents[1] / "cnnpipe"


def test_exit_codes_are_the_documented_ones():
    assert {c.name: int(c) for c in ExitCode} == {
        "OK": 0, "FAILED": 1, "USAGE": 2, "INTERRUPTED": 130, "TERMINATED": 143}


def _kernels_raising(monkeypatch, exc):
    """`cnnpipe kernels NAME` now ends with ``exc`` wherever the library raised it."""

    def parse(specs):
        raise exc

    monkeypatch.setattr("cnnpipe.kernels.parse_kernel_specs", parse)


@pytest.mark.parametrize("exc, code, line", [
    (RuntimeError("disk on fire"), 1,
     "cnnpipe: internal error: RuntimeError: disk on fire (run with --debug for a traceback)"),
    (KeyboardInterrupt(), 130, "cnnpipe: interrupted"),
    (SystemExit(143), 143, "cnnpipe: terminated"),
])
def test_each_ending_gives_one_line_and_its_code(monkeypatch, capsys, exc, code, line):
    _kernels_raising(monkeypatch, exc)
    with pytest.raises(SystemExit) as ended:
        main(["kernels", "sobel-x"])
    assert ended.value.code == code
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == line
    assert "Traceback" not in err


def test_debug_lets_the_traceback_through(monkeypatch):
    _kernels_raising(monkeypatch, RuntimeError("disk on fire"))
    with pytest.raises(RuntimeError, match="disk on fire"):
        main(["--debug", "kernels", "sobel-x"])


def test_usage_errors_exit_2_with_clicks_two_lines(capsys):
    with pytest.raises(SystemExit) as ended:
        main(["run"])
    assert ended.value.code == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err.startswith("Usage: cnnpipe run") and "Error: no input given" in err


def _calls(path: Path):
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = getattr(func.value, "id", "") if isinstance(func, ast.Attribute) else ""
            yield owner, name


def test_one_module_makes_consoles_and_one_picks_exit_codes():
    consoles, exits = [], []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for owner, name in _calls(path):
            if name == "Console":
                consoles.append(rel)
            if (owner, name) == ("sys", "exit") or name == "SystemExit":
                exits.append(rel)
    assert set(consoles) <= {"cli/console.py"}, consoles
    # interrupt.py turns SIGTERM into SystemExit(143); the funnel picks the code for it
    assert set(exits) <= {"cli/__init__.py", "interrupt.py"}, exits
