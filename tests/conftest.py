import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


@pytest.fixture
def runner():
    return CliRunner()


@pytest.fixture
def invoke(runner):
    """Run the CLI through its real entry point (error funnel and exit codes included)."""
    from cnnpipe.cli import cli

    def call(*args, input=None):
        return runner.invoke(cli, [str(a) for a in args], input=input, catch_exceptions=False,
                             standalone_mode=True)

    return call


def write_png(path, array):
    """Write a uint8 (H, W) or (H, W, 3) array as a PNG with Pillow."""
    from PIL import Image

    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(path)
    return path


def live_processes():
    """(pid, fields) of every live process, from /proc; fields: state ppid pgrp session ..."""
    import os

    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            yield int(entry), fields


def load_manifest(folder):
    return json.loads((Path(folder) / "manifest.json").read_text())
