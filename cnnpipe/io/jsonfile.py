"""Reading cnnpipe's own small JSON records (manifest.json, the parked file list).

They are looked for in folders cnnpipe does not own (a scan descends into the
user's directories), so only a regular file of sane size is read: a FIFO
named manifest.json would block the open, a device would never end.
"""

from __future__ import annotations

import json
import os
import stat

#: Larger "records" are not cnnpipe's (a manifest with provenance is a few MB).
MAX_BYTES = 256 << 20


def load_json(path, max_bytes: int = MAX_BYTES):
    """The JSON value in ``path``, or None when it is missing, not a regular file,
    larger than ``max_bytes``, unreadable or not JSON."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError:
        return None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > max_bytes:
            return None
        chunks, size = [], 0
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
            size += len(chunk)
            if size > max_bytes:  # it grew while read
                return None
    except OSError:
        return None
    finally:
        os.close(fd)
    try:
        return json.loads(b"".join(chunks).decode("utf-8"))
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
