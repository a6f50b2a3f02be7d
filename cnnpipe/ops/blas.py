"""How many threads OpenBLAS may start, set while the process runs.

numpy multiplies matrices with the BLAS it was built with; OpenBLAS starts its
own threads for products above a size threshold, whatever the caller already
runs in parallel. numpy has no call to limit them once it is imported (the
``OPENBLAS_NUM_THREADS`` variable is read only at load time), so this finds
the OpenBLAS library numpy loaded and calls its own setter. Best effort: with
another BLAS, or where the library cannot be found, nothing changes.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Iterator
from contextlib import contextmanager

# numpy's wheels ship "scipy_openblas" with a symbol prefix and 64-bit ints;
# distributions link a plain OpenBLAS.
_PREFIXES = ("scipy_openblas", "openblas")
_SUFFIXES = ("64_", "")


@functools.cache
def _openblas() -> tuple[object, object] | None:
    """(get_num_threads, set_num_threads) of the OpenBLAS in this process, or None."""
    import numpy  # noqa: F401  - loads numpy's BLAS, so that it is mapped below

    for path in _mapped_libraries():
        try:
            lib = ctypes.CDLL(path)  # already loaded: the same handle, nothing new runs
        except OSError:
            continue
        for prefix in _PREFIXES:
            for suffix in _SUFFIXES:
                get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
                put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
                if get is not None and put is not None:
                    get.restype = ctypes.c_int
                    put.argtypes = [ctypes.c_int]
                    put.restype = None
                    return get, put
    return None


def _mapped_libraries() -> list[str]:
    """Shared libraries with 'openblas' in their name mapped into this process (Linux)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return []
    paths = []
    for line in lines:
        path = line.split(maxsplit=5)[-1] if line.count(" ") >= 5 else ""
        if "openblas" in path.lower() and path.startswith("/") and path not in paths:
            paths.append(path)
    return paths


def get_threads() -> int | None:
    """OpenBLAS's current thread count, or None when it cannot be reached."""
    found = _openblas()
    return int(found[0]()) if found else None


@contextmanager
def threads(n: int) -> Iterator[None]:
    """Let OpenBLAS use at most ``n`` threads inside the ``with`` block."""
    found = _openblas()
    if found is None:
        yield
        return
    get, put = found
    before = int(get())
    put(max(1, int(n)))
    try:
        yield
    finally:
        put(before)
