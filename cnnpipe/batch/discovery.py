"""Which inputs a batch has, and the output folder each one gets.

Everything here runs in the main process, before any job starts: folder names
are decided once, so parallel workers never meet in a folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

SUPPORTED_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".gif", ".webp", ".npy", ".csv", ".txt"})


@dataclass(frozen=True)
class Job:
    """One input: where it comes from and the folder (relative to the output root) it gets.

    Picklable and small: it is what an executor ships to a worker.
    """

    source: str  # a path, or "-" for standard input
    name: str  # output folder, relative to the output root, '/'-separated
    data: bytes | None = None  # standard input's bytes
    found_in: str | None = None  # the directory it was found in, if any
    error: str | None = None  # known to fail before it runs (a folder -r could not read)


def discover(inputs: Sequence[str], *, recursive: bool = False,
             on_warning: Callable[[str], None] | None = None,
             out_root: str | os.PathLike | None = None,
             stdin_name: str = "stdin") -> list[Job]:
    """Expand files, directories and ``-`` into jobs with unique output names.

    Standard input's folder is ``stdin_name`` (``run - --name NAME``; checked by
    :func:`check_folder_name`).

    Directories are scanned for supported extensions (case-insensitive,
    sorted, hidden files skipped); ``recursive`` descends into
    sub-directories, following a symlinked directory only once. Paths that do
    not exist are kept: they fail (one line) when processed, like any bad file.
    A sub-directory that cannot be read becomes a job that fails with the
    reason, so a batch never skips part of its input silently.

    cnnpipe's own output is never an input: a scan never descends into
    ``out_root`` or into a folder holding a cnnpipe manifest, and such a folder
    (or a file inside one) named on the command line is left out with a
    warning naming it, so ``find | xargs cnnpipe run`` cannot feed on maps.
    """
    warn = on_warning or (lambda message: None)
    outputs = _OutputFolders(out_root)
    raw: list[tuple[str, str, str | None, str | None]] = []  # (source, base, found_in, error)
    for item in inputs:
        if item == "-":
            raw.append(("-", stdin_name, None, None))
            continue
        path = Path(item)
        reason = outputs.why(path) if item else None
        if reason is not None:
            warn(f"{item}: {reason}; not an input")
            continue
        if item and path.is_dir():  # "" would be the current directory
            found = list(_scan(path, recursive, outputs))
            if not found:
                warn(f"{item}: no supported files in this directory"
                     + ("" if recursive else " (use -r to descend into sub-directories)"))
            for file, error in found:
                rel = file.relative_to(path)
                parts = rel.parts if error else rel.with_suffix("").parts
                base = "/".join(_safe_part(p) for p in parts) or _safe_part(path.name)
                raw.append((str(file), base, str(path), error))
        else:
            raw.append((item, _safe_part(Path(item).stem) if item else "input", None, None))
    return _disambiguate(raw, warn)


def _scan(root: Path, recursive: bool, outputs: _OutputFolders
          ) -> Iterable[tuple[Path, str | None]]:
    """Yield (file, None) for each supported file, and (folder, reason) for a folder
    that could not be read."""
    seen: set[tuple[int, int]] = set()

    def walk(folder: Path):
        key = _identity(folder)
        if key in seen:  # a symlink loop, or the same folder twice
            return
        try:
            if key is None:
                folder.stat()  # raises with the reason
            files, subdirs = _entries(folder)
        except OSError as exc:
            yield folder, f"cannot read this folder: {exc.strerror or exc}"
            return
        seen.add(key)
        yield from ((file, None) for file in files)
        if recursive:
            for sub in subdirs:
                if not outputs.skip(sub):
                    yield from walk(sub)

    yield from walk(root)


def _entries(folder: Path) -> tuple[list[Path], list[Path]]:
    """The supported files and the sub-folders of ``folder``, sorted, hidden ones left out."""
    files, subdirs = [], []
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # a symlink loop: listed, so it fails with its reason, not silently
            is_dir = False
        if is_dir:
            subdirs.append(Path(entry.path))
        elif Path(entry.name).suffix.lower() in SUPPORTED_EXTENSIONS:
            files.append(Path(entry.path))
    return files, subdirs


class _OutputFolders:
    """Tells cnnpipe's output apart from inputs: the output root, and any folder
    holding a cnnpipe manifest (answers are cached per folder)."""

    def __init__(self, out_root):
        self.root = _identity(out_root) if out_root is not None else None
        self.cache: dict[tuple[int, int], bool] = {}

    def why(self, path: Path) -> str | None:
        """Why ``path`` is cnnpipe's output and not an input, or None.

        The output root itself may be named as the input (``run photos -r -o
        photos`` puts each folder beside its photo): its files are inputs, and
        the scan skips the output folders inside it.
        """
        try:
            is_dir = path.is_dir()
        except OSError:
            return None
        folder = path if is_dir else path.parent
        key = _identity(folder)
        if key is None or key == self.root:
            return None
        if key not in self.cache:
            self.cache[key] = _holds_manifest(folder)
        if self.cache[key]:
            if is_dir:
                return "a folder of cnnpipe's output, which holds a manifest.json"
            return f"a file of cnnpipe's output ({folder}), which holds a manifest.json"
        return None

    def skip(self, folder: Path) -> bool:
        """True for a sub-folder a scan must not enter: the output root or an output folder."""
        key = _identity(folder)
        return key is not None and (key == self.root or self.why(folder) is not None)


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    return st.st_dev, st.st_ino


def _holds_manifest(folder: Path) -> bool:
    """True for a folder cnnpipe wrote (its manifest names cnnpipe)."""
    from cnnpipe.io.jsonfile import load_json

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
    for _, base, _, _ in raw:
        counts[base.casefold()] = counts.get(base.casefold(), 0) + 1
    # `A.png` beside a folder `A/` would put A/x's folder inside A's: that counts as a clash
    parents = {"/".join(base.casefold().split("/")[:i])
               for _, base, _, _ in raw for i in range(1, base.count("/") + 1)}
    for key in parents & set(counts):
        counts[key] += 1
    named = []
    for source, base, found_in, error in raw:
        name = base
        if counts[base.casefold()] > 1 and source != "-":
            suffix = Path(source).suffix.lower().lstrip(".")
            name = f"{base}.{suffix}" if suffix else base
        named.append((source, base, name, found_in, error))
    used: dict[str, int] = {}
    jobs = []
    for source, base, name, found_in, error in named:
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
        jobs.append(Job(source=source, name=name, found_in=found_in, error=error))
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
        label = "stdin" if job.source == "-" else job.source
        warn(f"{label}: {base} holds the results of another input ({_owner_text(owner)}); "
             f"writing to {folder} instead")
        claimed.append(dataclasses.replace(job, name=name))
    return claimed


def _owner_key(source_id) -> str | None:
    """The input part of a :func:`fingerprint`: the file's real path, or for standard
    input the hash of its bytes (two different inputs piped in are two inputs: neither
    replaces the other's results); None when there is none."""
    if not isinstance(source_id, str) or not source_id:
        return None
    if source_id.startswith("sha256:"):
        return source_id
    return source_id.rsplit("|", 2)[0]


def _owner_text(key: str) -> str:
    """An owner key as a warning shows it: a path, or a short hash of standard input."""
    if key.startswith("sha256:"):
        return f"standard input {key[:19]}"
    return key


def check_folder_name(name: str) -> str | None:
    """Why ``name`` cannot be one output folder's name (None when it can).

    >>> check_folder_name("scan-1") is None
    True
    >>> check_folder_name("../x")
    "contains '/' (give one folder name, not a path)"
    """
    if not name:
        return "is empty"
    if "/" in name or "\\" in name:
        return f"contains {'/' if '/' in name else chr(92)!r} (give one folder name, not a path)"
    if name.startswith("."):
        return "starts with '.' (hidden, or the current or parent folder)"
    if not name.isprintable():
        return "contains a control or unprintable character"
    if len(name.encode("utf-8", "surrogatepass")) > 255:
        return "is longer than 255 bytes"
    return None


def _folder_owner(folder: Path) -> str | None:
    """Whose results ``folder`` holds: the :func:`_owner_key` recorded by the run that
    wrote it (its manifest, or that of the old folder a killed swap left); None when
    nobody's (absent, empty, not cnnpipe's, unreadable, or from before inputs were recorded)."""
    from cnnpipe.io.jsonfile import load_json
    from cnnpipe.outputs import MANIFEST, PREVIOUS
    from cnnpipe.outputs.swap import parked

    # a run killed mid-swap leaves the result beside its place, until the next run recovers it
    records = [folder / MANIFEST, folder / PREVIOUS] + [p / MANIFEST for p in parked(folder)]
    for record in records:
        data = load_json(record)
        if not isinstance(data, dict):
            continue
        recorded = data.get("input")
        if isinstance(recorded, dict):
            recorded = recorded.get("fingerprint")
        key = _owner_key(recorded)
        if key is not None:
            return key
    return None


