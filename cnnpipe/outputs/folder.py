"""An input's output folder: atomic writes in background threads, and where it goes.

Every file is written under a temporary name and renamed, into a staging
folder that replaces the input's folder all at once when complete (:mod:`.swap`).
"""

from __future__ import annotations

import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cnnpipe import io
from cnnpipe.errors import OutputError, ParameterError

#: Pixel and value buffers queued for background encoding, at most (see Writer).
PENDING_BYTES = 64 * 1024 * 1024


class Writer:
    """Encodes and writes files into ``folder``, in background threads when allowed."""

    def __init__(self, folder: Path, threads: int):
        self.folder = folder
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.pending = []
        self.written: list[str] = []
        self.report = None  # a cnnpipe.outputs.report.Collector with --html: sees every map
        self._state = threading.Condition()
        self._running = 0
        self._stopped = False

    def png(self, name: str, pixels: np.ndarray, text: dict, compression: int, palette=None):
        self._submit(name, lambda: io.encode_png(pixels, compression=compression, text=text,
                                                 palette=palette),
                     nbytes=pixels.nbytes)

    def raw(self, name: str, make_bytes):
        self._submit(name, make_bytes)

    def npy(self, name: str, array: np.ndarray):
        array = np.ascontiguousarray(array, dtype=np.float32)
        self._submit(name, None, lambda: io.save_matrix(self.folder / name, array),
                     nbytes=array.nbytes)

    def _submit(self, name, make_bytes, action=None, nbytes=0):
        if action is None:
            def action():
                io.atomic_write(self.folder / name, make_bytes(), fsync_folder=False)
        self.written.append(name)
        if self.pool is None:
            action()
            return
        self.pending.append((self.pool.submit(self._guarded, action), nbytes))
        # Bound the buffers waiting to be encoded by count and by bytes: on a 12 MP photo
        # one colour map is 36 MB, and eight of them would dominate the peak memory.
        while len(self.pending) > 1 and (len(self.pending) > 8 or sum(
                size for _, size in self.pending) > PENDING_BYTES):
            self.pending.pop(0)[0].result()

    def _guarded(self, action):
        with self._state:
            if self._stopped:
                return
            self._running += 1
        try:
            action()
        finally:
            with self._state:
                self._running -= 1
                self._state.notify_all()

    def abort(self):
        """Cancel queued writes and wait for running ones, so a clean-up sees every file.

        A signal can interrupt ``submit`` after a worker thread started but before the
        executor recorded it, so its shutdown cannot be trusted to wait for every write.
        """
        with self._state:
            self._stopped = True
            while self._running:
                self._state.wait()
        self.pending = []
        if self.pool is not None:
            self.pool.shutdown(wait=False, cancel_futures=True)

    def finish(self):
        """Wait for every write and make the renames durable (before the manifest lands)."""
        try:
            for future, _ in self.pending:
                future.result()
            io.sync_folder(self.folder)
        finally:
            self.pending = []
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


def make_parent(folder: Path, root: Path | None = None) -> None:
    """Create the folder ``folder`` goes in (and its parents), below the output root ``root``.

    A symbolic link at or below ``root`` on the way to ``folder``, or at ``folder``
    itself, is refused before anything is created, written or removed: a link planted
    in OUT (``OUT/camera -> /elsewhere``) must not make cnnpipe write or delete
    outside OUT. ``root`` itself may be a link: the user named it. Something other
    than a folder at ``folder`` (a file named like it) is refused too.
    """
    refuse_links(folder, root)
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
    refuse_links(folder, root)  # a link made meanwhile by someone else
    if os.path.lexists(folder) and not stat.S_ISDIR(os.lstat(folder).st_mode):
        raise OutputError(f"cannot create output folder {folder}: a file of that name is in"
                          " the way (move it, or choose another -o)")


def refuse_links(folder: Path, root: Path | None) -> None:
    """OutputError when ``folder`` or a folder between ``root`` and it is a symbolic link."""
    try:
        parts = folder.relative_to(root).parts if root is not None else ()
    except ValueError:
        parts = ()
    steps = [root.joinpath(*parts[:i]) for i in range(1, len(parts) + 1)]
    if not parts and folder != root:
        steps = [folder]
    for step in steps:
        if step.is_symlink():
            raise OutputError(f"output folder {step} is a symbolic link: refused, cnnpipe"
                              " never writes or deletes through a link inside the output"
                              " folder (remove the link, or choose another -o)")


def check_out_root(out_root) -> None:
    """ParameterError (a usage error, exit 2) when the output root cannot be written.

    Called once before a batch starts, so a read-only or misplaced ``-o`` is one
    line before any input is decoded, not one failure per input. The nearest
    existing folder on the way to OUT (OUT itself when it exists; it may be a
    link the user named) must be a folder this process may write into
    (``os.access``: a read-only file system or missing permission; root passes
    the permission bits, as it does when it writes).
    """
    path = Path(out_root)
    probe = path
    while not os.path.lexists(probe) and probe.parent != probe:
        probe = probe.parent
    if not probe.is_dir():
        what = "a file" if probe.exists() else "a broken link"
        raise ParameterError(f"-o/--out {out_root}: cannot create the output folder: {probe} is"
                             f" {what}, not a folder (choose another -o)")
    effective = os.access in os.supports_effective_ids
    if not os.access(probe, os.W_OK | os.X_OK, effective_ids=effective):
        where = "the output folder" if probe == path else f"{probe}, where it would be made,"
        raise ParameterError(f"-o/--out {out_root}: {where} is not writable (read-only, or no"
                             " permission): nothing was read (choose another -o)")
