"""`cnnpipe kernels`: the feature-detector library, as tables or JSON."""

from __future__ import annotations

import click

from cnnpipe.cli.console import stdout


@click.command()
@click.argument("specs", nargs=-1, metavar="[NAME|SPEC]...")
@click.option("--json", "as_json", is_flag=True,
              help="Print a JSON list of {name, shape, weights, description, source} and "
                   "nothing else.")
def kernels(specs, as_json):
    """Show the built-in feature detectors (kernels) and their matrices.

    With no arguments, every built-in detector; otherwise the named ones. Any
    kernel spec that `run -k` accepts works here too, so you can check what a
    spec means before using it:

    \b
      sobel-x                     a built-in name
      "1,0,-1;2,0,-2;1,0,-1"      inline matrix: rows by ";", values by "," or spaces
      edge.csv edge.txt edge.npy  a matrix file (.npy may be 3-D: C,kh,kw)
      edge.mat                    libvips matrix file (weights divided by its scale)
      "3x3: -1,0,1,-2,0,2,-1,0,1" ImageMagick style (WxH: values; "3:" is 3x3)
      gaussian:SIGMA log:SIGMA dog:S1,S2 gabor:THETA,SIGMA,LAMBDA sobel:ANGLE box:N
      NAME=SPEC                   any of these, named NAME

    Negative weights are printed in red (and, as always, with a minus sign).

    \b
    Examples:
      cnnpipe kernels
      cnnpipe kernels sobel-x sobel-y
      cnnpipe kernels gaussian:2 "1,2;3,4" "edge=3x3: -1,0,1,-2,0,2,-1,0,1"
      cnnpipe kernels --json | python -m json.tool
    """
    import json

    from cnnpipe.kernels import BUILTIN, parse_kernel_specs

    chosen = parse_kernel_specs(specs) if specs else list(BUILTIN.values())
    if as_json:
        click.echo(json.dumps([k.to_dict() for k in chosen]))
        return

    from cnnpipe.render.kernels import kernel_card, kernels_overview_table

    console = stdout()
    console.print(kernels_overview_table(chosen))
    for k in chosen:
        console.print()
        console.print(kernel_card(k))
