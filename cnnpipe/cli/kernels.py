"""`cnnpipe kernels`: the feature-detector library, as tables or JSON."""

from __future__ import annotations

import click

from cnnpipe.cli.applies import Rule, refuse_ignored
from cnnpipe.cli.console import stdout
from cnnpipe.cli.options import force_option, refuse_to_replace

#: When kernels' own options act.
RULES = (Rule("force", lambda p: p["png_path"] is not None,
              "has no effect without --png FILE.png (no file is written)"),)


@click.command()
@click.argument("specs", nargs=-1, metavar="[NAME|SPEC]...")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {name, shape, weights, description, source} and "
                   "nothing else.")
@click.option("--png", "png_path", default=None, metavar="FILE.png",
              help="Also draw the kernels (any size) as pictures into FILE.png: weights in "
                   "diverging colours, written in the cells up to 9x9; a 3-channel (RGB) "
                   "kernel as a colour patch, grey = 0.")
@force_option("the --png file")
def kernels(specs, as_json, png_path, force):
    """Show the built-in feature detectors (kernels) and their matrices.

    With no arguments, every built-in detector; otherwise the named ones. Any
    kernel spec that `run -k` accepts works here too, so you can check what a
    spec means before using it:

    \b
      sobel-x                     a built-in name
      "1,0,-1;2,0,-2;1,0,-1"      inline matrix: rows by ";", values by "," or spaces
      edge.csv edge.txt edge.npy  a matrix file (.npy may be 3-D: C,kh,kw, or a
                                  4-D K,C,kh,kw bank: edge-1 .. edge-K)
      edge.mat                    libvips matrix file (weights divided by its scale)
      "3x3: -1,0,1,-2,0,2,-1,0,1" ImageMagick style (WxH: values; "3:" is 3x3)
      gaussian:SIGMA log:SIGMA dog:S1,S2 gabor:THETA,SIGMA,LAMBDA sobel:ANGLE box:N
      NAME=SPEC                   any of these, named NAME

    Negative weights are printed in red (and, as always, with a minus sign).
    --png draws them as a picture (blue negative, light zero, red positive).

    \b
    Examples:
      cnnpipe kernels
      cnnpipe kernels sobel-x sobel-y
      cnnpipe kernels gaussian:2 "1,2;3,4" "edge=3x3: -1,0,1,-2,0,2,-1,0,1"
      cnnpipe kernels --json | python -m json.tool
      cnnpipe kernels gabor:45,2,6 log:1 --png kernels.png
      cnnpipe kernels samples/rgb-bank.npy --png bank.png
    """
    import json

    from cnnpipe.kernels import BUILTIN, parse_kernel_specs

    refuse_ignored(extra=RULES)
    if png_path is not None:
        _check_png_path(png_path, force)
    chosen = parse_kernel_specs(specs) if specs else list(BUILTIN.values())
    if png_path is not None:
        _write_png(chosen, png_path)
    if as_json:
        click.echo(json.dumps([k.to_dict() for k in chosen]))
        return

    from cnnpipe.render.kernels import kernel_card, kernels_overview_table

    console = stdout()
    console.print(kernels_overview_table(chosen))
    for k in chosen:
        console.print()
        console.print(kernel_card(k))


def _check_png_path(png_path, force) -> None:
    from cnnpipe.errors import ParameterError

    if not str(png_path).lower().endswith(".png"):
        raise ParameterError(f"--png {png_path!r}: the file name must end in .png")
    refuse_to_replace(png_path, force, "--png")


def _write_png(chosen, png_path) -> None:
    import io as _io

    from cnnpipe.io import atomic_write
    from cnnpipe.pictures.kernel_picture import kernels_sheet

    picture = kernels_sheet(chosen)
    buffer = _io.BytesIO()
    picture.save(buffer, format="PNG")
    atomic_write(png_path, buffer.getvalue())
    click.echo(f"cnnpipe kernels: wrote {png_path} ({len(chosen)} kernel(s), "
               f"{picture.width}x{picture.height} px)", err=True)
