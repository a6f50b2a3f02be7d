"""All-at-once replacement of an input's output folder: stage, then swap.

A run writes into a hidden sibling of the input's folder, ``OUT/.NAME.cnnpipe-staging-PID``,
manifest last. Only when that folder is complete does it take the folder's place:
the previous folder is renamed to ``.NAME.cnnpipe-old-PID``, the staging folder to
``NAME``, and the old folder is then emptied of the files its own manifest lists
(anything else in it, a user's notes, moves back into ``NAME``) and removed. So
until the new manifest is in place the previous complete result stays where it
was, whole; a failed, interrupted or disk-full run leaves exactly that.

A run killed by SIGKILL may leave a staging folder, or (between the two renames)
only ``.NAME.cnnpipe-old-PID`` with ``NAME`` missing. :func:`recover`, called by
the next run of that input while it holds the folder's lock, removes the
staging folder and puts a complete old folder back in place. It only touches
folders whose names it makes, never follows a link, and removes only regular
files: in a staging folder (which carries :data:`MARK` until its manifest is
written, so it is cnnpipe's), and the files an old folder's own manifest lists.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import stat
from pathlib import Path

from cnnpipe import interrupt, io
from cnnpipe.errors import OutputError

MANIFEST = "manifest.json"
PREVIOUS = ".cnnpipe-previous.json"  # the parked file list of earlier versions
MARK = ".cnnpipe-staging"  # first file of a staging folder: cnnpipe made it
_NAME = re.compile(r"\.(?P<base>.+)\.cnnpipe-(?P<kind>staging|old)-(?P<pid>[0-9]+)")
#: Open a folder only if it is one: a link in its place fails (ELOOP), nothing followed.
DIR_FLAGS = (os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_CLOEXEC", 0))


def staging_name(folder: Path) -> Path:
    """Where this process stages ``folder``'s next content."""
    return folder.with_name(f".{folder.name}.cnnpipe-staging-{os.getpid()}")


def is_work_folder(name: str) -> bool:
    """True for a staging or old folder name (hidden: discovery never takes it as input)."""
    return bool(_NAME.fullmatch(name))


def start(folder: Path) -> Path:
    """Make this run's staging folder beside ``folder`` (after :func:`recover`)."""
    staging = staging_name(folder)
    try:
        os.mkdir(staging)
    except OSError as exc:
        raise OutputError(f"cannot create staging folder {staging}: {exc.strerror or exc}"
                          ) from exc
    return staging


def mark(staging: Path) -> None:
    """Mark ``staging`` as cnnpipe's (until its manifest does), so a later run may remove it."""
    # made in one step (no temporary name, no fsync): a kill leaves it whole or absent
    os.close(os.open(staging / MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))


def swap(staging: Path, folder: Path) -> None:
    """Put the complete ``staging`` folder in ``folder``'s place, then retire the old one.

    The two renames run with signals deferred (counted, not raised), so Ctrl-C
    cannot land between them; SIGKILL can, and :func:`recover` handles it.
    """
    old = folder.with_name(f".{folder.name}.cnnpipe-old-{os.getpid()}")
    _unlink_regular(staging, MARK)  # the manifest marks it as cnnpipe's from now on
    with interrupt.deferred():
        moved = os.path.lexists(folder)
        try:
            if moved:
                os.rename(folder, old)
            os.rename(staging, folder)
        except BaseException:  # an error, or an exception sent to this thread (Dask's stop)
            if moved and not os.path.lexists(folder) and os.path.lexists(old):
                os.rename(old, folder)  # the previous result back in place
            raise
        io.sync_folder(folder.parent)
    if moved:
        with contextlib.suppress(OSError):
            retire(old, folder)


def abandon(staging: Path, ours: bool = False) -> None:
    """Remove a staging folder (its regular files, then the folder); best effort.

    Without ``ours`` (a dead run's folder) only when it carries the mark or a manifest.
    """
    with contextlib.suppress(OSError):
        _empty(staging, keep_unlisted=False, require_mark=not ours)


def parked(folder: Path) -> list[Path]:
    """The old folders of ``folder`` a swap cut short by SIGKILL left beside it, when
    ``folder`` itself is missing (real folders only, never links)."""
    if os.path.lexists(folder):
        return []
    return [path for kind, path in _work_folders(folder) if kind == "old"]


def _work_folders(folder: Path) -> list[tuple[str, Path]]:
    """(``"staging"`` or ``"old"``, path) of every work folder of ``folder`` beside it:
    real folders only; a link or a file with such a name is never ours, never followed."""
    try:
        entries = list(os.scandir(folder.parent))
    except OSError:
        return []
    found = []
    for entry in entries:
        match = _NAME.fullmatch(entry.name)
        with contextlib.suppress(OSError):
            if match and match["base"] == folder.name and entry.is_dir(follow_symlinks=False):
                found.append((match["kind"], Path(entry.path)))
    return found


def recover(folder: Path) -> None:
    """Clean what killed runs of ``folder`` left beside it; put a lost result back.

    Call it holding the folder's lock: every staging folder of that name is then
    a dead run's. A missing ``folder`` with a complete old folder beside it (a
    kill between the two renames of :func:`swap`) gets that folder back.
    """
    olds = []
    for kind, path in _work_folders(folder):
        if kind == "staging":
            abandon(path)
        else:
            olds.append(path)
    if not olds:
        return
    if not os.path.lexists(folder):
        complete = [old for old in olds if _manifest_files(old) is not None]
        if complete:
            newest = max(complete, key=lambda p: os.lstat(p).st_mtime_ns)
            os.rename(newest, folder)
            io.sync_folder(folder.parent)
            olds.remove(newest)
    if _manifest_files(folder) is None:
        return  # nothing complete in place: keep every old folder
    for old in olds:
        with contextlib.suppress(OSError):
            retire(old, folder)


def retire(old: Path, folder: Path) -> None:
    """Empty and remove a replaced folder: the regular files its manifest lists go;
    anything else moves back into ``folder`` (unless a file of that name is there)."""
    _empty(old, keep_unlisted=True, move_to=folder)


def _empty(path: Path, *, keep_unlisted: bool, require_mark: bool = False,
           move_to: Path | None = None) -> None:
    fd = os.open(path, DIR_FLAGS)  # a link in its place: ELOOP, nothing touched
    try:
        names = set(os.listdir(fd))
        if require_mark and not (_is_regular(fd, MARK) or _is_regular(fd, MANIFEST)):
            with contextlib.suppress(OSError):
                os.rmdir(path)  # empty (killed before its mark): removing it loses nothing
            return  # else not made by cnnpipe: the mark, then (once complete) the manifest
        listed = _listed(fd) | {MANIFEST, PREVIOUS, MARK} if keep_unlisted else names
        unlisted = []
        for name in names:
            if (name in listed or io.is_temp_name(name)) and _is_regular(fd, name):
                os.unlink(name, dir_fd=fd)
            elif move_to is not None and not os.path.lexists(move_to / name):
                unlisted.append(name)
        if unlisted:
            _move_back(fd, unlisted, move_to)
    finally:
        os.close(fd)
    os.rmdir(path)  # only when empty: what could not move back stays


def _move_back(fd: int, names: list[str], folder: Path) -> None:
    """Move ``names`` (a user's files in a replaced folder) from ``fd`` into ``folder``."""
    dest = os.open(folder, DIR_FLAGS)
    try:
        for name in names:
            os.rename(name, name, src_dir_fd=fd, dst_dir_fd=dest)
    finally:
        os.close(dest)


def _listed(fd: int) -> set[str]:
    names: set[str] = set()
    for record in (MANIFEST, PREVIOUS):
        try:
            if not _is_regular(fd, record):
                continue
            rfd = os.open(record, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0), dir_fd=fd)
            with os.fdopen(rfd, "rb") as handle:
                data = json.loads(handle.read(16 * 1024 * 1024))
        except (OSError, ValueError):
            continue
        files = data.get("files") if isinstance(data, dict) else None
        if isinstance(files, list):
            names.update(n for n in files if _safe_name(n))
    return names


def _manifest_files(folder: Path) -> list | None:
    """The file list of a complete folder (a manifest whose files are all there), or None."""
    from cnnpipe.io.jsonfile import load_json

    if os.path.islink(folder) or not os.path.isdir(folder):
        return None
    data = load_json(folder / MANIFEST)
    files = data.get("files") if isinstance(data, dict) else None
    if not isinstance(files, list) or "cnnpipe" not in data:
        return None
    if not all(_safe_name(n) and os.path.isfile(folder / n) for n in files):
        return None
    return files


def _safe_name(name) -> bool:
    return isinstance(name, str) and bool(name) and "/" not in name and "\\" not in name \
        and name not in (".", "..")


def _is_regular(fd: int, name: str) -> bool:
    try:
        return stat.S_ISREG(os.lstat(name, dir_fd=fd).st_mode)
    except FileNotFoundError:
        return False


def _unlink_regular(folder: Path, name: str) -> None:
    fd = os.open(folder, DIR_FLAGS)
    try:
        if _is_regular(fd, name):
            os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)
