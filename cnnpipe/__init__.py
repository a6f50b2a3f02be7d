"""cnnpipe: what the first layers of a CNN do to a real image.

The numeric API (numpy only)::

    from cnnpipe import conv2d, relu, pool2d, load_image, kernel

Names are imported lazily so that ``cnnpipe --help`` does not pay for numpy.
"""

from __future__ import annotations

from importlib import import_module

# The one place the version lives: pyproject.toml reads it (dynamic version), so
# start-up never pays ~50 ms for importlib.metadata.
__version__ = "0.1.0"

__all__ = ["conv2d", "relu", "pool2d", "load_image", "kernel", "run_image", "__version__"]

_LAZY = {
    "conv2d": "cnnpipe.ops",
    "relu": "cnnpipe.ops",
    "pool2d": "cnnpipe.ops",
    "load_image": "cnnpipe.io",
    "kernel": "cnnpipe.kernels",
    "run_image": "cnnpipe.outputs.notebook",  # one image in memory; shows as a report in Jupyter
}


def __getattr__(name: str):
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'cnnpipe' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
