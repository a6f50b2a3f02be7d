"""The `cnnpipe` command line: the only place that prints and chooses exit codes.

Sub-commands live in their own modules and are loaded on demand, so
``cnnpipe --help`` and ``cnnpipe --version`` import neither numpy nor Pillow.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from cnnpipe import interrupt
from cnnpipe.cli.exits import after_success, exit_code_for  # here: a signal cannot land in it

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


class LazyGroup(click.Group):
    """A group whose commands are imported only when listed or invoked.

    Its ``main`` is the one error funnel (see :mod:`cnnpipe.cli.exits`), for
    the installed ``cnnpipe`` script and for ``CliRunner`` alike.
    """

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True,
             final=False, **extra):
        try:
            returned = super().main(args, prog_name, complete_var, standalone_mode=False,
                                    **extra)
        except BaseException as exc:  # noqa: BLE001 - the funnel decides, or re-raises
            with interrupt.deferred(final=final):  # a second Ctrl-C must not cut this short
                code = exit_code_for(exc)
        else:
            with interrupt.deferred(final=final):
                code = after_success(returned)
        if standalone_mode:
            sys.exit(int(code))
        return int(code)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except Exception as exc:
            from cnnpipe.cli.exits import DEBUG_MARK, debug_requested

            if debug_requested(ctx) and not isinstance(exc, click.exceptions.Exit):
                setattr(exc, DEBUG_MARK, True)  # --debug: the funnel lets the traceback out
            raise

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
@click.version_option(version=_version(), prog_name="cnnpipe",
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


def main(argv=None) -> None:
    """Entry point of the ``cnnpipe`` script."""
    # SIGTERM becomes an exception so ``finally`` blocks remove temporary files;
    # both signals are also remembered, in case the exception is swallowed.
    interrupt.install()
    try:
        code = cli.main(args=argv, prog_name="cnnpipe", standalone_mode=False, final=True)
    finally:
        interrupt.hold()  # on the way out: a late signal changes nothing, prints nothing
    sys.exit(code)
