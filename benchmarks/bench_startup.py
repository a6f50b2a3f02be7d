"""Start-up cost of `cnnpipe --help` / `--version` against `python -c "import click"`.

Run from the repository root::

    python benchmarks/bench_startup.py [--repeat 15] [--source]

By default this tree is first installed regularly (``pip install --target``, not
editable) into a temporary folder and timed from there; ``--source`` times the
source tree through PYTHONPATH instead.

Target: both commands at most 1.5x the time of importing click alone, and
neither imports numpy, Pillow or rich (checked with ``python -X importtime``).
Figures are medians of fresh interpreter runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from _timing import command_ms

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("numpy", "PIL", "rich")




def heavy_imports(args, env):
    """Top-level packages among HEAVY that `python -X importtime ARGS` imports."""
    run = subprocess.run([sys.executable, "-X", "importtime", *args], capture_output=True,
                         text=True, env=env, check=True)
    found = set()
    for line in run.stderr.splitlines():
        name = line.rsplit("|", 1)[-1].strip()
        if name.split(".")[0] in HEAVY:
            found.add(name.split(".")[0])
    return sorted(found)


def regular_install(folder: Path) -> dict:
    """Install this tree into ``folder`` as a regular (not editable) package, dependencies
    left to this interpreter's environment; the environment that imports it from there.
    An editable install's import hook costs start-up time a regular install does not."""
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", "--target", str(folder), str(ROOT)], check=True,
                   capture_output=True)
    return {**os.environ, "PYTHONPATH": str(folder)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--source", action="store_true",
                        help="time the source tree (PYTHONPATH) instead of a regular install")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.source:
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
        else:
            env = regular_install(Path(tmp, "site"))
            os.chdir(tmp)  # `python -m cnnpipe` must not find the tree in the current folder
        measure(args, env)


def measure(args, env):
    py = sys.executable
    base = command_ms([py, "-c", "import click"], args.repeat, env)
    rows = [("python -c 'import click'", base, None)]
    for flag in ("--help", "--version"):
        cmd = [py, "-m", "cnnpipe", flag]
        rows.append((f"python -m cnnpipe {flag}", command_ms(cmd, args.repeat, env),
                     heavy_imports(["-m", "cnnpipe", flag], env)))
    for label, module in (("python -c 'import numpy'", "numpy"),
                          ("python -c 'import numpy, PIL.Image, click, rich'",
                           "numpy, PIL.Image, click, rich")):
        rows.append((label, command_ms([py, "-c", f"import {module}"], args.repeat, env), None))
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    print(f"{'command':52} {'ms':>7} {'x click':>8}  heavy imports")
    for label, ms, heavy in rows:
        note = "" if heavy is None else (", ".join(heavy) or "none")
        print(f"{label:52} {ms:7.1f} {ms / base:7.2f}x  {note}")
    print("target: cnnpipe --help / --version <= 1.50x click (regular install), no heavy imports")


if __name__ == "__main__":
    main()
