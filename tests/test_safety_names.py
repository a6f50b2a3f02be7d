"""Issue 14, names on the terminal: control characters and escape sequences in a file
name or an option are shown escaped, one record per line, with or without NO_COLOR."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import write_png

from cnnpipe.render.text import json_safe, printable

HOSTILE = "bad\nname\x1b[2J\u202e.png"  # newline, clear-screen sequence, RTL override
SHOWN = "bad\\nname\\x1b[2J\\u202e"


def cnnpipe(*args, cwd, env_extra=None):
    env = {**os.environ, "NO_COLOR": "1", **(env_extra or {})}
    return subprocess.run([sys.executable, "-m", "cnnpipe", *args], cwd=cwd, env=env,
                          capture_output=True, timeout=60)


def _raw_controls(data: bytes) -> list[str]:
    """Control characters other than the line ends that separate records."""
    text = data.decode("utf-8", "surrogateescape")
    return sorted({repr(c) for c in text if (ord(c) < 32 and c != "\n") or 0x7f <= ord(c) < 0xa0
                   or c in "\u202e\u2028"})


def test_a_failing_input_with_a_hostile_name_is_one_escaped_line(tmp_path):
    (tmp_path / HOSTILE).write_bytes(b"not an image")
    proc = cnnpipe("run", HOSTILE, "-o", "out", cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.decode().splitlines()
    failure = [line for line in lines if "not an image" in line]
    assert len(failure) == 1
    assert failure[0].startswith(SHOWN + ".png: ")
    assert _raw_controls(proc.stderr) == []
    assert _raw_controls(proc.stdout) == []


def test_dry_run_lists_one_record_per_line_escaped(tmp_path):
    write_png(tmp_path / HOSTILE, np.zeros((8, 8)))
    proc = cnnpipe("run", HOSTILE, "-n", "-k", "box", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert lines[0].startswith(SHOWN + ".png -> out/")
    assert all(line.startswith("  ") for line in lines[1:])  # file names, one per line
    assert _raw_controls(proc.stdout) == [] and _raw_controls(proc.stderr) == []


def test_a_successful_run_summary_and_tables_show_the_name_escaped(tmp_path):
    write_png(tmp_path / HOSTILE, np.zeros((8, 8)))
    write_png(tmp_path / "[red]plain.png", np.zeros((8, 8)))
    proc = cnnpipe("run", HOSTILE, "[red]plain.png", "-k", "box", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout.decode()
    assert SHOWN in out
    assert "[red]plain.png" in out  # rich markup in a name is shown, not obeyed
    assert _raw_controls(proc.stdout) == [] and _raw_controls(proc.stderr) == []


def test_json_lines_escape_every_control_character(tmp_path):
    name = "c1\u009b[31m\u2028x.png"  # 8-bit CSI and a line separator: json leaves them raw
    write_png(tmp_path / name, np.zeros((8, 8)))
    proc = cnnpipe("run", name, "--json", "-k", "box", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0])["input"]["path"] == name
    assert _raw_controls(proc.stdout) == []


def test_a_name_that_is_not_utf8_is_shown_by_its_bytes(tmp_path):
    raw = os.fsencode(tmp_path) + b"/caf\xe9.png"
    with open(raw, "wb") as fh:
        fh.write(b"not an image")
    proc = subprocess.run([sys.executable, "-m", "cnnpipe", "run", raw, "-o",
                           os.fsencode(tmp_path / "out")], capture_output=True, timeout=60)
    assert proc.returncode == 1
    assert b"caf\\xe9.png: " in proc.stderr


def test_an_option_value_with_an_escape_sequence_is_escaped_in_the_usage_error(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((8, 8)))
    proc = cnnpipe("run", "x.png", "--cmap", "\x1b[2Jevil", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert b"\\x1b[2Jevil" in proc.stderr
    assert _raw_controls(proc.stderr) == []


def test_a_kernel_file_named_with_escapes_is_escaped_in_the_error(tmp_path):
    write_png(tmp_path / "x.png", np.zeros((8, 8)))
    proc = cnnpipe("run", "x.png", "-k", "k\x1b]0;owned\x07.csv", "-o", "out", cwd=tmp_path)
    assert proc.returncode == 2
    assert _raw_controls(proc.stderr) == []
    assert b"k\\x1b]0;owned\\x07.csv" in proc.stderr


@pytest.mark.parametrize(("raw", "shown"), [
    ("plain name.png", "plain name.png"),
    ("caf\u00e9 \u732b.png", "caf\u00e9 \u732b.png"),
    ("tab\there", "tab\\there"),
    ("del\x7f", "del\\x7f"),
    ("zero\u200dwidth", "zero\\u200dwidth"),
    ("nb\u00a0sp", "nb\\xa0sp"),
    ("tag\U000e0041", "tag\\U000e0041"),
    ("bytes\udcff", "bytes\\xff"),
])
def test_printable(raw, shown):
    assert printable(raw) == shown


def test_json_safe_keeps_the_value():
    text = json.dumps({"p": "a\x1b\x9b\u2028\U000e0041\udcff"}, ensure_ascii=False)
    safe = json_safe(text)
    assert safe.isascii() or _raw_controls(safe.encode("utf-8", "surrogatepass")) == []
    assert json.loads(safe) == json.loads(text)
