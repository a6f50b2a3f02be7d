"""Write one input's maps, overview and manifest into its output folder.

Every file is written atomically (temporary name, then rename), the manifest
last: a folder with a ``manifest.json`` is complete. A re-run removes the maps
an earlier run wrote and this one did not (its detectors changed), and never
touches a file cnnpipe did not write.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnpipe import interrupt, io, layer
from cnnpipe.errors import InputError, OutputError
from cnnpipe.io.jsonfile import load_json
from cnnpipe.layer import Params, iter_detectors
from cnnpipe.pictures import mapping

MANIFEST = "manifest.json"
PREVIOUS = ".cnnpipe-previous.json"  # the file list of a run being replaced
STAGE_PREFIX = {"input": "00", "conv": "01", "relu": "02", "pool": "03"}


@dataclass(frozen=True)
class RunConfig:
    """Everything that decides what is written for one input (picklable)."""

    params: Params
    kernels: tuple
    out_root: str = "cnnpipe-out"
    npy: bool = False
    cmap: str = "auto"
    scale: str = "map"
    bit_depth: int = 8
    overview: bool = True
    png_compression: int = 1
    max_pixels: int | None = None
    provenance: bool = False
    threads: int = 2
    extra: dict = field(default_factory=dict)
    network: object = None  # a cnnpipe.network.Network for `run --pipeline` (picklable)

    def options(self) -> dict:
        """The output options, as recorded in the manifest."""
        return {"npy": self.npy, "cmap": self.cmap, "scale": self.scale,
                "bit_depth": self.bit_depth, "overview": self.overview,
                "png_compression": self.png_compression, "provenance": self.provenance}

    def digest(self) -> str:
        """A fingerprint of the parameters, detectors and output options."""
        h = hashlib.sha256()
        h.update(json.dumps([self.params.to_dict(), self.options()], sort_keys=True).encode())
        for k in self.kernels:
            h.update(k.name.encode())
            h.update(str(k.weights.shape).encode())
            h.update(np.ascontiguousarray(k.weights, dtype=np.float32).tobytes())
        if self.network is not None:
            h.update(json.dumps(self.network.digest_parts(), sort_keys=True).encode())
        return h.hexdigest()


def map_filename(stage: str, kernel_name: str | None, ext: str = ".png") -> str:
    """``01-conv-sobel-x.png``; the input map is ``00-input.png``."""
    if stage == "input":
        return f"00-input{ext}"
    return f"{STAGE_PREFIX[stage]}-{stage}-{kernel_name}{ext}"


def planned_files(config: RunConfig) -> list[str]:
    """The files a run with ``config`` writes into an input's folder (for --dry-run)."""
    p = config.params
    stages = ["conv"] + (["relu"] if p.activation != "none" else []) + (
        ["pool"] if p.pool != "none" else [])
    files = [map_filename("input", None)] + (
        [map_filename("input", None, ".npy")] if config.npy else [])
    for k in config.kernels:
        for stage in stages:
            files.append(map_filename(stage, k.name))
            if config.npy:
                files.append(map_filename(stage, k.name, ".npy"))
    if config.overview:
        files.append("overview.png")
    files.append(MANIFEST)
    return files


def read_manifest(folder: Path) -> dict | None:
    """The manifest of a completed earlier run, or None."""
    data = load_json(folder / MANIFEST)
    return data if isinstance(data, dict) else None


def is_complete(folder: Path, config: RunConfig, fingerprint: str | None = None) -> bool:
    """True when ``folder`` holds a finished run with these exact settings.

    With ``fingerprint``, the run must also have been of that input (see
    :func:`cnnpipe.batch.fingerprint`): another file with the same folder name,
    a changed file or other standard input is not done yet.
    """
    manifest = read_manifest(folder)
    if not manifest or manifest.get("digest") != config.digest():
        return False
    if fingerprint is not None:
        recorded = manifest.get("input")
        if not isinstance(recorded, dict) or recorded.get("fingerprint") != fingerprint:
            return False
    return all((folder / name).is_file() for name in manifest.get("files", []))


def _check_finite(lo: float, hi: float, what: str) -> None:
    # Values beyond float32 (inf, or NaN from inf - inf) have no pixel and no JSON number.
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise InputError(f"{what} overflowed float32 (values beyond ±3.4e38); scale the input "
                         "or the detector weights down")


#: Pixel and value buffers queued for background encoding, at most (see _Writer).
PENDING_BYTES = 64 * 1024 * 1024

SMALL_MAP = 32  # maps at most this many rows and columns carry their values in the manifest


def _stats(array: np.ndarray, what: str = "a map") -> dict:
    lo, hi = float(array.min()), float(array.max())
    _check_finite(lo, hi, what)
    stats = {
        "shape": list(array.shape),
        "min": lo,
        "max": hi,
        "mean": float(array.mean(dtype=np.float64)),
        "zero_fraction": float(np.count_nonzero(array == 0) / array.size),
    }
    if array.ndim == 2 and max(array.shape) <= SMALL_MAP:
        stats["values"] = array.astype(float).tolist()
    return stats


class _Writer:
    """Encodes and writes files, in background threads when allowed."""

    def __init__(self, folder: Path, threads: int):
        self.folder = folder
        self.pool = ThreadPoolExecutor(threads) if threads > 1 else None
        self.pending = []
        self.written: list[str] = []
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
        try:
            for future, _ in self.pending:
                future.result()
            # the renames are made durable once, here, before the manifest says "done"
            io.sync_folder(self.folder)
        finally:
            self.pending = []
            if self.pool is not None:
                self.pool.shutdown(wait=True, cancel_futures=True)


def write_outputs(loaded, config: RunConfig, folder: Path, source_label: str) -> dict:
    """Run the pipeline on ``loaded`` and write every file; return the manifest."""
    from cnnpipe import __version__

    image = loaded.array
    scale_kind, fixed_range = mapping.parse_scale(config.scale)
    check_shapes(image, config)  # a detector that cannot fit fails before any file exists
    created = not folder.exists()
    writer = _Writer(folder, config.threads)
    try:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise OutputError(
                f"cannot create output folder {folder}: {exc.strerror or exc}") from exc
        remove_leftover_temps(folder)
        old_files = _previous_files(folder, loaded.info.get("fingerprint"))
        manifest = _write_all(loaded, config, folder, source_label, writer, scale_kind,
                              fixed_range, __version__)
    except BaseException:
        # Complete or absent: a failed or interrupted input leaves none of this run's files,
        # unless its manifest (written last) already landed: then the folder is complete.
        writer.abort()
        if not (folder / MANIFEST).exists():
            _discard(folder, writer.written, created)
        raise
    _remove_stale(folder, old_files, set(manifest["files"]))
    return manifest


def _write_all(loaded, config, folder, source_label, writer, scale_kind, fixed_range,
               version) -> dict:
    image = loaded.array
    params = config.params
    maps_meta = []
    sheet = None
    try:
        input_map = mapping.choose_mapping(image, stage="input", scale="map", cmap=config.cmap,
                                           bit_depth=config.bit_depth)
        input_pixels, input_palette = mapping.to_png_pixels(image, input_map)
        name = map_filename("input", None)
        writer.png(name, input_pixels, mapping.png_text(input_map), config.png_compression,
                   input_palette)
        input_pixels = mapping.palette_to_rgb(input_pixels, input_palette)
        entry = {"stage": "input", "kernel": None, "file": name, **_stats(image),
                 "mapping": input_map}
        if config.npy:
            entry["npy"] = map_filename("input", None, ".npy")
            writer.npy(entry["npy"], image)
        maps_meta.append(entry)
        if config.overview:
            from cnnpipe.pictures.sheet import OverviewSheet

            display = input_pixels
            if display.dtype != np.uint8:  # a 16-bit input map: show it at 8 bits
                display = (display >> 8).astype(np.uint8)
            sheet = OverviewSheet(_title(source_label, loaded, config), display,
                                  os.path.basename(source_label) or "input",
                                  input_mapping=input_map)

        for det in iter_detectors(image, config.kernels, params):
            interrupt.check()
            items = det.items()
            shared = None
            if scale_kind == "detector":
                shared = (min(float(a.min()) for _, a in items),
                          max(float(a.max()) for _, a in items))
                _check_finite(*shared, f"a map of detector {det.kernel.name!r}")
            elif scale_kind == "fixed":
                shared = fixed_range
            for stage, array in items:
                stats = _stats(array, f"the {stage} map of detector {det.kernel.name!r}")
                m = mapping.choose_mapping(array, stage=stage, scale=config.scale, cmap=config.cmap,
                                           value_range=shared, bit_depth=config.bit_depth)
                name = map_filename(stage, det.kernel.name)
                pixels, palette = mapping.to_png_pixels(array, m)
                writer.png(name, pixels, mapping.png_text(m), config.png_compression, palette)
                entry = {"stage": stage, "kernel": det.kernel.name, "file": name,
                         **stats, "mapping": m}
                if config.npy:
                    entry["npy"] = map_filename(stage, det.kernel.name, ".npy")
                    writer.npy(entry["npy"], array)
                if config.provenance and stage == "pool":
                    entry["provenance"] = _provenance(det, params)
                maps_meta.append(entry)
                if sheet is not None:
                    sheet.add(det.kernel.name, stage, array, m, pixels=pixels, palette=palette,
                              title=_stage_title(stage, params))
            del det, items
        if sheet is not None:
            sheet_obj = sheet
            writer.raw("overview.png",
                       lambda: sheet_obj.to_png_bytes(compression=config.png_compression))
    finally:
        writer.finish()

    manifest = {
        "cnnpipe": version,
        "input": {**loaded.info, "shape": list(image.shape)},
        "params": {**params.to_dict(), **config.options()},
        "kernels": [_kernel_meta(k) for k in config.kernels],
        "maps": maps_meta,
        "overview": "overview.png" if config.overview else None,
        "files": sorted(set(writer.written) | {MANIFEST}),
        "digest": config.digest(),
    }
    io.atomic_write(folder / MANIFEST,
                    (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    return manifest


def check_shapes(image: np.ndarray, config: RunConfig) -> None:
    """Raise ParameterError (naming the sizes) when a detector or the pooling window cannot fit."""
    for kernel in config.kernels:
        layer.check_kernel_fits(image, kernel, config.params)
    layer.check_shapes(image.shape, config.kernels, config.params)


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
                os.unlink(entry.path)
            except FileNotFoundError:
                continue
            removed.append(entry.name)
    return removed


def _discard(folder: Path, written: list[str], created: bool) -> None:
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


def params_summary(p: Params) -> str:
    """One line for a sheet title: "conv stride 1, padding valid, relu, max pool 2 ..."."""
    parts = [f"conv stride {_pair(p.conv_stride)}, padding {p.padding}"]
    if p.activation != "none":
        parts.append(p.activation if p.activation != "leaky" else f"leaky {p.leak:g}")
    if p.pool != "none":
        parts.append(f"{p.pool} pool {_pair(p.window)} stride {_pair(p.stride)} ({p.edge})")
    return ", ".join(parts)


def _title(source_label, loaded, config: RunConfig) -> str:
    return f"{os.path.basename(source_label) or source_label}: {params_summary(config.params)}"


def _stage_title(stage: str, p: Params) -> str | None:
    """The overview's caption for a stage when it is not the plain default."""
    if stage == "relu" and p.activation == "leaky":
        return "leaky ReLU"
    if stage == "pool":
        return f"{p.pool} pool"
    return None


def _pair(pair) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _kernel_meta(k) -> dict:
    return {"name": k.name, "spec": getattr(k, "spec", "") or k.name,
            "shape": list(k.weights.shape), "weights": k.weights.astype(float).tolist(),
            "description": getattr(k, "description", "")}


def _provenance(det, params: Params) -> list | dict:
    from cnnpipe import ops

    source = det.relu if det.relu is not None else det.conv
    if source.ndim != 2:
        return [_provenance_2d(ops, c, params) for c in source]
    return _provenance_2d(ops, source, params)


def _provenance_2d(ops, source, params):
    prov = ops.pool_provenance(source, window=params.window, stride=params.stride,
                               mode=params.pool, edge=params.edge)
    return {key: np.asarray(value).tolist() for key, value in prov.items()}


def _previous_files(folder: Path, fingerprint: str | None = None) -> set[str]:
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


def _remove_stale(folder: Path, old: set[str], new: set[str]) -> None:
    for name in sorted(old - new):
        try:
            os.unlink(folder / name)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise OutputError(f"cannot remove stale output {folder / name}: {exc}") from exc
    try:
        os.unlink(folder / PREVIOUS)
    except FileNotFoundError:
        pass
