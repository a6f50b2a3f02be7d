"""The package's layering rule (docs/INTERNALS.md), kept by a subprocess and a static scan.

The numeric core must stay usable without a terminal or a picture library:
`cnnpipe.ops`, `cnnpipe.kernels`, `cnnpipe.layer` and `cnnpipe.network` import
no click, rich or PIL; `cnnpipe.render` draws with rich only (no PIL); and
nothing outside `cnnpipe/cli` imports `cnnpipe.cli`.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

PACKAGE = ROOT / "cnnpipe"
CORE = ("ops", "kernels", "layer", "network")
# (what, may not import) for every module of the group, at any depth (function level too)
RULES = [(group, ("click", "rich", "PIL")) for group in CORE] + [("render", ("click", "PIL"))]


def _modules(group: str) -> list[Path]:
    folder = PACKAGE / group
    return sorted(folder.rglob("*.py")) if folder.is_dir() else [PACKAGE / f"{group}.py"]


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module name an `import` or `from ... import` in ``path`` names (any depth)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


@pytest.mark.parametrize("group, banned", RULES, ids=[g for g, _ in RULES])
def test_importing_a_layer_loads_none_of_its_banned_libraries(group, banned):
    modules = [_dotted(p) for p in _modules(group)]
    code = ("import json, sys\n"
            + "".join(f"import {m}\n" for m in modules)
            + f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
              f"{list(banned)!r})))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [], f"{group} loaded {done.stdout.strip()}"


@pytest.mark.parametrize("group, banned", RULES, ids=[g for g, _ in RULES])
def test_no_module_of_a_layer_names_a_banned_library(group, banned):
    found = {f"{path.relative_to(ROOT)}: {name}" for path in _modules(group)
             for name in _imports(path) if name.split(".")[0] in banned}
    assert found == set()


def test_nothing_outside_the_cli_imports_the_cli():
    cli = PACKAGE / "cli"
    found = {f"{path.relative_to(ROOT)}: {name}" for path in sorted(PACKAGE.rglob("*.py"))
             if cli not in path.parents and path.name != "__main__.py"
             for name in _imports(path)
             if name == "cnnpipe.cli" or name.startswith("cnnpipe.cli.")}
    assert found == set()


def test_the_scan_sees_function_level_imports(tmp_path):
    # the rule must not be dodged by importing inside a function
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from PIL import Image\n    import rich.table\n")
    assert {"PIL", "PIL.Image", "rich.table"} <= _imports(module)
