"""Reading images and matrices, writing PNGs and matrices, atomic file writes.

This package and ``cnnpipe.pictures`` are the only code that imports Pillow. Every
input problem becomes an :class:`~cnnpipe.errors.InputError` with a short reason (the
caller prefixes the path); every output problem becomes an
:class:`~cnnpipe.errors.OutputError`.

Policies (also in the README, "Security and limits"):

- Only PNG, JPEG, BMP, TIFF, GIF and WebP are ever parsed: the format is sniffed
  from the first bytes and Pillow is asked to open that one format only, so
  EPS, PSD, ICO and Pillow's other plugins never see the data.
- A file whose extension does not match its contents is decoded by its real
  format if that format is allowed; ``info["conversion"]`` says so.
- Images larger than ``max_pixels`` are refused right after the header is read,
  before any pixel is decoded.
- Truncated or corrupt files are refused (a full decode is forced, PNG chunk
  checksums are verified), never half-loaded.
- Multi-frame files (GIF, TIFF, WebP): the first frame is used.

The code lives in private modules by responsibility; this module is the
public API and re-exports every public name:

- ``common``: limits, :class:`Loaded`, safe opening, Pillow settings;
- ``images``: :func:`load_image` (sniffing, bombs, corruption);
- ``pixels``: a decoded Pillow image as float32 values (every mode, said in notes);
- ``matrix``: :func:`load_matrix`, :func:`save_matrix`, the one text-matrix separator rule;
- ``png``: :func:`encode_png`, :func:`atomic_write`;
- ``jsonfile``: reading cnnpipe's own JSON files.

Turning a map PNG back into values is :func:`cnnpipe.pictures.mapping.values_from_png`,
the one decoder (it knows colour maps and the cells the display rule clipped).
"""

from __future__ import annotations

from cnnpipe.io.common import (
    ALLOWED_FORMATS,
    DEFAULT_MAX_PIXELS,
    IMAGE_EXTENSIONS,
    LUMA_WEIGHTS,
    MAPPING_TEXT_KEY,
    MATRIX_EXTENSIONS,
    TEMP_MARKER,
    Loaded,
)
from cnnpipe.io.images import load_image, sniff
from cnnpipe.io.matrix import load_matrix, save_matrix
from cnnpipe.io.png import _open_png as open_png
from cnnpipe.io.png import (
    atomic_write,
    encode_png,
    is_temp_name,
    read_png_text,
    sync_folder,
)

__all__ = [
    "IMAGE_EXTENSIONS",
    "MATRIX_EXTENSIONS",
    "DEFAULT_MAX_PIXELS",
    "ALLOWED_FORMATS",
    "LUMA_WEIGHTS",
    "MAPPING_TEXT_KEY",
    "Loaded",
    "load_image",
    "sniff",
    "load_matrix",
    "save_matrix",
    "encode_png",
    "read_png_text",
    "open_png",
    "atomic_write",
    "sync_folder",
    "TEMP_MARKER",
    "is_temp_name",
]
