"""Find inputs, name their output folders, and run them (in parallel).

Never prints, never exits: results come back as plain dicts through a
callback. The work for one input is ``process(job, config)``, a plain function
of picklable arguments, so any ``concurrent.futures``-style executor can run it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import multiprocessing
import os
import re
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Executor, ProcessPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path

from cnnpipe import interrupt
from cnnpipe.errors import CnnpipeError, InputError, ParameterError

SUPPORTED_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".npy", ".csv", ".txt"})


@dataclass(frozen=True)
class Job:
    """One input: where it comes from and the folder (relative to the output root) it gets."""

    source: str  # a path, or "-" for standard input
    name: str  # output folder, relative to the output root, '/'-separated
    data: bytes | None = None  # standard input's bytes
    found_in: str | None = None  # the directory it was found in, if any


def discover(inputs: Sequence[str], *, recursive: bool = False,
             on_warning: Callable[[str], None] | None = None,
             out_root: str | os.PathLike | None = None) -> list[Job]:
    """Expand files, directories and ``-`` into jobs with unique output names.

    Directories are scanned for supported extensions (case-insensitive,
    sorted, hidden files skipped); ``recursive`` descends into
    sub-directories, following a symlinked directory only once. Paths that do
    not exist are kept: they fail (one line) when processed, like any bad file.
    A scan never descends into ``out_root`` or into a folder holding a cnnpipe
    manifest, so a re-run with the output inside the input does not feed on
    its own maps.
    """
    warn = on_warning or (lambda message: None)
    raw: list[tuple[str, str, str | None]] = []  # (source, base name, found_in)
    for item in inputs:
        if item == "-":
            raw.append(("-", "stdin", None))
            continue
        path = Path(item)
        if item and path.is_dir():  # "" would be the current directory
            found = list(_scan(path, recursive, out_root))
            if not found:
                warn(f"{item}: no supported files in this directory"
                     + ("" if recursive else " (use -r to descend into sub-directories)"))
            for file in found:
                rel = file.relative_to(path)
                base = "/".join(_safe_part(p) for p in rel.with_suffix("").parts)
                raw.append((str(file), base, str(path)))
        else:
            raw.append((item, _safe_part(Path(item).stem) if item else "input", None))
    return _disambiguate(raw, warn)


def _scan(root: Path, recursive: bool, out_root=None) -> Iterable[Path]:
    seen: set[tuple[int, int]] = set()
    try:
        st = os.stat(out_root) if out_root is not None else None
        skip = {(st.st_dev, st.st_ino)} if st is not None else set()
    except OSError:
        skip = set()

    def walk(folder: Path):
        try:
            st = folder.stat()
        except OSError:
            return
        key = (st.st_dev, st.st_ino)
        if key in seen:  # a symlink loop, or the same folder twice
            return
        seen.add(key)
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return
        subdirs = []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            try:
                is_dir = entry.is_dir()
            except OSError:  # a symlink loop: listed, so it fails with its reason, not silently
                is_dir = False
            if is_dir:
                subdirs.append(Path(entry.path))
            elif Path(entry.name).suffix.lower() in SUPPORTED_EXTENSIONS:
                yield Path(entry.path)
        if recursive:
            for sub in subdirs:
                if not _is_output(sub, skip):
                    yield from walk(sub)

    yield from walk(root)


def _is_output(folder: Path, skip: set[tuple[int, int]]) -> bool:
    """True for the output root and for a folder cnnpipe wrote (its manifest names cnnpipe)."""
    from cnnpipe.io.jsonfile import load_json

    try:
        st = folder.stat()
    except OSError:
        return False
    if (st.st_dev, st.st_ino) in skip:
        return True
    manifest = load_json(folder / "manifest.json")
    return isinstance(manifest, dict) and "cnnpipe" in manifest and "files" in manifest


_UNSAFE = re.compile(r"[\x00-\x1f/\\]")


def _safe_part(part: str) -> str:
    """A folder-name component that can never climb out of the output root."""
    part = _UNSAFE.sub("_", part)
    if part in ("", ".", ".."):
        part = part.replace(".", "_") or "_"
    return part


def _disambiguate(raw, warn) -> list[Job]:
    """Give each input its own folder: colliding names get their extension, then -2, -3..."""
    counts: dict[str, int] = {}
    for _, base, _ in raw:
        counts[base.casefold()] = counts.get(base.casefold(), 0) + 1
    # `A.png` beside a folder `A/` would put A/x's folder inside A's: that counts as a clash
    parents = {"/".join(base.casefold().split("/")[:i])
               for _, base, _ in raw for i in range(1, base.count("/") + 1)}
    for key in parents & set(counts):
        counts[key] += 1
    named = []
    for source, base, found_in in raw:
        name = base
        if counts[base.casefold()] > 1 and source != "-":
            suffix = Path(source).suffix.lower().lstrip(".")
            name = f"{base}.{suffix}" if suffix else base
        named.append((source, base, name, found_in))
    used: dict[str, int] = {}
    jobs = []
    for source, base, name, found_in in named:
        key = name.casefold()
        if key in used:
            used[key] += 1
            name = f"{name}-{used[key]}"
            while name.casefold() in used:
                used[key] += 1
                name = f"{base}-{used[key]}"
        used[name.casefold()] = used.get(name.casefold(), 1)
        if name != base:
            warn(f"{source}: output folder renamed to '{name}' (another input is also '{base}')")
        jobs.append(Job(source=source, name=name, found_in=found_in))
    return jobs


def fingerprint(job: Job) -> str | None:
    """Which input this is, for --skip-existing: path, size and modification time of a
    file, a hash of standard input's bytes; None when the file cannot be read."""
    if job.source == "-":
        return "sha256:" + hashlib.sha256(job.data or b"").hexdigest()
    try:
        st = os.stat(job.source)
    except OSError:
        return None
    return f"{os.path.realpath(job.source)}|{st.st_size}|{st.st_mtime_ns}"


def process(job: Job, config) -> dict:
    """Run one input end to end and write its folder; return its report.

    The report is the manifest plus ``status`` (``ok``, ``failed`` or
    ``skipped``) and, for failures, ``error`` (one line) and ``exit_code``.
    Errors of the input never escape as exceptions; KeyboardInterrupt does.
    """
    from cnnpipe import io, outputs

    label = "stdin" if job.source == "-" else job.source
    folder = Path(config.out_root, *job.name.split("/"))
    started = time.perf_counter()
    try:
        source_id = fingerprint(job)
        if (config.extra.get("skip_existing") and source_id is not None
                and outputs.is_complete(folder, config, source_id)):
            manifest = outputs.read_manifest(folder) or {}
            return {**manifest, "status": "skipped", "output": str(folder)}
        if not job.source:
            raise InputError("the input path is empty (an unset shell variable?); give a "
                             "file, a directory or - for standard input")
        source = job.data if job.source == "-" else job.source
        kwargs = {"color": config.params.color}
        if config.max_pixels is not None:
            kwargs["max_pixels"] = config.max_pixels
        loaded = io.load_image(source, **kwargs)
        loaded.info.setdefault("path", label)
        if job.source == "-":
            loaded.info["path"] = "-"
        loaded.info["fingerprint"] = source_id
        manifest = outputs.write_outputs(loaded, config, folder, label)
        return {**manifest, "status": "ok", "output": str(folder),
                "seconds": round(time.perf_counter() - started, 3)}
    except (CnnpipeError, MemoryError, RecursionError, OSError, ValueError) as exc:
        if isinstance(exc, CnnpipeError):
            report = _failure(label, folder, str(exc), int(exc.exit_code),
                              usage=isinstance(exc, ParameterError))
        elif isinstance(exc, MemoryError):
            report = _failure(label, folder,
                              "out of memory (try a smaller image or fewer detectors)", 1)
        elif isinstance(exc, RecursionError):  # pragma: no cover - defensive
            report = _failure(label, folder, f"internal error: {exc}", 1)
        else:
            report = _failure(label, folder, f"{type(exc).__name__}: {exc}", 1)
        if config.extra.get("debug"):  # `cnnpipe --debug run`: the traceback behind the line
            import traceback

            report["traceback"] = "".join(traceback.format_exception(exc))
        return report


def claim_folders(jobs: Sequence[Job], out_root,
                  on_warning: Callable[[str], None] | None = None) -> list[Job]:
    """Keep each input off a folder that holds another input's results.

    A folder from an earlier run of another file with the same name (another
    ``xargs`` batch, say) is never replaced: the input takes the first of
    ``NAME-2``, ``NAME-3``... that is free or already its own, unused by the
    other jobs of this batch, and a warning says so. Decided here, in one
    process, before any job runs, so parallel workers never meet in a folder.
    """
    warn = on_warning or (lambda message: None)
    taken = {job.name.casefold() for job in jobs}
    claimed = []
    for job in jobs:
        me = _owner_key(fingerprint(job))
        base = Path(out_root, *job.name.split("/"))
        owner = _folder_owner(base) if me is not None else None
        if owner is None or owner == me:
            claimed.append(job)
            continue
        for number in itertools.count(2):
            name = f"{job.name}-{number}"
            folder = base.with_name(f"{base.name}-{number}")
            if name.casefold() not in taken and _folder_owner(folder) in (None, me):
                break
        taken.add(name.casefold())
        warn(f"{job.source}: {base} holds the results of another input ({owner}); "
             f"writing to {folder} instead")
        claimed.append(dataclasses.replace(job, name=name))
    return claimed


def _owner_key(source_id) -> str | None:
    """The input part of a :func:`fingerprint`: the file's real path, or ``-`` for
    standard input; None when there is none."""
    if not isinstance(source_id, str) or not source_id:
        return None
    if source_id.startswith("sha256:"):
        return "-"
    return source_id.rsplit("|", 2)[0]


def _folder_owner(folder: Path) -> str | None:
    """Whose results ``folder`` holds: the :func:`_owner_key` recorded by the run that
    wrote it (its manifest) or is rewriting it (the parked file list); None when
    nobody's (absent, empty, not cnnpipe's, unreadable, or from before inputs were recorded)."""
    from cnnpipe.io.jsonfile import load_json
    from cnnpipe.outputs import MANIFEST, PREVIOUS

    for name in (MANIFEST, PREVIOUS):
        data = load_json(folder / name)
        if not isinstance(data, dict):
            continue
        recorded = data.get("input")
        if isinstance(recorded, dict):
            recorded = recorded.get("fingerprint")
        key = _owner_key(recorded)
        if key is not None:
            return key
    return None


def _failure(label, folder, message, code, usage=False) -> dict:
    return {"input": {"path": label}, "status": "failed", "error": message,
            "exit_code": code, "usage_error": usage, "output": str(folder)}


def run_batch(jobs: Sequence[Job], config, *, workers: int = 1,
              on_start: Callable[[Job], None] | None = None,
              on_result: Callable[[Job, dict], None] | None = None,
              fail_fast: bool = False, executor: Executor | None = None) -> list[dict]:
    """Process ``jobs``, calling ``on_result`` as each finishes; return the reports in job order.

    ``workers`` is a budget of cores: with more than one job and ``workers >
    1`` (or an ``executor``) inputs run in separate processes, one thread each;
    a single job gets ``workers`` threads; ``workers=1`` runs the jobs one
    after the other on one thread. At most ``2 * workers`` inputs are in
    flight, so memory is bounded by the inputs being worked on, not by the
    size of the batch.
    """
    reports: list[dict | None] = [None] * len(jobs)
    threads = threads_per_input(workers, len(jobs))
    if executor is None and config.threads != threads:
        config = dataclasses.replace(config, threads=threads)

    def finished(index, report):
        reports[index] = report
        if on_result:
            on_result(jobs[index], report)
        return fail_fast and report["status"] == "failed"

    if executor is None and (workers <= 1 or len(jobs) <= 1):
        from cnnpipe import layer

        with layer.threads(threads):
            for index, job in enumerate(jobs):
                interrupt.check()
                if on_start:
                    on_start(job)
                if finished(index, process(job, config)):
                    break
        return [r for r in reports if r is not None]

    own = executor is None
    pool = executor or ProcessPoolExecutor(
        max_workers=min(workers, len(jobs)), mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(threads,))
    limit = 2 * max(1, workers)
    pending = {}
    stop = False
    try:
        queue = iter(enumerate(jobs))
        while True:
            interrupt.check()
            while not stop and len(pending) < limit:
                nxt = next(queue, None)
                if nxt is None:
                    break
                index, job = nxt
                if on_start:
                    on_start(job)
                pending[pool.submit(process, job, config)] = index
            if not pending:
                break
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                index = pending.pop(future)
                try:
                    report = future.result()
                except Exception as exc:  # a worker died (killed, out of memory)
                    label = "stdin" if jobs[index].source == "-" else jobs[index].source
                    report = _failure(label, Path(config.out_root, jobs[index].name),
                                      f"worker process failed: {type(exc).__name__}: {exc}", 1)
                if finished(index, report):
                    stop = True
            if stop and not pending:
                break
    finally:
        if own:
            pool.shutdown(wait=True, cancel_futures=True)
    return [r for r in reports if r is not None]


def threads_per_input(workers: int, n_jobs: int) -> int:
    """Threads for one input when ``workers`` cores are shared by ``n_jobs`` inputs.

    ``-j N`` means N cores: N inputs at once on one thread each, or one input
    on N threads (at most the machine's cores). ``-j 1`` is one core, so a
    script may run ``xargs -P 4 cnnpipe run -j 1`` without oversubscribing.
    """
    inputs_at_once = max(1, min(workers, n_jobs))
    return max(1, min(os.cpu_count() or 1, workers // inputs_at_once))


def _init_worker(threads: int = 1) -> None:
    """Give a worker process its share of threads, and BLAS one thread.

    The workers already use the cores between them; more threads inside each
    would only fight over the same cores. Set before numpy is imported (the
    workers are spawned, not forked, so nothing is imported yet — forking a
    process that runs a progress-bar thread is not safe either).
    """
    import signal

    # A terminal's Ctrl-C reaches every process of the group; only the main
    # process acts on it (it stops submitting and lets running inputs finish
    # whole), so workers neither die mid-input nor print tracebacks.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = "1"
    from cnnpipe import layer

    layer.set_threads(threads)


def summarize(reports: Iterable[dict]) -> dict:
    """Counts of ok / failed / skipped reports."""
    counts = {"ok": 0, "failed": 0, "skipped": 0}
    for report in reports:
        counts[report["status"]] = counts.get(report["status"], 0) + 1
    return counts


__all__ = ["Job", "discover", "process", "run_batch", "summarize", "InputError"]
