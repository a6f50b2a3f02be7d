"""Every command has help with examples and is documented in the README."""

import re

import pytest
from conftest import ROOT

from cnnpipe.cli import COMMANDS, LazyGroup

README = (ROOT / "README.md").read_text(encoding="utf-8")
AVAILABLE = [name for name in COMMANDS if LazyGroup._load(name) is not None]


def test_the_core_commands_exist():
    assert {"run", "kernels", "demo", "conv", "relu", "pool"} <= set(AVAILABLE)


@pytest.mark.parametrize("name", AVAILABLE)
def test_every_command_has_help_with_examples(invoke, name):
    result = invoke(name, "--help")
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert f"cnnpipe {name}" in result.output


@pytest.mark.parametrize("name", AVAILABLE)
def test_every_command_appears_in_the_readme(name):
    assert re.search(rf"cnnpipe {name}\b", README), name


def test_readme_starts_with_install_and_test_commands():
    quick = README.split("\n## ", 1)[0]
    blocks = re.findall(r"```bash\n(.*?)```", quick, re.S)
    assert "pip install" in blocks[0] and "cnnpipe run samples/" in blocks[0]
    assert "pip install" in blocks[1] and "pytest" in blocks[1]


def test_ci_runs_the_readme_test_command():
    quick = README.split("\n## ", 1)[0]
    test_command = re.findall(r"```bash\n(.*?)```", quick, re.S)[1].strip()
    assert test_command in (ROOT / ".ci" / "run").read_text()


def test_every_builtin_kernel_is_listed_in_the_readme():
    from cnnpipe.kernels import BUILTIN

    for name in BUILTIN:
        assert f"`{name}`" in README, name


def test_cli_help_mentions_every_available_command(invoke):
    result = invoke("--help")
    for name in AVAILABLE:
        assert name in result.output
