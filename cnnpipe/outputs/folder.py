"""An input's output folder: atomic writes in background threads, and its life cycle.

A folder is complete or absent: every file is written under a temporary name
and renamed; a failed or interrupted run removes the files it wrote (and the
folder when it made it); a re-run parks the file list of the run it replaces
(``PREVIOUS``) and removes, once its own manifest has landed, the files that
run wrote and this one did not. Nothing cnnpipe did not write is touched.
"""

from __future__ import annotations

import json
import os
import stat
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from cnnpipe import io
from cnnpipe.errors import OutputError
from cnnpipe.io.jsonfile import load_json

MANIFEST = "manifest.json"
PREVIOUS = ".cnnpipe-previous.json"  # the file list of a run being replaced

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


def make_folder(folder: Path, root: Path | None = None) -> None:
    """Create ``folder`` (and its parents) below the output root ``root``.

    A symbolic link at or below ``root`` on the way to ``folder`` is refused
    before anything is created, written or removed: a link planted in OUT
    (``OUT/camera -> /elsewhere``) must not make cnnpipe write or delete
    outside OUT. ``root`` itself may be a link: the user named it.
    """
    refuse_links(folder, root)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
    refuse_links(folder, root)  # a link made meanwhile by someone else


def refuse_links(folder: Path, root: Path | None) -> None:
    """OutputError when ``folder`` or a folder between ``root`` and it is a symbolic link."""
    try:
        parts = folder.relative_to(root).parts if root is not None else ()
    except ValueError:
        parts = ()
    steps = [root.joinpath(*parts[:i]) for i in range(1, len(parts) + 1)] or [folder]
    for step in steps:
        if step.is_symlink():
            raise OutputError(f"output folder {step} is a symbolic link: refused, cnnpipe"
                              " never writes or deletes through a link inside the output"
                              " folder (remove the link, or choose another -o)")


def _unlink_regular(path: Path) -> bool:
    """Remove ``path`` only if it is a regular file (never a link, folder or FIFO)."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return False
    except FileNotFoundError:
        return False
    os.unlink(path)
    return True


def remove_leftover_temps(folder: Path) -> list[str]:
    """Remove temporary files an earlier, killed run left in ``folder``; return their names.

    Only names :func:`cnnpipe.io.is_temp_name` recognises (``.NAME.cnnpipe-tmp-XXXXXXXX``)
    are touched. A process killed with SIGKILL cannot clean up after itself.
    """
    removed = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if io.is_temp_name(entry.name):
            try:
                if not _unlink_regular(Path(entry.path)):
                    continue
            except FileNotFoundError:
                continue
            removed.append(entry.name)
    return removed


def previous_files(folder: Path, fingerprint: str | None = None) -> set[str]:
    """Files an earlier run recorded here; parked in PREVIOUS until this run completes.

    PREVIOUS also names the input now being written (``fingerprint``), so
    that :func:`cnnpipe.batch.claim_folders` still knows whose folder it is meanwhile.
    """
    names: set[str] = set()
    for source in (folder / PREVIOUS, folder / MANIFEST):
        data = load_json(source)
        files = data.get("files") if isinstance(data, dict) else None
        if isinstance(files, list):
            names.update(n for n in files if _safe_name(n))
    if names:
        record = {"files": sorted(names), "input": fingerprint}
        io.atomic_write(folder / PREVIOUS, json.dumps(record).encode())
        try:
            os.unlink(folder / MANIFEST)  # the folder is incomplete until the new manifest lands
        except FileNotFoundError:
            pass
    return names


def _safe_name(name) -> bool:
    return isinstance(name, str) and name and "/" not in name and "\\" not in name \
        and name not in (".", "..")


def discard(folder: Path, written: list[str], created: bool) -> None:
    """Remove this run's files (and ``folder`` when this run made it and it is empty)."""
    for name in written:
        try:
            os.unlink(folder / name)
        except OSError:
            pass
    if created:
        try:
            os.rmdir(folder)  # only if empty: never removes anything else
        except OSError:
            pass


def remove_stale(folder: Path, old: set[str], new: set[str]) -> None:
    """Remove the files of the replaced run that this run did not write, then PREVIOUS."""
    for name in sorted(old - new):
        try:
            _unlink_regular(folder / name)  # only files: a listed link or folder stays
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot remove stale output {folder / name}: {exc}") from exc
    try:
        os.unlink(folder / PREVIOUS)
    except FileNotFoundError:
        pass
