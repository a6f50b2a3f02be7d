import subprocess
import sys

from click.testing import CliRunner

from cnnpipe.cli import cli


def test_version_matches_package_metadata():
    from importlib.metadata import version

    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"cnnpipe {version('cnnpipe')}"


def test_help_lists_examples():
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    assert "Examples:" in result.output
    assert "cnnpipe run samples/chelsea.png" in result.output


def test_python_dash_m_works():
    proc = subprocess.run([sys.executable, "-m", "cnnpipe", "--version"],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0
    assert proc.stdout.startswith("cnnpipe ")


def test_help_does_not_import_numpy_pillow_or_rich():
    code = ("import sys\nfrom cnnpipe.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print('heavy:' + ','.join(m for m in ('numpy', 'PIL', 'rich') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.stdout.strip().splitlines()[-1] == "heavy:"


def test_a_quiet_run_of_one_input_does_not_import_rich(tmp_path):
    # rich costs ~15 ms of start-up; a run that prints nothing makes no console
    np_path = tmp_path / "m.npy"
    code = ("import sys\nimport numpy as np\nfrom cnnpipe.cli import main\n"
            f"np.save({str(np_path)!r}, np.arange(36.0).reshape(6, 6))\n"
            f"try:\n    main(['run', {str(np_path)!r}, '-o', {str(tmp_path / 'out')!r}, '-q'])\n"
            "except SystemExit as e:\n    print('exit', e.code)\n"
            "print('rich:' + str('rich' in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False)
    assert proc.stdout.strip().splitlines()[-2:] == ["exit 0", "rich:False"], proc.stderr
    assert (tmp_path / "out" / "m" / "manifest.json").is_file()


def test_version_does_not_read_package_metadata():
    # Looking the version up in the installed metadata (importlib.metadata) cost ~25 ms of
    # a ~45 ms --version; the literal cnnpipe.__version__ is the same string (test above).
    code = ("import sys\nfrom cnnpipe.cli import main\n"
            "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
            "print('metadata:' + str('importlib.metadata' in sys.modules))")
    proc = subprocess.run([sys.executable, "-S", "-c", code], capture_output=True, text=True,
                          check=False, env={"PYTHONPATH": ":".join(sys.path)})
    from cnnpipe import __version__

    assert proc.stdout.strip().splitlines() == [f"cnnpipe {__version__}", "metadata:False"], \
        proc.stderr
