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


# --------------------------------------------------------------------------- docs/cli.md

CLI_DOC = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
GROUP_OPTIONS = {"--version", "-h", "--help"}  # click's own, listed once under the group


def _cli_sections() -> dict[str, str]:
    """`## \\`cnnpipe NAME\\`` reference sections of docs/cli.md, by command ('' = the group)."""
    reference = CLI_DOC.split("\n# Reference\n", 1)[1]
    parts = re.split(r"^## `cnnpipe ?([a-z-]*)`.*$", reference, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2], strict=True))


def _documented_options(section: str) -> set[str]:
    """The option names in the first cell of each table row of a section."""
    names = set()
    for line in section.splitlines():
        if line.startswith("| `-"):
            first_cell = line.split(" | ", 1)[0]
            names.update(re.findall(r"`(-{1,2}[a-zA-Z0-9][a-zA-Z0-9-]*)", first_cell))
    return names


def _command_options(name: str) -> set[str]:
    import click

    from cnnpipe.cli import cli

    command = cli if name == "" else LazyGroup._load(name)
    names = {opt for p in command.params if isinstance(p, click.Option)
             for opt in p.opts + p.secondary_opts}
    return names | (GROUP_OPTIONS if name == "" else set())


def test_docs_cli_has_a_section_for_every_command_and_no_other():
    assert set(_cli_sections()) == {""} | set(AVAILABLE)


@pytest.mark.parametrize("name", [""] + AVAILABLE)
def test_docs_cli_lists_every_option_of_each_command_and_no_other(name):
    documented = _documented_options(_cli_sections()[name])
    actual = _command_options(name)
    where = f"docs/cli.md, section `cnnpipe {name}`".replace(" `", "`") if name else \
        "docs/cli.md, section `cnnpipe`"
    assert actual - documented == set(), f"add these options to {where}"
    assert documented - actual == set(), f"remove these options from {where}"


def test_the_cli_doc_check_would_catch_an_undocumented_option():
    assert "--made-up-option" not in _documented_options(_cli_sections()["run"])
    assert "--npy" in _documented_options(_cli_sections()["run"])


# --------------------------------------------------------------------------- links

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


@pytest.mark.parametrize("page", DOCS, ids=[p.name for p in DOCS])
def test_relative_links_resolve(page):
    text = page.read_text(encoding="utf-8")
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):
            continue
        path, _, anchor = target.partition("#")
        resolved = (page.parent / path).resolve()
        if not resolved.exists():
            broken.append(target)
        elif anchor and resolved.suffix == ".md":
            headings = {_anchor(h) for h in re.findall(r"^#+ (.+)$", resolved.read_text(
                encoding="utf-8"), flags=re.M)}
            if anchor not in headings:
                broken.append(target)
    assert broken == []


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def test_readme_is_short_and_points_to_the_docs():
    assert len(README.splitlines()) <= 300
    for page in ("cli.md", "outputs.md", "kernels.md", "teaching.md", "pipeline-files.md",
                 "security.md", "performance.md"):
        assert f"](docs/{page})" in README, page


def test_readme_states_the_exit_codes_once_and_all_of_them():
    from cnnpipe.errors import ExitCode

    table = README.split("### Exit status", 1)[1].split("\n\n")[1]
    assert [int(row.split("|")[1]) for row in table.splitlines()[2:]] == [int(c) for c in
                                                                         ExitCode]
    assert README.count("### Exit status") == 1
