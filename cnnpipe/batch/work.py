"""The work for one input: ``process(job, config) -> record``, run by every executor.

A record is the manifest plus ``status`` (``ok``, ``failed`` or ``skipped``)
and ``output``; a failure has ``error`` (one line), ``exit_code`` and
``usage_error``. :func:`process` never raises for a problem of its input;
only a signal's exception (``KeyboardInterrupt``, ``SystemExit``) escapes.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import time
from pathlib import Path

from cnnpipe.batch.discovery import Job, _folder_owner, _owner_key, fingerprint
from cnnpipe.errors import CnnpipeError, InputError, OutputError, ParameterError

LOCKS = ".cnnpipe-lock"  # in the output root: one lock file per output folder


def process(job: Job, config) -> dict:
    """Run one input end to end and write its folder; return its record."""
    label = label_of(job)
    folder = folder_of(job, config)
    started = time.perf_counter()
    try:
        if job.error:
            raise InputError(job.error)
        if not job.source:
            raise InputError("the input path is empty (an unset shell variable?); give a "
                             "file, a directory or - for standard input")
        with folder_lock(config.out_root, job.name):
            return _process_locked(job, config, label, folder, started)
    except (CnnpipeError, MemoryError, RecursionError, OSError, ValueError) as exc:
        if isinstance(exc, CnnpipeError):
            record = failure(job, config, str(exc), int(exc.exit_code),
                             usage=isinstance(exc, ParameterError))
        elif isinstance(exc, MemoryError):
            record = failure(job, config,
                             "out of memory (try a smaller image or fewer detectors)", 1)
        elif isinstance(exc, RecursionError):  # pragma: no cover - defensive
            record = failure(job, config, f"internal error: {exc}", 1)
        else:
            record = failure(job, config, f"{type(exc).__name__}: {exc}", 1)
        if config.extra.get("debug"):  # `cnnpipe --debug run`: the traceback behind the line
            import traceback

            record["traceback"] = "".join(traceback.format_exception(exc))
        return record


def _process_locked(job: Job, config, label: str, folder: Path, started: float) -> dict:
    from cnnpipe import budget, io, outputs

    outputs.recover(folder)  # what a killed run left beside it; a lost result back in place
    source_id = fingerprint(job)
    # Another run into this OUT may have placed another input here since this run chose
    # the name: never mix the two (the lock keeps it from changing while we write).
    me, owner = _owner_key(source_id), _folder_owner(folder)
    if me is not None and owner is not None and owner != me:
        raise OutputError(f"{folder} now holds the results of another input ({owner}), "
                          "written by another run meanwhile; run again to give this input "
                          "a folder of its own")
    if (config.extra.get("skip_existing") and source_id is not None
            and outputs.is_complete(folder, config, source_id)):
        manifest = outputs.read_manifest(folder) or {}
        return {**manifest, "status": "skipped", "output": str(folder)}
    source = job.data if job.source == "-" else job.source
    kwargs = {"color": config.params.color}
    if config.max_pixels is not None:
        kwargs["max_pixels"] = config.max_pixels
    # the memory and disk budget, checked from the shape before the pixels are decoded
    loaded = io.load_image(source, on_size=budget.for_run(config), **kwargs)
    loaded.info.setdefault("path", label)
    if job.source == "-":
        loaded.info["path"] = "-"
    loaded.info["fingerprint"] = source_id
    manifest = outputs.write_outputs(loaded, config, folder, label)
    return {**manifest, "status": "ok", "output": str(folder),
            "seconds": round(time.perf_counter() - started, 3)}


@contextlib.contextmanager
def folder_lock(out_root, name: str, *, wait: bool = True):
    """Hold the advisory lock of output folder ``name`` (waiting for another run).

    Two runs into one OUT (a cron job and a user, two ``xargs`` batches) take
    turns per folder, so one run's files never land in a folder the other is
    writing. The lock is ``flock`` on ``OUT/.cnnpipe-lock/<hash of the name>``,
    which the operating system releases when its process dies, even by SIGKILL.
    The holder removes the file (and the folder, once empty) before releasing
    it; a waiter that then finds its file gone or replaced tries again. A link
    at ``OUT/.cnnpipe-lock`` or in it is refused (OutputError), never followed.
    With ``wait=False`` the block gets False, holding nothing, when another run
    holds the lock now; else True.
    """
    try:
        held = _acquire(out_root, name, wait)
    except BaseException:  # Ctrl-C while waiting: leave no lock file behind
        _sweep_lock(out_root, name)
        raise
    if held is None:
        yield False
        return
    fd, dir_fd, digest, locks = held
    try:
        yield True
    finally:
        with contextlib.suppress(OSError):
            os.unlink(digest, dir_fd=dir_fd)
        os.close(fd)  # releases the lock
        os.close(dir_fd)
        with contextlib.suppress(OSError):
            locks.rmdir()  # only when no other lock is held


def _acquire(out_root, name: str, wait: bool = True):
    locks, path = _lock_path(out_root, name)
    while True:
        try:
            locks.mkdir(parents=True, exist_ok=True)
            dir_fd = _open_locks(locks)
        except FileNotFoundError:
            continue  # another run removed the emptied lock folder just now
        except OSError as exc:  # the output root cannot be made (a file in the way...)
            raise OutputError(f"cannot create output folder {Path(out_root, *name.split('/'))}"
                              f": {exc.strerror or exc}") from exc
        try:
            fd = _open_lock_file(dir_fd, path)
        except FileNotFoundError:  # the folder was removed, emptied, after we opened it
            os.close(dir_fd)
            continue
        except BaseException:
            os.close(dir_fd)
            raise
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            except BlockingIOError:
                os.close(fd)
                os.close(dir_fd)
                return None
            held = os.fstat(fd)
            now = os.stat(path.name, dir_fd=dir_fd, follow_symlinks=False)
            if (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino):
                return fd, dir_fd, path.name, locks
        except FileNotFoundError:
            pass  # its holder removed it: take a fresh one
        except BaseException:
            os.close(fd)
            os.close(dir_fd)
            raise
        os.close(fd)
        os.close(dir_fd)


_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _open_locks(locks: Path) -> int:
    """Open the lock folder without following a link (a planted link is refused).

    FileNotFoundError when another run removed it, emptied, just now: try again."""
    from cnnpipe.outputs.swap import DIR_FLAGS

    try:
        return os.open(locks, DIR_FLAGS)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            kind = "a symbolic link" if locks.is_symlink() else "not a folder"
            raise OutputError(f"{locks} is {kind}: refused, cnnpipe never follows a link"
                              " inside the output folder (remove it)") from exc
        raise


def _open_lock_file(dir_fd: int, path: Path) -> int:
    try:
        return os.open(path.name, _LOCK_FLAGS, 0o644, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise
        if exc.errno in (errno.ELOOP, errno.EISDIR, errno.ENXIO):
            raise OutputError(f"lock file {path} is not a regular file (a symbolic link?):"
                              " refused, cnnpipe never follows a link inside the output"
                              " folder (remove it)") from exc
        raise OutputError(f"cannot create lock file {path}: {exc.strerror or exc}") from exc


def _lock_path(out_root, name: str) -> tuple[Path, Path]:
    locks = Path(out_root, LOCKS)
    digest = hashlib.sha256(name.casefold().encode("utf-8", "surrogateescape")).hexdigest()
    return locks, locks / digest[:32]


def _sweep_lock(out_root, name: str) -> None:
    """Remove the lock file a killed worker left, unless another run holds it now."""
    from cnnpipe.outputs.swap import DIR_FLAGS

    locks, path = _lock_path(out_root, name)
    try:
        dir_fd = os.open(locks, DIR_FLAGS)
    except OSError:
        return
    try:
        fd = os.open(path.name, _LOCK_FLAGS & ~os.O_CREAT, dir_fd=dir_fd)
    except OSError:
        os.close(dir_fd)
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.unlink(path.name, dir_fd=dir_fd)
    except OSError:
        return  # held by a run that is alive: it removes the file itself
    finally:
        os.close(fd)
        os.close(dir_fd)
    with contextlib.suppress(OSError):
        locks.rmdir()


def remove_partial(job: Job, config) -> None:
    """Clean up after an input whose worker was killed.

    Called by the runner (never in the worker, which is gone). The worker wrote
    into a staging folder beside the input's folder, which replaces it only
    when complete: that staging folder is removed, and, when the kill came
    between the two renames of the swap, the previous result is put back
    (:func:`cnnpipe.outputs.recover`). Done holding the folder's lock, and
    skipped when another run holds it now (that run recovers it itself).
    """
    from cnnpipe import outputs

    folder = folder_of(job, config)
    with contextlib.suppress(OutputError, OSError), \
            folder_lock(config.out_root, job.name, wait=False) as held:
        if held:
            outputs.recover(folder)


def label_of(job: Job) -> str:
    """How an input is named in messages: its path, or ``stdin``."""
    return "stdin" if job.source == "-" else job.source


def folder_of(job: Job, config) -> Path:
    return Path(config.out_root, *job.name.split("/"))


def failure(job: Job, config, message: str, code: int = 1, usage: bool = False) -> dict:
    """The record of an input that failed with ``message``."""
    return {"input": {"path": label_of(job)}, "status": "failed", "error": message,
            "exit_code": code, "usage_error": usage, "output": str(folder_of(job, config))}
