"""The `cnnpipe` command line: the only place that prints and chooses exit codes.

Sub-commands live in their own modules and are loaded on demand, so
``cnnpipe --help`` and ``cnnpipe --version`` import neither numpy nor Pillow.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from cnnpipe.errors import CnnpipeError, ExitCode

# name -> "module:function"; a module that does not exist (yet) is left out.
COMMANDS = {
    "run": "cnnpipe.cli.run:run",
    "kernels": "cnnpipe.cli.kernels:kernels",
    "demo": "cnnpipe.cli.demo:demo",
    "shape": "cnnpipe.cli.shape:shape",
    "conv": "cnnpipe.cli.stages:conv",
    "relu": "cnnpipe.cli.stages:relu",
    "pool": "cnnpipe.cli.stages:pool",
    "animate": "cnnpipe.cli.animate:animate",
    "exercise": "cnnpipe.cli.exercise:exercise",
    "check": "cnnpipe.cli.exercise:check",
    "invariance": "cnnpipe.cli.invariance:invariance",
}


def _version() -> str:
    from cnnpipe import __version__

    return __version__


class Failure(click.ClickException):
    """A CnnpipeError on its way out: one line on stderr and its exit code."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = int(exit_code)

    def show(self, file=None):
        click.echo(f"cnnpipe: {self.format_message()}", err=True, file=file)


class LazyGroup(click.Group):
    """A group whose commands are imported only when listed or invoked.

    It is also the one error funnel: library errors become one line on stderr
    and the exit code of their class; a traceback only with ``--debug``.
    """

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except CnnpipeError as exc:
            if _debug(ctx):
                raise
            raise Failure(str(exc), exc.exit_code) from exc
        except KeyboardInterrupt:
            raise
        except BrokenPipeError:
            raise
        except Exception as exc:  # noqa: BLE001 - the last line of defence
            if _debug(ctx):
                raise
            raise Failure(f"internal error: {type(exc).__name__}: {exc} "
                          "(run with --debug for a traceback)", ExitCode.FAILED) from exc

    def list_commands(self, ctx):
        return [name for name in COMMANDS if self._load(name) is not None]

    def get_command(self, ctx, name):
        return self._load(name)

    @staticmethod
    def _load(name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name == module_name:
                return None
            raise
        return getattr(module, attr, None)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(version=None, package_name="cnnpipe", prog_name="cnnpipe",
                      message="%(prog)s %(version)s")
@click.option("--debug", is_flag=True, help="Show a full traceback on errors.")
@click.pass_context
def cli(ctx, debug):
    """See what the first layers of a CNN do to an image.

    Convolution with feature detectors, then ReLU, then pooling; every map
    saved as a PNG, small matrices printed as tables.

    \b
    Examples:
      cnnpipe run samples/chelsea.png
      cnnpipe run photo.jpg -k sobel-x -k "1,0,-1;2,0,-2;1,0,-1" --stride 2
      cnnpipe run photos/ -r -j 2 --json > results.jsonl
      cnnpipe kernels
      cnnpipe demo
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug or bool(os.environ.get("CNNPIPE_DEBUG"))


def _debug(ctx) -> bool:
    obj = ctx.find_root().obj
    return bool(obj and obj.get("debug")) or bool(os.environ.get("CNNPIPE_DEBUG"))


def fail(message: str, code: int = ExitCode.FAILED) -> None:
    """Print one line on stderr and leave with ``code``."""
    click.echo(f"cnnpipe: {message}", err=True)
    sys.exit(int(code))


def main(argv=None) -> None:
    """Entry point: the one place where exceptions become messages and exit codes."""
    from cnnpipe import interrupt

    # SIGTERM becomes an exception so ``finally`` blocks remove temporary files;
    # both signals are also remembered, in case the exception is swallowed.
    interrupt.install()
    try:
        code = cli.main(args=argv, prog_name="cnnpipe", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("cnnpipe: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except KeyboardInterrupt:
        click.echo("cnnpipe: interrupted", err=True)
        sys.exit(int(ExitCode.INTERRUPTED))
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except BrokenPipeError:
        # `cnnpipe ... | head`: the reader went away; exit quietly.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        except OSError:
            pass
        sys.exit(int(ExitCode.FAILED))
    if interrupt.pending():  # a signal whose exception was swallowed: still stop as interrupted
        click.echo("cnnpipe: interrupted", err=True)
        code = interrupt.exit_code()
    # without standalone mode, click returns ctx.exit(N)'s code instead of exiting
    sys.exit(code if isinstance(code, int) else 0)
